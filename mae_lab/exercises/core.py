"""What every exercise check shares: the verdict object and the helpers that run a student's code safely.

A check runs the student's function on inputs it makes itself and returns a :class:`CheckResult`:
a green or red line in a notebook, truthy when the answer is right. The marks are plain ``✓`` and
``✗`` (in every common font), not emoji, so they render in any browser.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["PREDICTIONS", "CheckResult", "check_prediction"]

PASS_MARK = "\u2713"  # ✓
FAIL_MARK = "\u2717"  # ✗


@dataclass
class CheckResult:
    """The verdict on one exercise: ``passed`` and a message in plain words."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{PASS_MARK if self.passed else FAIL_MARK} {self.exercise}: {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        icon = PASS_MARK if self.passed else FAIL_MARK
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
            f"{icon} <b>{html.escape(self.exercise)}</b>: {html.escape(self.message)}</div>"
        )


def _ok(exercise: str, message: str) -> CheckResult:
    return CheckResult(exercise, True, message)


def _fail(exercise: str, message: str) -> CheckResult:
    return CheckResult(exercise, False, message)


def _call(exercise: str, fn: Callable[..., Any], *args: Any) -> tuple[Any, CheckResult | None]:
    """Run the student's function; turn an exception or a missing body into a verdict."""
    try:
        result = fn(*args)
    except NotImplementedError:
        return None, _fail(exercise, "not implemented yet — replace `raise NotImplementedError` with your code.")
    except Exception as error:  # the student's code: report, never crash the notebook
        return None, _fail(exercise, f"your function raised {type(error).__name__}: {error}")
    if result is None or result is Ellipsis:
        return None, _fail(exercise, "your function returned nothing — did you forget `return`?")
    return result, None


def _as_tensor(exercise: str, value: Any, what: str) -> tuple[torch.Tensor | None, CheckResult | None]:
    if isinstance(value, torch.Tensor):
        return value, None
    try:
        return torch.as_tensor(value), None
    except Exception:
        return None, _fail(exercise, f"{what} should be a torch tensor, got {type(value).__name__}.")


def _call_for_loss(exercise: str, fn: Callable[..., Any], *args: Any) -> tuple[torch.Tensor | None, CheckResult | None]:
    """Run a student's loss function; it must return one number (a tensor with one element)."""
    result, failure = _call(exercise, fn, *args)
    if failure is not None:
        return None, failure
    result, failure = _as_tensor(exercise, result, "the loss")
    if failure is not None:
        return None, failure
    if result.numel() != 1:
        return None, _fail(exercise, f"the loss should be one number, got a tensor of shape {_shape(result)}; "
                           "average it.")
    return result, None


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


