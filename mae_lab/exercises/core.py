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

__all__ = ["CheckResult"]

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


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"
