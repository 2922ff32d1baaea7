"""Imports only point down: every module of mae_lab imports from its own layer or the layers below it.

The order is :data:`mae_lab.LAYERS`, written once in ``mae_lab/__init__.py``; this test reads it, reads
every import of every module (at the top and inside functions) and fails on any import of a later
layer, naming the file and the line. It also fails on a cycle between two parts of the package, and
checks that the README shows the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mae_lab

PACKAGE = Path(mae_lab.__file__).resolve().parent
ROOT = PACKAGE.parent
LAYER_OF = {name: index for index, layer in enumerate(mae_lab.LAYERS) for name in layer}


def component(path: Path) -> str:
    """The top-level part of the package a file belongs to: ``mae_lab/data/loader.py`` -> ``data``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_components(path: Path) -> list[tuple[str, int]]:
    """``(part of mae_lab, line)`` for every import in ``path`` that points into the package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = ("mae_lab", *path.relative_to(PACKAGE).parent.parts)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module or ""
            # `from . import x` / `from mae_lab import x` imports the sub-module x
            names = [f"{module}.{alias.name}" for alias in node.names] if module in ("mae_lab",) else [module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "mae_lab" and len(parts) > 1:
                found.append((parts[1], node.lineno))
    return found


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_part_of_the_package_has_a_layer():
    parts = {component(p) for p in package_files()}
    missing = sorted(parts - set(LAYER_OF))
    assert not missing, f"add these modules to mae_lab.LAYERS (mae_lab/__init__.py): {missing}"
    listed_twice = [name for name in LAYER_OF if sum(name in layer for layer in mae_lab.LAYERS) > 1]
    assert not listed_twice


def test_imports_only_point_down():
    wrong = []
    for path in package_files():
        own = component(path)
        for target, line in imported_components(path):
            if target not in LAYER_OF:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports mae_lab.{target}, which has no layer")
            elif LAYER_OF[target] > LAYER_OF[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports mae_lab.{target} (layer "
                             f"{LAYER_OF[target]}) from {own} (layer {LAYER_OF[own]})")
    assert not wrong, "imports that point up the layers:\n" + "\n".join(wrong)


def test_no_cycles_between_parts_of_the_package():
    edges: dict[str, set[str]] = {}
    for path in package_files():
        own = component(path)
        edges.setdefault(own, set()).update(t for t, _ in imported_components(path) if t != own)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    return [*trail, start]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for c in (cycle_from(node) for node in edges) if c]
    assert not cycles, f"import cycles: {[' -> '.join(c) for c in cycles]}"


def test_the_readme_shows_the_same_layer_order():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Read the code", 1)[1].split("| layer | modules |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    shown = [tuple(name.strip(" `") for name in row.split("|")[2].split(",")) for row in rows]
    assert shown == [tuple(layer) for layer in mae_lab.LAYERS], (
        "README.md's layer table differs from mae_lab.LAYERS; copy the order from mae_lab/__init__.py")
