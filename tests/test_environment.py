"""The conda environment and pyproject.toml must name the same packages with the same bounds."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

yaml = pytest.importorskip("yaml")

# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    name = match.group(1).lower().replace("_", "-")
    spec = match.group(2).replace(" ", "")
    return name, ",".join(sorted(spec.split(","))) if spec else ""


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(_split(r) for r in data["project"]["dependencies"])


def _conda() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            pip.extend(item.get("pip", []))
            continue
        name, spec = _split(item)
        if name in ("python", "pip"):
            continue
        conda[CONDA_TO_PYPI.get(name, name)] = spec
    return conda, pip


def test_environment_and_pyproject_name_the_same_packages():
    pyproject = _pyproject()
    conda, _ = _conda()
    assert sorted(conda) == sorted(pyproject), (
        f"only in environment.yml: {sorted(set(conda) - set(pyproject))}; "
        f"only in pyproject.toml: {sorted(set(pyproject) - set(conda))}"
    )
    for name, spec in pyproject.items():
        assert conda[name] == spec, f"{name}: pyproject says {spec!r}, environment.yml says {conda[name]!r}"


def test_environment_installs_the_package_itself_with_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    _, pip = _conda()
    assert any(line.startswith("-e .") for line in pip), "environment.yml must pip-install mae_lab (-e .[...])"


def test_torch_pin_admits_the_local_build():
    spec = _pyproject()["torch"]
    assert "<=2.14.1" in spec and ">=2.4" in spec, spec
