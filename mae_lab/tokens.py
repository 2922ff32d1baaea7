"""Tokens: a patch codebook, masked token modeling, and generation by iterative unmasking.

**A tokenizer** turns each patch into one of ``K`` discrete codes.  BEiT (Bao et al., 2021,
"BEiT: BERT Pre-Training of Image Transformers") used the codes of a discrete VAE as the target
of masked image modeling; BEiT v2 (Peng et al., 2022, "BEiT v2: Masked Image Modeling with
Vector-Quantized Visual Tokenizers") made the codes more semantic by distilling a teacher into
the codebook.  Ours is the simplest one that works on 8x8 digits: k-means over the pixel values
of 2x2 patches (:class:`PatchTokenizer`); a patch's code is its nearest codebook entry.

**Masked token modeling** predicts the codes of hidden patches with a cross-entropy loss, a
classification over ``K`` codes instead of a regression on pixels.

**Generation by iterative unmasking**, MaskGIT (Chang et al., 2022, "MaskGIT: Masked Generative
Image Transformer") and MAGE (Li et al., 2023, "MAGE: MAsked Generative Encoder to Unify
Representation Learning and Image Synthesis"): train a transformer on code grids with a random
share of the codes hidden (the share drawn from a cosine schedule).  To draw a new image, start
from a grid that is *all* hidden, predict every code, keep the most confident predictions and
hide the rest again; after ``K`` steps every code is revealed, and the codebook turns the codes
back into pixels.  A cosine schedule decides how many codes stay hidden after each step: few
are revealed at first, when the model knows least, many at the end.  A revealed code is never
hidden again.
"""

from __future__ import annotations

import base64
import io
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models.vit import Block
from .patches import patchify, sincos_pos_embed_2d, unpatchify
from .schedules import one_cycle

__all__ = [
    "Generation",
    "GenerationExplorer",
    "MaskedTokenModel",
    "PatchTokenizer",
    "TokenModelResult",
    "generate",
    "kmeans",
    "nearest_code",
    "plot_generation",
    "reveal_schedule",
    "token_training_mask",
    "train_token_model",
    "unmask_step",
]


