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

CLIP_STAKES = np.array([0.35, 0.5, 0.65])
"""Stakes of the clipped bet's mixture, equally weighted. Chosen by simulation (experiments/bench_sequential.py,
section 3; mean pairs to a decision at paired sd 1.25, 1,000 runs of up to 300 pairs, clip at 1.25 robust sd): at
0.3 / 0.5 / 1.2 / 2.5 points, (0.35, 0.5, 0.65) spent 144 / 60.2 / 17.1 / 10.0 pairs, the grid 0.1..0.9 in 9 steps
159 / 63.8 / 16.5 / -, 0.3..0.75 in 4 steps 147 / 62.2 / 16.5 / 9.6, a single stake of 0.5 146 / 57.9 / 17.6 / 10.7.
A wide grid pays for the stakes far from the best one (its weight on them is lost); a single stake is slow on
large gaps. Predictable plug-in stakes were slower everywhere in the same runs (aGRAPA truncated at 0.75: 72.6 at
0.5 points; online Newton step: 68.7), their first stakes being set from a handful of pairs."""

CLIP_SCALE = 1.25
"""Clip level in robust standard deviations (1.4826 x the median absolute deviation) of the differences so far.
Measured with `CLIP_STAKES` at 0.5 points (paired sd 1.25): 1.25 / 1.5 / 1.75 sd -> mean 60.2 / 59.9 / 60.6 pairs
clean, 70.7 / 72.3 / 74.9 with 5% of the pairs holding a diverged model (80 points off, either side); a level of 3 sd
needs ~20% more pairs (the bet approaches one on the mean), the sign bet (c -> 0) ~40% more. The best constant stake
at 2-2.5 sd would need ~50 pairs (growth 0.074 a pair)."""

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
