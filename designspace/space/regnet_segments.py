"""The segment sweep shared by RegNet's two exact counts (`cardinality.regnet_cardinality`, tuples;
`network_count.regnet_networks`, distinct networks).

For fixed (w0, wm) the first block j_k whose exponent reaches k is a non-increasing step function of wa whose
steps lie at wa = w0 (wm^(k - 1/2) - 1) / j (moved by one grid point where the generator's own float rounding
says so). Sorting every breakpoint of every k splits the wa grid into segments over which all of j_1..j_S are
constant; both counts sum over those segments instead of over the grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from designspace.net.regnet_stages import exponent


class SpaceGrid(Protocol):
    """What the exact counts read of a `schema.Space` (structural: `schema` imports the counts, not back)."""

    name: str
    family: str
    parameters: Mapping[str, Any]
    num_stages: int
    width_quantum: int
    bounds: Mapping[str, tuple[Any, Any]]


def reach_index(k: int, w0: float, wm: np.ndarray, wa: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """B[r, j]: first wa grid index at which block blocks[j] reaches exponent k, for wm[r].

    Real arithmetic puts it at wa = w0 (wm^(k - 1/2) - 1) / j; the estimate is then moved by one
    grid step where the generator's own floating-point k_j disagrees (ties of round-half-even).
    """
    thr = w0 * (np.power(wm, k - 0.5) - 1.0)[:, None] / blocks[None, :]
    idx = np.searchsorted(wa, thr)
    j = np.broadcast_to(blocks[None, :], idx.shape)
    wm2 = np.broadcast_to(wm[:, None], idx.shape)
    at = np.minimum(idx, len(wa) - 1)
    idx = idx + ((idx < len(wa)) & (exponent(j, w0, wa[at], wm2) < k))
    before = np.maximum(idx - 1, 0)
    return idx - ((idx > 0) & (exponent(j, w0, wa[before], wm2) >= k))


@dataclass(frozen=True)
class Segments:
    """The segments of one w0: for segment i, its wm row `row[i]`, its length in wa grid points `length[i]`,
    and `first[k - 1][i]` = j_k (capped at the largest depth)."""

    row: np.ndarray
    length: np.ndarray
    first: list[np.ndarray]


def segments(w0: float, wm: np.ndarray, wa: np.ndarray, stages: int, cap: int) -> Segments:
    """The wa segments of constant (j_1, ..., j_S) for every wm row, at one w0."""
    blocks = np.arange(1, cap, dtype=np.float64)  # j_k >= cap behaves like j_k = cap
    reach = [reach_index(k, w0, wm, wa, blocks) for k in range(1, stages + 1)]
    points = np.concatenate([np.zeros((len(wm), 1), dtype=np.int64), *reach], axis=1)
    tags = np.repeat(np.arange(stages + 1, dtype=np.int8), [1] + [len(blocks)] * stages)  # 0: the start
    order = np.argsort(points, axis=1, kind="stable")
    starts = np.take_along_axis(points, order, axis=1)
    length = np.diff(starts, axis=1, append=len(wa))
    row, seg = np.nonzero(length)  # segments of constant (j_1, ..., j_S), at their last breakpoint
    sorted_tags = tags[order]
    first = []
    for k in range(1, stages + 1):  # j_k = 1 + #{j : B_k(j) > start}, capped at cap
        passed = np.cumsum(sorted_tags == k, axis=1, dtype=np.int32)[row, seg]
        first.append(np.minimum(1 + len(blocks) - passed, cap).astype(np.int64))
    return Segments(row, length[row, seg], first)


def allowed_depths(space: SpaceGrid) -> tuple[int, np.ndarray] | None:
    """(the largest allowed depth, upto) where upto[x] counts the allowed depths <= x; None when none is."""
    lo, hi = space.bounds.get("total_depth", (None, None))
    depths = [int(d) for d in space.parameters["depth"].values if (lo is None or d >= lo) and (hi is None or d <= hi)]
    if not depths:
        return None
    cap = max(depths)
    allowed = np.zeros(cap + 1, dtype=np.int64)
    allowed[depths] = 1
    return cap, np.cumsum(allowed)
