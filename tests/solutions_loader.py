"""Import a lab's reference solutions, ``notebooks/solutions/<NN>_solutions.py`` (the folder is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def load_solutions(number: str) -> ModuleType:
    """The module ``notebooks/solutions/<number>_solutions.py``, freshly executed."""
    path = SOLUTIONS / f"{number}_solutions.py"
    if not path.is_file():
        raise FileNotFoundError(f"no reference solutions for lab {number}: expected {path}")
    spec = importlib.util.spec_from_file_location(f"solutions_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
