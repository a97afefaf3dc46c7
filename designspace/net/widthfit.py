"""The linear width rule: quantized-linear fits (e_fit) of per-block widths, and the pooled line fit.

e_fit of one model (design-spec section 7): the smallest mean over blocks of |ln w_hat_j - ln w_j|
over generator parameters (w0, wa, wm) at the model's own depth, where w_hat is the RegNet
generator's per-block output (q = 8; `designspace.net.regnet`). The fit domain is w0 a positive
multiple of 8, wa >= 0 and wm in `wm_range` (default the RegNet design space's [1.5, 3]).

`fit_regnet` first decides *exactly* whether the widths are a generator output (e_fit = 0):
w0 must be the first width; for t = ln(wm) the exponents each stage width admits are the integers
in [ln((W - q/2)/w0) / t, ln((W + q/2)/w0) / t], which is constant between breakpoints of t; inside
such a cell every stage gives linear bounds on c = wa / w0 (a lower bound from its first block, an
upper bound from its last), each pair of bounds crosses at most once in t > 0 (Descartes' rule of
signs), so the feasible t of a cell is one interval found by bisection. A feasible point is turned
into a witness (w0, wa, wm) and checked by regenerating the widths with `regnet_widths`.

Otherwise it *searches*: for each (w0, wm) on a grid the best wa is found exactly (the total error
is a step function of c whose steps are enumerated), then the best (w0, wm) is refined locally. A
non-zero e_fit is therefore the best value the search found - an upper bound on the true minimum -
and the returned (w0, wa, wm) reproduce it exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from designspace.net.regnet import QUANTUM, regnet_widths
from designspace.net.spec import NetSpec, depth_columns
from designspace.util.forking import fork_context, usable_cores

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_WM_RANGE", "LineFit", "RegNetFit", "block_widths_of", "exact_regnet_params",
    "fit_regnet", "fit_regnet_many", "fit_width_line", "regnet_efit",
]

DEFAULT_WM_RANGE = (1.5, 3.0)
SEARCH_CHUNK = 64
POOL_MIN_MODELS = 200
"""Fewer models to search than this stay in one process: a forked pool costs ~0.1 s to start, 200 searches ~0.6 s
(experiments/bench_analysis.py --report, 2 cores)."""
"""Models searched at once (bounds the candidate arrays: ~100 rows x depth x exponents per model)."""
_HALF = QUANTUM / 2


@dataclass(frozen=True)
class RegNetFit:
    """The best quantized-linear fit found for one model."""

    depth: int
    w0: int
    wa: float
    wm: float
    e_fit: float
    exact: bool  # True: the widths are exactly the generator's output for (depth, w0, wa, wm)

    def block_widths(self) -> tuple[int, ...]:
        """The generator's per-block widths for the fitted parameters."""
        return regnet_widths(self.depth, self.w0, self.wa, self.wm).block_widths


def block_widths_of(model: Any) -> np.ndarray:
    """Per-block widths of a NetSpec, a to_row() mapping / pandas row, or a sequence of widths."""
    if isinstance(model, NetSpec):
        return np.asarray(model.block_widths, dtype=np.int64)
    if hasattr(model, "keys") and "d1" in model:
        n = int(model["num_stages"]) if "num_stages" in model else _count_stages(model)
        depths = [int(model[f"d{i}"]) for i in range(1, n + 1)]
        widths = [int(model[f"w{i}"]) for i in range(1, n + 1)]
        return np.repeat(np.asarray(widths, dtype=np.int64), depths)
    w = np.asarray(model, dtype=np.float64).ravel()
    if w.size == 0 or not np.isfinite(w).all() or (w <= 0).any():
        raise ValueError(f"block widths must be a non-empty sequence of positive numbers, got {model!r}")
    return w


def _count_stages(row: Any) -> int:
    n = 0
    while f"d{n + 1}" in row and row[f"d{n + 1}"] is not None and np.isfinite(float(row[f"d{n + 1}"])):
        n += 1
    return n


def regnet_efit(block_widths: Any, depth: int, w0: float, wa: float, wm: float) -> float:
    """mean_j |ln w_hat_j - ln w_j| of given widths against the generator's (depth, w0, wa, wm)."""
    w = block_widths_of(block_widths)
    if w.size != depth:
        raise ValueError(f"{w.size} block widths for depth {depth}")
    w_hat = np.asarray(regnet_widths(depth, w0, wa, wm).block_widths, dtype=np.float64)
    return float(np.mean(np.abs(np.log(w_hat) - np.log(w))))


