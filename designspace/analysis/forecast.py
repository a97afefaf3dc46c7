"""How many more pairs a sequential comparison needs, forecast from the pairs trained so far (design-spec 6c).

The forecast is a predictive simulation: each of `runs` continuations first resamples the observed paired
differences (a bootstrap: the uncertainty of what was measured), then draws the future pairs from that resample
and runs the same test on the whole sequence (`sequential.decision_times`). It reports the median and 80th
percentile of the further pairs to the first decision - one space better, or "equivalent" when a margin is
given - and the share of continuations decided within the cap. With a handful of pairs it is a rough guide, and
it says so: below `MIN_PAIRS` there is no forecast.

The continuations are seeded by the differences themselves, so every process that reads the same records
forecasts the same numbers (the reproduction's workers share their rounds that way).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from designspace.analysis.sequential import decision_times

__all__ = ["FUTILITY", "MIN_PAIRS", "Forecast", "forecast"]

MIN_PAIRS = 4
"""Pairs below which no forecast is made (the bootstrap of 3 differences has ~10 distinct laws)."""

FUTILITY = 0.1
"""A comparison whose continuations are decided within the cap less often than this is stopped on its forecast."""

RUNS = 400
"""Continuations per forecast: the decided share is then within +-0.05 (2 standard errors at 0.5)."""


@dataclass(frozen=True)
class Forecast:
    """What the pairs so far say about the pairs still needed.

    pairs: pairs trained; limit: the pairs the continuations ran to (the cap); p_decided: the share decided by
    then; more_median / more_p80: further pairs to a decision, in the continuations (inf where more than half /
    a fifth of them are not decided by `limit`); outcome: the commonest decision among the decided ones ("none"
    when none is); seconds_per_pair: the measured cost of one pair (both models), when known.
    """

    pairs: int
    limit: int
    p_decided: float
    more_median: float
    more_p80: float
    outcome: str
    seconds_per_pair: float | None = None

    @property
    def available(self) -> bool:
        return self.pairs >= MIN_PAIRS

    @property
    def futile(self) -> bool:
        """Too unlikely to decide within the cap to be worth its pairs."""
        return self.available and self.p_decided < FUTILITY

    def core_hours(self, pairs: float | None = None) -> float | None:
        """Core-hours of `pairs` more pairs (default: the median forecast), from the measured seconds a pair."""
        pairs = self.more_median if pairs is None else pairs
        if self.seconds_per_pair is None or not math.isfinite(pairs):
            return None
        return pairs * self.seconds_per_pair / 3600

    def text(self) -> str:
        """'would need ~N more pairs (80%: M), ~H core-hours; decided within L pairs in P% of continuations'."""
        if not self.available:
            return f"no forecast before {MIN_PAIRS} pairs"
        share = f"decided within {self.limit} pairs in {self.p_decided:.0%} of continuations"
        if not math.isfinite(self.more_median):
            return f"would need more than {self.limit - self.pairs} more pairs; {share}"
        hours = self.core_hours()
        cost = f", ~{hours:.2g} core-hours" if hours is not None else ""
        p80 = f"{self.more_p80:.0f}" if math.isfinite(self.more_p80) else f"> {self.limit - self.pairs}"
        return f"would need ~{self.more_median:.0f} more pairs (80%: {p80}){cost} to '{self.outcome}'; {share}"


def forecast(a: Sequence[float], b: Sequence[float], *, limit: int, alpha: float = 0.05,
             margin: float | None = None, test: str = "clipped", seconds_per_pair: float | None = None,
             runs: int = RUNS) -> Forecast:
    """Forecast the comparison of errors `a` and `b` (paired in order, as `sequential.compare` pairs them) if it
    went on to `limit` pairs. See the module docstring."""
    x, y = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    n = int(min(x.size, y.size))
    d = x[:n] - y[:n]
    limit = int(limit)
    if n < MIN_PAIRS or limit <= n:
        return Forecast(n, max(limit, n), float("nan"), math.inf, math.inf, "none", seconds_per_pair)
    rng = np.random.default_rng(zlib.crc32(np.round(d, 6).tobytes()))
    resampled = d[rng.integers(0, n, (runs, n))]  # the law each continuation believes
    future = np.take_along_axis(resampled, rng.integers(0, n, (runs, limit - n)), axis=1)
    seq = np.concatenate([np.broadcast_to(d, (runs, n)), future], axis=1)
    first, decision = decision_times(seq, alpha, margin, test, after=n)
    decided = first > 0
    more = np.where(decided, first - n, np.inf)
    outcomes, counts = np.unique(decision[decided], return_counts=True)
    outcome = str(outcomes[counts.argmax()]) if counts.size else "none"
    return Forecast(n, limit, float(decided.mean()), float(np.quantile(more, 0.5, method="higher")),
                    float(np.quantile(more, 0.8, method="higher")), outcome, seconds_per_pair)
