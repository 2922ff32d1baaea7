"""The widgets package: the apps under their names, one file each, imports that point down."""

from pathlib import Path

import mae_lab.widgets as W

APPS = {
    "MaskExplorer": "mask_explorer",
    "ReconstructionExplorer": "reconstruction_explorer",
    "AttentionExplorer": "attention_explorer",
    "TrainingMonitor": "training_monitor",
}


def test_every_app_is_exported_from_its_own_file():
    for name, module in APPS.items():
        assert getattr(W, name).__module__ == f"mae_lab.widgets.{module}"
    assert set(W.__all__) == {*APPS, "Throttle", "LRUCache"}
    assert W.Throttle.__module__ == W.LRUCache.__module__ == "mae_lab.widgets.base"


def test_one_helper_finds_a_models_device():
    package = Path(W.__file__).parents[1]
    defined = [str(path.relative_to(package)) for path in sorted(package.rglob("*.py"))
               if "parameters()).device" in path.read_text()]
    assert defined == ["utils.py"]  # mae_lab.utils.module_device, used everywhere else