# --- exact recognition -----------------------------------------------------------------------
def exact_regnet_params(
    block_widths: Any, wm_range: tuple[float, float] = DEFAULT_WM_RANGE
) -> tuple[int, float, float] | None:
    """(w0, wa, wm) with wm in `wm_range` that regenerate `block_widths` exactly, or None.

    Decides by the exact argument in the module docstring; a returned witness has been verified
    with `regnet_widths`.
    """
    w = block_widths_of(block_widths)
    lo, hi = _check_wm_range(wm_range)
    if (w != np.round(w)).any() or (w % QUANTUM).any() or (np.diff(w) < 0).any():
        return None
    d = w.size
    starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
    first = starts.astype(np.float64)
    last = np.r_[starts[1:] - 1, d - 1].astype(np.float64)
    stage_w = w[starts].astype(np.float64)
    w0 = stage_w[0]
    ln_a = np.log((stage_w - _HALF) / w0)  # exponent k of stage s: wm^k in [(W - 4)/w0, (W + 4)/w0]
    ln_b = np.log((stage_w + _HALF) / w0)
    ln_a[0] = -np.inf  # stage 0 always admits k = 0 (w_hat_0 = w0)
    t_lo, t_hi = np.log(lo), np.log(hi)

    # Breakpoints of t = ln(wm) where some stage's admissible exponent range changes.
    ends = np.r_[ln_a[1:], ln_b]
    kmax = int(np.ceil(ends.max() / t_lo)) + 1
    ks = np.arange(1, kmax + 1)
    cuts = (ends[:, None] / ks[None, :]).ravel()
    cuts = np.unique(np.r_[t_lo, t_hi, cuts[(cuts > t_lo) & (cuts < t_hi)]])
    if cuts.size < 2:
        cuts = np.array([t_lo, t_hi])
    left, right = cuts[:-1], cuts[1:]
    mid = (left + right) / 2
    a = np.ceil(ln_a[None, :] / mid[:, None])  # (cells, stages), -inf -> stage 0
    b = np.floor(ln_b[None, :] / mid[:, None])
    a[:, 0] = 0.0
    viable = (a <= b).all(axis=1)
    if not viable.any():
        return None
    left, right, a, b = left[viable], right[viable], a[viable], b[viable]

    # Bounds on c = wa / w0: c >= (wm^(a_s - 1/2) - 1) / first_s   (stages s >= 1)
    #                        c <= (wm^(b_r + 1/2) - 1) / last_r    (stages with last_r >= 1)
    low_s = np.arange(1, stage_w.size)
    up_r = np.flatnonzero(last >= 1)
    if up_r.size == 0:  # a single block: any wm, wa works
        wm = float(np.sqrt(lo * hi))
        return _verified(w, int(w0), 1.0, wm)
    alpha, f_s = a[:, low_s] - 0.5, first[low_s]
    beta, l_r = b[:, up_r] + 0.5, last[up_r]

    if low_s.size == 0:
        t_start, t_end = left, right
    else:
        t_start, t_end = _feasible_t(alpha, f_s, beta, l_r, left, right)
    ok = t_start <= t_end
    # Try the widest feasible intervals first; a witness is verified by regenerating the widths.
    for i in np.flatnonzero(ok)[np.argsort(-(t_end - t_start)[ok], kind="stable")]:
        for frac in (0.5, 0.25, 0.75):
            t = t_start[i] + frac * (t_end[i] - t_start[i])
            c_hi = float(np.min(np.expm1(beta[i] * t) / l_r))
            c_lo = max(float(np.max(np.expm1(alpha[i] * t) / f_s)) if low_s.size else 0.0, 0.0)
            if c_lo > c_hi:
                continue
            fit = _verified(w, int(w0), (c_lo + c_hi) / 2 * w0, float(np.exp(t)))
            if fit is not None:
                return fit
    return None


