"""Discrete parameter distributions of design spaces: grids, exact pmfs, inverse-CDF draws.

Every sampled parameter lives on a finite grid of values with an exact probability mass function:

- ``log_uniform(low, high, quantum)``: the reference's quantized log-uniform draw on the grid
  {low, low+q, ..., high}: q * ceil(exp(U(ln(low - min(q, low/2)), ln(high))) / q). Value v > low
  gets mass ln(v) - ln(v - q), the first value ln(low) - ln(low - min(q, low/2)), all divided by
  ln(high) - ln(low - min(q, low/2)).
- ``uniform(low, high, quantum)``: uniform over {low, low+q, ..., high}.
- ``choice(values)``: uniform over a set.

Draws are made by inverse CDF from uniforms in [0, 1), one uniform per value drawn, so a table
of candidates is a pure function of its uniforms. `Chain` draws a non-decreasing tuple with
independent per-position weights exactly (backward messages, design-spec section 8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate

import numpy as np

KINDS = ("log_uniform", "uniform", "choice")


def as_fraction(x: float | int) -> Fraction:
    """Exact decimal value of a config number (0.1 -> 1/10, not the binary float)."""
    return Fraction(str(x)) if isinstance(x, float) else Fraction(x)


def _grid_values(low: Fraction, q: Fraction, count: int) -> np.ndarray:
    """low + k*q for k < count as int64 when all are whole numbers, else correctly rounded floats."""
    num = (low / q).numerator if (low / q).denominator == 1 else None
    if low.denominator == 1 and q.denominator == 1:
        return int(low) + int(q) * np.arange(count, dtype=np.int64)
    if num is not None and q.numerator == 1:  # k/den: one correctly rounded division per value
        return (num + np.arange(count, dtype=np.int64)) / float(q.denominator)
    return np.array([float(low + k * q) for k in range(count)], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Grid:
    """A finite distribution: sorted distinct `values` with positive `pmf` summing to 1."""

    kind: str
    values: np.ndarray
    pmf: np.ndarray
    quantum: Fraction | None = None
    cdf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cdf = np.cumsum(self.pmf)
        cdf /= cdf[-1]
        cdf[-1] = 1.0
        object.__setattr__(self, "cdf", cdf)

    @property
    def size(self) -> int:
        return len(self.values)

    @property
    def is_integer(self) -> bool:
        return self.values.dtype.kind in "iu"

    def index(self, u: np.ndarray) -> np.ndarray:
        """Grid indices drawn by inverse CDF from uniforms u in [0, 1)."""
        return np.minimum(np.searchsorted(self.cdf, u, side="right"), self.size - 1)

    def draw(self, u: np.ndarray) -> np.ndarray:
        return self.values[self.index(u)]


def log_uniform(low: float, high: float, quantum: float) -> Grid:
    """The reference quantized log-uniform draw on {low, low+q, ..., high} (low, high multiples of q)."""
    lo, hi, q = as_fraction(low), as_fraction(high), as_fraction(quantum)
    count = int((hi - lo) / q) + 1
    values = _grid_values(lo, q, count)
    v = values.astype(np.float64)
    floor = float(lo - min(q, lo / 2))
    mass = np.empty(count)
    mass[0] = math.log(float(lo)) - math.log(floor)
    mass[1:] = -np.log1p(-float(q) / v[1:])  # ln(v) - ln(v - q)
    return Grid("log_uniform", values, mass / mass.sum(), q)


def uniform(low: float, high: float, quantum: float = 1) -> Grid:
    """Uniform over {low, low+q, ..., high}."""
    lo, hi, q = as_fraction(low), as_fraction(high), as_fraction(quantum)
    count = int((hi - lo) / q) + 1
    return Grid("uniform", _grid_values(lo, q, count), np.full(count, 1.0 / count), q)


def choice(values: Sequence[float]) -> Grid:
    """Uniform over a set of distinct values (kept sorted)."""
    ints = all(float(v).is_integer() for v in values)
    arr = np.array(sorted(values), dtype=np.int64 if ints else np.float64)
    return Grid("choice", arr, np.full(len(arr), 1.0 / len(arr)))


@dataclass(frozen=True, eq=False)
class Chain:
    """Law of a non-decreasing tuple (t_1 <= ... <= t_S) of grid indices with P ∝ prod p(t_i).

    Backward messages h_S = 1, h_i(v) = sum_{u >= v} p(u) h_{i+1}(u); t_1 is drawn with weight
    p(v) h_1(v), then t_i >= t_{i-1} with weight p(v) h_i(v). `mass` = sum over ordered tuples of
    prod p(t_i): the probability that S independent draws come out non-decreasing.
    """

    weights: np.ndarray  # (V,) non-negative, positive where drawable
    stages: int
    cum: np.ndarray = field(init=False, repr=False)  # (S, V): cumsum of p * h_i per position

    def __post_init__(self) -> None:
        p = np.asarray(self.weights, dtype=np.float64)
        h = np.ones_like(p)
        cums = []
        for _ in range(self.stages):
            cums.append(np.cumsum(p * h))
            h = np.cumsum((p * h)[::-1])[::-1]
        object.__setattr__(self, "cum", np.stack(cums[::-1]))

    @property
    def mass(self) -> float:
        return float(self.cum[0, -1])

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Ordered index tuples (m, S) from uniforms u of shape (m, S)."""
        m, size = u.shape[0], self.cum.shape[1]
        out = np.empty((m, self.stages), dtype=np.int64)
        prev = np.zeros(m, dtype=np.int64)
        for i in range(self.stages):
            c = self.cum[i]
            lower = np.where(prev > 0, c[np.maximum(prev - 1, 0)], 0.0)
            target = lower + u[:, i] * (c[-1] - lower)
            idx = np.searchsorted(c, target, side="right")
            prev = out[:, i] = np.clip(idx, prev, size - 1)
        return out


