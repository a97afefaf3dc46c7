"""Power of the two-sample KS comparisons: what a run of n models per space can and cannot detect.

- `ks_critical(n, m, alpha, alternative)`: the smallest KS distance the test rejects at level alpha,
  from the asymptotic law of the statistic (Smirnov): D > c(alpha) * sqrt((n + m) / (n * m)) with
  c = sqrt(-ln(alpha / 2) / 2) two-sided (1.358 at 0.05) and sqrt(-ln(alpha) / 2) one-sided (1.224).
- `ks_power(a, b, ...)`: the probability that a new run with the same n and m rejects, if the two
  spaces' error distributions are the observed ones: a bootstrap (resample each sample with
  replacement, recompute D, compare with the critical value), vectorized over the draws.

So a comparison that is not significant is "too few models to tell" when its power is low, and
evidence of no effect only when the run could have seen an effect of that size.
"""

from __future__ import annotations

import math

import numpy as np

ALTERNATIVES = ("two-sided", "greater", "less")


def ks_constant(alpha: float, alternative: str = "two-sided") -> float:
    """c(alpha) of the asymptotic KS critical value."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must lie in (0, 1)")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r} must be one of {ALTERNATIVES}")
    return math.sqrt(-math.log(alpha / 2 if alternative == "two-sided" else alpha) / 2)


def ks_critical(n: int, m: int, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Smallest KS distance rejected at level alpha with samples of n and m models."""
    if n < 1 or m < 1:
        raise ValueError(f"sample sizes must be >= 1, got n={n}, m={m}")
    return ks_constant(alpha, alternative) * math.sqrt((n + m) / (n * m))


def ks_distances(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> np.ndarray:
    """KS distance of each row pair: a (draws, n), b (draws, m) -> (draws,).

    Not `designspace.analysis.edf.ks_distance` (one weighted two-sided pair) or scipy (one pair per call): the
    bootstrap needs thousands of one-sided distances at once, so this sorts all draws in one call.

    'greater': sup (F_a - F_b), a's EDF above b's (a's values smaller); 'less': sup (F_b - F_a).
    Ties (errors are quantized) are handled by evaluating the EDFs only after the last of equal values.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    n, m = a.shape[1], b.shape[1]
    values = np.concatenate([a, b], axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=1)
    from_a = order < n
    diff = np.cumsum(np.where(from_a, 1.0 / n, -1.0 / m), axis=1)  # F_a - F_b after each point
    last_of_ties = np.ones_like(from_a)
    last_of_ties[:, :-1] = sorted_values[:, 1:] != sorted_values[:, :-1]
    diff = np.where(last_of_ties, diff, 0.0)
    if alternative == "greater":
        return np.maximum(diff.max(axis=1), 0.0)
    if alternative == "less":
        return np.maximum((-diff).max(axis=1), 0.0)
    return np.abs(diff).max(axis=1)


def ks_power(a: np.ndarray, b: np.ndarray, alpha: float = 0.05, alternative: str = "two-sided",
             draws: int = 2000, seed: int = 0) -> float:
    """Bootstrap power to detect the observed difference between samples a and b at level alpha."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 1 or b.size < 1:
        raise ValueError("ks_power needs two non-empty samples")
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, a.size, (draws, a.size))]
    db = b[rng.integers(0, b.size, (draws, b.size))]
    crit = ks_critical(a.size, b.size, alpha, alternative)
    return float(np.mean(ks_distances(da, db, alternative) > crit))


def power_row(a: np.ndarray, b: np.ndarray, alpha: float, alternative: str) -> dict[str, float]:
    """n, m, the smallest detectable distance and the power at the observed effect, for one comparison."""
    return {"n_a": int(np.size(a)), "n_b": int(np.size(b)),
            "d_observed": float(ks_distances(a, b, alternative)[0]),
            "d_detectable": ks_critical(np.size(a), np.size(b), alpha, alternative),
            "power": ks_power(a, b, alpha, alternative)}


def n_for_power(a: np.ndarray, b: np.ndarray, alpha: float = 0.05, alternative: str = "two-sided",
                target: float = 0.8, factors: tuple[int, ...] = (1, 2, 4, 8), draws: int = 1000,
                seed: int = 0) -> int | None:
    """Models per space that would detect the observed difference with probability `target`.

    Bootstrap: both samples resampled at k times their sizes for k in `factors`; the first k*max(n, m)
    that reaches the target, or None when even the largest does not (the effect is negligible at any
    affordable n).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    for k in factors:
        na, nb = k * a.size, k * b.size
        da = a[rng.integers(0, a.size, (draws, na))]
        db = b[rng.integers(0, b.size, (draws, nb))]
        if np.mean(ks_distances(da, db, alternative) > ks_critical(na, nb, alpha, alternative)) >= target:
            return int(max(na, nb))
    return None


def median_difference_detectable(sd: float, n: int, m: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest difference of two medians a two-sided test at `alpha` detects with probability `power`, for
    normal errors of spread `sd` and n, m models: (z_{1-alpha/2} + z_power) * sd * sqrt(pi/2 * (1/n + 1/m)),
    from the large-sample variance of a sample median, pi sd^2 / (2n)."""
    from scipy.stats import norm

    if n < 1 or m < 1 or not sd >= 0:
        raise ValueError(f"need n, m >= 1 and sd >= 0, got n={n}, m={m}, sd={sd}")
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return float(z * sd * math.sqrt(math.pi / 2 * (1 / n + 1 / m)))


def spearman_power(n: int, rho: float = 0.5, alpha: float = 0.05) -> float:
    """Power of the one-sided Spearman test at level `alpha` to find a rank correlation `rho` in `n` pairs:
    Fisher's z of the sample rho with the variance 1.06 / (n - 3) (Fieller, Hartley and Pearson 1957), so that
    P(reject) = Phi(atanh(rho) sqrt((n - 3) / 1.06) - z_(1-alpha)). 0 below 4 pairs."""
    from scipy.stats import norm

    if n < 4:
        return 0.0
    return float(norm.cdf(math.atanh(rho) * math.sqrt((n - 3) / 1.06) - norm.ppf(1 - alpha)))
