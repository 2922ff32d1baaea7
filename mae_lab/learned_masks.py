"""Learning what to hide: masks chosen by a small network that trains alongside the MAE.

Random masking treats every patch alike.  Two papers let the data decide instead:

* **HPM** -- Wang et al., 2023, "Hard Patches Mining for Masked Image Modeling".  An extra
  decoder (the *loss predictor*) learns to guess each patch's reconstruction loss, trained
  with a *relative* loss: for every pair of hidden patches it should rank the one the MAE
  got more wrong above the other.  The mask then hides the ``alpha`` share of the hidden
  budget with the highest predicted loss and the rest at random, with ``alpha`` growing
  from 0 to 0.5 over training (easy to hard).  The MAE must solve harder problems.
* **AdaMAE** -- Bandara et al., 2023, "AdaMAE: Adaptive Masking for Efficient Spatiotemporal
  Learning with Masked Autoencoders".  A *sampling network* turns the patch embeddings into
  a categorical distribution over patches and the visible patches are drawn from it.  It is
  trained with a policy-gradient (REINFORCE-style) loss whose reward is the reconstruction
  error of the hidden patches: patches that were hard to reconstruct become more likely to
  be *shown* next time, so the mask ends up hiding the redundant parts of the image.

Both helpers cost parameters and time; :func:`train_learned_masks` runs either of them, or
plain random masking, in the same flat loop with the same data, model and step budget, and
keeps snapshots of the masks it drew so a notebook can show how they change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import panels
from .masking import Mask
from .models import MAEConfig, MAEDecoder, MaskedAutoencoder, get_preset
from .models.vit import Block
from .probe import knn_probe
from .schedules import make_schedule, one_cycle

__all__ = [
    "METHODS",
    "LearnedMaskRun",
    "LossPredictor",
    "MaskSampler",
    "MaskTimeline",
    "Snapshot",
    "draw_mask",
    "frozen_features",
    "knn_accuracy",
    "linear_accuracy",
    "masked_loss",
    "patch_difficulty",
    "plot_mask_evolution",
    "predicted_losses",
    "rank_correlation",
    "ranking_loss",
    "render_snapshot",
    "sampling_loss",
    "small_mae_config",
    "train_learned_masks",
]

METHODS = ("random", "hpm", "adamae")


def small_mae_config(image_size: int, channels: int, patch_size: int, **overrides) -> MAEConfig:
    """A ``mae_micro``-sized config for ``image_size`` px images with ``channels`` channels."""
    return get_preset("mae_micro", image_size=int(image_size), channels=int(channels), patch_size=int(patch_size),
                      **overrides)


# ================================================================ HPM: predict the loss, hide the hardest
class LossPredictor(nn.Module):
    """HPM's loss predictor: a second MAE decoder that outputs one number per patch.

    It reads the encoder's output exactly like the reconstruction decoder does (visible
    tokens plus mask tokens, back in patch order) and predicts how large each patch's
    reconstruction loss will be: ``(latent [B, 1 + N_vis, D], ids_restore [B, N]) -> [B, N]``.
    """

    def __init__(self, model: MaskedAutoencoder):
        super().__init__()
        c = model.config
        self.decoder = MAEDecoder(model.grid, c.embed_dim, c.decoder_embed_dim, c.decoder_depth,
                                  c.decoder_num_heads, c.mlp_ratio, c.qkv_bias, c.norm_eps, out_dim=1)
        nn.init.normal_(self.decoder.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent, ids_restore).squeeze(-1)  # [B, N]


@torch.no_grad()
def predicted_losses(model: MaskedAutoencoder, predictor: LossPredictor, images: torch.Tensor, ratio: float = 0.75,
                     generator: torch.Generator | None = None, unmasked: bool = False) -> torch.Tensor:
    """The predicted loss of every patch, ``[B, N]``: HPM's scores.

    The predictor is only ever trained on *hidden* patches, so by default we ask it about
    hidden patches: two masks at ``ratio`` whose visible sets do not overlap, so every patch
    is hidden at least once, and a patch's score is its mean prediction while hidden (drawn
    with ``generator``; seed 0 when None).  ``unmasked=True`` asks as HPM's code does: the
    whole image visible, the answers read off the visible tokens -- a question the predictor
    never trained on, whose answers transfer in the paper's large models.  (HPM's code also
    asks a slowly updated EMA copy of the model; we ask the current weights.)
    """
    batch, num_patches = images.shape[0], model.num_patches
    if unmasked:
        order = torch.arange(num_patches, device=images.device).expand(batch, -1)  # [B, N], nothing hidden
        return predictor(model.encode(images), order)
    num_visible = num_patches - round(num_patches * ratio)
    if 2 * num_visible > num_patches:
        raise ValueError(f"ratio {ratio} leaves {num_visible} of {num_patches} patches visible, too many for two "
                         "masks with separate visible sets; use a ratio of at least 0.5 or unmasked=True")
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    order = torch.rand(batch, num_patches, generator=generator).argsort(dim=1).to(images.device)  # [B, N]
    total = torch.zeros(batch, num_patches, device=images.device)
    count = torch.zeros_like(total)
    for visible in (order[:, :num_visible], order[:, num_visible:2 * num_visible]):  # two disjoint visible sets
        hidden = torch.ones_like(total, dtype=torch.bool).scatter_(1, visible, False)  # [B, N]
        mask = Mask.from_hidden(hidden, grid=model.grid)
        total += predictor(model.encode(images, mask), mask.ids_restore) * hidden  # [B, N]
        count += hidden
    return total / count  # every patch was hidden once or twice


def ranking_loss(predicted: torch.Tensor, actual: torch.Tensor) -> torch.Tensor:
    """HPM's relative loss: for each pair of patches of one image, rank the harder one higher.

    ``predicted [B, M]`` and ``actual [B, M]`` (the true losses, detached) of the ``M``
    hidden patches.  For every ordered pair ``(i, j)`` with ``actual[j] > actual[i]`` the
    loss is ``-log sigmoid(predicted[j] - predicted[i])``; ties are left out; the result is
    the mean over those pairs.  Only the order matters, not the scale of the losses.
    """
    if predicted.shape != actual.shape or predicted.ndim != 2:
        raise ValueError(f"predicted and actual must both be [B, M], got {list(predicted.shape)} and "
                         f"{list(actual.shape)}")
    gap = predicted.unsqueeze(1) - predicted.unsqueeze(2)  # [B, M, M]: gap[b, i, j] = pred_j - pred_i
    harder = actual.unsqueeze(1) > actual.unsqueeze(2)  # [B, M, M]: patch j is harder than patch i
    if not bool(harder.any()):
        return predicted.sum() * 0.0  # every loss tied: nothing to rank
    return F.softplus(-gap[harder]).mean()  # softplus(-x) = -log sigmoid(x)


# ================================================================ AdaMAE: sample what to show
class MaskSampler(nn.Module):
    """AdaMAE's sampling network: the probability of each patch being *visible*.

    Patch embeddings plus its own learned positions, one transformer block, a linear layer
    to one logit per patch and a softmax over the patches:
    ``patch_tokens [B, N, D] -> probabilities [B, N]`` (each row sums to 1).
    """

    def __init__(self, num_patches: int, dim: int, num_heads: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, dim))
        self.block = Block(dim, num_heads)
        self.head = nn.Linear(dim, 1)

    def forward(self, patch_tokens: torch.Tensor) -> torch.Tensor:
        x, _ = self.block(patch_tokens + self.pos_embed)  # [B, N, D]
        return self.head(x).squeeze(-1).softmax(dim=-1)  # [B, N]


def sampling_loss(probs: torch.Tensor, hidden: torch.Tensor, patch_loss: torch.Tensor) -> torch.Tensor:
    """AdaMAE's REINFORCE-style loss for the sampler.

    ``probs [B, N]`` from :class:`MaskSampler`, ``hidden [B, N]`` bool, ``patch_loss [B, N]``
    the reconstruction loss of each patch.  The loss is ``-mean(log p_i * loss_i)`` over the
    hidden patches of each image, then over the batch, with ``loss_i`` detached: it is a
    reward, not something to make smaller.  Gradient descent raises the probability of the
    hidden patches in proportion to how badly they were reconstructed.
    """
    weights = hidden.to(probs.dtype)  # [B, N]
    log_probs = probs.clamp_min(1e-12).log()  # [B, N]
    per_image = -(log_probs * patch_loss.detach() * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # [B]
    return per_image.mean()


def _patch_tokens(model: MaskedAutoencoder, images: torch.Tensor) -> torch.Tensor:
    return model.encoder.patch_embed(model.normalize(images))  # [B, N, D], the sampler's input


# ================================================================ one place that draws every method's mask
def draw_mask(method: str, model: MaskedAutoencoder, helper: nn.Module | None, images: torch.Tensor,
              ratio: float, alpha: float, generator: torch.Generator, unmasked_scores: bool = False):
    """The mask a method would use on ``images`` now: ``(Mask, scores [B, N] or None)``.

    ``random``: no scores.  ``hpm``: scores are the predicted losses, and the ``hard``
    masker hides the ``round(alpha * num_hidden)`` highest, the rest at random.  ``adamae``:
    scores are the sampler's probabilities (with gradient), the ``adaptive`` masker draws
    the visible patches from them.
    """
    batch = images.shape[0]
    if method == "random":
        return model.make_mask(batch, "random", ratio=ratio, generator=generator), None
    if method == "hpm":
        scores = predicted_losses(model, helper, images, ratio, generator, unmasked=unmasked_scores)  # [B, N]
        return model.make_mask(batch, "hard", ratio=ratio, generator=generator, scores=scores, alpha=alpha), scores
    if method == "adamae":
        probs = helper(_patch_tokens(model, images))  # [B, N]
        return model.make_mask(batch, "adaptive", ratio=ratio, generator=generator, scores=probs.detach()), probs
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _make_helper(method: str, model: MaskedAutoencoder, seed: int) -> nn.Module | None:
    with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's RNG
        torch.manual_seed(seed)
        if method == "hpm":
            return LossPredictor(model)
        if method == "adamae":
            c = model.config
            return MaskSampler(model.num_patches, c.embed_dim, c.num_heads)
    return None


# ================================================================ training
@dataclass
class Snapshot:
    """What a method's mask looked like at one training step, on the run's watch images.

    ``scores``: the method's per-patch numbers ``[K, N]`` (predicted loss or visible
    probability; ``None`` for random); ``hidden``: the mask it drew ``[K, N]``;
    ``difficulty``: the true loss of each patch when hidden ``[K, N]`` (see :func:`patch_difficulty`).
    """

    step: int
    alpha: float
    hidden: torch.Tensor
    scores: torch.Tensor | None
    difficulty: torch.Tensor


@dataclass
class LearnedMaskRun:
    """A trained MAE, its mask helper (``None`` for random masking) and what happened during training."""

    method: str
    model: MaskedAutoencoder
    helper: nn.Module | None
    watch: torch.Tensor
    ratio: float
    unmasked_scores: bool = False
    history: list[dict] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def extra_params(self) -> int:
        """Parameters the mask helper adds to the MAE (0 for random masking)."""
        return 0 if self.helper is None else sum(p.numel() for p in self.helper.parameters())

    @property
    def step_ms(self) -> float:
        """Median wall-clock time of one training step, in milliseconds (snapshots excluded)."""
        return 1000 * float(np.median([h["seconds"] for h in self.history]))

    @property
    def step_cpu_ms(self) -> float:
        """Median CPU time of one step, in milliseconds: what the step costs even when other programs share the core."""
        return 1000 * float(np.median([h["cpu_seconds"] for h in self.history]))

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return (f"LearnedMaskRun({self.method}, {len(self.history)} steps, final loss {last:.4f}, "
                f"+{self.extra_params:,} params, {self.step_cpu_ms:.1f} ms CPU/step)")


def train_learned_masks(
    method: str,
    images: torch.Tensor,
    config: MAEConfig,
    steps: int = 1000,
    batch_size: int = 128,
    ratio: float = 0.75,
    lr: float = 2e-3,
    alpha_end: float = 0.5,
    sampler_weight: float = 1e-4,
    unmasked_scores: bool = False,
    seed: int = 0,
    watch: torch.Tensor | None = None,
    snapshots: int = 6,
    progress: bool = False,
) -> LearnedMaskRun:
    """Train an MAE with ``"random"``, ``"hpm"`` or ``"adamae"`` masks on ``images [M, C, H, W]``.

    The same ``seed`` gives every method the same initial MAE, the same batches and the same
    learning-rate schedule, so the masks are the only difference.  ``alpha_end`` is HPM's
    final hard share (0.5 in the paper); ``sampler_weight`` scales AdaMAE's sampling loss
    (1e-4 in the official code); ``unmasked_scores=True`` scores HPM's patches as its code
    does (see :func:`predicted_losses`).  ``snapshots`` evenly spaced steps (the first and the last
    included) record the masks drawn on ``watch`` (default: the first 4 images).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if images.ndim != 4 or len(images) < batch_size:
        raise ValueError(f"images must be [M, C, H, W] with M >= batch_size={batch_size}, got {list(images.shape)}")
    model = MaskedAutoencoder(config, seed=seed)
    helper = _make_helper(method, model, seed + 1)
    params = list(model.parameters()) + ([] if helper is None else list(helper.parameters()))
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    schedule = one_cycle(optimizer, lr, steps, warmup=0.1)
    alpha_at = make_schedule("linear", 0.0, alpha_end)  # HPM: easy (random) to hard
    data_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed + 2)
    watch = images[:4] if watch is None else watch
    run = LearnedMaskRun(method, model, helper, watch, ratio, unmasked_scores)
    snapshot_steps = set(np.linspace(0, steps - 1, max(snapshots, 1)).round().astype(int).tolist())
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"MAE with {method} masks")
    start = time.perf_counter()
    for step in iterator:
        alpha = alpha_at(step / max(steps - 1, 1))
        if step in snapshot_steps:  # look before this step's update (step 0: the untrained helper)
            run.snapshots.append(_snapshot(run, step, alpha))
        tick, cpu_tick = time.perf_counter(), time.process_time()
        batch = images[torch.randint(len(images), (batch_size,), generator=data_gen)]  # [B, C, H, W]
        # 1. choose what to hide (HPM scores the whole image first; AdaMAE keeps the graph of its probabilities)
        mask, scores = draw_mask(method, model, helper, batch, ratio, alpha, mask_gen, unmasked_scores)
        # 2. the MAE step, identical for every method
        out = model(batch, mask=mask)
        patch_loss = model.per_patch_loss(out.target, out.pred)  # [B, N]
        aux = torch.zeros(())
        # 3. the helper's own loss
        if method == "hpm":
            hidden_ids = mask.ids_shuffle[:, mask.num_visible:]  # [B, N_hid]
            predicted = helper(out.latent, mask.ids_restore)  # [B, N]
            aux = ranking_loss(predicted.gather(1, hidden_ids), patch_loss.gather(1, hidden_ids).detach())
        elif method == "adamae":
            aux = sampler_weight * sampling_loss(scores, mask.hidden, patch_loss)
        optimizer.zero_grad(set_to_none=True)
        (out.loss + aux).backward()
        optimizer.step()
        schedule.step()
        run.history.append({"step": step, "loss": out.loss.item(), "aux_loss": aux.item(), "alpha": alpha,
                            "seconds": time.perf_counter() - tick, "cpu_seconds": time.process_time() - cpu_tick})
    run.seconds = time.perf_counter() - start
    model.eval()
    return run


