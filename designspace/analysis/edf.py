"""Error distributions of design spaces: EDFs, normalized EDFs, KS distance, random-search efficiency.

Definitions (design-spec section 7). The EDF of n models with errors e_i and weights w_i (1/n when
unweighted) is F(e) = sum of w_i over e_i < e: strict `<`, so F is left-continuous and F(e_i) does
not count e_i itself. The normalized EDF (NDS) uses weights that make the complexity distribution
uniform over k bins. Everything here works on plain arrays and is vectorized.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

__all__ = [
    "EDF", "EmptyBinError", "KSResult", "complexity_bins", "complexity_weights", "edf",
    "ks_distance", "ks_test", "random_search_efficiency", "random_search_quantiles", "supported_k",
]


class EDF(NamedTuple):
    """A step function: `errors` sorted and distinct, `mass[i]` = total weight of e <= errors[i].

    Calling it evaluates F(e) = weight of errors strictly below e (the paper's definition).
    """

    errors: np.ndarray
    mass: np.ndarray

    def __call__(self, e: Any) -> np.ndarray:
        i = np.searchsorted(self.errors, np.asarray(e, dtype=np.float64), side="left")
        return np.where(i > 0, self.mass[np.maximum(i - 1, 0)], 0.0)


def _as_errors(errors: Any, name: str = "errors") -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).ravel()
    if e.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(e).all():
        bad = int(np.flatnonzero(~np.isfinite(e))[0])
        raise ValueError(
            f"{name}[{bad}]={e[bad]!r} is not finite; resolve diverged/failed/untrained models first "
            "(designspace.analysis.resolve_errors)"
        )
    return e


def _as_weights(weights: Any, n: int, name: str = "weights") -> np.ndarray:
    """Weights normalized to sum to 1 (uniform 1/n when None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (n,):
        raise ValueError(f"{name} has {w.size} entries for {n} errors")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError(f"{name} must be finite and >= 0")
    total = w.sum()
    if total <= 0:
        raise ValueError(f"{name} sum to {total}; at least one must be positive")
    return w / total


def edf(errors: Any, weights: Any = None) -> EDF:
    """The (weighted) empirical distribution function of `errors`.

    Returns EDF(errors=sorted distinct values, mass=cumulative weight up to and including each).
    Tied errors are merged into one step carrying their total weight. Weights are normalized to
    sum to 1. F(e) = EDF(e) counts errors strictly below e.
    """
    e = _as_errors(errors)
    w = _as_weights(weights, e.size)
    values, inverse = np.unique(e, return_inverse=True)
    mass = np.cumsum(np.bincount(inverse, weights=w, minlength=values.size))
    mass[-1] = 1.0 if mass[-1] > 0 else mass[-1]  # exact top despite rounding
    return EDF(values, np.minimum(mass, 1.0))


# --- normalized EDF weights -------------------------------------------------------------------
class EmptyBinError(ValueError):
    """A complexity bin holds no model, so the normalized EDF is undefined there."""


def complexity_bins(
    values: Any, bins: int = 10, range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins over `range` (default [min, max]): (edges (k+1,), bin index of each value).

    Bins are [a, b) except the last, [a, b], as in `np.histogram`.
    """
    v = _as_errors(values, "values")
    if not (isinstance(bins, (int, np.integer)) and bins >= 1):
        raise ValueError(f"bins={bins!r} must be an integer >= 1")
    lo, hi = (float(v.min()), float(v.max())) if range is None else (float(range[0]), float(range[1]))
    if not (np.isfinite(lo) and np.isfinite(hi) and hi >= lo):
        raise ValueError(f"complexity range ({lo}, {hi}) is not a finite interval")
    outside = (v < lo) | (v > hi)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} value(s) lie outside the range [{lo:g}, {hi:g}], e.g. "
            f"{v[outside][0]:g}; filter the models to the range first"
        )
    if hi == lo:
        if bins > 1:
            raise ValueError(f"all {v.size} values equal {lo:g}: {bins} bins over an empty range")
        return np.array([lo, hi]), np.zeros(v.size, dtype=np.int64)
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, bins - 1)
    return edges, idx


def complexity_weights(
    values: Any,
    bins: int = 10,
    *,
    range: tuple[float, float] | None = None,
    empty: Literal["raise", "merge"] = "raise",
) -> np.ndarray:
    """NDS normalized-EDF weights: w_i = 1 / (k * m_j) for a model in bin j holding m_j models.

    With these weights every complexity bin carries mass 1/k, so the weighted complexity histogram
    is uniform. A bin without models makes that impossible: by default it raises `EmptyBinError`
    naming the empty ranges. `empty="merge"` instead joins each run of empty bins to the non-empty
    bin before it (the first one's to the bin after it); a merged bin spanning r of the k bins
    carries mass r/k, so the weighted distribution stays uniform over the merged bins.
    """
    if empty not in ("raise", "merge"):
        raise ValueError(f"empty={empty!r} must be 'raise' or 'merge'")
    edges, idx = complexity_bins(values, bins, range)
    k = edges.size - 1
    counts = np.bincount(idx, minlength=k)
    if (counts == 0).any():
        if empty == "raise":
            spans = ", ".join(f"[{edges[j]:.4g}, {edges[j + 1]:.4g}{']' if j == k - 1 else ')'}"
                              for j in np.flatnonzero(counts == 0))
            raise EmptyBinError(
                f"{int((counts == 0).sum())} of {k} complexity bins hold no model: {spans}. "
                "Use fewer bins, a narrower range, or empty='merge'."
            )
        # group id of each bin: the index of the non-empty bin it merges into
        nonempty = np.flatnonzero(counts > 0)
        owner = np.maximum.accumulate(np.where(counts > 0, np.arange(k), -1))
        owner[owner < 0] = nonempty[0]
        span = np.bincount(owner, minlength=k)  # how many of the k bins each non-empty bin covers
        return span[idx] / (k * counts[idx])
    return 1.0 / (k * counts[idx])


# --- comparing distributions --------------------------------------------------------------------
class KSResult(NamedTuple):
    statistic: float
    pvalue: float


def ks_distance(a: Any, b: Any, weights_a: Any = None, weights_b: Any = None) -> float:
    """KS statistic D = sup_e |F_a(e) - F_b(e)| of two (weighted) EDFs.

    Both EDFs are step functions that jump at sample points, so the supremum is attained on the
    union of the sample points; evaluating there with strict `<` (left limits) or `<=` (right
    limits) gives the same supremum. Unweighted, this equals scipy's two-sample KS statistic.
    """
    fa, fb = edf(a, weights_a), edf(b, weights_b)
    grid = np.union1d(fa.errors, fb.errors)
    right_a = _mass_at_or_below(fa, grid)
    right_b = _mass_at_or_below(fb, grid)
    return float(np.max(np.abs(right_a - right_b)))


def _mass_at_or_below(f: EDF, x: np.ndarray) -> np.ndarray:
    i = np.searchsorted(f.errors, x, side="right")
    return np.where(i > 0, f.mass[np.maximum(i - 1, 0)], 0.0)


def ks_test(a: Any, b: Any, alternative: str = "two-sided") -> KSResult:
    """Two-sample KS test of unweighted samples: (D, p-value) from `scipy.stats.ks_2samp`.

    alternative 'greater': H1 is that a's EDF lies above b's somewhere (a has lower errors); 'less':
    below; D is then the one-sided distance in that direction."""
    from scipy import stats

    res = stats.ks_2samp(_as_errors(a, "a"), _as_errors(b, "b"), alternative=alternative)
    return KSResult(float(res.statistic), float(res.pvalue))


# --- random search efficiency -----------------------------------------------------------------
def default_ks(n: int) -> np.ndarray:
    """The default k grid of random-search efficiency: 1, 2, 4, ... up to n."""
    return 2 ** np.arange(int(np.floor(np.log2(max(n, 1)))) + 1)


def supported_k(n: int) -> float:
    """Largest k whose expected minimum of k random models the n models support: n/2 (at least 1).

    `random_search_efficiency` draws the k models from the EDF of the n, with replacement, so it never goes below
    the best of the n: at k = n/2 about 79% of the draws are distinct models, at k = n 63%, and beyond n the curve
    only approaches the sample's minimum. Figures draw larger k as extrapolated."""
    return max(1.0, n / 2)


def _as_ks(ks: Sequence[int] | None, n: int) -> np.ndarray:
    k = default_ks(n) if ks is None else np.asarray(ks, dtype=np.int64).ravel()
    if k.size == 0 or (k < 1).any():
        raise ValueError(f"ks={ks!r} must be positive integers")
    return k


def random_search_efficiency(errors: Any, ks: Sequence[int] | None = None, weights: Any = None) -> np.ndarray:
    """Expected minimum error of k models drawn i.i.d. from the (weighted) EDF, for each k.

    Closed form via order statistics: with distinct sorted errors e_(i) and F_i the mass of
    e <= e_(i) (F_0 = 0), E[min of k] = sum_i e_(i) * ((1 - F_{i-1})^k - (1 - F_i)^k).
    `ks` defaults to 1, 2, 4, ... up to n.
    """
    f = edf(errors, weights)
    k = _as_ks(ks, f.errors.size)
    survive = 1.0 - np.concatenate([[0.0], f.mass])  # P(e >= e_(i)) for i = 1..m, then 0
    survive = np.clip(survive, 0.0, 1.0)
    p = survive[None, :-1] ** k[:, None] - survive[None, 1:] ** k[:, None]
    return p @ f.errors


def random_search_quantiles(
    errors: Any, ks: Sequence[int] | None = None, q: Sequence[float] = (0.025, 0.975), weights: Any = None
) -> np.ndarray:
    """Quantiles of the minimum error of k i.i.d. draws, shape (len(ks), len(q)).

    P(min <= e_(i)) = 1 - (1 - F_i)^k; the q-quantile is the smallest e_(i) where this reaches q.
    """
    f = edf(errors, weights)
    k = _as_ks(ks, f.errors.size)
    qs = np.asarray(q, dtype=np.float64)
    if ((qs < 0) | (qs > 1)).any():
        raise ValueError(f"q={q!r} must lie in [0, 1]")
    cdf = 1.0 - np.clip(1.0 - f.mass, 0.0, 1.0)[None, :] ** k[:, None]  # (len(k), m)
    reached = cdf[:, :, None] >= qs[None, None, :] - 1e-12  # (len(k), m, len(q))
    return f.errors[reached.argmax(axis=1)]
