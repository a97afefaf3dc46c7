"""Deciding a two-space comparison while models train: an anytime-valid test by betting (design-spec 6c).

The i-th finished model of space a is paired with the i-th of space b; d_i = a_i - b_i is the paired
difference of their errors in points (positive: b's model is better). Two bets are placed on the pairs, one
that b is better ("up") and one that a is (`analysis.betting`); by Ville's inequality either ever reaches
2/alpha under its null with probability at most alpha/2, however often it is looked at.

**What is estimated.** With `test="clipped"` (the default), the location theta of the paired difference at
which the difference clipped at the clip level, clip(d - theta, -c, c), has mean zero: a Huber-type location -
the centre of symmetry for any symmetric law of d, between its median and its mean otherwise. With
`test="sign"`, the median of d. Each difference counts by its size up to c (about 1.5 robust sd of the
differences so far, `betting.CLIP_SCALE`), so a large effect decides in ~1.4x fewer pairs than with the sign
test while a diverged model still counts as one vote, not 80 points.

- `decision` "b": the bet that b is better reached 2/alpha at theta = 0 ("a": the mirror bet);
- the shifts m at which neither bet has reached 2/alpha form a confidence sequence for theta (an interval:
  the wealth is monotone in m); its running intersection is reported, and `certified_margin` is the smallest
  margin it certifies (the interval lies inside +-that);
- "equivalent": a margin was given and that interval lies inside [-margin, +margin].

Any of the three is wrong with probability at most alpha under continuous monitoring (tested by simulation
in tests/analysis/test_sequential.py, measured in experiments/bench_sequential.py); "undecided" means the
models ran out first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from designspace.analysis.betting import CLIP_STAKES, clip_levels, clipped_log_wealth, sign_wealth

__all__ = ["DECISIONS", "ESTIMANDS", "TESTS", "SequentialResult", "compare", "confidence_sequence", "decision_times",
           "fixed_n_sign_test"]

DECISIONS = ("a", "b", "equivalent", "undecided")
TESTS = ("clipped", "sign")
ESTIMANDS = {
    "clipped": "the location of a - b (the shift at which the clipped difference has mean zero: the centre for a "
               "symmetric law, between median and mean otherwise)",
    "sign": "the median of a - b",
}
_GRID = 64
_BISECTIONS = 24


@dataclass(frozen=True)
class SequentialResult:
    """The state of a sequential comparison when it stopped (or ran out of pairs).

    decision: "a" or "b" (whose errors are lower), "equivalent" (the location of a_i - b_i lies
    within +-margin), or "undecided"; n: pairs used; low/high: the anytime-valid interval for that location at
    the stop (points; positive: b better); wealth_a/wealth_b: the e-values for "a lower" and "b lower" at 0;
    test: "clipped" or "sign"; history: per pair, the interval and both e-values.
    """

    decision: str
    n: int
    low: float
    high: float
    alpha: float
    margin: float | None
    wealth_a: float
    wealth_b: float
    available: int
    history: pd.DataFrame = field(repr=False, compare=False)
    test: str = "clipped"

    @property
    def decided(self) -> bool:
        return self.decision != "undecided"

    @property
    def estimand(self) -> str:
        return ESTIMANDS[self.test]

    @property
    def certified_margin(self) -> float:
        """The smallest margin the interval certifies: the location lies within +-this (inf if unbounded)."""
        return max(abs(self.low), abs(self.high))

    @property
    def reason(self) -> str:
        """Why it stopped, in words."""
        threshold = 2 / self.alpha
        if self.decision in ("a", "b"):
            e = self.wealth_a if self.decision == "a" else self.wealth_b
            return f"the bet that {self.decision} is better reached {e:.3g} >= 2/alpha = {threshold:g} after {self.n} pairs"
        if self.decision == "equivalent":
            return (f"the interval [{self.low:+.2f}, {self.high:+.2f}] lies inside +-{self.margin:g} points "
                    f"after {self.n} pairs")
        if self.available == 0:
            return "no pairs yet"
        return (f"not decided after all {self.available} pairs (e-values {self.wealth_a:.3g} for a, "
                f"{self.wealth_b:.3g} for b; 2/alpha = {threshold:g})")

    def text(self, names: Sequence[str] = ("a", "b")) -> str:
        """One line: the decision naming the spaces (`names`: a's and b's, in the order compared), the interval,
        the pairs and why it stopped."""
        a, b = names
        what = {"a": f"{a} is better than {b}", "b": f"{b} is better than {a}",
                "equivalent": f"{a} and {b} are equivalent", "undecided": f"{a} vs {b} undecided"}[self.decision]
        kind = "location" if self.test == "clipped" else "median"
        certified = "" if self.decision == "equivalent" or not math.isfinite(self.certified_margin) else \
            f", within +-{self.certified_margin:.2f}"
        return (f"{what}: {kind} of the difference {a} - {b} in [{self.low:+.2f}, {self.high:+.2f}] points"
                f"{certified} after {self.n} pairs ({self.reason})")


def _validate(a: Sequence[float], b: Sequence[float], alpha: float, margin: float | None,
              test: str) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must lie in (0, 1)")
    if margin is not None and not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin={margin!r} must be a finite number of points >= 0 (or None)")
    if test not in TESTS:
        raise ValueError(f"test={test!r} must be one of {', '.join(TESTS)}")
    if not (np.all(np.isfinite(a_arr)) and np.all(np.isfinite(b_arr))):
        raise ValueError("errors must be finite numbers (percent)")
    return a_arr, b_arr


def _sign_shifts(d: np.ndarray) -> np.ndarray:
    """The shifts to evaluate the sign bet at: its wealth is a step function of m that steps only at the data, and
    the interval's ends are data points, so the data, 0 and one point beyond each end (which stands for +-infinity)
    cover every step."""
    pts = np.unique(np.concatenate([d, [0.0]]))
    return np.concatenate([[pts[0] - 1.0], pts, [pts[-1] + 1.0]])


def _sign_sequence(d: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m = _sign_shifts(d)
    up, down = sign_wealth(d, m)  # (n, M)
    threshold = 2 / alpha
    inside = (up < threshold) & (down < threshold)
    # up steps down at each data point and is constant on [d_(k), d_(k+1)), down mirrors it, so the set
    # is a closed interval between two data points; the outermost grid points stand for +-infinity.
    first = np.where(inside.any(axis=1), inside.argmax(axis=1), 0)
    last = np.where(inside.any(axis=1), m.size - 1 - inside[:, ::-1].argmax(axis=1), m.size - 1)
    low = np.where(first == 0, -math.inf, m[first])
    high = np.where(last == m.size - 1, math.inf, m[last])
    zero = int(np.searchsorted(m, 0.0))
    return low, high, down[:, zero], up[:, zero]


def _clipped_sequence(d: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pair t: the ends of {m : neither clipped bet on pairs 1..t reached 2/alpha}, and both e-values at 0.

    Each end is bracketed on a coarse grid of shifts (one cumulative pass for every t), then bisected per t on
    the monotone wealth; the reported end is the bracket's rejected side (rounded outwards: never narrower)."""
    n = d.size
    c = clip_levels(d)
    log_t = math.log(2 / alpha)
    span = float(np.max(c)) + 1.0
    grid = np.linspace(d.min() - span, d.max() + span, _GRID)  # below the first point every x is +1, above the last -1
    up_g, down_g = clipped_log_wealth(d, grid, c)  # (n, G); up non-increasing along the grid, down non-decreasing
    rows = np.arange(n)
    upto = np.tril(np.ones((n, n), bool))  # row t holds the pairs 1..t

    def at(m: np.ndarray, sign: float) -> np.ndarray:
        """The log-wealth of one bet after pair t at shift m[t], for every t at once."""
        x = sign * np.clip(d[None, :] - m[:, None], -c, c) / c  # (t, i)
        logs = np.where(upto[:, :, None], np.log1p(x[:, :, None] * CLIP_STAKES), 0.0).sum(axis=1)  # (t, K)
        top = logs.max(axis=1)
        return top + np.log(np.exp(logs - top[:, None]).mean(axis=1))

    def end(rejected: np.ndarray, sign: float, low_end: bool) -> np.ndarray:
        """Bisect between the last rejected and the first kept grid point (low end), or the reverse (high)."""
        k = rejected.sum(axis=1)  # rejected grid points form a prefix (low end) or a suffix (high end)
        if low_end:
            unbounded = k == 0
            lo, hi = grid[np.maximum(k - 1, 0)], grid[np.minimum(k, _GRID - 1)]
        else:
            unbounded = k == 0
            lo, hi = grid[np.maximum(_GRID - k - 1, 0)], grid[np.minimum(_GRID - k, _GRID - 1)]
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            hit = at(mid, sign) >= log_t
            if low_end:
                lo, hi = np.where(hit, mid, lo), np.where(hit, hi, mid)
            else:
                lo, hi = np.where(hit, lo, mid), np.where(hit, mid, hi)
        out = lo if low_end else hi
        return np.where(unbounded, -math.inf if low_end else math.inf, out)

    low = end(up_g >= log_t, 1.0, True)
    high = end(down_g >= log_t, -1.0, False)
    up0, down0 = clipped_log_wealth(d, np.array([0.0]), c)
    return low, high, np.exp(down0[rows, 0]), np.exp(up0[rows, 0])


