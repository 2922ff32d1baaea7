"""Live apps for masked modeling (ipywidgets 8): drag a slider, see mask, reconstruction, attention.

* :class:`MaskExplorer` — every mask strategy of :mod:`mae_lab.masking` on your images;
* :class:`ReconstructionExplorer` — the same controls driving a masked autoencoder
  (He et al., 2021, "Masked Autoencoders Are Scalable Vision Learners");
* :class:`AttentionExplorer` — where the encoder looks: the average patch, the class token, a query
  patch, or attention rollout (Abnar & Zuidema, 2020), with or without masking;
* :class:`TrainingMonitor` — a ``pretrain`` callback that redraws the loss curve and
  reconstructions in place.

How they stay fast and portable: each picture is composed with numpy (see the fast
panels of :mod:`mae_lab.panels`) and sent as PNG bytes into a ``widgets.Image``, which works
in JupyterLab, Notebook 7, VS Code and Colab without extra front-end code.  Results are
memoised on the control values with a small LRU cache, and per-image model work (the
scores of guided strategies, attention maps) is cached.

One file per app; what they share (throttled redraws, the cache, error messages, the mask
controls) is in :mod:`mae_lab.widgets.base`, with the redraw rules.

Each app is itself a widget (an ``ipywidgets.VBox``) with a ``.controls`` list; in a static
render (e.g. nbconvert HTML) its current picture is shown as a PNG instead of a dead widget.
"""

from __future__ import annotations

from .attention_explorer import AttentionExplorer
from .base import LRUCache, Throttle
from .mask_explorer import MaskExplorer
from .reconstruction_explorer import ReconstructionExplorer
from .training_monitor import TrainingMonitor

__all__ = [
    "AttentionExplorer",
    "LRUCache",
    "MaskExplorer",
    "ReconstructionExplorer",
    "Throttle",
    "TrainingMonitor",
]
