"""Which ``mae_lab`` modules a source file imports, read from its syntax tree (function-level imports too)."""

import ast
from pathlib import Path

import mae_lab


def mae_lab_imports(path: Path) -> set[str]:
    """The ``mae_lab`` modules a source file imports, anywhere in it (also inside functions)."""
    package = ".".join(["mae_lab", *path.relative_to(Path(mae_lab.__file__).parent).parts[:-1]])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("mae_lab.")}  # the package root imports only the bottom layers
