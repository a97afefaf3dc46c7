"""The wealth of the two bets behind a sequential comparison (design-spec 6c), vectorised over runs.

For paired differences d_i = a_i - b_i (points; positive: b's model is better) and a shift m, each bet is a
product of factors (1 + lam * X_i) with X_i in [-1, 1] and a stake lam in [0, 1) fixed in advance, averaged
over the stake grid (an average of nonnegative supermartingales is one):

- the **sign bet** (`sign_wealth`): X_i = +1 if d_i > m else -1 (a tie loses); E[X_i] <= 0 whenever m is at
  least the median of d. The wealth depends only on the count of wins, so it is read from one table.
- the **clipped bet** (`clipped_wealth`): X_i = clip(d_i - m, -c_i, c_i) / c_i, where the clip level c_i is
  set from pairs before i only (`clip_levels`: `CLIP_SCALE` robust standard deviations of the differences so
  far, at least `CLIP_FLOOR`). E[X_i | past] <= 0 whenever the law of d - m puts no more clipped weight above 0
  than below - for every law symmetric about a centre <= m, and any law shifted from one towards a - so the
  wealth stays a test supermartingale there whatever the errors' distribution. It weighs each difference up
  to c_i: a diverged model counts as one full-size vote, as in the sign bet, which is its limit c -> 0.

The mirror bet ("d < m") has X_i replaced by -X_i. Both are non-increasing (up) / non-decreasing (down) in m,
which makes every set of shifts where neither bet has reached a threshold an interval.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLIP_FLOOR", "CLIP_SCALE", "CLIP_STAKES", "STAKES", "clip_levels", "clipped_log_wealth", "sign_wealth"]

STAKES = np.linspace(0.05, 0.95, 19)
"""Stakes of the sign bet's mixture, equally weighted. Chosen by simulation (python experiments/bench_sequential.py;
experiments/results/sequential/): for P(b better) = 0.60 / 0.68 / 0.76 / 0.85 the mixture spent a median of
208 / 58 / 28 / 15 pairs; a single stake of 0.5 is faster on large gaps but decides only 36% of the 0.60 runs in
300 pairs, 0.3 the reverse, a plug-in Kelly stake was slower everywhere."""

CLIP_STAKES = np.linspace(0.1, 0.9, 9)
"""Stakes of the clipped bet's mixture, equally weighted. Measured (1,000 runs a cell, paired sd 1.25, clip at 1.5
robust sd; experiments/bench_sequential.py): mean pairs to a decision at a 0.5-point difference 63.9 (0.1..0.9 in
9 steps), 63.6 (0.1..0.7 in 7), 64.1 (0.05..0.8 in 10), 64.8 (0.05..0.95 in 19); at 1.2 points 16.9 against 18.8
for the narrow 0.1..0.7 grid. Predictable plug-in stakes were slower everywhere in the same runs (aGRAPA truncated at
0.75: 72.6; online Newton step: 68.7), because their first stakes are set from a handful of pairs."""

CLIP_SCALE = 1.5
"""Clip level in robust standard deviations (1.4826 x the median absolute deviation) of the differences so far.
Measured at 0.5 points (paired sd 1.25): 1.0 / 1.25 / 1.5 / 2.0 / 3.0 sd -> mean 65.6 / 64.3 / 63.9 / 65.2 / 76 pairs;
with 5% of the pairs holding a diverged model (error 80 points off, either side) 80.9 / 80.3 / 82.0 / 88.0 / 106 on
the 19-stake grid and 77.4 (1.5 sd) on `CLIP_STAKES`. The bet's best constant stake would need ~50 pairs at 2-2.5 sd
(growth rate 0.074 a pair); the sign bet needs ~89."""

CLIP_FLOOR = 0.1
"""The smallest clip level (points): the level of the first two pairs, which have no scale to go by, and of any run
whose differences so far are all equal (ties)."""

_MAD_TO_SD = 1.4826


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


def clip_levels(d: np.ndarray, scale: float = CLIP_SCALE, floor: float = CLIP_FLOOR) -> np.ndarray:
    """c_i for each pair from the pairs before it: max(floor, scale x 1.4826 x MAD(d_1..d_{i-1})).

    d: (..., n); returns the same shape. Predictable by construction: c_i never reads d_i or later.
    """
    d = np.asarray(d, float)
    out = np.full(d.shape, float(floor))
    for i in range(2, d.shape[-1]):  # the first two pairs have no spread to go by
        past = d[..., :i]
        centre = np.median(past, axis=-1, keepdims=True)
        mad = np.median(np.abs(past - centre), axis=-1)
        out[..., i] = np.maximum(floor, scale * _MAD_TO_SD * mad)
    return out


def clipped_log_wealth(d: np.ndarray, shifts: np.ndarray, levels: np.ndarray | None = None,
                       stakes: np.ndarray = CLIP_STAKES) -> tuple[np.ndarray, np.ndarray]:
    """Log-wealth of the two clipped bets after each pair, at every shift.

    d: (..., n); shifts: (M,) or (..., n, M) (a shift per pair and column, for bisection); levels: the clip
    levels (`clip_levels(d)` when None). Returns (up, down), each (..., n, M), natural logs.
    """
    d = np.asarray(d, float)
    c = clip_levels(d) if levels is None else np.asarray(levels, float)
    m = np.asarray(shifts, float)
    x = np.clip(d[..., :, None] - m, -c[..., :, None], c[..., :, None]) / c[..., :, None]
    lam = np.asarray(stakes, float)
    return _mixture_log(x, lam), _mixture_log(-x, lam)


def _mixture_log(x: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """log of the stake-averaged wealth prod_i (1 + lam x_i), cumulated over the pair axis (-2)."""
    logs = np.cumsum(np.log1p(x[..., None] * lam), axis=-3)  # (..., n, M, K)
    top = logs.max(axis=-1)
    return top + np.log(np.exp(logs - top[..., None]).mean(axis=-1))
