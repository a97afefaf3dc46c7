"""The progression as one ordered claim: the Jonckheere-Terpstra test (design-spec 6c).

Groups are given in their claimed order (AnyNetX_A first, RegNet last); the claim is that error does not
increase along it. J counts, over every pair of groups i < j, the pairs (x in i, y in j) with x > y, plus
one half per tie; under "all groups alike" its mean is (N^2 - sum n_i^2) / 4 and its variance
[N^2 (2N + 3) - sum n_i^2 (2 n_i + 3)] / 72. The p-value is P(J >= J_observed) under that null:

- exact without ties: J is then the sum of independent Mann-Whitney counts (group j against groups 1..j-1
  pooled), so its law is the convolution of their Gaussian-binomial laws;
- with ties, by permutation (the group labels shuffled; p = (1 + #{J* >= J}) / (1 + draws)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["JTResult", "jonckheere", "jt_statistic", "mann_whitney_law"]

EXACT_MAX_N = 400
"""Largest total of models for the exact law (the convolution has ~N^2/2 terms)."""
PERMUTATIONS = 20000


@dataclass(frozen=True)
class JTResult:
    statistic: float  # J
    pairs: int  # sum over i < j of n_i n_j
    mean: float
    var: float
    p: float  # one-sided: error decreasing along the order
    method: str  # "exact" | "permutation"
    draws: int = 0  # permutations drawn (0 for exact)

    @property
    def z(self) -> float:
        return (self.statistic - self.mean) / np.sqrt(self.var) if self.var > 0 else float("nan")

    def text(self) -> str:
        how = "exact" if self.method == "exact" else f"{self.draws:,} permutations"
        return f"J = {self.statistic:g} of {self.pairs} pairs (null mean {self.mean:g}), p = {self.p:.2g} ({how})"


def _groups(groups: Sequence[Sequence[float]]) -> list[np.ndarray]:
    out = [np.asarray(g, float).ravel() for g in groups]
    if len(out) < 2:
        raise ValueError("the ordered test needs at least two groups")
    if any(not np.all(np.isfinite(g)) for g in out):
        raise ValueError("values must be finite")
    return out


def jt_statistic(groups: Sequence[Sequence[float]]) -> float:
    """J: pairs (x in an earlier group, y in a later one) with x > y, ties counted one half."""
    gs = _groups(groups)
    total = 0.0
    for i, x in enumerate(gs):
        xs = np.sort(x)
        for y in gs[i + 1:]:
            below = np.searchsorted(xs, y, side="left")  # x < y
            above = xs.size - np.searchsorted(xs, y, side="right")  # x > y
            total += float(above.sum()) + 0.5 * float((xs.size - below - above).sum())
    return total


def _null_moments(sizes: np.ndarray) -> tuple[float, float]:
    n = float(sizes.sum())
    mean = (n * n - float((sizes ** 2).sum())) / 4
    var = (n * n * (2 * n + 3) - float((sizes ** 2 * (2 * sizes + 3)).sum())) / 72
    return mean, var


def mann_whitney_law(m: int, n: int) -> np.ndarray:
    """P(U = u), u = 0..m*n, of the Mann-Whitney count for sizes m and n without ties: the Gaussian
    binomial [m+n choose m]_q, built as prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), normalised."""
    coef = np.zeros(m * n + 1)
    coef[0] = 1.0
    for i in range(1, m + 1):
        shifted = np.zeros_like(coef)
        shifted[n + i:] = coef[: coef.size - (n + i)]
        coef = coef - shifted  # times (1 - q^(n+i))
        for k in range(i, coef.size):  # divided by (1 - q^i): a running sum with stride i
            coef[k] += coef[k - i]
    return coef / coef.sum()


def _exact_p(sizes: Sequence[int], j_obs: float) -> float:
    law = np.ones(1)
    pooled = 0
    for size in sizes:
        if pooled:
            law = np.convolve(law, mann_whitney_law(pooled, int(size)))
        pooled += int(size)
    return float(min(1.0, law[int(round(j_obs)):].sum()))


def _permutation_p(gs: list[np.ndarray], j_obs: float, draws: int, seed: int) -> float:
    values = np.concatenate(gs)
    labels = np.repeat(np.arange(len(gs)), [g.size for g in gs])
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, min(draws, int(2e7 // max(1, values.size ** 2))))
    later = labels[None, :] > labels[:, None]  # (i, j): j's group comes after i's
    done = 0
    while done < draws:
        k = min(chunk, draws - done)
        perm = np.argsort(rng.random((k, values.size)), axis=1)
        v = values[perm]  # each row: values laid on the fixed labels
        gt = (v[:, :, None] > v[:, None, :]) + 0.5 * (v[:, :, None] == v[:, None, :])
        j = (gt * later).sum(axis=(1, 2))
        hits += int((j >= j_obs - 1e-9).sum())
        done += k
    return (1 + hits) / (1 + draws)


def jonckheere(groups: Sequence[Sequence[float]], *, method: str = "auto", draws: int = PERMUTATIONS,
               seed: int = 0) -> JTResult:
    """Test that values do not increase along the groups' order against "all groups alike".

    method: "auto" (exact without ties and N <= EXACT_MAX_N, else permutation), "exact" or "permutation".
    """
    gs = _groups(groups)
    sizes = np.array([g.size for g in gs])
    if np.any(sizes == 0):
        raise ValueError("every group needs at least one value")
    j_obs = jt_statistic(gs)
    mean, var = _null_moments(sizes.astype(float))
    pairs = int((sizes.sum() ** 2 - (sizes ** 2).sum()) // 2)
    values = np.concatenate(gs)
    ties = np.unique(values).size < values.size
    if method == "auto":
        method = "exact" if not ties and values.size <= EXACT_MAX_N else "permutation"
    if method == "exact":
        if ties:
            raise ValueError("the exact law holds without ties; use method='permutation'")
        return JTResult(j_obs, pairs, mean, var, _exact_p(sizes, j_obs), "exact")
    if method != "permutation":
        raise ValueError(f"method={method!r} must be 'auto', 'exact' or 'permutation'")
    return JTResult(j_obs, pairs, mean, var, _permutation_p(gs, j_obs, draws, seed), "permutation", draws)