@torch.no_grad()
def _snapshot(run: LearnedMaskRun, step: int, alpha: float) -> Snapshot:
    generator = torch.Generator().manual_seed(1234)  # the same draw at every snapshot: only the model changes
    mask, scores = draw_mask(run.method, run.model, run.helper, run.watch, run.ratio, alpha, generator,
                             run.unmasked_scores)
    difficulty = patch_difficulty(run.model, run.watch, run.ratio, repeats=4, seed=0)
    return Snapshot(step, alpha, mask.hidden.clone(), None if scores is None else scores.detach().clone(),
                    difficulty)


# ================================================================ measuring
@torch.no_grad()
def patch_difficulty(model: MaskedAutoencoder, images: torch.Tensor, ratio: float = 0.75, repeats: int = 8,
                     seed: int = 0) -> torch.Tensor:
    """The true loss of each patch when it is hidden, ``[B, N]``: averaged over ``repeats`` random masks.

    (A patch that no mask happened to hide gets the mean of its image's other patches.)
    """
    total = torch.zeros(images.shape[0], model.num_patches)
    count = torch.zeros_like(total)
    for r in range(repeats):
        out = model(images, masker="random", ratio=ratio, seed=seed + r)
        hidden = out.mask.hidden.float().cpu()  # [B, N]
        total += model.per_patch_loss(out.target, out.pred).cpu() * hidden
        count += hidden
    mean = total / count.clamp_min(1)  # [B, N]
    fallback = (total.sum(1, keepdim=True) / count.sum(1, keepdim=True).clamp_min(1)).expand_as(mean)
    return torch.where(count > 0, mean, fallback)


