"""Masked modeling beyond images: the same idea on 1-D sequences.

A masked language model (BERT, Devlin et al., 2019) hides some tokens of a sentence and
predicts them from the rest, exactly as MAE hides patches.  Here the "sentence" is a
window of characters from English text that ships with scikit-learn (the descriptions of
its bundled datasets, one document per dataset), so everything runs offline, and the masks
come from the same registry as the image masks: a sequence of length ``L`` is a ``(1, L)`` grid.

Two rates, which BERT's recipe ties together (Wettig et al., 2023, "Should You Mask 15% in
Masked Language Modeling?", separate them):

* the **prediction rate** — the share of positions the loss is computed on (``ratio``, 15 % in BERT);
* the **corruption rate** — the share of positions whose input was changed. With ``corruption="mask"``
  every predicted position shows ``[MASK]``, so both rates are equal. BERT's 80-10-10 rule
  (``corruption="bert"``, :func:`corrupt_tokens`) shows ``[MASK]`` at 80 % of the predicted
  positions, a random token at 10 % and the true token at 10 %: the corruption rate is 90 % of the
  prediction rate, and the model can no longer assume that a visible token is right.

What the papers measure is *downstream*: the pretrained encoder is fine-tuned on labelled tasks
(GLUE, SQuAD).  Wettig et al. found 40 % better than 15 % for BERT-large (their abstract), and
Ankner et al. (2024, "Dynamic Masking Rate Schedules for MLM Pretraining") found that a rate
decreasing from 30 % to 15 % beats a fixed rate (abstract: +0.46 GLUE points for BERT-base, +0.25 for
BERT-large), and beats an increasing schedule.  The labelled task here that ships offline:
which dataset's description a window of text comes from (:func:`source_task`,
:func:`classify_sources`).

Design: like SimMIM (and BERT) the whole sequence goes through the encoder, the ``[MASK]`` token
being one more embedding; a linear head predicts the original character at every position and
the cross-entropy is taken on the predicted positions.
"""

from __future__ import annotations

import copy
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
from .schedules import one_cycle
from .utils import suggest

__all__ = [
    "BERT_RATES",
    "CORRUPTIONS",
    "HELDOUT_BLOCK",
    "CharTokenizer",
    "MaskedLMResult",
    "MaskedSequenceModel",
    "SourceTask",
    "bag_of_characters",
    "classify_sources",
    "corrupt_tokens",
    "evaluate_masked_lm",
    "fill_in",
    "load_text_corpus",
    "load_text_documents",
    "source_task",
    "split_documents",
    "text_windows",
    "train_masked_lm",
]

_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \n"
HELDOUT_BLOCK, HELDOUT_EVERY, HELDOUT_FIRST = 256, 5, 2  # blocks 2, 7, 12, ... of each document: held out
CORRUPTIONS = ("mask", "bert")
#: BERT's rule for the positions chosen for prediction: [MASK], a random token, the token unchanged
#: (Devlin et al., 2019, Section 3.1).
BERT_RATES = (0.8, 0.1, 0.1)


# ---------------------------------------------------------------------------------------------
# the text
# ---------------------------------------------------------------------------------------------
def _clean(text: str) -> str:
    text = "".join(ch for ch in text if ch in _ALPHABET)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")


@lru_cache(maxsize=1)
def _documents() -> tuple[tuple[str, str], ...]:
    descr = resources.files("sklearn.datasets") / "descr"
    found = sorted((item for item in descr.iterdir() if item.name.endswith(".rst")), key=lambda p: p.name)
    docs = tuple((item.name.removesuffix(".rst"), _clean(item.read_text(encoding="utf-8", errors="ignore")))
                 for item in found)
    if sum(len(text) for _, text in docs) < 10_000:
        raise FileNotFoundError("scikit-learn's dataset descriptions were not found; reinstall scikit-learn")
    return docs


def load_text_documents() -> dict[str, str]:
    """English prose bundled with scikit-learn, one document per dataset it describes (name -> text).

    Characters outside printable ASCII are dropped and runs of blank lines are folded.
    """
    return dict(_documents())


def load_text_corpus() -> str:
    """Every document of :func:`load_text_documents`, one after the other: about 43 k characters."""
    return "\n".join(load_text_documents().values())