def _feasible_t(
    alpha: np.ndarray, f_s: np.ndarray, beta: np.ndarray, l_r: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the interval of t in [left, right] where every upper bound >= every lower bound.

    g(t) = (e^(beta t) - 1)/l - (e^(alpha t) - 1)/f has at most one sign change on t > 0, so each
    pair is feasible on a sub-interval touching one end of the cell; bisection finds the crossing.
    """
    al, fs = alpha[:, :, None], f_s[None, :, None]  # (cells, lows, 1)
    be, lr = beta[:, None, :], l_r[None, None, :]  # (cells, 1, ups)

    def g(t: np.ndarray) -> np.ndarray:
        tt = t[:, None, None]
        return np.expm1(be * tt) / lr - np.expm1(al * tt) / fs

    g_left, g_right = g(left), g(right)
    ok_l, ok_r = g_left >= 0, g_right >= 0
    shape = g_left.shape
    start = np.broadcast_to(left[:, None, None], shape).copy()
    end = np.broadcast_to(right[:, None, None], shape).copy()
    never = ~ok_l & ~ok_r
    cross = ok_l ^ ok_r
    if cross.any():
        ci, si, ri = np.nonzero(cross)
        lo_t, hi_t = left[ci].copy(), right[ci].copy()
        a_, f_, b_, l_ = alpha[ci, si], f_s[si], beta[ci, ri], l_r[ri]
        sign_lo = ok_l[ci, si, ri]  # True: feasible at the left end
        for _ in range(60):
            m = (lo_t + hi_t) / 2
            feas = np.expm1(b_ * m) / l_ - np.expm1(a_ * m) / f_ >= 0
            move_lo = feas != sign_lo  # the crossing lies left of m
            hi_t = np.where(move_lo, m, hi_t)
            lo_t = np.where(move_lo, lo_t, m)
        # feasible at the left end -> [left, crossing]; at the right end -> [crossing, right]
        end[ci, si, ri] = np.where(sign_lo, lo_t, end[ci, si, ri])
        start[ci, si, ri] = np.where(sign_lo, start[ci, si, ri], hi_t)
    t_start = start.reshape(shape[0], -1).max(axis=1)
    t_end = end.reshape(shape[0], -1).min(axis=1)
    t_end = np.where(never.reshape(shape[0], -1).any(axis=1), -np.inf, t_end)
    return t_start, t_end


def _verified(w: np.ndarray, w0: int, wa: float, wm: float) -> tuple[int, float, float] | None:
    try:
        gen = regnet_widths(w.size, w0, wa, wm)
    except ValueError:
        return None
    return (w0, wa, wm) if np.array_equal(np.asarray(gen.block_widths), w) else None


def _check_wm_range(wm_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(x) for x in wm_range)
    if not (1 < lo <= hi and np.isfinite(hi)):
        raise ValueError(f"wm_range={wm_range!r} must satisfy 1 < low <= high < inf")
    return lo, hi


# --- search for the best non-exact fit ----------------------------------------------------------
def _best_wa(lw: np.ndarray, w0: np.ndarray, wm: np.ndarray, group: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate (w0_p, wm_p), the exact best c = wa / w0 >= 0 and its summed error.

    With (w0, wm) fixed, block j's exponent round(ln(1 + c j) / ln wm) steps from k to k+1 at
    c = (wm^(k + 1/2) - 1) / j, so the total error is a step function of c: sort all steps, add up
    their error changes, take the lowest plateau and return its midpoint.

    `lw`: the log widths, (d,) for one model or (P, d), one row per candidate, for many. `group`: the
    candidates' model (or search call) ids: the exponents enumerated for a candidate are those its group
    needs (the largest over the group), exactly as when each group is searched alone.
    """
    lw2 = lw[None, :] if lw.ndim == 1 else lw
    d = lw2.shape[1]
    t = np.log(wm)
    w_max = np.exp(lw2.max(axis=1))
    kmax = np.maximum(1, np.ceil(np.log(2 * w_max / w0) / t).astype(np.int64) + 1)
    if group is None:
        k_row = np.full(w0.size, kmax.max())
    else:
        k_group = np.zeros(int(group.max()) + 1, dtype=np.int64)
        np.maximum.at(k_group, group, kmax)
        k_row = k_group[group]
    k = np.arange(int(k_row.max()) + 1)
    w_k = QUANTUM * np.round(w0[:, None] * np.power(wm[:, None], k[None, :]) / QUANTUM)  # (P, K+1)
    cost = np.abs(np.log(w_k)[:, None, :] - lw2[:, :, None])  # (P, d, K+1)
    base = cost[:, :, 0].sum(axis=1)
    if d == 1:
        return base, np.zeros_like(base)
    j = np.arange(1, d, dtype=np.float64)
    p = w0.size
    # The steps' positions depend on (wm, the exponents enumerated) only, not on w0: sorted once per such pair.
    keys, first, inverse = np.unique(np.c_[t, k_row], axis=0, return_index=True, return_inverse=True)
    t_u, k_u = t[first], k_row[first]
    c_ev = np.expm1((k[:-1] + 0.5)[None, None, :] * t_u[:, None, None]) / j[None, :, None]  # (U, d-1, K)
    beyond = k[:-1][None, None, :] >= k_u[:, None, None]  # steps past the group's exponents: not there
    c_ev = np.where(beyond, np.inf, c_ev).reshape(len(keys), -1)
    order_u = np.argsort(c_ev, axis=1)  # no two steps fall at the same c (expm1((k + 1/2) t) / j), but padding
    c_sorted = np.take_along_axis(c_ev, order_u, axis=1)  # (U, M): per key, read per candidate only where needed
    nxt = np.concatenate([c_sorted[:, 1:], np.full((len(keys), 1), np.inf)], axis=1)
    row_key = inverse.ravel()
    delta = np.diff(cost[:, 1:, :], axis=2).reshape(p, -1)  # past the exponents: after every real step, any value
    total = np.take_along_axis(delta, order_u[row_key], axis=1)
    np.cumsum(total, axis=1, out=total)
    total += base[:, None]
    total[(nxt <= c_sorted)[row_key]] = np.inf  # a plateau needs a gap before the next step
    i = np.argmin(total, axis=1)
    best = total[np.arange(p), i]
    c_at = c_sorted[row_key, i]
    c_next = nxt[row_key, i]
    c_mid = np.where(np.isfinite(c_next), (c_at + c_next) / 2, c_at * 1.01 + 1e-9)
    use_base = base <= best
    c = np.where(use_base, c_sorted[row_key, 0] / 2, c_mid)
    return np.where(use_base, base, best), c


def _line_search(lw: np.ndarray, state: np.ndarray, lo: float, hi: float, axis: str) -> np.ndarray:
    """One exact-in-c line search for every start at once; state rows are (err, w0, wm, c).

    axis 'wm': wm over a grid on the whole range plus a finer one around the current wm (w0 fixed);
    axis 'w0': every multiple of 8 in [w0/2, 2 w0] (wm fixed). A row changes only if it improves.
    """
    w0s, wms, owner = [], [], []
    for r, (_, w0, wm, _) in enumerate(state):
        if axis == "wm":
            g = np.r_[np.geomspace(lo, hi, 24), np.geomspace(max(lo, wm / 1.03), min(hi, wm * 1.03), 9)]
            w0s.append(np.full(g.size, w0))
            wms.append(g)
        else:
            g = QUANTUM * np.arange(max(1, int(w0 / 2 // QUANTUM)), int(2 * w0 // QUANTUM) + 2, dtype=np.float64)
            w0s.append(g)
            wms.append(np.full(g.size, wm))
        owner.append(np.full(g.size, r))
    w0_all, wm_all, own = np.concatenate(w0s), np.concatenate(wms), np.concatenate(owner)
    err, c = _best_wa(lw, w0_all, wm_all)
    out = state.copy()
    for r in range(len(state)):
        idx = np.flatnonzero(own == r)
        i = idx[np.argmin(err[idx])]
        if err[i] < out[r, 0] - 1e-12:
            out[r] = (err[i], w0_all[i], wm_all[i], c[i])
    return out


def _search(
    w: np.ndarray, lo: float, hi: float, n_wm: int = 8, starts: int = 3, rounds: int = 3
) -> tuple[int, float, float]:
    """Best (w0, wa, wm) found: a coarse (w0, wm) grid with the exact best wa for each, then
    alternating line searches over wm and w0 from the best `starts` points."""
    lw = np.log(w)
    # w0 candidates: every distinct width, the geometric mean, and a spread around the first width
    anchors = np.r_[np.unique(w), np.exp(lw.mean()), w[0] * np.geomspace(0.5, 2.0, 5)]
    w0_grid = np.unique(np.maximum(QUANTUM, QUANTUM * np.round(anchors / QUANTUM)))
    w0s, wms = (g.ravel() for g in np.meshgrid(w0_grid, np.geomspace(lo, hi, n_wm), indexing="ij"))
    err, c = _best_wa(lw, w0s, wms)
    top = np.argsort(err, kind="stable")[:starts]
    state = np.stack([err[top], w0s[top], wms[top], c[top]], axis=1)
    for _ in range(rounds):
        before = state[:, 0].copy()
        state = _line_search(lw, state, lo, hi, "wm")
        state = _line_search(lw, state, lo, hi, "w0")
        if (state[:, 0] >= before - 1e-12).all():
            break
    _, w0, wm, c_b = state[int(np.argmin(state[:, 0]))]
    return int(w0), float(c_b) * float(w0), float(wm)


def _first_min(err: np.ndarray, segment: np.ndarray, count: int) -> np.ndarray:
    """Per segment id 0..count-1 (each present), the index of its first smallest `err` (as np.argmin)."""
    order = np.lexsort((err, segment))  # stable: within a segment, by error, ties in input order
    first = np.r_[True, segment[order][1:] != segment[order][:-1]]
    out = np.empty(count, dtype=np.int64)
    out[segment[order][first]] = order[first]
    return out


def _line_search_many(lw: np.ndarray, state: np.ndarray, owner: np.ndarray, lo: float, hi: float,
                      axis: str) -> np.ndarray:
    """`_line_search` for the starts of many models at once: state rows (err, w0, wm, c) of models `owner`
    (rows of `lw`); the candidates of one model share their exponents, as in its own search."""
    w0, wm = state[:, 1], state[:, 2]
    if axis == "wm":
        grid = np.c_[np.broadcast_to(np.geomspace(lo, hi, 24), (len(state), 24)),
                     np.geomspace(np.maximum(lo, wm / 1.03), np.minimum(hi, wm * 1.03), 9, axis=1)]
        sizes = np.full(len(state), grid.shape[1])
        wm_all, w0_all = grid.ravel(), np.repeat(w0, sizes)
    else:
        first = np.maximum(1, (w0 / 2 // QUANTUM).astype(np.int64))
        sizes = (2 * w0 // QUANTUM).astype(np.int64) + 2 - first
        seg_start = np.repeat(np.cumsum(sizes) - sizes, sizes)
        w0_all = QUANTUM * (np.repeat(first, sizes) + np.arange(sizes.sum()) - seg_start).astype(np.float64)
        wm_all = np.repeat(wm, sizes)
    row = np.repeat(np.arange(len(state)), sizes)
    err, c = _best_wa(lw[owner[row]], w0_all, wm_all, owner[row])
    i = _first_min(err, row, len(state))
    better = err[i] < state[:, 0] - 1e-12
    out = state.copy()
    out[better] = np.c_[err[i], w0_all[i], wm_all[i], c[i]][better]
    return out


def _search_many(widths: np.ndarray, lo: float, hi: float, n_wm: int = 8, starts: int = 3, rounds: int = 3
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_search` of many models of one depth at once (`widths`: (models, depth)), vectorised over the models:
    the same grid, starts and line searches, so each model gets exactly what `_search` gives it alone.
    Returns arrays w0, wa, wm."""
    m = widths.shape[0]
    lw = np.log(widths)
    w0s, wms, owner = [], [], []
    for r, w in enumerate(widths):  # each model's own w0 grid (a handful of anchors; their number varies)
        anchors = np.r_[np.unique(w), np.exp(lw[r].mean()), w[0] * np.geomspace(0.5, 2.0, 5)]
        w0_grid = np.unique(np.maximum(QUANTUM, QUANTUM * np.round(anchors / QUANTUM)))
        a, b = (g.ravel() for g in np.meshgrid(w0_grid, np.geomspace(lo, hi, n_wm), indexing="ij"))
        w0s.append(a), wms.append(b), owner.append(np.full(a.size, r))
    w0_all, wm_all, own = np.concatenate(w0s), np.concatenate(wms), np.concatenate(owner)
    err, c = _best_wa(lw[own], w0_all, wm_all, own)
    order = np.lexsort((err, own))
    rank = np.arange(order.size) - np.searchsorted(own[order], own[order])
    top = order[rank < starts]  # each model's `starts` best, by error then grid order (a stable sort)
    state = np.c_[err[top], w0_all[top], wm_all[top], c[top]]
    state_owner = own[top]
    # A start whose round changed nothing is done: its line searches would find the same again. Starts that
    # coincide (same model, w0 and wm) are searched once.
    active = np.ones(len(state), dtype=bool)
    for _ in range(rounds):
        rows = np.flatnonzero(active)
        _, first, back = np.unique(np.c_[state_owner[rows], state[rows, 1:3]], axis=0, return_index=True,
                                   return_inverse=True)
        unique = rows[first]
        before = state[unique].copy()
        moved = _line_search_many(lw, before, state_owner[unique], lo, hi, "wm")
        moved = _line_search_many(lw, moved, state_owner[unique], lo, hi, "w0")
        state[rows] = moved[back.ravel()]
        active[rows] = (moved[:, 0] < before[:, 0] - 1e-12)[back.ravel()]
        if not active.any():
            break
    best = state[_first_min(state[:, 0], state_owner, m)]
    return best[:, 1].astype(np.int64), best[:, 3] * best[:, 1], best[:, 2]


def fit_regnet(
    block_widths: Any, depth: int | None = None, *, wm_range: tuple[float, float] = DEFAULT_WM_RANGE
) -> RegNetFit:
    """The quantized-linear fit (w0, wa, wm) and e_fit of one model at its own depth.

    `block_widths`: the per-block widths (a sequence, a NetSpec or a to_row() row); `depth`, if
    given, must equal their number. A generator output is recognised exactly (e_fit = 0, `exact`
    True, the returned parameters regenerate the widths); otherwise the result is the search's best.
    """
    w = block_widths_of(block_widths)
    lo, hi = _check_wm_range(wm_range)
    if depth is not None and int(depth) != w.size:
        raise ValueError(f"depth={depth} but {w.size} block widths were given")
    exact = exact_regnet_params(w, (lo, hi))
    if exact is not None:
        return RegNetFit(w.size, exact[0], exact[1], exact[2], 0.0, True)
    w0, wa, wm = _search(w, lo, hi)
    e = regnet_efit(w, w.size, w0, wa, wm)
    return RegNetFit(w.size, w0, wa, wm, e, e == 0.0)


def _search_chunk(args: tuple[np.ndarray, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _search_many(*args)


def _map_chunks(chunks: list[tuple[np.ndarray, float, float]], workers: int | None) -> list[tuple]:
    """`_search_many` of every chunk, in forked workers when there are enough models to pay for them; a bar
    counts the models searched (on a terminal, once it has taken a second: 3,000 models take ~4 s on 2 cores)."""
    from tqdm.auto import tqdm

    models = sum(len(c[0]) for c in chunks)
    workers = min(usable_cores(), 2) if workers is None else workers
    ctx = fork_context() if workers > 1 and models >= POOL_MIN_MODELS else None
    out = []
    with tqdm(total=models, desc="width fits", unit="model", disable=None, leave=False, delay=1.0) as bar:
        if ctx is None:
            for chunk in chunks:
                out.append(_search_chunk(chunk))
                bar.update(len(chunk[0]))
            return out
        with ctx.Pool(workers) as pool:
            for chunk, result in zip(chunks, pool.imap(_search_chunk, chunks, chunksize=1)):
                out.append(result)
                bar.update(len(chunk[0]))
    return out


def fit_regnet_many(models: Any, *, wm_range: tuple[float, float] = DEFAULT_WM_RANGE,
                    workers: int | None = None) -> pd.DataFrame:
    """`fit_regnet` of many models: a DataFrame (one row per model, in input order) with columns
    depth, w0, wa, wm, e_fit, exact. `models`: a to_row()-layout DataFrame or an iterable of
    NetSpecs / width sequences. Identical width profiles are fitted once; rows of a DataFrame
    without per-stage widths get NaN. The search runs vectorised over the models of one depth
    (`_search_many`), each getting what `fit_regnet` gives it alone; with `workers` > 1 (None: the usable
    cores, at most 2) and at least `POOL_MIN_MODELS` models to search, in that many forked processes."""
    import pandas as pd

    if isinstance(models, pd.DataFrame):
        profiles = _frame_profiles(models)
        index = models.index
    else:
        profiles = [tuple(block_widths_of(m).tolist()) for m in models]
        index = None
    lo, hi = _check_wm_range(wm_range)
    fits: dict[tuple, RegNetFit] = {}
    searched: dict[int, list[tuple]] = {}  # the profiles that are no generator output, by depth
    for prof in dict.fromkeys(p for p in profiles if p):  # identical profiles are fitted once
        w = block_widths_of(prof)
        exact = exact_regnet_params(w, (lo, hi))
        if exact is not None:
            fits[prof] = RegNetFit(w.size, exact[0], exact[1], exact[2], 0.0, True)
        else:
            searched.setdefault(w.size, []).append(prof)
    chunks = [group[i:i + SEARCH_CHUNK] for group in searched.values() for i in range(0, len(group), SEARCH_CHUNK)]
    for chunk, (w0, wa, wm) in zip(chunks, _map_chunks([(np.array(c, dtype=np.float64), lo, hi) for c in chunks],
                                                        workers)):
        for prof, a, b, c in zip(chunk, w0.tolist(), wa.tolist(), wm.tolist()):
            e = regnet_efit(prof, len(prof), a, b, c)
            fits[prof] = RegNetFit(len(prof), a, b, c, e, e == 0.0)
    rows = [(f.depth, f.w0, f.wa, f.wm, f.e_fit, f.exact) if (f := fits.get(prof)) is not None
            else (0, np.nan, np.nan, np.nan, np.nan, False) for prof in profiles]  # no per-stage widths: no fit
    out = pd.DataFrame(rows, columns=["depth", "w0", "wa", "wm", "e_fit", "exact"])
    if index is not None:
        out.index = index
    return out


def _frame_profiles(frame: Any) -> list[tuple]:
    n = frame["num_stages"].to_numpy(dtype=np.float64) if "num_stages" in frame else None
    cols = depth_columns(frame.columns)
    if not cols:
        raise ValueError("table has no per-stage columns d1, w1, ...")
    d = frame[cols].to_numpy(dtype=np.float64)
    w = frame[[f"w{c[1:]}" for c in cols]].to_numpy(dtype=np.float64)
    out = []
    for i in range(len(frame)):
        s = int(n[i]) if n is not None and np.isfinite(n[i]) else int(np.isfinite(d[i]).sum())
        out.append(tuple(np.repeat(w[i, :s], d[i, :s].astype(np.int64)).tolist()) if s else ())
    return out


# --- the pooled linear rule ---------------------------------------------------------------------
@dataclass(frozen=True)
class LineFit:
    """u_j = w0 + wa * j fitted through the per-block widths of several models."""

    w0: float
    wa: float
    rmse: float  # root mean squared residual, in channels
    mean_log_ratio: float  # mean |ln(u_j / w_j)| over all blocks (NaN if some u_j <= 0)
    n_models: int
    n_blocks: int

    def __call__(self, j: Any) -> np.ndarray:
        return self.w0 + self.wa * np.asarray(j, dtype=np.float64)


def fit_width_line(models: Iterable[Any] | Any, *, relative: bool = False) -> LineFit:
    """Least-squares line w_j ~ w0 + wa * j through every block of every model (e.g. the top 20).

    `models`: a to_row()-layout DataFrame or an iterable of NetSpecs / width sequences (depths may
    differ). `relative=True` weights each block by 1 / w_j^2, i.e. fits relative residuals.
    """
    import pandas as pd

    if isinstance(models, pd.DataFrame):
        profiles = [np.asarray(p, dtype=np.float64) for p in _frame_profiles(models) if p]
    else:
        profiles = [block_widths_of(m).astype(np.float64) for m in models]
    if not profiles:
        raise ValueError("fit_width_line: no models")
    w = np.concatenate(profiles)
    j = np.concatenate([np.arange(p.size, dtype=np.float64) for p in profiles])
    if np.unique(j).size < 2:
        raise ValueError("fit_width_line: every model has a single block; a line needs two positions")
    sw = 1.0 / w if relative else np.ones_like(w)
    design = np.stack([np.ones_like(j), j], axis=1) * sw[:, None]
    (w0, wa), *_ = np.linalg.lstsq(design, w * sw, rcond=None)
    u = w0 + wa * j
    rmse = float(np.sqrt(np.mean((u - w) ** 2)))
    mlr = float(np.mean(np.abs(np.log(u / w)))) if (u > 0).all() else float("nan")
    return LineFit(float(w0), float(wa), rmse, mlr, len(profiles), int(w.size))