# ---------------------------------------------------------------------------------------------
# the tokenizer: a k-means codebook over patches
# ---------------------------------------------------------------------------------------------
def nearest_code(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the closest codebook row for every vector: ``[..., d]``, ``[K, d]`` -> long ``[...]``."""
    if vectors.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"vectors have {vectors.shape[-1]} values but codebook rows have {codebook.shape[-1]}; "
                         "tokenize patches of the size the codebook was fitted on")
    flat = vectors.reshape(-1, vectors.shape[-1]).float()  # [M, d]
    distances = torch.cdist(flat, codebook.float())  # [M, K] Euclidean distance to every code
    return distances.argmin(dim=1).reshape(vectors.shape[:-1])  # the smallest distance wins


def kmeans(vectors: torch.Tensor, num_codes: int, iters: int = 20, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means: ``vectors [M, d]`` -> codebook ``[num_codes, d]`` (deterministic for a seed).

    Starts from ``num_codes`` distinct vectors drawn at random; a code that loses all its
    vectors is moved to the vector that is currently worst served.
    """
    vectors = vectors.float()
    distinct = torch.unique(vectors, dim=0)
    if not 1 <= num_codes <= len(distinct):
        raise ValueError(f"num_codes={num_codes} must be between 1 and the number of distinct vectors ({len(distinct)})")
    gen = torch.Generator().manual_seed(seed)
    codebook = distinct[torch.randperm(len(distinct), generator=gen)[:num_codes]].clone()  # [K, d]
    for _ in range(iters):
        assign = nearest_code(vectors, codebook)  # [M]
        sums = torch.zeros_like(codebook).index_add_(0, assign, vectors)  # [K, d]
        counts = torch.bincount(assign, minlength=num_codes).unsqueeze(1)  # [K, 1]
        codebook = torch.where(counts > 0, sums / counts.clamp_min(1), codebook)
        for empty in torch.nonzero(counts.flatten() == 0).flatten():  # re-seed an empty code
            worst = torch.cdist(vectors, codebook).min(dim=1).values.argmax()
            codebook[empty] = vectors[worst]
    return codebook


@dataclass
class PatchTokenizer:
    """Patches <-> codes with a fixed codebook ``[K, p*p*C]`` (rows in :func:`~mae_lab.patches.patchify` order).

    >>> tok = PatchTokenizer.fit(images, num_codes=32, patch_size=2)    # doctest: +SKIP
    >>> codes = tok.encode(images)        # [B, N] long in 0..31
    >>> tok.decode(codes).shape           # [B, C, H, W], every patch replaced by its code's patch
    """

    codebook: torch.Tensor
    patch_size: int
    channels: int = 1

    @classmethod
    def fit(cls, images: torch.Tensor, num_codes: int = 32, patch_size: int = 2, iters: int = 20,
            seed: int = 0) -> PatchTokenizer:
        """Run k-means over every patch of ``images [M, C, H, W]``."""
        if images.ndim != 4:
            raise ValueError(f"images must be [M, C, H, W], got shape {tuple(images.shape)}")
        patches = patchify(images.float(), patch_size)  # [M, N, p*p*C]
        codebook = kmeans(patches.reshape(-1, patches.shape[-1]), num_codes, iters=iters, seed=seed)
        return cls(codebook, int(patch_size), int(images.shape[1]))

    @property
    def num_codes(self) -> int:
        return int(self.codebook.shape[0])

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``images [B, C, H, W]`` -> codes ``[B, N]`` (long), one per patch."""
        if images.ndim != 4 or images.shape[1] != self.channels:
            raise ValueError(f"expected images [B, {self.channels}, H, W], got shape {tuple(images.shape)}")
        return nearest_code(patchify(images, self.patch_size), self.codebook)

    def decode(self, codes: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """codes ``[B, N]`` -> images ``[B, C, H, W]`` (square grid unless ``grid`` is given)."""
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.ndim != 2:
            raise ValueError(f"codes must be [B, N], got shape {tuple(codes.shape)}")
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.num_codes):
            raise ValueError(f"codes must lie in 0..{self.num_codes - 1}, got values {int(codes.min())}..{int(codes.max())}")
        return unpatchify(self.codebook[codes], self.patch_size, grid, self.channels)  # [B, C, H, W]

    def patches(self) -> torch.Tensor:
        """The codebook as little images ``[K, C, p, p]``."""
        return unpatchify(self.codebook.unsqueeze(1), self.patch_size, (1, 1), self.channels)


# ---------------------------------------------------------------------------------------------
# the masked token model and its training
# ---------------------------------------------------------------------------------------------
class MaskedTokenModel(nn.Module):
    """A bidirectional transformer over a grid of codes: ``(codes [B, N], labels [B]) -> logits [B, N, K]``.

    Hidden positions carry the extra id ``mask_id = K``.  With ``num_classes > 0`` a class token
    (the digit to draw) is prepended; the id ``num_classes`` means "no class" (unconditional).
    """

    def __init__(self, num_codes: int, grid: tuple[int, int] = (4, 4), dim: int = 64, depth: int = 2,
                 num_heads: int = 4, num_classes: int = 0):
        super().__init__()
        self.num_codes, self.grid, self.num_classes = int(num_codes), tuple(grid), int(num_classes)
        self.num_tokens = self.grid[0] * self.grid[1]
        self.mask_id = self.num_codes
        self.token_embed = nn.Embedding(self.num_codes + 1, dim)  # K codes + [MASK]
        self.class_embed = nn.Embedding(self.num_classes + 1, dim)  # classes + "no class"
        pos = torch.from_numpy(sincos_pos_embed_2d(dim, self.grid, cls_token=True))  # [1+N, dim]
        self.register_buffer("pos_embed", pos.unsqueeze(0))  # [1, 1+N, dim]
        self.blocks = nn.ModuleList([Block(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, self.num_codes)
        for embedding in (self.token_embed, self.class_embed):
            nn.init.normal_(embedding.weight, std=0.02)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        batch, length = codes.shape
        if length != self.num_tokens:
            raise ValueError(f"codes have {length} positions but this model's grid {self.grid} has {self.num_tokens}")
        if labels is None:
            labels = torch.full((batch,), self.num_classes, dtype=torch.long, device=codes.device)
        x = torch.cat([self.class_embed(labels).unsqueeze(1), self.token_embed(codes)], dim=1)  # [B, 1+N, dim]
        x = x + self.pos_embed
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.norm(x[:, 1:]))  # [B, N, K]


def token_training_mask(batch_size: int, num_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """MaskGIT's training masks: bool ``[B, N]``, a different count per sample.

    Each sample draws ``u ~ U(0, 1)`` and hides ``ceil(cos(pi/2 * u) * N)`` random positions
    (at least one), so every stage of generation, from all hidden to almost all revealed, is
    practised.  (The counts differ per row, so this is not a :func:`mae_lab.make_mask` strategy.)
    """
    u = torch.rand(batch_size, generator=generator)  # [B]
    counts = torch.ceil(torch.cos(math.pi / 2 * u) * num_tokens).clamp(1, num_tokens)  # [B]
    rank = torch.rand(batch_size, num_tokens, generator=generator).argsort(dim=1).argsort(dim=1)  # [B, N]
    return rank < counts.unsqueeze(1)  # [B, N] True = hidden


@dataclass
class TokenModelResult:
    """A trained :class:`MaskedTokenModel` and its training loss at every step."""

    model: MaskedTokenModel
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return f"TokenModelResult(steps={len(self.history)}, last loss={last:.3f}, {self.seconds:.1f} s)"


def train_token_model(codes: torch.Tensor, num_codes: int, grid: tuple[int, int], labels: torch.Tensor | None = None,
                      steps: int = 1000, batch_size: int = 128, dim: int = 64, depth: int = 2, lr: float = 2e-3,
                      label_drop: float = 0.1, seed: int = 0) -> TokenModelResult:
    """Train a :class:`MaskedTokenModel` on code grids ``codes [M, N]`` (and digit ``labels [M]``).

    A share ``label_drop`` of the labels is replaced by "no class" so the same model can also
    draw without being told which digit.
    """
    if codes.ndim != 2 or codes.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"codes must be [M, N] with N = {grid[0] * grid[1]} for grid {tuple(grid)}, got {tuple(codes.shape)}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    num_classes = 0 if labels is None else int(labels.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MaskedTokenModel(num_codes, grid, dim=dim, depth=depth, num_heads=max(dim // 16, 1),
                                 num_classes=num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    schedule = one_cycle(optimizer, lr, steps, warmup=0.05)
    gen = torch.Generator().manual_seed(seed)
    history, start = [], time.perf_counter()
    model.train()
    for step in range(steps):
        index = torch.randint(0, len(codes), (batch_size,), generator=gen)
        batch = codes[index]  # [B, N] the true codes
        hidden = token_training_mask(batch_size, model.num_tokens, gen)  # [B, N]
        inputs = torch.where(hidden, model.mask_id, batch)  # hidden codes become [MASK]
        batch_labels = None
        if labels is not None:
            drop = torch.rand(batch_size, generator=gen) < label_drop
            batch_labels = torch.where(drop, num_classes, labels[index])  # [B]
        logits = model(inputs, batch_labels)  # [B, N, K]
        loss = F.cross_entropy(logits[hidden], batch[hidden])  # only the hidden codes count
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append({"step": step, "loss": loss.item()})
    model.eval()
    return TokenModelResult(model, history, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# generation: iterative unmasking
# ---------------------------------------------------------------------------------------------
def reveal_schedule(num_tokens: int, steps: int) -> list[int]:
    """How many codes are still hidden after each of ``steps`` steps (MaskGIT's cosine schedule).

    After step ``t`` (0-based) ``floor(N * cos(pi/2 * (t + 1) / steps))`` stay hidden, but each
    step reveals at least one code; the last entry is 0.  ``steps`` must be in ``1..N``.

    >>> reveal_schedule(16, 4)
    [14, 11, 6, 0]
    """
    if not 1 <= int(steps) <= int(num_tokens):
        raise ValueError(f"steps must be between 1 and the number of tokens ({num_tokens}), got {steps}")
    counts, hidden = [], int(num_tokens)
    for t in range(int(steps)):
        hidden = min(math.floor(num_tokens * math.cos(math.pi / 2 * (t + 1) / steps)), hidden - 1)
        counts.append(max(hidden, 0))
    counts[-1] = 0
    return counts


def unmask_step(logits: torch.Tensor, codes: torch.Tensor, hidden: torch.Tensor, num_hidden_after: int,
                mask_id: int, temperature: float = 1.0, choice_temperature: float = 0.0,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One MaskGIT step: guess every hidden code, reveal the most confident, hide the rest again.

    Args:
        logits: ``[B, N, K]`` the model's output; codes: ``[B, N]``; hidden: bool ``[B, N]``.
        num_hidden_after: how many codes stay hidden after this step (the same for every sample).
        mask_id: the id written into positions that stay hidden.
        temperature: softmax temperature of the guesses.
        choice_temperature: scale of Gumbel noise added to the confidences (MaskGIT anneals it to
            0), so that not always the same positions win.
        generator: draws the guesses and the noise; ``None`` takes the most probable code and adds
            no noise (greedy, deterministic).

    Returns:
        ``(codes [B, N], hidden [B, N])``.  Revealed codes never change and never hide again.
    """
    batch, length, num_codes = logits.shape
    probs = torch.softmax(logits.float() / max(temperature, 1e-6), dim=-1)  # [B, N, K]
    if generator is None:
        guess = probs.argmax(dim=-1)  # [B, N]
    else:
        guess = torch.multinomial(probs.reshape(-1, num_codes), 1, generator=generator).reshape(batch, length)
    guess = torch.where(hidden, guess, codes)  # revealed codes stay as they are
    confidence = torch.log(probs.gather(-1, guess.unsqueeze(-1)).squeeze(-1).clamp_min(1e-12))  # [B, N]
    if generator is not None and choice_temperature > 0:
        uniform = torch.rand(batch, length, generator=generator).clamp(1e-9, 1 - 1e-9)
        confidence = confidence + choice_temperature * -torch.log(-torch.log(uniform))  # Gumbel noise
    confidence = torch.where(hidden, confidence, torch.inf)  # revealed codes are never hidden again
    least_sure = confidence.argsort(dim=1)[:, :num_hidden_after]  # [B, n_after]
    still_hidden = torch.zeros_like(hidden).scatter_(1, least_sure, True)  # [B, N]
    return torch.where(still_hidden, mask_id, guess), still_hidden


@dataclass
class Generation:
    """What :func:`generate` returns.

    Attributes:
        codes: ``[B, N]`` the final codes.
        order: ``[B, N]`` the step (0-based) at which each code was revealed.
        states: after each step, ``(codes [B, N], hidden [B, N])``.
        labels: the digits asked for (``None``: unconditional).
    """

    codes: torch.Tensor
    order: torch.Tensor
    states: list[tuple[torch.Tensor, torch.Tensor]]
    labels: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return len(self.states)


@torch.no_grad()
def generate(model: MaskedTokenModel, num_images: int = 8, steps: int = 8, labels=None, seed: int = 0,
             temperature: float = 1.0, choice_temperature: float = 2.0) -> Generation:
    """Draw ``num_images`` code grids by iterative unmasking (decode them with ``tokenizer.decode``).

    ``labels``: one digit for all, a list or tensor ``[B]`` of digits, or ``None`` (unconditional).
    The choice noise starts at ``choice_temperature`` and falls linearly to 0 at the last step.
    """
    model.eval()
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1).expand(num_images).clone()
        if model.num_classes == 0 or labels.min() < 0 or labels.max() >= model.num_classes:
            raise ValueError(f"labels must be digits in 0..{model.num_classes - 1} for a class-conditional model "
                             f"(this one has num_classes={model.num_classes}); pass labels=None otherwise")
    gen = torch.Generator().manual_seed(seed)
    codes = torch.full((num_images, model.num_tokens), model.mask_id, dtype=torch.long)  # all hidden
    hidden = torch.ones(num_images, model.num_tokens, dtype=torch.bool)
    order = torch.full((num_images, model.num_tokens), -1, dtype=torch.long)
    states = []
    for t, num_after in enumerate(reveal_schedule(model.num_tokens, steps)):
        noise = choice_temperature * (1 - (t + 1) / steps)
        logits = model(codes, labels)  # [B, N, K]
        codes, now_hidden = unmask_step(logits, codes, hidden, num_after, model.mask_id, temperature, noise, gen)
        order[hidden & ~now_hidden] = t  # revealed at this step
        hidden = now_hidden
        states.append((codes.clone(), hidden.clone()))
    return Generation(codes, order, states, labels)


# ---------------------------------------------------------------------------------------------
# pictures and a live widget
# ---------------------------------------------------------------------------------------------
def plot_generation(generation: Generation, tokenizer: PatchTokenizer, grid: tuple[int, int], max_images: int = 8,
                    show_states: bool = True):
    """A matplotlib Figure: the generated images, each one's reveal order, and (for the first) every step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = min(max_images, len(generation.codes))
    steps = generation.steps
    images = tokenizer.decode(generation.codes[:count], grid).numpy()  # [n, C, H, W]
    columns = max(count, steps if show_states else 0)
    rows = 3 if show_states else 2
    fig = Figure(figsize=(1.15 * columns + 0.6, 1.35 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_frame_on(False)
    for i in range(count):
        axes[0, i].imshow(images[i, 0], cmap="gray", vmin=0, vmax=1)
        if generation.labels is not None:
            axes[0, i].set_title(f"asked: {int(generation.labels[i])}", fontsize=8)
        order = generation.order[i].reshape(grid).numpy()
        axes[1, i].imshow(order, cmap="viridis", vmin=0, vmax=max(steps - 1, 1))
        for (r, c), value in np.ndenumerate(order):
            axes[1, i].text(c, r, str(value + 1), ha="center", va="center", fontsize=7,
                            color="white" if value < steps / 2 else "black")
    axes[0, 0].set_ylabel("generated", fontsize=8)
    axes[1, 0].set_ylabel("revealed at step", fontsize=8)
    if show_states:
        for t, (codes, hidden) in enumerate(generation.states):
            picture = tokenizer.decode(codes[:1].clamp_max(tokenizer.num_codes - 1), grid)[0, 0].clone()  # [H, W]
            p = tokenizer.patch_size
            pixel_hidden = hidden[0].reshape(grid).repeat_interleave(p, 0).repeat_interleave(p, 1)  # [H, W]
            picture[pixel_hidden] = 0.5  # hidden patches in flat grey
            axes[2, t].imshow(picture.numpy(), cmap="gray", vmin=0, vmax=1)
            axes[2, t].set_title(f"step {t + 1}: {int((~hidden[0]).sum())} shown", fontsize=7)
        axes[2, 0].set_ylabel("image 1, step by step", fontsize=8)
    return fig


class GenerationExplorer:
    """Live app: slide the number of steps and the seed, pick a digit, and watch MaskGIT draw.

    ``digit`` offers "one of each" (image ``i`` asks for class ``i % num_classes``), "any" (no class)
    and each class on its own.

    Built from explicit ipywidgets; the picture is a PNG in a ``widgets.Image``.  Attributes
    for tests: ``steps``, ``seed``, ``digit`` (controls), ``view`` (the image), ``status``,
    ``generation`` (the last :class:`Generation`) and ``last_error``.
    """

    def __init__(self, model: MaskedTokenModel, tokenizer: PatchTokenizer, num_images: int = 8, steps: int = 8,
                 seed: int = 0, temperature: float = 1.0, choice_temperature: float = 2.0):
        import ipywidgets as widgets

        self.model, self.tokenizer, self.num_images = model, tokenizer, num_images
        self.temperature, self.choice_temperature = temperature, choice_temperature
        self.steps = widgets.IntSlider(value=steps, min=1, max=model.num_tokens, description="steps",
                                       continuous_update=False)
        self.seed = widgets.IntSlider(value=seed, min=0, max=99, description="seed", continuous_update=False)
        digits = [("any", -1)] + [(str(d), d) for d in range(model.num_classes)]
        if model.num_classes:
            digits.insert(0, ("one of each", -2))  # image i is asked for class i % num_classes
        self.digit = widgets.Dropdown(options=digits, value=digits[0][1], description="digit",
                                      disabled=model.num_classes == 0, layout=widgets.Layout(width="200px"))
        self.view = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.status = widgets.HTML()
        self.generation: Generation | None = None
        self.last_error: str | None = None
        for control in (self.steps, self.seed, self.digit):
            control.observe(self.redraw, names="value")
        self.box = widgets.VBox([widgets.HBox([self.steps, self.seed, self.digit]), self.view, self.status])
        self.redraw()

    def redraw(self, _change=None) -> None:
        """Generate with the current controls and show the picture (errors go to the status line)."""
        try:
            labels = {-1: None, -2: torch.arange(self.num_images) % max(self.model.num_classes, 1)}.get(
                self.digit.value, self.digit.value)
            start = time.perf_counter()
            self.generation = generate(self.model, self.num_images, self.steps.value, labels, self.seed.value,
                                       self.temperature, self.choice_temperature)
            fig = plot_generation(self.generation, self.tokenizer, self.model.grid)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
            self.view.value = buffer.getvalue()
            self.last_error = None
            self.status.value = (f"{self.steps.value} step(s) for {self.model.num_tokens} tokens: "
                                 f"{self.model.num_tokens / self.steps.value:.1f} revealed per step on average "
                                 f"({time.perf_counter() - start:.2f} s)")
        except Exception as error:  # noqa: BLE001  (shown in the app, never a traceback in the log)
            self.last_error = f"{type(error).__name__}: {error}"
            self.status.value = f'<span style="color:#b00020">Cannot draw this: {self.last_error}</span>'

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)  # the live widget
        if self.view.value:  # and a still picture for static viewers (nbviewer, GitHub)
            bundle["image/png"] = base64.b64encode(bytes(self.view.value)).decode("ascii")
        bundle["text/plain"] = "<GenerationExplorer: run this notebook live to use its controls>"
        return bundle