def split_documents(block: int = HELDOUT_BLOCK, every: int = HELDOUT_EVERY) -> tuple[dict[str, str], dict[str, str]]:
    """``(train, held_out)`` text of every document: one block of ``block`` characters in ``every`` is held out.

    Each document is cut into consecutive blocks of 256 characters; blocks 2, 7, 12, ... (one in five,
    about 20 %) are held out, the others are joined (with a new line) into the training text. Holding
    out blocks spread over each document, rather than its end, keeps the held-out text like the rest
    (the end of a description is mostly its list of references). Every model of the lab pretrains on the
    training text only; masked-character accuracy and the downstream task are measured on the held-out text.
    """
    train, held_out = {}, {}
    for name, text in load_text_documents().items():
        blocks = [text[start:start + block] for start in range(0, len(text), block)]
        train[name] = "\n".join(b for i, b in enumerate(blocks) if i % every != HELDOUT_FIRST)
        held_out[name] = "\n".join(b for i, b in enumerate(blocks) if i % every == HELDOUT_FIRST)
    return train, held_out


class CharTokenizer:
    """Characters ↔ ids over printable ASCII, with one extra id for ``[MASK]`` (the last one)."""

    def __init__(self, alphabet: str = _ALPHABET):
        self.alphabet = alphabet
        self.index = {ch: i for i, ch in enumerate(alphabet)}
        self.mask_id = len(alphabet)

    @property
    def vocab_size(self) -> int:
        """Number of characters plus the mask id."""
        return len(self.alphabet) + 1

    @property
    def num_characters(self) -> int:
        """Number of real characters: ids ``0 .. num_characters - 1`` (``[MASK]`` comes after them)."""
        return len(self.alphabet)

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


