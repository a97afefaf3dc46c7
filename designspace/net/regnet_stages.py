"""Where the RegNet generator's stages start, without generating every block.

k_j = round(ln(1 + wa*j/w0) / ln(wm)) is non-decreasing in the block index j (and in wa), so
exponent k is first reached at block j_k = ceil(w0 (wm^(k - 1/2) - 1) / wa). In floating point
the generator may round a tie differently, so wherever that threshold lies near a whole number
the block is re-checked with the generator's own expression (`exponent`). A depth d then gives
exactly S stages, none skipped, iff j_1 < ... < j_{S-1} <= d - 1 < j_S and the S quantized widths
q * round(w0 wm^k / q) are distinct - the test `designspace.net.regnet.regnet_widths_batch` applies.
"""

from __future__ import annotations

import numpy as np


def exponent(j: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """k_j = round(ln((w0 + wa j) / w0) / ln(wm)): the generator's exponent (`designspace.net.regnet` calls this)."""
    return np.round(np.log((w0 + wa * j) / w0) / np.log(wm))


def first_block(k: int, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, cap: int) -> np.ndarray:
    """First block j >= 1 with k_j >= k, clipped to `cap` (j_k >= cap all read as cap)."""
    with np.errstate(divide="ignore"):  # wa = 0: exponent k is never reached
        t = np.minimum(w0 * (np.power(wm, k - 0.5) - 1.0) / wa, cap + 2.0)
    j = np.ceil(t)
    near = (np.abs(t - np.rint(t)) < 1e-3) & (t < cap + 1.5)
    if near.any():
        n = np.rint(t[near])
        j[near] = np.where(exponent(n, w0[near], wa[near], wm[near]) >= k, n, n + 1)
    return np.clip(j, 1, cap).astype(np.int64)


def distinct_widths(w0: np.ndarray, wm: np.ndarray, stages: int, q: int) -> np.ndarray:
    """Whether the generator's widths for exponents 0..stages-1 are all different."""
    k = np.arange(stages, dtype=np.float64)[None, :]
    widths = q * np.round(w0[:, None] * np.power(wm[:, None], k) / q)
    return (np.diff(widths, axis=1) != 0).all(axis=1)


def has_stages(depth: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, stages: int,
               q: int) -> np.ndarray:
    """Whether each (depth, w0, wa, wm) generates exactly `stages` stages with no skipped exponent."""
    depth = np.asarray(depth, dtype=np.int64)
    w0, wa, wm = (np.asarray(x, dtype=np.float64) for x in (w0, wa, wm))
    cap = int(depth.max(initial=1))
    ok = (depth >= stages) & distinct_widths(w0, wm, stages, q)
    prev = np.zeros(len(depth), dtype=np.int64)
    for k in range(1, stages):
        jk = first_block(k, w0, wa, wm, cap)
        ok &= jk > prev
        prev = jk
    return ok & (prev <= depth - 1) & (depth - 1 < first_block(stages, w0, wa, wm, cap + 1))
