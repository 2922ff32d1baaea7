"""The widgets package: the apps under their names, one file each, imports that point down."""

from pathlib import Path

from import_graph import mae_lab_imports

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


def test_widgets_import_only_lower_layers():
    below = ("mae_lab.widgets", "mae_lab.viz", "mae_lab.panels", "mae_lab.attention", "mae_lab.masking",
             "mae_lab.patches", "mae_lab.targets")
    for path in sorted(Path(W.__file__).parent.glob("*.py")):
        for name in mae_lab_imports(path):
            assert name.startswith(below), f"{path.name} imports {name}"


def test_one_helper_finds_a_models_device():
    defined = [path.name for path in sorted(Path(W.__file__).parent.glob("*.py"))
               if "def model_device" in path.read_text() or "parameters()).device" in path.read_text()]
    assert defined == ["base.py"]