# --------------------------------------------------------------------------- predictions
PREDICTIONS: dict[str, tuple[str, dict[str, str]]] = {
    # question id: (right answer, {answer: explanation})
    "block_vs_random_error": (
        "block",
        {
            "block": "Right: a big hidden block has no visible neighbours, so the model must guess whole parts.",
            "random": "Not quite: with random masking almost every hidden patch has a visible neighbour to copy from.",
            "same": "Not quite: at the same ratio, where the hidden patches lie changes how hard the task is.",
        },
    ),
    "encoder_cost_at_75": (
        "quarter",
        {
            "quarter": "Right: the encoder sees a quarter of the tokens, so its linear layers do about a quarter of "
            "the work, and attention (quadratic) even less.",
            "same": "Not quite: MAE drops hidden tokens before the encoder, so it does much less work.",
            "half": "Not quite: 75 % hidden leaves 25 % of the tokens, not half.",
        },
    ),
    "nearest_position": (
        "neighbour",
        {
            "neighbour": "Right: sine-cosine codes change smoothly with position, so the patches next to it have the "
            "most similar codes, and similarity falls off with distance.",
            "corner": "Not quite: the codes change smoothly, so far-away positions (like a corner) are the least alike.",
            "random": "Not quite: the codes are fixed functions of (row, column), not random; nearby means similar.",
        },
    ),
    "easiest_mask_at_75": (
        "grid",
        {
            "grid": "Right: with grid sampling every hidden patch touches a visible one, so it can be filled in by "
            "interpolation — MAE found this too easy a task: sharper reconstructions, worse features (MAE Table 1f: "
            "66.0 % linear probe for grid at 75 %, 73.5 % for random).",
            "random": "Not quite: random masking leaves some hidden patches far from any visible one; grid sampling "
            "never does.",
            "block": "Not quite: block masking is the hardest — the middle of a hidden block is far from every visible patch.",
        },
    ),
    "hardest_patches": (
        "textured",
        {
            "textured": "Right: smooth regions are easy to continue from their neighbours; edges, texture and small "
            "details cannot be guessed exactly, so the model blurs them and pays for it in pixel error.",
            "flat": "Not quite: a flat patch is predicted well by continuing its neighbours; the model blurs details, "
            "so textured patches cost the most pixel error.",
        },
    ),
    "best_ratio_images": (
        "high",
        {
            "high": "Right: images are redundant; MAE found 75 % best (MAE Fig. 5), far above BERT's 15 %.",
            "low": "Not quite: with little hidden, neighbours give the answer away and the encoder learns little.",
        },
    ),
    "brightness_shift_target": (
        "hog",
        {
            "hog": "Right: HOG is built from differences between neighbouring pixels, and a constant shift cancels "
            "in a difference (norm_pixels ignores it too: it subtracts each patch's own mean).",
            "pixels": "Not quite: every pixel value moves by the shift, so the pixel target moves with it.",
            "fft_amplitude": "Not quite: the frequency (0, 0) is the patch mean, and the mean moved; only the "
            "other frequencies stay put.",
        },
    ),
    "mae_linear_vs_finetune": (
        "finetune",
        {
            "finetune": "Right: MAE's ViT-L reaches 85.9 % on ImageNet when fine-tuned (MAE Table 3) but 75.8 % with "
            "a linear probe (MAE Table 12; ViT-B: 83.6 vs 68.0). Its features are rich but not linearly ready; "
            "fine-tuning adapts them.",
            "linear": "Not quite: a linear probe can only read what the frozen features already separate; "
            "fine-tuning may change the features too, and for MAE it gains about 10 points (ViT-L: 85.9 vs 75.8 %, "
            "MAE Tables 3 and 12).",
            "same": "Not quite: for MAE the gap is large — ViT-L: 85.9 % fine-tuned, 75.8 % linear probe on ImageNet "
            "(MAE Tables 3 and 12).",
        },
    ),
    "local_heads_deep_layers": (
        "masked",
        {
            "masked": "Right: Xie et al. (2023, \"Revealing the Dark Secrets of Masked Image Modeling\", Fig. 1) found "
            "that masked image modeling keeps local heads (short attention distances) in every layer, while a "
            "supervised ViT's deep layers all look far — to fill in a patch, the model keeps reading its "
            "neighbourhood at every depth.",
            "supervised": "Not quite: it is the other way round — in a supervised ViT the deep heads all become "
            "global (ViT paper, Figure 7, right); masked image modeling keeps local heads in deep layers too "
            "(Xie et al., 2023, Fig. 1).",
            "same": "Not quite: the two differ most in the deep layers — supervised ViTs look globally there, masked "
            "image models keep some local heads (Xie et al., 2023, Fig. 1).",
        },
    ),
    "block_at_high_ratio": (
        "block",
        {
            "block": "Right: at a high ratio, big hidden blocks leave whole regions without a visible patch; "
            "the task gets too hard to learn from. MAE Table 1f: block masking drops from 72.3 % (50 %) to 63.9 % "
            "(75 %) linear-probe accuracy, while random masking reaches 73.5 % at 75 %.",
            "random": "Not quite: random masking keeps a few visible patches spread over the whole image, so even "
            "at 75-90 % every region has some context; MAE found random masking best at 75 %.",
            "grid": "Not quite, in the paper: a regular grid keeps evenly spread visible patches, and at 75 % its problem is "
            "the opposite one — the task stays too easy (neighbours leak), so it is mediocre. (On a tiny 4 x 4 grid "
            "of tokens, 90 % leaves 2 patches in a fixed pattern, and there grid sampling does collapse.)",
        },
    ),
    "guided_mask_harder": (
        "high",
        {
            "high": "Right: hiding what the model looks at most (usually the object) leaves it the least to go on; "
            "AttMask calls this the harder, more useful task — for a student distilled from a teacher.",
            "low": "Not quite: the least attended patches are mostly background, which the visible object and "
            "the other background patches give away; that is the easy task.",
        },
    ),
    "mlm_corruption_rate": (
        "13.5",
        {
            "13.5": "Right: 80 % of the 15 % show [MASK] (12 %) and 10 % a random token (1.5 %); the other 10 % "
            "keep their true token, so 13.5 % of the input is changed while the loss is taken at all 15 %.",
            "15": "Not quite: that is the prediction rate. 10 % of the predicted tokens are left unchanged, so "
            "only 90 % of them (13.5 % of the text) are corrupted.",
            "12": "Not quite: that counts the [MASK] tokens only; the random tokens (1.5 % of the text) are "
            "corrupted too, so 13.5 % of the input changes.",
        },
    ),
    "mlm_eval_ratio": (
        "down",
        {
            "down": "Right: with more characters hidden, each guess has less context — fewer visible neighbours, and "
            "hidden characters often sit next to other hidden ones.",
            "up": "Not quite: more hidden characters means less context for every guess, not more.",
            "same": "Not quite: a model that uses context does worse when its context has more holes.",
        },
    ),
}


def check_prediction(question: str, answer: str) -> CheckResult:
    """Check a predicted outcome for one of the notebooks' "predict before you run" questions."""
    if question not in PREDICTIONS:
        raise KeyError(f"unknown question {question!r}; known: {', '.join(PREDICTIONS)}")
    right, explanations = PREDICTIONS[question]
    answer = str(answer).strip().lower()
    if answer not in explanations:
        return _fail(question, f"answer with one of {', '.join(repr(a) for a in explanations)}, got {answer!r}.")
    return CheckResult(question, answer == right, explanations[answer])