def count_ordered(counts: Sequence[int], stages: int) -> int:
    """Exact number of weighted non-decreasing tuples: sum over v_1 <= ... <= v_S of prod counts[v_i]."""
    h = [1] * len(counts)
    for _ in range(stages - 1):
        h = list(accumulate((c * x for c, x in zip(reversed(counts), reversed(h)))))[::-1]
    return sum(c * x for c, x in zip(counts, h))


@dataclass(frozen=True, eq=False)
class PushForward:
    """Law of f(W) for W on a grid and a map f given as the image of every grid value.

    `values`: distinct images (sorted), `pmf`: their mass; `raw_index(final, u)` draws a raw grid
    index from the preimage of each final index, with probability proportional to the raw pmf.
    """

    values: np.ndarray
    pmf: np.ndarray
    _order: np.ndarray = field(repr=False)
    _bounds: np.ndarray = field(repr=False)  # (V + 1,) start of each preimage in `_order`
    _cum: np.ndarray = field(repr=False)  # cumsum of the raw pmf in `_order`

    @classmethod
    def of(cls, raw_pmf: np.ndarray, image: np.ndarray) -> PushForward:
        order = np.argsort(image, kind="stable")
        sorted_image = image[order]
        values, starts = np.unique(sorted_image, return_index=True)
        bounds = np.append(starts, len(order))
        cum = np.cumsum(raw_pmf[order])
        pmf = np.diff(np.concatenate([[0.0], cum[bounds[1:] - 1]]))
        return cls(values, pmf, order, bounds, cum)

    def counts(self) -> list[int]:
        """Size of each preimage."""
        return np.diff(self._bounds).tolist()

    def raw_index(self, final: np.ndarray, u: np.ndarray) -> np.ndarray:
        start, end = self._bounds[final], self._bounds[final + 1]
        lower = np.where(start > 0, self._cum[np.maximum(start - 1, 0)], 0.0)
        upper = self._cum[end - 1]
        pos = np.searchsorted(self._cum, lower + u * (upper - lower), side="right")
        return self._order[np.clip(pos, start, end - 1)]
