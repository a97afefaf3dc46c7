"""Deciding a two-space comparison while models train: an anytime-valid sign test (design-spec 6c).

The i-th finished model of space a is paired with the i-th of space b; d_i = a_i - b_i is the paired
difference of their errors in points (positive: b's model is better). For any shift m the bet

    X_i(m) = +1 if d_i > m, -1 otherwise          (a tie counts against the bet)

has mean <= 0 whenever m is at least the median of d, so the wealth prod(1 + lam * X_i(m)) is a
nonnegative supermartingale there, and by Ville's inequality it ever reaches 2/alpha with probability at
most alpha/2 - whatever the errors' distribution, however often it is looked at. The mirror bet (d_i < m)
covers the other side. Betting with a mixture over a fixed grid of stakes `STAKES` (a mixture of
supermartingales is one) needs no tuning and no past-dependent choice.

- `decision` "b": the bet that b is better reached 2/alpha at m = 0 (a's errors are lower: "a");
- the set of m where neither bet has reached 2/alpha is a confidence sequence for the median of d (an
  interval, since the wealth is monotone in m); its running intersection is reported at the stop;
- "equivalent": a margin was given and that interval lies inside [-margin, +margin].

Any of the three is wrong with probability at most alpha under continuous monitoring (tested by simulation
in tests/analysis/test_sequential.py); "undecided" means the models ran out first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DECISIONS", "STAKES", "SequentialResult", "compare", "confidence_sequence", "fixed_n_sign_test", "sign_wealth"]

DECISIONS = ("a", "b", "equivalent", "undecided")
STAKES = np.linspace(0.05, 0.95, 19)
"""Stakes of the mixture bet, equally weighted. Chosen by simulation (python experiments/bench_sequential.py
--runs 2000 --pairs 300; experiments/results/sequential/): for P(b better) = 0.60 / 0.68 / 0.76 / 0.85 the mixture
spent a median of 208 / 58 / 28 / 15 pairs (a fixed-n sign test needs 199 / 63 / 30 / 15 for 80% power); a single
stake of 0.5 is faster on large gaps (23 at 0.76) but decides only 36% of the 0.60 runs in 300 pairs, 0.3 the
reverse (22 at 0.85), a plug-in Kelly stake was slower everywhere. Null type-I error over 300 pairs: 2.3-3.5%
(normal, lognormal, Cauchy, tied errors) at alpha 0.05."""


def _mixture_table(n: int, stakes: np.ndarray) -> np.ndarray:
    """W[t, w]: the mixture wealth after t bets of which w won, (1 + lam)^w (1 - lam)^(t - w) averaged over the
    stakes (log-sum-exp); the wealth depends on nothing else, so every shift and run reads this one table."""
    t = np.arange(n + 1)[:, None, None]
    w = np.minimum(np.arange(n + 1)[None, :, None], t)  # entries with w > t are never read
    logs = w * np.log1p(stakes) + (t - w) * np.log1p(-stakes)
    top = logs.max(axis=-1, keepdims=True)
    return np.exp(top[..., 0]) * np.exp(logs - top).mean(axis=-1)


def sign_wealth(d: np.ndarray, shifts: np.ndarray, stakes: np.ndarray = STAKES) -> tuple[np.ndarray, np.ndarray]:
    """Wealth of the two sign bets after each pair, at every shift.

    d: (..., n) paired differences; shifts: (M,). Returns (up, down), each (..., n, M): `up` bets that
    d > m (b better by more than m), `down` that d < m; a tie loses either bet, which keeps both valid for any
    distribution. The mixture over `stakes` is equally weighted.
    """
    d = np.asarray(d, float)[..., :, None]
    m = np.asarray(shifts, float)
    n = d.shape[-2]
    table = _mixture_table(n, np.asarray(stakes, float))
    t = np.arange(1, n + 1)[:, None]
    wins_up = np.cumsum(d > m, axis=-2)
    wins_down = np.cumsum(d < m, axis=-2)
    return table[t, wins_up], table[t, wins_down]


@dataclass(frozen=True)
class SequentialResult:
    """The state of a sequential comparison when it stopped (or ran out of pairs).

    decision: "a" or "b" (whose errors are lower), "equivalent" (the median paired difference lies
    within +-margin), or "undecided"; n: pairs used; low/high: the anytime-valid interval for the median
    of a_i - b_i at the stop (points; positive: b better); wealth_a/wealth_b: the e-values for "a lower"
    and "b lower" at m = 0; history: per pair, the interval and both e-values.
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

    @property
    def decided(self) -> bool:
        return self.decision != "undecided"

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

    def text(self) -> str:
        what = {"a": "a is better", "b": "b is better", "equivalent": "equivalent", "undecided": "undecided"}
        return (f"{what[self.decision]}: median difference a - b in [{self.low:+.2f}, {self.high:+.2f}] points "
                f"after {self.n} pairs ({self.reason})")


