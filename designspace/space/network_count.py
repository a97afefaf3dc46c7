"""Distinct networks of a RegNet space: the generator's parameter tuples counted by what they build.

`designspace.space.cardinality.regnet_cardinality` counts grid tuples (depth, w0, wa, wm, b, g); many of
them build the same network (the paper's ~3e8 is a count of networks, not of tuples). A network is
its per-stage depths, widths, bottleneck ratios and group widths after compatibility (what the
sampler deduplicates on). The count is exact and vectorized:

1. For one w0 the stage widths W = q round(w0 wm^k / q), k < S, are step functions of wm, and the
   first block j_k reaching exponent k is a step function of wa with known breakpoints, so the
   (wm, wa) grid splits into segments of constant (W, j_1, ..., j_S) (the segments of
   `regnet_cardinality`). A segment builds the stage depths (j_1, j_2 - j_1, ..., d - j_{S-1}) for
   every allowed depth d in (j_{S-1}, j_S]; so for fixed (W, j_1..j_{S-1}) the networks are the
   allowed d up to the largest j_S of its segments.
2. Compatibility with (b, g) maps W to final widths and groups (one table over the distinct W);
   keys (b, final widths, final groups, j_1..j_{S-1}) that coincide merge, again keeping the
   largest j_S. Different b give different networks (b is a field of the network); different g
   coincide exactly when every stage clamps to one group, which the merge finds by itself.
Brute force through the generator agrees on small grids (tests/space/test_network_count.py).
"""

from __future__ import annotations

import numpy as np

from designspace.net.blocks.bottleneck import make_compatible_arrays
from designspace.net.regnet_stages import distinct_widths
from designspace.space.regnet_segments import SpaceGrid, allowed_depths, segments


def _empty(S: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.zeros((0, S), np.int64), np.zeros(0, np.int64), np.zeros((0, S - 1), np.int64), np.zeros(0, np.int64),
            np.zeros(1, np.int64))


def _stage_rows(space: SpaceGrid, progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (W, j_1..j_{S-1}) with their largest j_S.

    Returns (table of distinct W (u, S), W index of each row, j (r, S-1), largest j_S (r,), upto), where
    upto[x] is the number of allowed depths <= x.
    """
    p, S, q = space.parameters, space.num_stages, space.width_quantum
    depths = allowed_depths(space)
    if depths is None:
        return _empty(S)
    cap, upto = depths
    wa = p["wa"].values.astype(np.float64)
    wm_all = p["wm"].values.astype(np.float64)
    base = cap + 1
    tables, out_w, out_j, out_last = [], [], [], []
    offset = 0
    from tqdm.auto import tqdm

    for w0 in tqdm(p["w0"].values.astype(np.float64), desc=f"{space.name} networks", unit="w0",
                   disable=not progress, leave=False):
        wm = wm_all[distinct_widths(np.full(len(wm_all), w0), wm_all, S, q)]
        if not len(wm):
            continue
        widths = (q * np.round(w0 * np.power(wm[:, None], np.arange(S)[None, :]) / q)).astype(np.int64)
        new = np.r_[True, (widths[1:] != widths[:-1]).any(axis=1)]  # W is monotone in wm: runs of equal W
        wid = np.cumsum(new) - 1
        seg = segments(w0, wm, wa, S, cap)
        row, first = seg.row, seg.first
        ok = first[0] > 0
        for k in range(1, S - 1):
            ok &= first[k] > first[k - 1]
        ok &= upto[first[S - 1]] - upto[first[S - 2]] > 0  # some allowed depth in (j_{S-1}, j_S]
        j = np.stack(first[: S - 1], axis=1)[ok]
        w_row, last = wid[row[ok]], first[S - 1][ok]
        key = w_row.copy()
        for col in range(S - 1):
            key = key * base + j[:, col]
        keep = np.lexsort((last, key))
        keep = keep[np.r_[key[keep][1:] != key[keep][:-1], True]]  # one row per (W, j), its largest j_S
        tables.append(widths[new])
        out_w.append(w_row[keep] + offset)
        out_j.append(j[keep])
        out_last.append(last[keep])
        offset += int(new.sum())
    if not out_w:
        return _empty(S)
    return np.concatenate(tables), np.concatenate(out_w), np.concatenate(out_j), np.concatenate(out_last), upto


def _merge_count(key: np.ndarray, j_prev: np.ndarray, j_last: np.ndarray, upto: np.ndarray) -> int:
    """Networks of rows grouped by `key` (int64): allowed depths in (j_{S-1}, max j_S] per group."""
    order = np.lexsort((j_last, key))
    key, j_prev, j_last = key[order], j_prev[order], j_last[order]
    end = np.r_[key[1:] != key[:-1], True]  # last row of each key holds its largest j_S
    return int((upto[j_last[end]] - upto[j_prev[end]]).sum())


def regnet_networks(space: SpaceGrid, progress: bool = False) -> int:
    """Exact number of distinct networks (per-stage d, w, b, g after compatibility) of a RegNet space."""
    if space.family != "regnet":
        raise ValueError(f"{space.name}: distinct networks are counted for RegNet spaces only")
    S = space.num_stages
    w_ids, w_index, j, j_last, upto = _stage_rows(space, progress)
    if not len(w_index):
        return 0
    base = len(upto)
    j_code = np.zeros(len(j), dtype=np.int64)
    for col in range(S - 1):
        j_code = j_code * base + j[:, col]
    total = 0
    g_vals = space.parameters["g"].values
    for b in space.parameters["b"].values:
        finals = []
        for g in g_vals:  # final widths and groups of every distinct W under (b, g)
            fw, _, fg = make_compatible_arrays(w_ids, np.full(w_ids.shape, float(b)), np.full(w_ids.shape, int(g)))
            finals.append(np.concatenate([fw, fg], axis=1))
        _, fid = np.unique(np.concatenate(finals), axis=0, return_inverse=True)
        fid = fid.ravel().reshape(len(g_vals), len(w_ids))
        span = int(base ** (S - 1))
        key = np.concatenate([fid[gi][w_index].astype(np.int64) * span + j_code for gi in range(len(g_vals))])
        total += _merge_count(key, np.tile(j[:, -1], len(g_vals)), np.tile(j_last, len(g_vals)), upto)
    return total
