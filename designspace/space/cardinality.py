"""Exact counts of design-space configurations (before any complexity budget).

A configuration is one value of every sampled parameter (raw, before compatibility); it counts
when the structural constraints hold on the network it produces: shared values, non-decreasing
final depths/widths, the total-depth bounds, and for RegNet the generator's stage count.

- AnyNet: a depth factor (a small dynamic programme over stages with the running total depth)
  times a width/b/g factor. With ordered widths, compatibility maps raw width w to f_{b,g}(w);
  the number of raw tuples whose images are non-decreasing is a weighted ordered-tuple count
  over the preimage sizes (shared b, g summed outside, per-stage ones folded into the weights).
- RegNet: a depth d gives exactly S stages iff j_1 < ... < j_{S-1} <= d - 1 < j_S, where j_k is
  the first block whose exponent k_j reaches k, and the S quantized widths w0 * wm^k are distinct
  (`designspace.net.regnet_stages`). For fixed (w0, wm), each j_k is a step function of wa whose steps
  lie at wa = w0 (wm^(k - 1/2) - 1) / j (moved by one grid point where the generator's own float
  rounding says so), so the wa grid is summed over the few segments where all j_k are constant.
  Brute force through the generator agrees on small grids (tests/test_spaces.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from designspace.net.regnet_stages import distinct_widths, exponent
from designspace.net.spec import make_compatible_arrays
from designspace.space.distributions import Grid, PushForward, count_ordered

if TYPE_CHECKING:
    from designspace.space.spaces import Space


def depth_count(values: Sequence[int], stages: int, shared: bool, ordered: bool,
                total: tuple[float | None, float | None]) -> int:
    """Depth tuples (shared: one value; ordered: non-decreasing) with total depth in `total`."""
    lo = -np.inf if total[0] is None else total[0]
    hi = np.inf if total[1] is None else total[1]
    values = sorted(int(v) for v in values)
    if shared:
        return sum(1 for v in values if lo <= stages * v <= hi)
    # states: (index of the last value, running total) -> count
    states: dict[tuple[int, int], int] = {(0, 0): 1}
    for _ in range(stages):
        nxt: dict[tuple[int, int], int] = {}
        for (last, tot), c in states.items():
            for i in range(last if ordered else 0, len(values)):
                key = (i if ordered else 0, tot + values[i])
                nxt[key] = nxt.get(key, 0) + c
        states = nxt
    return sum(c for (_, tot), c in states.items() if lo <= tot <= hi)


def width_counts(w: Grid, b: float, g: int) -> tuple[np.ndarray, list[int]]:
    """Distinct compatible widths f_{b,g}(w) over the raw width grid and their preimage sizes."""
    final, _, _ = make_compatible_arrays(w.values, np.full(w.size, b), np.full(w.size, g))
    pf = PushForward.of(w.pmf, final)
    return pf.values, pf.counts()


def _ordered_width_count(space: Space) -> int:
    (w, b, g), S = (space.parameters[k] for k in ("w", "b", "g")), space.num_stages
    b_shared, g_shared = space.is_shared("b"), space.is_shared("g")
    tables = {(bi, gi): width_counts(w, float(bv), int(gv))
              for bi, bv in enumerate(b.values) for gi, gv in enumerate(g.values)}
    universe = np.unique(np.concatenate([v for v, _ in tables.values()]))

    def weights(pairs: Iterable[tuple[int, int]]) -> list[int]:
        out = [0] * len(universe)
        for pair in pairs:
            vals, counts = tables[pair]
            for pos, c in zip(np.searchsorted(universe, vals), counts):
                out[pos] += c
        return out

    outer_b = [[i] for i in range(b.size)] if b_shared else [list(range(b.size))]
    outer_g = [[i] for i in range(g.size)] if g_shared else [list(range(g.size))]
    return sum(count_ordered(weights((bi, gi) for bi in bs for gi in gs), S)
               for bs in outer_b for gs in outer_g)


def anynet_cardinality(space: Space) -> int:
    S = space.num_stages
    p = space.parameters

    def free(name: str) -> int:
        return p[name].size if space.is_shared(name) else p[name].size ** S

    ordered = (*space.non_decreasing, *space.non_increasing)  # reversing the stages maps one order onto the other
    n_depth = depth_count(p["d"].values.tolist(), S, space.is_shared("d"), "d" in ordered,
                          space.bounds.get("total_depth", (None, None)))
    if "w" in ordered and not space.is_shared("w"):
        return n_depth * _ordered_width_count(space)
    return n_depth * free("w") * free("b") * free("g")


def _reach_index(k: int, w0: float, wm: np.ndarray, wa: np.ndarray, blocks: np.ndarray) -> np.ndarray:
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


def regnet_cardinality(space: Space) -> int:
    """Exact number of grid (depth, w0, wa, wm, b, g) giving exactly `num_stages` stages.

    For each (w0, wm) the block j_k where exponent k is first reached is a non-increasing step
    function of wa with breakpoints B_k(j); between consecutive breakpoints every j_k is constant,
    so the wa grid is summed segment by segment.
    """
    p, S, q = space.parameters, space.num_stages, space.width_quantum
    lo, hi = space.bounds.get("total_depth", (None, None))
    depths = [int(d) for d in p["depth"].values if (lo is None or d >= lo) and (hi is None or d <= hi)]
    if not depths:
        return 0
    cap = max(depths)
    allowed = np.zeros(cap + 1, dtype=np.int64)
    allowed[depths] = 1
    upto = np.cumsum(allowed)  # upto[x] = number of allowed depths <= x
    wa = p["wa"].values.astype(np.float64)
    wm_all = p["wm"].values.astype(np.float64)
    blocks = np.arange(1, cap, dtype=np.float64)  # j_k >= cap behaves like j_k = cap
    total = 0
    for w0 in p["w0"].values.astype(np.float64):
        wm = wm_all[distinct_widths(np.full(len(wm_all), w0), wm_all, S, q)]
        if not len(wm):
            continue
        reach = [_reach_index(k, w0, wm, wa, blocks) for k in range(1, S + 1)]
        points = np.concatenate([np.zeros((len(wm), 1), dtype=np.int64), *reach], axis=1)
        tags = np.repeat(np.arange(S + 1, dtype=np.int8), [1] + [len(blocks)] * S)  # 0: the start
        order = np.argsort(points, axis=1, kind="stable")
        starts = np.take_along_axis(points, order, axis=1)
        length = np.diff(starts, axis=1, append=len(wa))
        row, seg = np.nonzero(length)  # segments of constant (j_1, ..., j_S), at their last breakpoint
        length, sorted_tags = length[row, seg], tags[order]
        first = [np.zeros(len(row), dtype=np.int64)]  # j_0 = 0
        for k in range(1, S + 1):  # j_k = 1 + #{j : B_k(j) > start}, capped at cap
            passed = np.cumsum(sorted_tags == k, axis=1, dtype=np.int32)[row, seg]
            first.append(np.minimum(1 + len(blocks) - passed, cap))
        ok = np.ones(len(row), dtype=bool)
        for k in range(1, S):
            ok &= first[k] > first[k - 1]
        n_d = np.maximum(upto[first[S]] - upto[first[S - 1]], 0)
        total += int((length * ok * n_d).sum())
    return total * p["b"].size * p["g"].size
