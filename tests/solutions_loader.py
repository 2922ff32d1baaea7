"""Import the notebooks' reference solutions by path (``notebooks/solutions`` is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"


def load_solutions(number: str):
    """Import ``notebooks/solutions/<number>_solutions.py`` and return the module."""
    path = SOLUTIONS / f"{number}_solutions.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
