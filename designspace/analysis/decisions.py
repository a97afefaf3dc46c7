"""Where each sequential comparison stands, and which one gets the next models (design-spec 6c).

A set of comparisons shares arms (a space's models in a fixed order, the i-th models of two arms forming the
i-th pair). At every look each comparison is tested on its pairs so far (`sequential.compare`) and, while
undecided, forecast (`forecast.forecast`); `standings` says for each why it is not going on - decided, at its
cap, stopped on its forecast (too unlikely to decide within the cap), or the budget is spent - and `targets`
gives the next round: every arm's first `start` models, then `step` more pairs for the going comparison whose
forecast decision is cheapest in core-hours. A budget of core-seconds counts the models added after the first
`start` of each arm (a round started before the budget ran out may finish past it).

Everything here is a function of the errors and seconds read from the records, so every process that reads the
same records plans the same round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from designspace.analysis.forecast import Forecast, forecast
from designspace.analysis.sequential import SequentialResult, compare

__all__ = ["FUTILITY_AFTER", "STOPS", "Comparison", "Plan", "Standing", "spent_seconds", "standings", "targets"]

FUTILITY_AFTER = 20
"""Pairs before which no comparison is stopped on its forecast: at 10 pairs the observed mean difference has a
standard error of a third of the paired sd, and the forecast varies with it (experiments/bench_sequential.py
measures how often a stop on the forecast at 20 pairs gives up a comparison that would have decided)."""

STOPS = {
    "decided": "decided",
    "cap": "at its cap",
    "forecast": "stopped on its forecast: unlikely to decide within the cap",
    "budget": "the one-epoch budget is spent",
}


@dataclass(frozen=True)
class Comparison:
    """Arms a (the earlier space) and b; `margin`: the equivalence margin in points (None: a direction only)."""

    a: str
    b: str
    margin: float | None = None


@dataclass(frozen=True)
class Plan:
    """`start` models per arm before any decision is looked at, then `step` more pairs per round, at most `cap`
    pairs a comparison; decisions at level `alpha` by `test`; `budget_s`: core-seconds for the models added after
    the first `start` of each arm (None: no budget)."""

    start: int
    step: int
    cap: int
    alpha: float = 0.05
    budget_s: float | None = None
    test: str = "clipped"


@dataclass(frozen=True)
class Standing:
    """One comparison at a look: its test so far, its forecast, and why it is not going on (`stop`: a key of
    `STOPS`, or None while it goes on); `seconds_per_pair`: the measured cost of a pair (both models)."""

    comparison: Comparison
    result: SequentialResult
    forecast: Forecast
    stop: str | None
    pairs: int
    seconds_per_pair: float | None

    @property
    def why(self) -> str:
        """Why it stopped (or that it goes on), in words, with the forecast where it decided the stop."""
        if self.stop is None:
            return f"going on ({self.pairs} pairs); {self.forecast.text()}"
        if self.stop == "decided":
            return self.result.reason
        if self.stop == "cap":
            return f"{STOPS['cap']} ({self.pairs} pairs): {self.result.reason}"
        return f"{STOPS[self.stop]} after {self.pairs} pairs; {self.forecast.text()}"


def _per_pair(seconds: Mapping[str, np.ndarray], c: Comparison) -> float | None:
    parts = [np.asarray(seconds.get(name, ()), float) for name in (c.a, c.b)]
    parts = [p[np.isfinite(p)] for p in parts]
    if any(p.size == 0 for p in parts):
        return None
    return float(sum(np.median(p) for p in parts))


def spent_seconds(seconds: Mapping[str, np.ndarray], start: int) -> float:
    """Core-seconds of the models trained after the first `start` of each arm."""
    return float(sum(np.nansum(np.asarray(s, float)[start:]) for s in seconds.values()))


def standings(errors: Mapping[str, np.ndarray], seconds: Mapping[str, np.ndarray],
              comparisons: Sequence[Comparison], plan: Plan) -> dict[Comparison, Standing]:
    """Each comparison on the pairs trained so far (at most `cap`), with its forecast to the cap and its stop."""
    over_budget = plan.budget_s is not None and spent_seconds(seconds, plan.start) >= plan.budget_s
    out = {}
    for c in comparisons:
        a, b = errors[c.a][: plan.cap], errors[c.b][: plan.cap]
        pairs = int(min(a.size, b.size))
        result = compare(a, b, alpha=plan.alpha, margin=c.margin, test=plan.test)
        per_pair = _per_pair(seconds, c)
        if result.decided:
            fc, stop = forecast(a, b, limit=pairs, seconds_per_pair=per_pair), "decided"
        else:
            fc = forecast(a, b, limit=plan.cap, alpha=plan.alpha, margin=c.margin, test=plan.test,
                          seconds_per_pair=per_pair)
            if pairs >= plan.cap:
                stop = "cap"
            elif pairs >= max(FUTILITY_AFTER, plan.start) and fc.futile:
                stop = "forecast"
            elif over_budget and pairs >= plan.start:
                stop = "budget"
            else:
                stop = None
        out[c] = Standing(c, result, fc, stop, pairs, per_pair)
    return out


def _cost(s: Standing) -> tuple[float, float]:
    """Sort key: the forecast decision's core-hours (pairs when the cost is unknown), then fewer pairs first."""
    hours = s.forecast.core_hours()
    key = hours if hours is not None else s.forecast.more_median
    return (key if math.isfinite(key) else math.inf, -s.forecast.p_decided if math.isfinite(s.forecast.p_decided)
            else 0.0)


def targets(errors: Mapping[str, np.ndarray], standing: Mapping[Comparison, Standing], plan: Plan) -> dict[str, int]:
    """Leading models of each arm that must be trained for the next look: the first `start` of every arm, then
    `step` more pairs for the going comparison with the cheapest forecast decision (ties: the likelier to decide)."""
    need = {name: min(plan.start, plan.cap) for name in errors}
    going = [s for s in standing.values() if s.stop is None]
    behind = [s for s in going if s.pairs < plan.start]
    chosen = behind or sorted(going, key=_cost)[:1]
    for s in chosen:
        more = min(plan.cap, max(plan.start, s.pairs + plan.step))
        c = s.comparison
        need[c.a], need[c.b] = max(need[c.a], more), max(need[c.b], more)
    return need
