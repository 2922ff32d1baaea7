"""Figures for masked modeling: masks, reconstructions, attention, tokens, targets and training curves.

Everything here *draws what it is given*: images, masks, model outputs, attention maps,
histories.  Nothing trains or loads a model.  Each subject has its own file:

* :mod:`~mae_lab.viz.masks` — ``show_mask``, ``mask_gallery``;
* :mod:`~mae_lab.viz.reconstruction` — ``plot_reconstruction``, ``plotly_patch_error``;
* :mod:`~mae_lab.viz.attention` — ``plot_attention``, ``plot_attention_distance``, ``plotly_attention``;
* :mod:`~mae_lab.viz.tokens` — ``plot_patch_tokens``, ``position_similarity``, ``plot_position_similarity``;
* :mod:`~mae_lab.viz.targets` — ``plot_targets``;
* :mod:`~mae_lab.viz.training` — ``plot_training``, ``plot_snapshots``;
* :mod:`~mae_lab.viz.probing` — ``plot_label_efficiency``, ``plot_probe``.

The matplotlib functions return a :class:`matplotlib.figure.Figure` (not registered with
pyplot, so it is shown once when it is the last value of a notebook cell, and never
leaks).  The ``plotly_*`` functions return interactive figures where hovering a patch tells
its index, position and value; they need plotly (``pip install plotly``), the others do not.
The fast numpy pictures of the live widgets are in :mod:`mae_lab.panels`.

Images are tensors ``[C, H, W]`` or ``[B, C, H, W]`` with values in [0, 1]; one channel
is shown in grey.  Hidden patches are drawn in flat grey (``fill=0.5``), as in the figures
of He et al. (2021), "Masked Autoencoders Are Scalable Vision Learners".  For example::

    from mae_lab import viz
    viz.show_mask(images[0], model.make_mask(1, "block", ratio=0.5, seed=0))
    viz.plot_reconstruction(model.reconstruct(images, masker="random", ratio=0.75, seed=0))
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

from .. import masking, panels
from ..panels import default_patch_size, to_hwc
from ._figure import figure_to_array
from .attention import plot_attention, plot_attention_distance, plotly_attention
from .masks import mask_gallery, show_mask
from .probing import plot_label_efficiency, plot_probe
from .reconstruction import plot_reconstruction, plotly_patch_error
from .targets import plot_targets
from .tokens import plot_patch_tokens, plot_position_similarity, position_similarity
from .training import plot_snapshots, plot_training

__all__ = [
    "default_patch_size",
    "figure_to_array",
    "mask_gallery",
    "plot_attention",
    "plot_attention_distance",
    "plot_label_efficiency",
    "plot_patch_tokens",
    "plot_position_similarity",
    "plot_probe",
    "plot_reconstruction",
    "plot_snapshots",
    "plot_targets",
    "plot_training",
    "plotly_attention",
    "plotly_patch_error",
    "position_similarity",
    "show_mask",
    "to_hwc",
]


# ---------------------------------------------------------------- moved names, kept for one release
def _moved(function: Callable, new_home: str) -> Callable:
    """``function`` under its old name ``mae_lab.viz.<name>``, warning that it now lives in ``new_home``."""
    name = function.__name__

    @functools.wraps(function)
    def alias(*args, **kwargs):
        warnings.warn(f"mae_lab.viz.{name} moved to {new_home}.{name}; the old name will be removed "
                      "in the next release", DeprecationWarning, stacklevel=2)
        return function(*args, **kwargs)

    alias.__doc__ = f"Deprecated: use :func:`{new_home}.{name}`.\n\n{function.__doc__ or ''}"
    return alias


# they compute masks and scores, they do not draw
mask_for_image = _moved(masking.mask_for_image, "mae_lab.masking")
patch_saliency = _moved(masking.patch_saliency, "mae_lab.masking")
# fast numpy pictures for the widgets, not figures
render_mask = _moved(panels.render_mask, "mae_lab.panels")
render_reconstruction = _moved(panels.render_reconstruction, "mae_lab.panels")
render_attention = _moved(panels.render_attention, "mae_lab.panels")
render_tiles = _moved(panels.render_tiles, "mae_lab.panels")
png_bytes = _moved(panels.png_bytes, "mae_lab.panels")
colorize = _moved(panels.colorize, "mae_lab.panels")
