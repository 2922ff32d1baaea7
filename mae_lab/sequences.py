"""Masked modeling beyond images: the same idea on 1-D sequences.

A masked language model (BERT, Devlin et al., 2019) hides some tokens of a sentence and
predicts them from the rest, exactly as MAE hides patches.  Here the "sentence" is a
window of characters from English text that ships with scikit-learn (the descriptions of
its bundled datasets), so everything runs offline, and the masks come from the same
registry as the image masks: a sequence of length ``L`` is a ``(1, L)`` grid.

BERT hides 15 % of the tokens; "Should You Mask 15% in Masked Language Modeling?"
(Wettig et al., 2023) found higher rates (around 40 %) work as well or better, and that
a rate that decreases over training helps ("Dynamic Masking Rate Schedules", Ankner et
al., 2024).  :func:`train_masked_lm` lets a notebook compare them at toy scale.

Design: like SimMIM (and BERT) the hidden positions are replaced by a learned ``[MASK]``
embedding and the whole sequence goes through the encoder; a linear head predicts the
original character at every position and the cross-entropy is taken on hidden positions.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import torch
from torch import nn
from torch.nn import functional as F

from .masking import make_mask
from .models.vit import Block

__all__ = [
    "CharTokenizer",
    "MaskedLMResult",
    "MaskedSequenceModel",
    "evaluate_masked_lm",
    "fill_in",
    "load_text_corpus",
    "text_windows",
    "train_masked_lm",
]

_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \n"


@lru_cache(maxsize=1)
def load_text_corpus() -> str:
    """English prose bundled with scikit-learn (its datasets' descriptions), about 43 k characters.

    Characters outside printable ASCII are dropped and runs of blank lines are folded.
    """
    descr = resources.files("sklearn.datasets") / "descr"
    parts = []
    for item in sorted(descr.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".rst"):
            parts.append(item.read_text(encoding="utf-8", errors="ignore"))
    text = "\n".join(parts)
    text = "".join(ch for ch in text if ch in _ALPHABET)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    if len(text) < 10_000:
        raise FileNotFoundError("scikit-learn's dataset descriptions were not found; reinstall scikit-learn")
    return text


class CharTokenizer:
    """Characters ↔ ids over printable ASCII, with one extra id for ``[MASK]``."""

    def __init__(self, alphabet: str = _ALPHABET):
        self.alphabet = alphabet
        self.index = {ch: i for i, ch in enumerate(alphabet)}
        self.mask_id = len(alphabet)

    @property
    def vocab_size(self) -> int:
        """Number of characters plus the mask id."""
        return len(self.alphabet) + 1

    def encode(self, text: str) -> torch.Tensor:
        """``text`` → long ``[len(text)]``; unknown characters raise ``ValueError``."""
        try:
            return torch.tensor([self.index[ch] for ch in text], dtype=torch.long)
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the tokenizer's alphabet") from None

    def decode(self, ids: torch.Tensor, mask_char: str = "_") -> str:
        """long ``[L]`` → text; the mask id shows as ``mask_char``."""
        return "".join(mask_char if i == self.mask_id else self.alphabet[i] for i in ids.tolist())

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, mask_id={self.mask_id})"


class MaskedSequenceModel(nn.Module):
    """A small transformer encoder that fills in hidden characters.

    ``forward(ids [B, L], hidden [B, L] bool) -> logits [B, L, vocab]``.
    """

    def __init__(self, vocab_size: int, seq_len: int = 64, dim: int = 128, depth: int = 4, num_heads: int = 4):
        super().__init__()
        self.seq_len = seq_len
        self.token_embed = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, seq_len, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([Block(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, vocab_size)
        # BERT's initialisation: token, position and mask embeddings on the same small scale.  With
        # PyTorch's default N(0, 1) token embeddings the positions are drowned out, and the model
        # stays stuck at guessing the commonest characters for hundreds of steps.
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, ids: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        batch, length = ids.shape
        if length > self.seq_len:
            raise ValueError(f"sequence length {length} exceeds the model's {self.seq_len}")
        x = self.token_embed(ids)  # [B, L, D]
        x = torch.where(hidden.unsqueeze(-1), self.mask_token.expand(batch, length, -1), x)  # hide
        x = x + self.pos_embed[:, :length]  # [B, L, D]
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.norm(x))  # [B, L, vocab]


def text_windows(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator
) -> torch.Tensor:
    """Random windows of ``seq_len`` characters: long ``[B, L]``."""
    starts = torch.randint(0, ids.numel() - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len)
    return ids[starts.unsqueeze(1) + offsets]  # [B, L]


def _split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    cut = int(ids.numel() * (1 - val_fraction))
    return ids[:cut], ids[cut:]


@dataclass
class MaskedLMResult:
    """A trained masked language model and its training history."""

    model: MaskedSequenceModel
    tokenizer: CharTokenizer
    ratio: float | str
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return f"MaskedLMResult(ratio={self.ratio}, steps={len(self.history)}, final loss={last:.3f}, {self.seconds:.1f} s)"


def _ratio_at(ratio, step: int, steps: int) -> float:
    return float(ratio(step / max(steps - 1, 1))) if callable(ratio) else float(ratio)


def train_masked_lm(
    ratio: float = 0.15,
    steps: int = 300,
    batch_size: int = 64,
    seq_len: int = 64,
    dim: int = 128,
    depth: int = 4,
    lr: float = 1e-3,
    seed: int = 0,
    text: str | None = None,
    masker: str = "random",
    progress: bool = False,
) -> MaskedLMResult:
    """Train a character-level masked language model on the bundled corpus.

    Args:
        ratio: fraction of characters hidden per window, or a callable of training
            progress in [0, 1] (e.g. ``mae_lab.masking.make_schedule("linear", 0.4, 0.15)``).
        steps, batch_size, seq_len, dim, depth, lr: the usual knobs; defaults train in
            about a minute on a laptop CPU.
        seed: seeds the model's initialisation, the windows and the masks.
        masker: any 2-D strategy of :func:`mae_lab.make_mask`, applied to a ``(1, L)`` grid.
    """
    tokenizer = CharTokenizer()
    ids, _ = _split(tokenizer.encode(text if text is not None else load_text_corpus()))
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        model = MaskedSequenceModel(
            tokenizer.vocab_size, seq_len=seq_len, dim=dim, depth=depth, num_heads=max(dim // 32, 1)
        )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    data_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed + 1)
    history = []
    start = time.perf_counter()
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"masked LM ({ratio if not callable(ratio) else 'schedule'})")
    model.train()
    for step in iterator:
        step_ratio = _ratio_at(ratio, step, steps)
        batch = text_windows(ids, batch_size, seq_len, data_gen)  # [B, L]
        hidden = make_mask(masker, batch_size, grid=(1, seq_len), ratio=step_ratio, generator=mask_gen).hidden
        logits = model(batch, hidden)  # [B, L, V]
        loss = F.cross_entropy(logits[hidden], batch[hidden])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append({"step": step, "loss": loss.item(), "ratio": step_ratio})
    model.eval()
    label = ratio if not callable(ratio) else repr(ratio)
    return MaskedLMResult(model, tokenizer, label, history, time.perf_counter() - start)


@torch.no_grad()
def evaluate_masked_lm(
    result: MaskedLMResult, ratio: float = 0.15, batches: int = 20, batch_size: int = 64, seed: int = 123
) -> dict[str, float]:
    """Accuracy and loss at hidden positions of held-out text, hiding ``ratio`` of each window.

    Evaluate every model at the same ratio so that models trained at different ratios are
    compared on the same task.
    """
    ids = _split(result.tokenizer.encode(load_text_corpus()))[1]
    seq_len = result.model.seq_len
    data_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed + 1)
    correct = total = 0
    loss_sum = 0.0
    for _ in range(batches):
        batch = text_windows(ids, batch_size, seq_len, data_gen)
        hidden = make_mask("random", batch_size, grid=(1, seq_len), ratio=ratio, generator=mask_gen).hidden
        logits = result.model(batch, hidden)
        loss_sum += float(F.cross_entropy(logits[hidden], batch[hidden], reduction="sum"))
        correct += int((logits[hidden].argmax(-1) == batch[hidden]).sum())
        total += int(hidden.sum())
    return {"accuracy": correct / total, "loss": loss_sum / total, "eval_ratio": ratio}


@torch.no_grad()
def fill_in(result: MaskedLMResult, text: str, hidden: torch.Tensor) -> str:
    """The model's guess for the hidden characters of ``text`` (``hidden``: bool ``[len(text)]``)."""
    ids = result.tokenizer.encode(text).unsqueeze(0)  # [1, L]
    hidden = torch.as_tensor(hidden, dtype=torch.bool).reshape(1, -1)
    if hidden.shape[1] != ids.shape[1]:
        raise ValueError(f"hidden has {hidden.shape[1]} entries for a text of {ids.shape[1]} characters")
    logits = result.model(ids, hidden)  # [1, L, V]
    guess = torch.where(hidden, logits.argmax(-1), ids)
    return result.tokenizer.decode(guess[0])