# ---------------------------------------------------------------------------------------------
# the model and BERT's corruption
# ---------------------------------------------------------------------------------------------
class MaskedSequenceModel(nn.Module):
    """A small transformer encoder that fills in hidden characters.

    ``forward(ids [B, L], hidden [B, L] bool | None) -> logits [B, L, vocab]``: positions where
    ``hidden`` is True are shown as ``[MASK]`` (the last id, ``mask_id``); ``ids`` may also hold
    ``mask_id`` already (BERT's corruption, :func:`corrupt_tokens`). :meth:`encode` gives the
    features ``[B, L, D]`` a downstream head reads.
    """

    def __init__(self, vocab_size: int, seq_len: int = 64, dim: int = 128, depth: int = 4, num_heads: int = 4,
                 mask_id: int | None = None):
        super().__init__()
        self.seq_len = seq_len
        self.mask_id = vocab_size - 1 if mask_id is None else int(mask_id)
        self.token_embed = nn.Embedding(vocab_size, dim)  # row mask_id is the learned [MASK] embedding
        self.pos_embed = nn.Parameter(torch.zeros(1, seq_len, dim))
        self.blocks = nn.ModuleList([Block(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, vocab_size)
        # BERT's initialisation: token and position embeddings on the same small scale.  With
        # PyTorch's default N(0, 1) token embeddings the positions are drowned out, and the model
        # stays stuck at guessing the commonest characters for hundreds of steps.
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)

    def encode(self, ids: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """Features of every position after the last block and its norm: ``[B, L, D]``."""
        length = ids.shape[1]
        if length > self.seq_len:
            raise ValueError(f"sequence length {length} exceeds the model's {self.seq_len}")
        if hidden is not None:
            ids = ids.masked_fill(hidden, self.mask_id)  # hide: show [MASK] there
        x = self.token_embed(ids) + self.pos_embed[:, :length]  # [B, L, D]
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)

    def forward(self, ids: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encode(ids, hidden))  # [B, L, vocab]


def corrupt_tokens(ids: torch.Tensor, chosen: torch.Tensor, mask_id: int, num_tokens: int,
                   generator: torch.Generator | None = None, rates: tuple[float, float, float] = BERT_RATES
                   ) -> torch.Tensor:
    """BERT's 80-10-10 corruption of the positions ``chosen`` for prediction, with exact counts.

    In every sequence with ``k`` chosen positions, ``round(rates[0] * k)`` of them (drawn at random)
    show ``mask_id``, ``round(rates[1] * k)`` others show a random token drawn uniformly from the real
    vocabulary ``0 .. num_tokens - 1`` (never ``[MASK]``; it may happen to be the true token), and the
    rest keep their true token. Positions not chosen are never changed.

    Args:
        ids: long ``[B, L]``; chosen: bool ``[B, L]``.
        generator: draws the positions and the random tokens (``None``: seed 0).
        rates: shares of the chosen positions shown as ``[MASK]``, random, unchanged (sum 1).

    Returns:
        long ``[B, L]``: the corrupted ids, what the encoder reads. The loss is still taken at every
        chosen position (the prediction rate), also where the token was left as it is.
    """
    if abs(sum(rates) - 1.0) > 1e-6 or min(rates) < 0:
        raise ValueError(f"rates are shares of the chosen positions ([MASK], random, unchanged) and must sum "
                         f"to 1, got {rates}")
    if ids.shape != chosen.shape:
        raise ValueError(f"ids {tuple(ids.shape)} and chosen {tuple(chosen.shape)} must have the same shape")
    chosen = chosen.bool()
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    count = chosen.sum(dim=1, keepdim=True)  # [B, 1]: k per sequence
    num_mask = torch.round(rates[0] * count)  # [B, 1]
    num_random = torch.round(rates[1] * count)  # [B, 1]
    # a random order of each row's chosen positions: rank 0 .. k-1 (unchosen positions rank after them)
    scores = torch.rand(ids.shape, generator=generator).masked_fill(~chosen, 2.0)  # [B, L]
    rank = scores.argsort(dim=1).argsort(dim=1)  # [B, L]
    show_mask = chosen & (rank < num_mask)
    show_random = chosen & (rank >= num_mask) & (rank < num_mask + num_random)
    random_tokens = torch.randint(0, num_tokens, ids.shape, generator=generator)  # [B, L], real tokens only
    corrupted = torch.where(show_random, random_tokens.to(ids.device), ids)
    return corrupted.masked_fill(show_mask.to(ids.device), mask_id)


# ---------------------------------------------------------------------------------------------
# pretraining
# ---------------------------------------------------------------------------------------------
def text_windows(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator
) -> torch.Tensor:
    """Random windows of ``seq_len`` characters: long ``[B, L]``."""
    starts = torch.randint(0, ids.numel() - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len)
    return ids[starts.unsqueeze(1) + offsets]  # [B, L]


def _training_ids(tokenizer: CharTokenizer, text: str | None) -> torch.Tensor:
    """The training text of the bundled documents, or the first 80 % of ``text``."""
    if text is None:
        return tokenizer.encode("\n".join(split_documents()[0].values()))
    return tokenizer.encode(text[: int(len(text) * 0.8)])


def _held_out_ids(tokenizer: CharTokenizer) -> torch.Tensor:
    """The held-out blocks of every bundled document, one after the other."""
    return tokenizer.encode("\n".join(split_documents()[1].values()))


@dataclass
class MaskedLMResult:
    """A trained masked language model, its training history and the settings that built it."""

    model: MaskedSequenceModel
    tokenizer: CharTokenizer
    ratio: float | str
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    corruption: str = "mask"
    settings: dict = field(default_factory=dict)

    def untrained_copy(self, seed: int | None = None) -> MaskedSequenceModel:
        """The same architecture, freshly initialised (``seed``: the run's own by default): the from-scratch baseline."""
        seed = self.settings.get("seed", 0) if seed is None else seed
        return _build_model(self.tokenizer, self.settings["seq_len"], self.settings["dim"], self.settings["depth"],
                            seed)

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return (f"MaskedLMResult(ratio={self.ratio}, corruption={self.corruption}, steps={len(self.history)}, "
                f"final loss={last:.3f}, {self.seconds:.1f} s)")


def _ratio_at(ratio, step: int, steps: int) -> float:
    return float(ratio(step / max(steps - 1, 1))) if callable(ratio) else float(ratio)


def _build_model(tokenizer: CharTokenizer, seq_len: int, dim: int, depth: int, seed: int) -> MaskedSequenceModel:
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        return MaskedSequenceModel(tokenizer.vocab_size, seq_len=seq_len, dim=dim, depth=depth,
                                   num_heads=max(dim // 32, 1), mask_id=tokenizer.mask_id)


def _check_corruption(corruption: str) -> str:
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}.{suggest(corruption, CORRUPTIONS)} Choose 'mask' "
                         "(every predicted position shows [MASK]) or 'bert' (80 % [MASK], 10 % random, 10 % kept).")
    return corruption


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
    corruption: str = "mask",
    progress: bool = False,
) -> MaskedLMResult:
    """Train a character-level masked language model on the training parts of the bundled documents.

    Args:
        ratio: the prediction rate — the share of characters of each window the loss is computed on — or
            a callable of training progress in [0, 1] (e.g. ``mae_lab.masking.make_schedule("linear", 0.4, 0.15)``).
        steps, batch_size, seq_len, dim, depth, lr: the usual knobs; defaults train in
            about a minute on a laptop CPU.
        seed: seeds the model's initialisation, the windows and the masks.
        text: train on this text instead (the first 80 % of it; :func:`evaluate_masked_lm` always uses
            the held-out blocks of the bundled documents).
        masker: any 2-D strategy of :func:`mae_lab.make_mask`, applied to a ``(1, L)`` grid: which
            positions are predicted.
        corruption: ``"mask"`` (every predicted position shows ``[MASK]``: corruption rate = prediction
            rate) or ``"bert"`` (80-10-10, :func:`corrupt_tokens`: corruption rate = 90 % of it).

    Each row of ``history`` holds the step, the loss, the prediction rate (``ratio``) and the corruption
    rate measured on that batch (``corruption``: the share of positions whose input changed).
    """
    _check_corruption(corruption)
    tokenizer = CharTokenizer()
    ids = _training_ids(tokenizer, text)
    model = _build_model(tokenizer, seq_len, dim, depth, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    schedule = one_cycle(optimizer, lr, steps, warmup=0.1)
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
        chosen = make_mask(masker, batch_size, grid=(1, seq_len), ratio=step_ratio, generator=mask_gen).hidden
        if corruption == "mask":
            inputs = batch.masked_fill(chosen, tokenizer.mask_id)  # [B, L]: [MASK] at every predicted position
        else:
            inputs = corrupt_tokens(batch, chosen, tokenizer.mask_id, tokenizer.num_characters, mask_gen)
        logits = model(inputs)  # [B, L, V]
        loss = F.cross_entropy(logits[chosen], batch[chosen])  # on every predicted position
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append({"step": step, "loss": loss.item(), "ratio": step_ratio,
                        "corruption": float((inputs != batch).float().mean())})
    model.eval()
    label = ratio if not callable(ratio) else repr(ratio)
    settings = {"seq_len": seq_len, "dim": dim, "depth": depth, "seed": seed, "steps": steps, "lr": lr,
                "batch_size": batch_size}
    return MaskedLMResult(model, tokenizer, label, history, time.perf_counter() - start, corruption, settings)


@torch.no_grad()
def evaluate_masked_lm(
    result: MaskedLMResult, ratio: float = 0.15, batches: int = 20, batch_size: int = 64, seed: int = 123
) -> dict[str, float]:
    """Accuracy and loss at hidden positions of held-out text, hiding ``ratio`` of each window.

    Evaluate every model at the same ratio so that models trained at different ratios are
    compared on the same task. This is the fill-in task itself, not a downstream task.
    """
    ids = _held_out_ids(result.tokenizer)
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


# ---------------------------------------------------------------------------------------------
# downstream: which document does a window come from?
# ---------------------------------------------------------------------------------------------
@dataclass
class SourceTask:
    """A labelled task that ships offline: which dataset description a window of text comes from.

    Attributes:
        classes: the documents (scikit-learn datasets) used as classes.
        train_ids: one long tensor per class, the training text of its document (never the held-out blocks).
        test_windows: long ``[M, L]``, windows evenly spaced over each document's held-out blocks.
        test_labels: long ``[M]``.
    """

    classes: tuple[str, ...]
    train_ids: tuple[torch.Tensor, ...]
    test_windows: torch.Tensor
    test_labels: torch.Tensor
    tokenizer: CharTokenizer

    @property
    def seq_len(self) -> int:
        return int(self.test_windows.shape[1])

    def train_batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random training windows, classes drawn uniformly: ``(ids [B, L], labels [B])``."""
        labels = torch.randint(0, len(self.classes), (batch_size,), generator=generator)
        windows = []
        for label in labels.tolist():
            text = self.train_ids[label]
            start = int(torch.randint(0, text.numel() - self.seq_len + 1, (1,), generator=generator))
            windows.append(text[start:start + self.seq_len])
        return torch.stack(windows), labels

    def __repr__(self) -> str:
        return (f"SourceTask({len(self.classes)} classes, windows of {self.seq_len} characters, "
                f"{len(self.test_labels)} held-out test windows)")


def source_task(seq_len: int = 64, test_per_class: int = 16, min_chars: int = 1000) -> SourceTask:
    """The downstream task: classify a window of ``seq_len`` characters by the document it comes from.

    Classes are the documents of at least ``min_chars`` characters (13 of the 14). Training windows are
    drawn from the training text of each document (the text the masked models pretrain on, here with its
    label); the ``test_per_class`` test windows of each class are evenly spaced over its held-out blocks
    (:func:`split_documents`), which no model has seen.
    """
    tokenizer = CharTokenizer()
    train, held_out = split_documents()
    classes = tuple(name for name, text in load_text_documents().items() if len(text) >= min_chars)
    windows, labels = [], []
    for label, name in enumerate(classes):
        ids = tokenizer.encode(held_out[name])
        if ids.numel() < seq_len:
            raise ValueError(f"the held-out part of {name!r} has {ids.numel()} characters, fewer than seq_len="
                             f"{seq_len}; use shorter windows or a larger min_chars")
        starts = torch.linspace(0, ids.numel() - seq_len, test_per_class).round().long()
        windows += [ids[s:s + seq_len] for s in starts.tolist()]
        labels += [label] * test_per_class
    return SourceTask(classes, tuple(tokenizer.encode(train[name]) for name in classes), torch.stack(windows),
                      torch.tensor(labels), tokenizer)


class _SourceClassifier(nn.Module):
    def __init__(self, encoder: MaskedSequenceModel, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.norm.normalized_shape[0], num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.encode(ids).mean(dim=1))  # mean over positions, [B, D] -> [B, classes]


def classify_sources(model: MaskedSequenceModel | MaskedLMResult, task: SourceTask, steps: int = 300,
                     batch_size: int = 64, lr: float = 1e-3, freeze: bool = False, seed: int = 0) -> float:
    """Fine-tune ``model`` on :class:`SourceTask` and return its accuracy on the held-out test windows.

    A linear head reads the mean of the encoder's features; the encoder and the head train together with
    AdamW (``freeze=True``: the head alone, a linear probe). ``model`` is left untouched (a copy trains).
    Pass ``result.untrained_copy()`` for the same network from scratch.
    """
    encoder = copy.deepcopy(model.model if isinstance(model, MaskedLMResult) else model)
    if task.seq_len > encoder.seq_len:
        raise ValueError(f"the task's windows have {task.seq_len} characters, more than the model's {encoder.seq_len}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = _SourceClassifier(encoder, len(task.classes))
    for param in encoder.parameters():
        param.requires_grad_(not freeze)
    optimizer = torch.optim.AdamW([p for p in classifier.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    schedule = one_cycle(optimizer, lr, steps, warmup=0.1)
    draws = torch.Generator().manual_seed(seed + 7)
    classifier.train()
    for _ in range(steps):
        windows, labels = task.train_batch(batch_size, draws)
        loss = F.cross_entropy(classifier(windows), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    classifier.eval()
    with torch.no_grad():
        predicted = classifier(task.test_windows).argmax(dim=1)
    return float((predicted == task.test_labels).float().mean())


def bag_of_characters(task: SourceTask, per_class: int = 200, seed: int = 0) -> float:
    """Accuracy of logistic regression on character counts (no network, no order): the baseline to beat."""
    from sklearn.linear_model import LogisticRegression

    draws = torch.Generator().manual_seed(seed)
    windows, labels = task.train_batch(per_class * len(task.classes), draws)
    num = task.tokenizer.vocab_size

    def counts(ids: torch.Tensor):
        return F.one_hot(ids, num).sum(dim=1).float().numpy() / ids.shape[1]  # [M, vocab]

    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(counts(windows), labels.numpy())
    return float((classifier.predict(counts(task.test_windows)) == task.test_labels.numpy()).mean())
