"""viz._plotly: plotly is optional; without it the hover figures say how to install it and the rest works."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mae_lab
from mae_lab import viz


@pytest.fixture
def without_plotly(monkeypatch):
    """Make ``import plotly`` fail as it does when plotly is not installed."""
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)


def test_plotly_figures_without_plotly_say_how_to_install_it(without_plotly):
    with pytest.raises(ModuleNotFoundError, match="pip install plotly"):
        viz.plotly_attention(torch.rand(3, 16, 16), torch.rand(16))
    with pytest.raises(ImportError, match="pip install plotly"):
        viz.plotly_patch_error(torch.rand(3, 16, 16), torch.rand(16))


def test_viz_panels_and_widgets_import_and_draw_without_plotly():
    script = (
        "import sys; sys.modules['plotly'] = None\n"
        "import torch\n"
        "from mae_lab import panels, viz, widgets\n"
        "viz.plot_training([{'step': 0, 'loss': 1.0, 'lr': 0.1}])\n"
        "panels.png_bytes(panels.render_mask(torch.rand(3, 8, 8), None, patch_size=4))\n"
        "assert 'plotly' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(mae_lab.__file__).parents[1])}  # this copy of mae_lab
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=env, check=False)
    assert result.returncode == 0, result.stderr