def confidence_sequence(d: Sequence[float], alpha: float = 0.05, test: str = "clipped"
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """After each of the paired differences d: the running-intersection interval (low, high) for the test's
    location of d (`ESTIMANDS`), valid at all times at once with probability >= 1 - alpha, and the e-values of
    the bets "a lower" (d < 0) and "b lower" (d > 0) at 0."""
    d = np.asarray(d, float)
    if d.size == 0:
        return (np.empty(0),) * 4
    low, high, w_a, w_b = (_clipped_sequence if test == "clipped" else _sign_sequence)(d, alpha)
    return np.maximum.accumulate(low), np.minimum.accumulate(high), w_a, w_b


def compare(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05, margin: float | None = None,
            test: str = "clipped") -> SequentialResult:
    """Compare two spaces' errors (percent, lower is better), given in the order the models finished.

    Pairs the i-th of each (the shorter sequence sets the pairs available), looks after every pair and
    stops at the first decision. See the module docstring for the tests, what they estimate and their guarantee.
    """
    a_arr, b_arr = _validate(a, b, alpha, margin, test)
    n_avail = int(min(a_arr.size, b_arr.size))
    d = a_arr[:n_avail] - b_arr[:n_avail]
    threshold = 2 / alpha
    cols = ["n", "low", "high", "wealth_a", "wealth_b"]
    if n_avail == 0:
        return SequentialResult("undecided", 0, -math.inf, math.inf, alpha, margin, 1.0, 1.0, 0,
                                pd.DataFrame(columns=cols), test)
    low, high, w_a, w_b = confidence_sequence(d, alpha, test)
    history = pd.DataFrame({"n": np.arange(1, n_avail + 1), "low": low, "high": high, "wealth_a": w_a, "wealth_b": w_b})
    decisions = np.full(n_avail, "undecided", dtype=object)
    if margin is not None:
        decisions[(low >= -margin) & (high <= margin)] = "equivalent"
    decisions[w_a >= threshold] = "a"
    decisions[w_b >= threshold] = "b"
    decided = np.flatnonzero(decisions != "undecided")
    t = int(decided[0]) if decided.size else n_avail - 1
    return SequentialResult(str(decisions[t]), t + 1, float(low[t]), float(high[t]), alpha, margin,
                            float(w_a[t]), float(w_b[t]), n_avail, history.iloc[: t + 1].reset_index(drop=True), test)


def decision_times(d: np.ndarray, alpha: float = 0.05, margin: float | None = None, test: str = "clipped",
                   after: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For many runs at once (d: (runs, n)): the pair at which each run is first decided (1-based; 0 when never)
    and its decision, looking after every pair from pair `after` + 1 on - what `compare` decides on each row,
    read at 0 and +-margin only (equivalence: some look had the up bet at -margin and some the down bet at
    +margin past 2/alpha, i.e. the running interval inside the margin)."""
    d = np.atleast_2d(np.asarray(d, float))
    shifts = np.array([0.0] if margin is None else [0.0, -margin, margin])
    threshold = math.log(2 / alpha)
    if test == "sign":
        up, down = (np.log(w) for w in sign_wealth(d, shifts))
    else:
        up, down = clipped_log_wealth(d, shifts)
    b, a = up[..., 0] >= threshold, down[..., 0] >= threshold
    eq = np.zeros_like(a)
    if margin is not None:
        eq = np.maximum.accumulate(up[..., 1] >= threshold, axis=-1) & np.maximum.accumulate(down[..., 2] >= threshold,
                                                                                             axis=-1)
    hit = (a | b | eq)
    hit[..., :after] = False
    first = np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)
    rows = np.arange(d.shape[0])
    at = np.maximum(first, 0)
    decision = np.where(b[rows, at], "b", np.where(a[rows, at], "a", "equivalent"))
    decision = np.where(first >= 0, decision, "undecided")
    return first + 1, decision


def fixed_n_sign_test(p_better: float, alpha: float = 0.05, power: float = 0.8, n_max: int = 2000) -> int | None:
    """Pairs a fixed-n two-sided sign test needs for `power` when P(b better) = p_better (exact binomial)."""
    from scipy.stats import binom

    if not 0 <= p_better <= 1 or p_better == 0.5:
        return None
    for n in range(1, n_max + 1):
        k = int(binom.isf(alpha / 2, n, 0.5)) + 1  # reject when wins >= k (one side); P0(wins >= k) <= alpha/2
        if binom.sf(k - 1, n, 0.5) > alpha / 2:
            continue
        if binom.sf(k - 1, n, max(p_better, 1 - p_better)) >= power:
            return n
    return None
