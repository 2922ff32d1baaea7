"""The :class:`Mask` every strategy returns, and the helpers they share.

A mask answers one question per patch: is it hidden from the encoder?  ``hidden`` is a
bool tensor ``[B, N]`` with **True = hidden**.  Models that drop hidden tokens (MAE) also
need index tensors, so a :class:`Mask` carries them too:

* ``ids_shuffle`` ``[B, N]``: the visible patches first (in increasing patch order), then
  the hidden ones (in increasing patch order);
* ``ids_keep`` ``[B, N_vis]``: ``ids_shuffle[:, :N_vis]``, the indices of the visible patches;
* ``ids_restore`` ``[B, N]``: ``argsort(ids_shuffle)``; gathering with it puts a
  ``[visible; hidden]`` sequence back into patch order.

Every strategy hides exactly the same number of patches in every sample, so a batch of
visible tokens is a rectangular tensor ``[B, N_vis, D]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils import deprecated_alias, whole_number

__all__ = ["Mask", "check_ratio", "invert_permutation", "make_generator", "num_hidden_for", "select_top"]


@dataclass(frozen=True)
class Mask:
    """Which patches are hidden, plus the indices that models need.

    Attributes:
        hidden: bool ``[B, N]``, True where the patch is hidden.
        ids_keep: long ``[B, N_vis]``, indices of the visible patches.
        ids_restore: long ``[B, N]``, inverse of ``ids_shuffle``.
        ids_shuffle: long ``[B, N]``, visible indices then hidden indices.
        grid: ``(h, w)`` patch grid the mask was made for (or ``(T, h, w)`` for tubes).
        masker: name of the mask strategy that made it (``mask.strategy`` is its old name).
    """

    hidden: torch.Tensor
    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    ids_shuffle: torch.Tensor
    grid: tuple[int, ...] | None = None
    masker: str = "custom"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_hidden(
        cls,
        hidden: torch.Tensor,
        grid: tuple[int, ...] | None = None,
        masker: str = "custom",
        ids_shuffle: torch.Tensor | None = None,
    ) -> Mask:
        """Build a mask from any bool ``[B, N]`` tensor with the same count per row.

        If ``ids_shuffle`` is given (a permutation per row whose first ``N_vis`` entries
        are the visible patches) it is kept as it is, so a strategy's own order survives;
        otherwise visible and hidden patches are each listed in increasing order.
        """
        if not isinstance(hidden, torch.Tensor):
            hidden = torch.as_tensor(hidden)
        if hidden.ndim == 1:
            hidden = hidden.unsqueeze(0)
        if hidden.ndim != 2:
            raise ValueError(f"a mask must be a bool tensor [B, N], got shape {tuple(hidden.shape)}")
        hidden = hidden.bool()
        batch, num_patches = hidden.shape
        counts = hidden.sum(dim=1)
        if batch > 0 and not bool((counts == counts[0]).all()):
            raise ValueError(
                "every sample of a batch must hide the same number of patches, got counts "
                f"{counts.tolist()}; trim or top up each row to one count"
            )
        num_hidden = int(counts[0]) if batch > 0 else 0
        num_visible = num_patches - num_hidden
        if grid is not None:
            expected = 1
            for side in grid:
                expected *= int(side)
            if expected != num_patches:
                raise ValueError(f"grid {tuple(grid)} holds {expected} patches but the mask has {num_patches}")
        if ids_shuffle is None:
            # visible first, each group in patch order: a patch's place in the shuffled
            # sequence is how many patches of its group come before it (no sort needed)
            visible_place = torch.cumsum(~hidden, dim=1) - 1  # [B, N]
            hidden_place = num_visible + torch.cumsum(hidden, dim=1) - 1  # [B, N]
            ids_restore = torch.where(hidden, hidden_place, visible_place)  # [B, N]
            ids_shuffle = invert_permutation(ids_restore)  # [B, N]
        else:
            ids_restore = invert_permutation(ids_shuffle)  # [B, N]
        ids_keep = ids_shuffle[:, :num_visible]  # [B, N_vis]
        return cls(
            hidden=hidden,
            ids_keep=ids_keep,
            ids_restore=ids_restore,
            ids_shuffle=ids_shuffle,
            grid=tuple(int(s) for s in grid) if grid is not None else None,
            masker=masker,
        )

    # ------------------------------------------------------------------ properties
    @property
    def strategy(self) -> str:
        """Deprecated name of :attr:`masker`."""
        deprecated_alias("Mask.strategy", "Mask.masker")
        return self.masker

    @property
    def batch_size(self) -> int:
        return int(self.hidden.shape[0])

    @property
    def num_patches(self) -> int:
        return int(self.hidden.shape[1])

    @property
    def num_hidden(self) -> int:
        return int(self.hidden[0].sum()) if self.batch_size else 0

    @property
    def num_visible(self) -> int:
        return self.num_patches - self.num_hidden

    @property
    def ratio(self) -> float:
        """Fraction of patches hidden."""
        return self.num_hidden / max(self.num_patches, 1)

    @property
    def visible(self) -> torch.Tensor:
        """bool ``[B, N]``, True where the patch is visible."""
        return ~self.hidden

    def as_grid(self) -> torch.Tensor:
        """``hidden`` reshaped to ``[B, *grid]`` (needs ``grid``)."""
        if self.grid is None:
            raise ValueError("this mask has no grid; pass grid= when building it")
        return self.hidden.reshape(self.batch_size, *self.grid)

    def to(self, device: torch.device | str) -> Mask:
        """The same mask on another device.

        A CPU mask goes to a GPU through pinned memory without blocking: a plain copy from
        ordinary memory would make Python wait for all GPU work already queued, at every
        training step (masks are drawn on the CPU).
        """
        device = torch.device(device)

        def move(tensor: torch.Tensor) -> torch.Tensor:
            if tensor.device.type == "cpu" and device.type == "cuda":
                return tensor.pin_memory().to(device, non_blocking=True)
            return tensor.to(device)

        return Mask(
            hidden=move(self.hidden),
            ids_keep=move(self.ids_keep),
            ids_restore=move(self.ids_restore),
            ids_shuffle=move(self.ids_shuffle),
            grid=self.grid,
            masker=self.masker,
        )

    def __getitem__(self, index) -> Mask:
        """Select samples: ``mask[0]`` or ``mask[2:4]`` (the batch dimension is kept)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Mask(
            hidden=self.hidden[index],
            ids_keep=self.ids_keep[index],
            ids_restore=self.ids_restore[index],
            ids_shuffle=self.ids_shuffle[index],
            grid=self.grid,
            masker=self.masker,
        )

    def __repr__(self) -> str:
        grid = "x".join(str(s) for s in self.grid) if self.grid else str(self.num_patches)
        return (
            f"Mask(masker={self.masker!r}, batch={self.batch_size}, grid={grid}, "
            f"hidden={self.num_hidden}/{self.num_patches} ({self.ratio:.0%}), visible={self.num_visible})"
        )


