"""Every notebook's exercises against its reference solutions, by one rule for all labs.

For each ``notebooks/NN_*.ipynb`` with ``notebooks/solutions/NN_solutions.py``, every exercise cell (a
code cell that calls a ``check_*`` function) is run twice, with the notebook's own imports:

1. as the student first sees it — the stubs unfinished (functions that ``raise NotImplementedError``,
   answers left as ``None``, ``""`` or ``"..."``): every check must return a failed ``CheckResult`` that says what
   to do, and none may raise;
2. with the names the stubs define taken from the solutions module (same name, any case): every check
   must pass.

It also fails when a stub has no reference solution, or a lab with exercises has no solutions file.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
from pathlib import Path

import pytest
from solutions_loader import load_solutions

from mae_lab.exercises.core import CheckResult

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
LABS = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _check_calls(node: ast.AST) -> list[ast.Call]:
    """The calls of ``check_*`` functions anywhere inside ``node``."""
    calls = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("check_"):
                calls.append(sub)
    return calls


def _stub_names(tree: ast.Module) -> list[str]:
    """Functions whose body raises NotImplementedError, and answers left as None, "" or "..." ."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n) for n in ast.walk(node)
        ):
            names.append(node.name)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
              and isinstance(node.value, ast.Constant) and node.value.value in (None, "", "...", Ellipsis)):
            names.append(node.targets[0].id)
    return names


def exercise_cells(notebook: Path) -> list[tuple[str, ast.Module, list[str]]]:
    """``(source, tree, stub names)`` of every code cell that calls a check."""
    cells = json.loads(notebook.read_text())["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics; exercise cells are plain Python
            continue
        if _check_calls(tree):
            found.append((source, tree, _stub_names(tree)))
    return found


class _Record(ast.NodeTransformer):
    """``check_x(...)`` -> ``__record__(check_x(...))``, so that every verdict is kept."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if node in self.calls:
            return ast.Call(func=ast.Name("__record__", ast.Load()), args=[node], keywords=[])
        return node

    def __init__(self, calls: list[ast.Call]):
        self.calls = calls


def run_cell(tree: ast.Module, stubs: list[str], solutions: dict | None) -> list:
    """Run an exercise cell and return every check's verdict; with ``solutions`` the stubs are replaced."""
    tree = copy.deepcopy(tree)
    if solutions is not None:  # drop the stubs' definitions; the namespace holds the solutions instead
        tree.body = [node for node in tree.body if not (
            (isinstance(node, ast.FunctionDef) and node.name in stubs)
            or (isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in stubs))]
    tree = ast.fix_missing_locations(_Record(_check_calls(tree)).visit(tree))
    verdicts: list = []
    namespace = {"__record__": lambda v: verdicts.append(v) or v, "display": lambda *a, **k: None,
                 **(solutions or {})}
    exec(compile(tree, "<exercise cell>", "exec"), namespace)  # noqa: S102
    return verdicts


def _solution_values(solutions, names: list[str]) -> dict:
    by_lower = {name.lower(): name for name in dir(solutions) if not name.startswith("_")}
    missing = [name for name in names if name.lower() not in by_lower]
    assert not missing, f"{solutions.__name__} lacks reference answers for {missing}"
    return {name: getattr(solutions, by_lower[name.lower()]) for name in names}


@pytest.mark.parametrize("notebook", LABS, ids=[p.stem[:2] for p in LABS])
def test_exercises_fail_politely_unfinished_and_pass_with_the_solutions(notebook):
    cells = exercise_cells(notebook)
    if not cells:
        return  # a lab without exercises has nothing to check here
    number = notebook.stem[:2]
    assert (SOLUTIONS / f"{number}_solutions.py").is_file(), f"{notebook.name} has exercises but no solutions"
    solutions = load_solutions(number)
    code = "\n".join(source for source, _, _ in cells)
    assert "solutions" not in code, f"{notebook.name}: an exercise cell imports its own solution"
    all_stubs = {name.lower() for _, _, stubs in cells for name in stubs}
    answers = [name for name, value in vars(solutions).items()
               if not name.startswith("_") and not inspect.ismodule(value)
               and getattr(value, "__module__", solutions.__name__) == solutions.__name__
               and (callable(value) or name.isupper())]
    unused = [name for name in answers if name.lower() not in all_stubs]
    assert not unused, f"{number}_solutions.py answers {unused}, which no exercise of {notebook.name} asks for"
    for source, tree, stubs in cells:
        assert stubs, f"{notebook.name}: an exercise cell leaves nothing for the student to write:\n{source}"
        for result in run_cell(tree, stubs, None):
            assert isinstance(result, CheckResult), f"{notebook.name}: a check returned {result!r}"
            assert not result.passed, f"{notebook.name}: the unfinished exercise passes its check:\n{source}"
            assert result.message.strip()
        for result in run_cell(tree, stubs, _solution_values(solutions, stubs)):
            assert result.passed, f"{notebook.name}: the reference solution fails: {result}"


def test_every_solutions_file_belongs_to_a_lab():
    numbers = {p.stem[:2] for p in LABS}
    orphans = [p.name for p in SOLUTIONS.glob("*_solutions.py") if p.stem[:2] not in numbers]
    assert not orphans