@torch.no_grad()
def masked_loss(model: MaskedAutoencoder, images: torch.Tensor, mask: Mask) -> float:
    """Mean reconstruction loss on the hidden patches of ``images`` under ``mask``."""
    return float(model(images, mask=mask).loss)


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman correlation of ``a [B, N]`` and ``b [B, N]`` within each row, averaged over rows."""
    ranks_a = a.argsort(1).argsort(1).float()
    ranks_b = b.argsort(1).argsort(1).float()
    ranks_a = ranks_a - ranks_a.mean(1, keepdim=True)
    ranks_b = ranks_b - ranks_b.mean(1, keepdim=True)
    per_row = (ranks_a * ranks_b).sum(1) / (ranks_a.norm(dim=1) * ranks_b.norm(dim=1)).clamp_min(1e-12)
    return float(per_row.mean())


@torch.no_grad()
def frozen_features(model: MaskedAutoencoder, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Mean-pooled features of the unmasked encoder, ``[M, D]``."""
    return torch.cat([model.features(chunk, pool="mean") for chunk in images.split(batch_size)])


@torch.no_grad()
def knn_accuracy(train_x, train_y, test_x, test_y, k: int = 20, temperature: float = 0.07) -> float:
    """Weighted kNN on cosine similarity (DINO's probe: k = 20, votes ``exp(sim / 0.07)``): the vote of
    :func:`mae_lab.probe.knn_probe`, the one kNN of the package."""
    return knn_probe(train_x, train_y, test_x, test_y, k=k, temperature=temperature)


