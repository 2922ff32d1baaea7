"""viz._figure: figures outside pyplot that still show in IPython, their pixels, and query patches."""

import pytest
import torch

from mae_lab import make_mask, viz
from mae_lab.viz._figure import new_figure, resolve_query


def test_figures_get_a_png_formatter_in_ipython_without_pyplot(monkeypatch):
    from IPython.core.formatters import DisplayFormatter

    shell = type("Shell", (), {"display_formatter": DisplayFormatter()})()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    fig = viz.show_mask(torch.rand(3, 8, 8), make_mask("random", 1, grid=(2, 2), ratio=0.5, seed=0))
    png = shell.display_formatter.formatters["image/png"](fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_new_figures_are_not_registered_with_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = new_figure(2.0, 1.0)
    assert plt.get_fignums() == before
    pixels = viz.figure_to_array(fig)
    assert pixels.shape[2] == 4 and pixels.dtype.name == "uint8"


def test_resolve_query_takes_an_index_or_a_row_and_column():
    assert resolve_query(None, (3, 4)) is None
    assert resolve_query((1, 2), (3, 4)) == 6
    assert resolve_query(11, (3, 4)) == 11
    with pytest.raises(ValueError, match="outside the 3x4 patch grid"):
        resolve_query((3, 0), (3, 4))
    with pytest.raises(ValueError, match="outside the grid of 12 patches"):
        resolve_query(12, (3, 4))