def _shifts(d: np.ndarray, margin: float | None) -> np.ndarray:
    """The shifts to evaluate: the wealth is a step function of m that steps only at the data, and the interval's
    ends are data points, so the data, the values that matter (0, +-margin) and one point beyond each end (which
    stands for +-infinity) cover every step."""
    pts = np.unique(np.concatenate([d, [0.0], [] if margin is None else [-margin, margin]]))
    return np.concatenate([[pts[0] - 1.0], pts, [pts[-1] + 1.0]])


def _validate(a: Sequence[float], b: Sequence[float], alpha: float, margin: float | None) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must lie in (0, 1)")
    if margin is not None and not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin={margin!r} must be a finite number of points >= 0 (or None)")
    if not (np.all(np.isfinite(a_arr)) and np.all(np.isfinite(b_arr))):
        raise ValueError("errors must be finite numbers (percent)")
    return a_arr, b_arr


def confidence_sequence(d: Sequence[float], alpha: float = 0.05, extra: Sequence[float] = ()
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """After each of the paired differences d: the running-intersection interval (low, high) for the median of d,
    valid at all times at once with probability >= 1 - alpha, and the e-values of the bets "a lower" (d < 0)
    and "b lower" (d > 0) at m = 0. `extra`: shifts (e.g. +-margin) that must be grid points."""
    d = np.asarray(d, float)
    m = _shifts(np.concatenate([d, np.asarray(extra, float)]), None)
    up, down = sign_wealth(d, m)  # (n, M)
    threshold = 2 / alpha
    inside = (up < threshold) & (down < threshold)
    # up steps down at each data point and is constant on [d_(k), d_(k+1)), down mirrors it, so the set
    # is a closed interval between two data points; the outermost grid points stand for +-infinity.
    first = np.where(inside.any(axis=1), inside.argmax(axis=1), 0)
    last = np.where(inside.any(axis=1), m.size - 1 - inside[:, ::-1].argmax(axis=1), m.size - 1)
    low = np.maximum.accumulate(np.where(first == 0, -math.inf, m[first]))
    high = np.minimum.accumulate(np.where(last == m.size - 1, math.inf, m[last]))
    zero = int(np.searchsorted(m, 0.0))
    return low, high, down[:, zero], up[:, zero]


def compare(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05,
            margin: float | None = None) -> SequentialResult:
    """Compare two spaces' errors (percent, lower is better), given in the order the models finished.

    Pairs the i-th of each (the shorter sequence sets the pairs available), looks after every pair and
    stops at the first decision. See the module docstring for the test and its guarantee.
    """
    a_arr, b_arr = _validate(a, b, alpha, margin)
    n_avail = int(min(a_arr.size, b_arr.size))
    d = a_arr[:n_avail] - b_arr[:n_avail]
    threshold = 2 / alpha
    cols = ["n", "low", "high", "wealth_a", "wealth_b"]
    if n_avail == 0:
        return SequentialResult("undecided", 0, -math.inf, math.inf, alpha, margin, 1.0, 1.0, 0,
                                pd.DataFrame(columns=cols))
    low, high, w_a, w_b = confidence_sequence(d, alpha, () if margin is None else (-margin, margin))
    history = pd.DataFrame({"n": np.arange(1, n_avail + 1), "low": low, "high": high, "wealth_a": w_a, "wealth_b": w_b})
    decisions = np.full(n_avail, "undecided", dtype=object)
    if margin is not None:
        decisions[(low >= -margin) & (high <= margin)] = "equivalent"
    decisions[w_a >= threshold] = "a"
    decisions[w_b >= threshold] = "b"
    decided = np.flatnonzero(decisions != "undecided")
    t = int(decided[0]) if decided.size else n_avail - 1
    return SequentialResult(str(decisions[t]), t + 1, float(low[t]), float(high[t]), alpha, margin,
                            float(w_a[t]), float(w_b[t]), n_avail, history.iloc[: t + 1].reset_index(drop=True))


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
