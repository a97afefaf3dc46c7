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
  Brute force through the generator agrees on small grids (tests/space/test_spaces.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from designspace.net.blocks.bottleneck import make_compatible_arrays
from designspace.net.regnet_stages import distinct_widths
from designspace.space.distributions import Grid, PushForward, count_ordered
from designspace.space.regnet_segments import SpaceGrid, allowed_depths, segments


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


def _ordered_width_count(space: SpaceGrid) -> int:
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


def anynet_cardinality(space: SpaceGrid) -> int:
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


def regnet_cardinality(space: SpaceGrid) -> int:
    """Exact number of grid (depth, w0, wa, wm, b, g) giving exactly `num_stages` stages.

    For each (w0, wm) the block j_k where exponent k is first reached is a non-increasing step
    function of wa with breakpoints B_k(j); between consecutive breakpoints every j_k is constant,
    so the wa grid is summed segment by segment.
    """
    p, S, q = space.parameters, space.num_stages, space.width_quantum
    depths = allowed_depths(space)
    if depths is None:
        return 0
    cap, upto = depths
    wa = p["wa"].values.astype(np.float64)
    wm_all = p["wm"].values.astype(np.float64)
    total = 0
    for w0 in p["w0"].values.astype(np.float64):
        wm = wm_all[distinct_widths(np.full(len(wm_all), w0), wm_all, S, q)]
        if not len(wm):
            continue
        seg = segments(w0, wm, wa, S, cap)
        first = [np.zeros(len(seg.row), dtype=np.int64), *seg.first]  # j_0 = 0
        ok = np.ones(len(seg.row), dtype=bool)
        for k in range(1, S):
            ok &= first[k] > first[k - 1]
        n_d = np.maximum(upto[first[S]] - upto[first[S - 1]], 0)
        total += int((seg.length * ok * n_d).sum())
    return total * p["b"].size * p["g"].size