# ---------------------------------------------------------------------- shared helpers
def check_ratio(ratio: float, num_patches: int) -> None:
    """Raise a clear ``ValueError`` for a ratio outside [0, 1) or one that hides every patch."""
    try:
        ratio = float(ratio)
    except (TypeError, ValueError):
        raise ValueError(f"mask ratio must be a number in [0, 1), got {ratio!r}") from None
    if not (0.0 <= ratio < 1.0):
        raise ValueError(
            f"mask ratio must be in [0, 1), got {ratio}; e.g. 0.75 hides three patches in four"
        )
    if num_patches - round(num_patches * ratio) < 1:
        max_ratio = (num_patches - 1) / num_patches
        raise ValueError(
            f"mask ratio {ratio} hides all {num_patches} patches and leaves none visible; "
            f"use a ratio of at most {max_ratio:.4f} for this grid"
        )


def num_hidden_for(num_patches: int, ratio: float) -> int:
    """How many patches a ratio hides: ``round(N * ratio)`` (after :func:`check_ratio`)."""
    check_ratio(ratio, num_patches)
    return round(num_patches * float(ratio))


def make_generator(seed: int | None = None, generator: torch.Generator | None = None) -> torch.Generator:
    """The CPU generator a strategy draws from: ``generator`` if given, else one seeded with ``seed``.

    Masks are always drawn on the CPU so the same seed gives the same mask on every
    device; move the result with :meth:`Mask.to`.  With neither a seed nor a generator a
    fresh seed is taken from the OS, never from torch's global RNG.
    """
    if generator is not None:
        if seed is not None:
            raise ValueError("pass either seed= or generator=, not both")
        if generator.device.type != "cpu":
            raise ValueError(
                f"masks are drawn on the CPU so that a seed gives the same mask on every device; got a "
                f"generator on {generator.device}. Pass torch.Generator() (CPU) and move the mask with .to(device)"
            )
        return generator
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()  # non-deterministic by request, without touching the global RNG
    else:
        # any whole number works; torch takes [-2**63, 2**64), where a negative seed means seed + 2**64
        gen.manual_seed(whole_number(seed, "seed", fix="use an int, or None for a fresh random mask") % 2**64)
    return gen


def invert_permutation(permutation: torch.Tensor) -> torch.Tensor:
    """The inverse of each row of ``permutation`` ``[B, N]``; equals ``argsort(permutation)`` without sorting."""
    permutation = permutation.long()
    batch_size, num_patches = permutation.shape
    positions = torch.arange(num_patches, device=permutation.device).expand(batch_size, num_patches)
    return torch.empty_like(permutation).scatter_(1, permutation, positions)  # [B, N]


def select_top(scores: torch.Tensor, count: int) -> torch.Tensor:
    """bool ``[B, N]``, True at the ``count`` largest ``scores`` of each row (ties: lower index first)."""
    batch, num_patches = scores.shape
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices  # [B, N]
    chosen = torch.zeros(batch, num_patches, dtype=torch.bool, device=scores.device)
    chosen.scatter_(1, order[:, :count], True)
    return chosen