def linear_accuracy(train_x, train_y, test_x, test_y, steps: int = 300, lr: float = 0.05) -> float:
    """A logistic-regression probe on standardised frozen features (full-batch Adam, deterministic)."""
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(train_x.shape[1], int(train_y.max()) + 1, requires_grad=True)  # [D, classes]
    bias = torch.zeros(weight.shape[1], requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(train_x @ weight + bias, train_y).backward()
        optimizer.step()
    with torch.no_grad():
        return float(((test_x @ weight + bias).argmax(1) == test_y).float().mean())


# ================================================================ pictures
def _panel(values_hw3: np.ndarray, scale: int) -> np.ndarray:
    return (np.clip(np.repeat(np.repeat(values_hw3, scale, 0), scale, 1), 0, 1) * 255).astype(np.uint8)


def _stack(panels: list[np.ndarray], axis: int, gap: int = 4) -> np.ndarray:
    spacer_shape = list(panels[0].shape)
    spacer_shape[axis] = gap
    parts = []
    for panel in panels:
        parts += [panel, np.full(spacer_shape, 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=axis)


def render_snapshot(run: LearnedMaskRun, index: int, size: int = 96) -> np.ndarray:
    """uint8 picture of one snapshot: a row per watch image -- image, scores, mask, true difficulty."""
    snap = run.snapshots[index]
    grid, p = run.model.grid, run.model.patch_size
    scale = max(1, round(size / run.watch.shape[-1]))
    rows = []
    for k, image in enumerate(run.watch):
        rgb = panels.to_hwc(image)  # [H, W, 3]
        hidden = snap.hidden[k].reshape(grid).numpy()
        scores = (np.full(grid, np.nan) if snap.scores is None else snap.scores[k].reshape(grid).float().numpy())
        heat = [np.repeat(np.repeat(panels.colorize(m), p, 0), p, 1) for m in
                (scores, snap.difficulty[k].reshape(grid).numpy())]
        rows.append(_stack([_panel(rgb, scale), _panel(heat[0], scale),
                            _panel(panels.grey_hidden(rgb, hidden, p), scale), _panel(heat[1], scale)], axis=1))
    return _stack(rows, axis=0)


SCORE_NAMES = {"random": "no scores (uniform)", "hpm": "predicted loss", "adamae": "P(visible)"}


def plot_mask_evolution(runs: dict[str, LearnedMaskRun], image: int = 0):
    """A matplotlib figure: one column per snapshot; per run a row of masks, and a row of scores above it."""
    from matplotlib.figure import Figure

    rows = [(label, run, kind) for label, run in runs.items()
            for kind in (("scores", "mask") if run.snapshots and run.snapshots[0].scores is not None else ("mask",))]
    columns = max(len(run.snapshots) for run in runs.values())
    fig = Figure(figsize=(1.5 * columns + 0.8, 1.6 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, (label, run, kind) in enumerate(rows):
        grid, p = run.model.grid, run.model.patch_size
        rgb = panels.to_hwc(run.watch[image])
        for col, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            if col >= len(run.snapshots):
                ax.set_visible(False)
                continue
            snap = run.snapshots[col]
            if kind == "scores":
                ax.imshow(snap.scores[image].reshape(grid).float().numpy(), cmap="magma")
            else:
                ax.imshow(panels.grey_hidden(rgb, snap.hidden[image].reshape(grid).numpy(), p), vmin=0, vmax=1)
            if r == 0:
                ax.set_title(f"step {snap.step}", fontsize=9)
            elif run.method == "hpm" and kind == "scores":
                ax.set_title(f"α = {snap.alpha:.2f}", fontsize=8)
        name = SCORE_NAMES[run.method] if kind == "scores" else "mask"
        axes[r][0].set_ylabel(f"{label}\n{name}", fontsize=8)
    return fig


class MaskTimeline:
    """A live app: slide through training checkpoints and see each method's scores and masks.

    ``timeline.box`` is the widget to display; ``checkpoint`` (an IntSlider over snapshot
    indices) and ``method`` (ToggleButtons over the runs) drive it; ``picture.value`` holds
    the PNG of the current view: per watch image, image | scores | mask | true difficulty.
    """

    def __init__(self, runs: dict[str, LearnedMaskRun], size: int = 96):
        import ipywidgets as widgets

        if not runs:
            raise ValueError("MaskTimeline needs at least one run, e.g. {'HPM': run}")
        self.runs, self.size = runs, size
        count = min(len(run.snapshots) for run in runs.values())
        self.checkpoint = widgets.IntSlider(value=count - 1, min=0, max=count - 1, description="checkpoint",
                                            continuous_update=False)
        self.method = widgets.ToggleButtons(options=list(runs), description="masks")
        self.picture = widgets.Image(format="png")
        self.caption = widgets.HTML()
        for control in (self.checkpoint, self.method):
            control.observe(self.redraw, names="value")
        self.box = widgets.VBox([widgets.HBox([self.method, self.checkpoint]), self.caption, self.picture])
        self.redraw()

    def redraw(self, _=None) -> None:
        run = self.runs[self.method.value]
        snap = run.snapshots[self.checkpoint.value]
        alpha = f", alpha = {snap.alpha:.2f}" if run.method == "hpm" else ""
        self.caption.value = (f"<b>step {snap.step}</b>{alpha} &mdash; columns: image | "
                              f"{SCORE_NAMES[run.method]} | mask (grey = hidden) | true loss when hidden")
        self.picture.value = panels.png_bytes(render_snapshot(run, self.checkpoint.value, self.size))
