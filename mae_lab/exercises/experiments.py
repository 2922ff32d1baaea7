"""Exercises of lab 08 (the ablation lab): a conclusion that must follow from your own numbers.

:func:`check_experiment` reads the probe accuracies of two settings (for example two mask ratios),
several seeds each, and says whether the student's conclusion — "this setting is better", or
"unclear" — is supported by them. The rule is the one a careful reader applies to a small ablation:
a difference counts only when it is larger than twice its standard error, estimated from the spread
between seeds, and never when it is under one point (two or three seeds estimate their own spread
poorly).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from .core import CheckResult, _fail, _ok

__all__ = ["MIN_CLEAR_DIFFERENCE", "check_experiment", "compare_settings"]

MIN_CLEAR_DIFFERENCE = 0.01  # one point of accuracy: smaller differences are never called clear
UNCLEAR = "unclear"


def compare_settings(results: Mapping[Any, Any]) -> dict[str, Any]:
    """The numbers behind the verdict for ``{setting: [accuracy of each seed]}`` with two settings.

    Returns ``means``, ``spreads`` (sample standard deviations), ``difference`` (second setting minus
    first, in sorted order), ``noise`` (twice the standard error of the difference, at least
    :data:`MIN_CLEAR_DIFFERENCE`), ``clear`` and ``better`` (a setting, or ``"unclear"``).
    """
    settings = sorted(results)
    values = {s: [float(v) for v in results[s]] for s in settings}
    means = {s: statistics.fmean(v) for s, v in values.items()}
    spreads = {s: statistics.stdev(v) for s, v in values.items()}
    first, second = settings
    difference = means[second] - means[first]
    standard_error = math.sqrt(sum(spreads[s] ** 2 / len(values[s]) for s in settings))
    noise = max(2 * standard_error, MIN_CLEAR_DIFFERENCE)
    clear = abs(difference) > noise
    better = (second if difference > 0 else first) if clear else UNCLEAR
    return {"settings": settings, "means": means, "spreads": spreads, "difference": difference,
            "noise": noise, "clear": clear, "better": better}


def _describe(setting: Any) -> str:
    if isinstance(setting, float) and 0 <= setting <= 1:
        return f"{setting:.0%}"
    return str(setting)


def _same_setting(answer: Any, setting: Any) -> bool:
    if isinstance(answer, str) or isinstance(setting, str):
        return str(answer).strip().lower() == str(setting).strip().lower()
    try:
        return math.isclose(float(answer), float(setting), abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def check_experiment(results: Any, better: Any) -> CheckResult:
    """Check a conclusion against the numbers it was drawn from.

    Args:
        results: ``{setting: [probe accuracy of seed 0, of seed 1, ...]}`` for two settings (two mask
            ratios, say), accuracies as fractions in [0, 1], at least two seeds each.
        better: the setting whose encoders were better, or ``"unclear"`` when the numbers cannot tell.
    """
    name = "your conclusion"
    if results is None or (isinstance(results, Mapping) and not results):
        return _fail(name, "fill in `results` first: {setting: [accuracy of each seed]}, from your runs.")
    if not isinstance(results, Mapping):
        return _fail(name, f"`results` should be a dict {{setting: [accuracies]}}, got {type(results).__name__}.")
    if len(results) != 2:
        return _fail(name, f"compare exactly two settings (you gave {len(results)}): an ablation changes one thing.")
    for setting, runs in results.items():
        if isinstance(runs, (int, float)):
            return _fail(name, f"{_describe(setting)} has a single number: one run per setting cannot separate a "
                         "difference from noise — train at least two seeds of each and list their accuracies.")
        try:
            runs = [float(v) for v in runs]
        except (TypeError, ValueError):
            return _fail(name, f"the runs of {_describe(setting)} should be a list of accuracies, got {runs!r}.")
        if len(runs) < 2:
            return _fail(name, f"{_describe(setting)} has one run: one run per setting cannot separate a difference "
                         "from noise — train at least two seeds of each.")
        if all(1 < v <= 100 for v in runs):
            return _fail(name, "give accuracies as fractions in [0, 1] (0.71), not percent (71).")
        if not all(0 <= v <= 1 for v in runs):
            return _fail(name, f"accuracies lie in [0, 1]; {_describe(setting)} has {runs}.")
        if len(set(runs)) == 1:
            return _fail(name, f"the seeds of {_describe(setting)} gave identical accuracies ({runs[0]:.4f}): did the "
                         "seed really change? Identical runs measure no noise — use recipe.replace(seed=...).")
    first, second = sorted(results)
    if sorted(map(float, results[first])) == sorted(map(float, results[second])):
        return _fail(name, "both settings gave exactly the same numbers: did the setting (mask_ratio=...) change "
                     "between the runs?")
    if not (isinstance(better, str) and better.strip().lower() == UNCLEAR) and not any(
            _same_setting(better, s) for s in results):
        options = ", ".join(repr(s) for s in sorted(results))
        return _fail(name, f"answer with the better setting ({options}) or \"unclear\", got {better!r}.")
    verdict = compare_settings(results)
    means, spreads = verdict["means"], verdict["spreads"]
    summary = "; ".join(f"{_describe(s)}: {100 * means[s]:.1f} ± {100 * spreads[s]:.1f} % over "
                        f"{len(results[s])} seeds" for s in verdict["settings"])
    gap = (f"difference {100 * verdict['difference']:+.1f} points ({_describe(second)} − {_describe(first)}), "
           f"noise {100 * verdict['noise']:.1f} points (twice the standard error, at least 1)")
    said_unclear = isinstance(better, str) and better.strip().lower() == UNCLEAR
    if verdict["clear"]:
        winner, loser = verdict["better"], first if verdict["better"] == second else second
        if said_unclear:
            return _fail(name, f"your numbers do settle it: {summary}; {gap}. The difference is larger than its "
                         f"noise, so {_describe(winner)} gave the better encoders in this experiment.")
        if _same_setting(better, winner):
            return _ok(name, f"follows from your numbers — {summary}; {gap}. (One data set, one model size, a "
                       "short run: say so when you report it.)")
        return _fail(name, f"your numbers say the opposite: {_describe(winner)} averages {100 * means[winner]:.1f} %, "
                     f"{_describe(loser)} {100 * means[loser]:.1f} % ({gap}).")
    if said_unclear:
        return _ok(name, f"right to hold back — {summary}; {gap}: the difference is within the noise. More seeds "
                   "or longer runs could settle it.")
    return _fail(name, f"your numbers cannot tell: {summary}; {gap}. A difference smaller than its noise is not a "
                 "finding — the honest conclusion is \"unclear\" (or run more seeds).")
