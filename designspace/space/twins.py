"""Twins: each model of an earlier design space paired with its restriction to a later one, at the same flops
(issue 39).

`twins(frame, earlier, later, budget)` maps every model of a sampled table of `earlier` to its *twin* in `later`,
a model of `later` in the budget's band, or reports it skipped (never replaced by another draw: that would bias
the pairs). The twin design estimates the effect of imposing the restriction on a model of the earlier space at
equal flops - not the estimand of the EDF comparison of independent draws of the two spaces.

1. **Projection**: the step's restriction applied to the draw's raw values, compatibility re-applied, derived
   from the two spaces (`projection_kind`; any other pair - fewer constraints, wider grids or limits, another
   block, SE ratio, stem or stage count, RegNet -> AnyNet - raises ValueError naming both):

   - AnyNet -> AnyNet: a parameter shared in `later` only takes stage 1's raw value in every stage; a parameter
     non-decreasing (non-increasing) in `later` only has its raw per-stage values sorted up (down). A model that
     already meets the restriction is its own twin: the projection builds its own network, or its final values,
     read as raw values, meet the restriction (a group width clamped by compatibility in one stage only).
   - AnyNet -> RegNet (depth = the model's total depth, b and g its shared raw values - stage 1's when not
     shared): (a) when the model's raw block widths are a generator output (an exact fit,
     `widthfit.exact_regnet_params`), those parameters: the model is its own twin; else (b) the quantized-linear
     fit of its block widths (`widthfit.fit_regnet_many`, wm within the RegNet space's range). w0, wa, wm are
     snapped to the nearest values of the RegNet space's grids (so within their bounds); for an exact fit whose
     nearest grid point regenerates other widths, the grid point nearest it (up to 8 steps of wa, 20 of wm) that
     regenerates them. The generator must then give exactly `num_stages` stages with no skipped exponent; when
     the fit does not, (c) the constrained fit (refit column `fit` = "constrained"): the smallest e_fit over grid
     points that do, searched on a coarse grid (7 w0 from half to twice the first width x 17 wm x 9 values of
     wa / w0 spread over the range that puts the last block in the last stage) then locally (w0 +-1 step, wm and
     wa by relative steps, twice). With ``constrained_fit=False`` such a model is skipped instead ("RegNet fit
     gives k stages" / "RegNet fit skips an exponent").
   - RegNet -> RegNet: the raw (depth, w0, wa, wm, b, g) unchanged.

   Raw values outside the later space's grids (a total depth of 64 against RegNet's d < 64, b = 2 against
   RegNetX's b = 1) are skipped ("outside the later space's ranges"), never clipped.

2. **Band re-fit**, every candidate judged exactly as the sampler judges one (`sampler.judge`: the budget's
   flops, params and acts bands at its resolution and stem, the later space's bounds and scaled limits; plus the
   later space's orders on the final network, and for RegNet exactly `num_stages` stages, no skipped exponent):

   - a projection the judge keeps stays as it is (refit column `how` = "unchanged");
   - else one width multiplier s in [1/8, 8] ("multiplier"). AnyNet: the projection's widths w_i (a raw width
     compatibility keeps) -> the width grid's value nearest s * w_i (q * round(s w_i / q), the grid's end beyond
     it), compatibility re-applied: widths and flops do not decrease in s and orders are kept. A coarse pass over
     97 geometric values of s brackets the band; inside the bracket every distinct outcome is tried (the
     midpoints between the values of s at which some stage's rounded width changes). RegNet: s = w0' / w0 for
     every w0' of the w0 grid (each distinct first width), wa' the wa grid value nearest s * wa, depth and wm
     kept. The admitted candidate whose exact flops are nearest the source's (counted at the same budget) wins;
     ties: s nearest 1;
   - else (the quantization jumps over the band) steps from the multiplier outcomes nearest the source's flops
     below and above it ("steps"). AnyNet: every integer vector delta with 1 <= sum |delta_i| <= 4 (a smaller
     radius when that would exceed 2,000 vectors): stage i moves delta_i steps, a step being to the next width
     that compatibility makes of a grid width with the stage's (b, g); the admitted candidate with the fewest
     steps wins, then nearest flops. RegNet (a stage cannot move alone): steps of its parameters,
     `REGNET_STEPS` (w0 by up to 2 quanta, wm by up to 8 steps of 2.5%, wa scaled with w0 and by up to 2 steps
     of 10%, each snapped to its grid), steps = the sum of their absolute counts;
   - else, for AnyNet -> RegNet only, the in-band stage fit ("band fit"): the constrained fit above over every
     w0 of the grid, among the RegNets (same depth, b, g) the judge keeps;
   - otherwise the model is skipped ("no in-band fit").

Candidates are searched in arrays (NumPy); the RegNet searches read a candidate's stages off the thresholds where
each exponent is first reached (`regnet_stages`, exact), and every RegNet twin is regenerated by the generator
before it is returned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from designspace.net import blocks
from designspace.net.complexity import complexity_arrays
from designspace.net.regnet import regnet_widths_batch
from designspace.net.regnet_stages import first_block, has_stages
from designspace.net.spec import stage_columns
from designspace.net.widthfit import exact_regnet_params, fit_regnet_many
from designspace.space.budgets import Budget, load_budget
from designspace.space.candidates import Batch
from designspace.space.distributions import Grid
from designspace.space.sampler import columns, judge, network_columns, raw_columns, within
from designspace.space.schema import Space
from designspace.space.spaces import load

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HOW", "S_RANGE", "TwinTable", "projection_kind", "twins"]

S_RANGE = (0.125, 8.0)
"""The width multipliers tried."""
COARSE = 97
"""Geometric values of s in the bracketing pass."""
MAX_STEPS = 4
MAX_OFFSETS = 2000
"""Per-stage steps: every delta with 1 <= sum |delta_i| <= MAX_STEPS, the radius lowered until at most MAX_OFFSETS."""
REGNET_STEPS = {"w0": (2, None), "wm": (8, 0.025), "wa": (2, 0.1)}
"""RegNet steps: w0 by up to 2 quanta; wm by up to 8 steps of 2.5%; wa (scaled with w0) by up to 2 steps of 10%."""
HOW = ("unchanged", "multiplier", "steps", "band fit")
RANGES = "outside the later space's ranges"
NO_FIT = "no in-band fit"
_PARAMS = ("d", "w", "b", "g")
_REGNET = ("depth", "w0", "wa", "wm", "b", "g")


@dataclass
class TwinTable:
    """Twins of a table of `earlier` in `later`, at `budget`.

    frame: the twins in the later space's sampled-table layout (`sampler.columns(later)`) plus `twin_of` (the
    source model's id), in the source table's row order (two sources may share a twin). skipped: the source
    models without a twin (model_id, reason), in source order. refit: one row per twin (twin_of, how, multiplier,
    steps, identical: the twin is the source network itself, source_flops, flops).
    """

    frame: pd.DataFrame
    skipped: pd.DataFrame
    refit: pd.DataFrame
    earlier: str
    later: str
    budget: str

    def shares(self) -> dict[str, float]:
        """Fraction of the source models skipped (by reason: 'skipped: <reason>') or twinned by each `HOW`."""
        n = len(self.frame) + len(self.skipped)
        out = {how: float((self.refit["how"] == how).sum() / n) if n else 0.0 for how in HOW}
        out["identical"] = float(self.refit["identical"].sum() / n) if n else 0.0
        out["skipped"] = len(self.skipped) / n if n else 0.0
        for reason, count in self.skipped["reason"].value_counts(sort=False).items():
            out[f"skipped: {reason}"] = count / n
        return out


class _Nets(Batch):
    """m candidate networks of the later space: raw values (AnyNet: d, w, b, g as (m, S); RegNet: depth, w0, wa,
    wm, b, g as (m,)), the final per-stage arrays and whether the structure is one of the space's (the sampler's
    `Batch`, which can also be written into)."""

    def put(self, idx: np.ndarray, other: _Nets) -> None:
        for k, v in self.raw.items():
            v[idx] = other.raw[k]
        for name in ("depths", "widths", "ratios", "groups", "valid"):
            getattr(self, name)[idx] = getattr(other, name)


@dataclass
class _Source:
    ids: np.ndarray
    raw: dict[str, np.ndarray]
    depths: np.ndarray
    widths: np.ndarray
    ratios: np.ndarray
    groups: np.ndarray


# --- the pair ------------------------------------------------------------------------------------------------
def projection_kind(earlier: Space, later: Space) -> str:
    """'anynet', 'fit' (AnyNet -> RegNet) or 'regnet' when `later` restricts `earlier` in a way twins can
    project; ValueError naming both otherwise."""
    problems = []
    for attr in ("num_stages", "block", "se_ratio", "stem_width"):
        if getattr(earlier, attr) != getattr(later, attr):
            problems.append(f"{attr} {getattr(earlier, attr)!r} -> {getattr(later, attr)!r}")
    kinds = {("anynet", "anynet"): "anynet", ("anynet", "regnet"): "fit", ("regnet", "regnet"): "regnet"}
    kind = kinds.get((earlier.family, later.family))
    if kind is None:
        problems.append(f"family {earlier.family} -> {later.family}")
    elif kind != "fit":
        for name in (_PARAMS if kind == "anynet" else _REGNET):
            if not _subset(later.parameters[name], earlier.parameters[name]):
                problems.append(f"{name}'s grid is not within {earlier.name}'s")
        if kind == "regnet" and earlier.width_quantum != later.width_quantum:
            problems.append(f"width_quantum {earlier.width_quantum} -> {later.width_quantum}")
        if kind == "anynet":
            for name in _PARAMS:
                if earlier.is_shared(name) and not later.is_shared(name):
                    problems.append(f"{name} is shared in {earlier.name} only")
            for key in ("non_decreasing", "non_increasing"):
                lost = set(getattr(earlier, key)) - set(getattr(later, key))
                if lost:
                    problems.append(f"{key} {sorted(lost)} of {earlier.name} is dropped")
    if kind is not None:
        problems += _looser_limits(earlier, later)
    if problems:
        raise ValueError(f"space {later.name!r} is not a restriction of {earlier.name!r} that twins can project: "
                         + "; ".join(problems))
    assert kind is not None
    return kind


def _subset(inner: Grid, outer: Grid) -> bool:
    return bool(_on_grid(outer, inner.values).all())


def _looser_limits(earlier: Space, later: Space) -> list[str]:
    out = []
    for key, (lo, hi) in earlier.bounds.items():
        lo2, hi2 = later.bounds.get(key, (None, None))
        if (lo is not None and (lo2 is None or lo2 < lo)) or (hi is not None and (hi2 is None or hi2 > hi)):
            out.append(f"bound {key} is looser")
    for key, rule in earlier.scaled_max.items():
        new = later.scaled_max.get(key)
        if new is None or new.power != rule.power or new.base > rule.base or new.coef > rule.coef:
            out.append(f"scaled_max {key} is looser")
    return out


# --- grids ---------------------------------------------------------------------------------------------------
def _nearest(grid: Grid, x: np.ndarray) -> np.ndarray:
    """Index of the grid value nearest to each x (a tie goes to the lower value)."""
    v = grid.values.astype(np.float64)
    return np.searchsorted((v[:-1] + v[1:]) / 2, x)


def _on_grid(grid: Grid, x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    v = grid.values.astype(np.float64)
    near = v[_nearest(grid, x)]
    return np.abs(near - x) <= 1e-9 * np.maximum(1.0, np.abs(x))


# --- reading the source table --------------------------------------------------------------------------------
def _source(frame: pd.DataFrame, space: Space) -> _Source:
    S = space.num_stages
    cols = stage_columns(S)
    need = ["model_id", *raw_columns(space), *(c for names in cols.values() for c in names)]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing} of a sampled table of space {space.name!r}")
    n = len(frame)
    final = {name: frame[names].to_numpy(dtype=np.float64 if name == "bottleneck_ratios" else np.int64)
             for name, names in cols.items()}
    raw: dict[str, np.ndarray] = {}
    if space.family == "regnet":
        for k in _REGNET:
            raw[k] = frame[k].to_numpy() if k in frame.columns else np.ones(n, dtype=np.int64)
    else:
        for k in _PARAMS:
            dtype = np.float64 if k == "b" else np.int64
            if f"raw_{k}1" in frame.columns:
                raw[k] = frame[[f"raw_{k}{i}" for i in range(1, S + 1)]].to_numpy(dtype=dtype)
            elif k in frame.columns:
                raw[k] = np.repeat(frame[k].to_numpy(dtype=dtype)[:, None], S, axis=1)
            else:  # a block that takes only widths: b and g are not drawn
                raw[k] = np.ones((n, S), dtype=dtype)
    return _Source(frame["model_id"].astype(str).to_numpy(), raw, final["depths"], final["widths"],
                   final["bottleneck_ratios"], final["group_widths"])


# --- projections ---------------------------------------------------------------------------------------------
def _compatible(space: Space, d: np.ndarray, w: np.ndarray, b: np.ndarray, g: np.ndarray) -> _Nets:
    """AnyNet candidates from raw per-stage values: compatibility, then the orders on the final network."""
    widths, ratios, groups = blocks.get(space.block).compatible(w, b, g)
    valid = np.ones(len(d), dtype=bool)
    for name in space.non_decreasing:
        valid &= (np.diff(d if name == "d" else widths, axis=1) >= 0).all(axis=1)
    return _Nets({"d": d, "w": w, "b": b, "g": g}, d.astype(np.int64), widths.astype(np.int64),
                 ratios.astype(np.float64), groups.astype(np.int64), valid)


def _restrict(raw: dict[str, np.ndarray], earlier: Space, later: Space) -> dict[str, np.ndarray]:
    out = {}
    for k, v in raw.items():
        v = v.copy()
        if later.is_shared(k) and not earlier.is_shared(k):
            v[:] = v[:, :1]
        if k in later.non_decreasing and k not in earlier.non_decreasing:
            v = np.sort(v, axis=1)
        if k in later.non_increasing and k not in earlier.non_increasing:
            v = np.sort(v, axis=1)[:, ::-1]
        out[k] = v
    return out


def _same(nets: _Nets, src: _Source) -> np.ndarray:
    return ((nets.depths == src.depths) & (nets.widths == src.widths) & (nets.ratios == src.ratios)
            & (nets.groups == src.groups)).all(axis=1)


def _anynet_projection(src: _Source, earlier: Space, later: Space) -> tuple[_Nets, np.ndarray]:
    projected = _compatible(later, *(_restrict(src.raw, earlier, later)[k] for k in _PARAMS))
    final = {"d": src.depths, "w": src.widths, "b": src.ratios, "g": src.groups}
    if blocks.get(later.block).widths_only:  # b and g are not drawn: their raw values stay the fixed ones
        final.update(b=src.raw["b"], g=src.raw["g"])
    as_raw = _compatible(later, *(final[k] for k in _PARAMS))
    again = _restrict(final, earlier, later)
    met = (~_same(projected, src) & _same(as_raw, src)
           & np.logical_and.reduce([(again[k] == final[k]).all(axis=1) for k in _PARAMS]))
    nets = projected
    nets.put(np.flatnonzero(met), as_raw.take(np.flatnonzero(met)))
    on_grid = np.logical_and.reduce([_on_grid(later.parameters[k], nets.raw[k]).all(axis=1) for k in _PARAMS])
    return nets, np.where(on_grid, None, RANGES)


def _regnet_nets(space: Space, raw: dict[str, np.ndarray], generator: bool = True) -> tuple[_Nets, np.ndarray]:
    """RegNet candidates from (depth, w0, wa, wm, b, g), made compatible, and the generator's stage counts.

    `generator`: run the generator (`regnet_widths_batch`, blocks padded to the largest depth); else the stages
    from where each exponent is first reached (`regnet_stages`: O(stages) per candidate, for the searches; stage
    counts then 0). The twins are regenerated by the generator at the end."""
    S, m, q = space.num_stages, len(raw["depth"]), space.width_quantum
    depths = np.ones((m, S), dtype=np.int64)
    widths = np.full((m, S), q, dtype=np.int64)
    stages = np.zeros(m, dtype=np.int64)
    valid = np.zeros(m, dtype=bool)
    if m and generator:
        gen = regnet_widths_batch(raw["depth"], raw["w0"], raw["wa"], raw["wm"], q)
        stages = gen.num_stages
        valid = (gen.num_stages == S) & (gen.num_exponents == S) & ~gen.skips_exponent
        depths[valid] = gen.stage_depths[valid][:, :S]
        widths[valid] = gen.stage_widths[valid][:, :S]
    elif m:
        d = raw["depth"].astype(np.int64)
        w0, wa, wm = (raw[k].astype(np.float64) for k in ("w0", "wa", "wm"))
        valid = has_stages(d, w0, wa, wm, S, q)
        cap = int(d.max()) + 1
        cuts = np.stack([np.zeros(m, np.int64), *(first_block(k, w0, wa, wm, cap) for k in range(1, S)), d], axis=1)
        depths = np.where(valid[:, None], np.diff(cuts, axis=1), 1)
        k = np.arange(S, dtype=np.float64)[None, :]
        widths = np.where(valid[:, None], q * np.round(w0[:, None] * np.power(wm[:, None], k) / q), q).astype(np.int64)
    b, g = (np.repeat(raw[k][:, None], S, axis=1) for k in ("b", "g"))
    widths, ratios, groups = blocks.get(space.block).compatible(widths, b, g)
    return _Nets(dict(raw), depths, widths.astype(np.int64), ratios.astype(np.float64), groups.astype(np.int64),
                 valid), stages


def _fit_projection(src: _Source, earlier: Space, later: Space, constrained: bool) -> tuple[
        _Nets, np.ndarray, np.ndarray]:
    """The RegNet of each model (module docstring) and whether it needed the constrained fit."""
    p = later.parameters
    wm_range = (float(p["wm"].values[0]), float(p["wm"].values[-1]))
    depth = src.depths.sum(axis=1)
    final = [np.repeat(w, d) for w, d in zip(src.widths, src.depths)]
    fits = fit_regnet_many(final, wm_range=wm_range)
    params = fits[["w0", "wa", "wm"]].to_numpy(dtype=np.float64).copy()
    exact = fits["exact"].to_numpy(dtype=bool).copy()
    target = list(final)
    for i, (w, d) in enumerate(zip(src.raw["w"], src.depths)):  # raw widths a generator output: the model itself
        prof = np.repeat(w, d)
        if not np.array_equal(prof, final[i]) and (hit := exact_regnet_params(prof, wm_range)) is not None:
            params[i], exact[i], target[i] = hit, True, prof
    raw = {"depth": depth.astype(p["depth"].values.dtype),
           "b": src.raw["b"][:, 0].astype(p["b"].values.dtype), "g": src.raw["g"][:, 0].astype(p["g"].values.dtype)}
    raw.update(_snap_fit(later, depth, params, exact, target))
    on_grid = np.logical_and.reduce([_on_grid(p[k], raw[k]) for k in ("depth", "b", "g")])
    reason = np.where(on_grid, None, RANGES).astype(object)
    nets, stages = _regnet_nets(later, {k: raw[k] for k in _REGNET})
    bad = np.flatnonzero(on_grid & ~nets.valid)
    used = np.zeros(len(depth), dtype=bool)
    if constrained and len(bad):
        fit, _ = _stage_fit(later, src.depths[bad], src.widths[bad])
        for k in ("w0", "wa", "wm"):
            raw[k][bad] = fit[k]
        again, stages[bad] = _regnet_nets(later, {k: raw[k][bad] for k in _REGNET})
        nets.put(bad, again)
        used[bad] = again.valid
    bad = bad[~nets.valid[bad]]
    reason[bad] = [f"RegNet fit gives {k} stages" if k != later.num_stages else "RegNet fit skips an exponent"
                   for k in stages[bad]]
    return nets, reason, used


SNAP_STEPS = {"wa": 8, "wm": 20}
"""An exact fit whose nearest grid point does not regenerate its widths: wa and wm up to this many grid steps away."""


def _snap_fit(space: Space, depth: np.ndarray, params: np.ndarray, exact: np.ndarray, target: list[np.ndarray]
              ) -> dict[str, np.ndarray]:
    """(w0, wa, wm) on the space's grids nearest the fitted ones; for an exact fit, the grid point nearest it (in
    steps of wa and wm) that regenerates the fitted widths, when the nearest does not."""
    p = space.parameters
    idx = {k: _nearest(p[k], params[:, i]) for i, k in enumerate(("w0", "wa", "wm"))}
    rows = np.flatnonzero(exact)
    if len(rows):
        S = space.num_stages
        runs_w = np.zeros((len(rows), S), dtype=np.int64)
        runs_d = np.zeros((len(rows), S), dtype=np.int64)
        fits_s = np.zeros(len(rows), dtype=bool)
        for r, i in enumerate(rows):
            w = np.asarray(target[i], dtype=np.int64)
            starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
            if len(starts) == S:
                fits_s[r] = True
                runs_w[r], runs_d[r] = w[starts], np.diff(np.r_[starts, len(w)])
        da, dm = (x.ravel() for x in np.meshgrid(*(np.arange(-n, n + 1) for n in SNAP_STEPS.values()), indexing="ij"))
        order = np.argsort(np.abs(da) + np.abs(dm), kind="stable")
        da, dm = da[order], dm[order]
        own = np.repeat(np.arange(len(rows)), len(da))
        cand = {"depth": depth[rows][own], "w0": p["w0"].values[idx["w0"][rows]][own],
                "wa": p["wa"].values[np.clip(idx["wa"][rows][own] + np.tile(da, len(rows)), 0, p["wa"].size - 1)],
                "wm": p["wm"].values[np.clip(idx["wm"][rows][own] + np.tile(dm, len(rows)), 0, p["wm"].size - 1)],
                "b": np.ones(len(own)), "g": np.ones(len(own), dtype=np.int64)}  # b = g = 1: the widths as generated
        nets, _ = _regnet_nets(space, cand, generator=False)
        match = (nets.valid & fits_s[own] & (nets.widths == runs_w[own]).all(axis=1)
                 & (nets.depths == runs_d[own]).all(axis=1))
        pick = _pick(own[match], len(rows), np.flatnonzero(match))
        hit = pick >= 0
        chosen = np.flatnonzero(match)[pick[hit]]
        for k in ("wa", "wm"):
            idx[k][rows[hit]] = _nearest(p[k], cand[k][chosen])
    return {k: p[k].values[idx[k]] for k in ("w0", "wa", "wm")}


STAGE_FIT_CHUNK = 64
"""Models searched at once by `_stage_fit` (bounds its candidate arrays: up to ~4,800 per model)."""


@dataclass
class _Band:
    """What an in-band stage fit needs: the budget, and each model's b and g."""

    budget: Budget
    b: np.ndarray
    g: np.ndarray


def _stage_fit(space: Space, depths: np.ndarray, widths: np.ndarray, band: _Band | None = None
               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The constrained quantized-linear fit of each model: ((w0, wa, wm), e_fit) with the smallest e_fit (mean over
    blocks of |ln w_hat_j - ln w_j| at the model's own depth) over (w0, wa, wm) on the RegNet space's grids that
    give exactly `num_stages` stages with no skipped exponent - and, with `band`, whose network (with the model's
    b and g) the budget admits; e_fit is inf where none was found. A coarse grid (w0: 7 values from half to twice
    the first width, or with `band` every w0 of the grid; x 17 wm x 9 values of wa / w0 inside the range that
    gives the stage count at this depth), then two rounds of local steps around the best."""
    n = len(depths)
    out = {k: np.empty(n, dtype=space.parameters[k].values.dtype) for k in ("w0", "wa", "wm")}
    err = np.empty(n)
    for lo in range(0, n, STAGE_FIT_CHUNK):
        part = slice(lo, lo + STAGE_FIT_CHUNK)
        sub = None if band is None else _Band(band.budget, band.b[part], band.g[part])
        fit, err[part] = _stage_fit_chunk(space, depths[part], widths[part], sub)
        for k, v in fit.items():
            out[k][part] = v
    return out, err


def _stage_fit_chunk(space: Space, depths: np.ndarray, widths: np.ndarray, band: _Band | None
                     ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    p, S = space.parameters, space.num_stages
    m = len(depths)
    D = depths.sum(axis=1).astype(np.float64)
    ends = np.cumsum(depths, axis=1).astype(np.float64)
    starts = ends - depths
    lw = np.log(widths.astype(np.float64))
    wm_lo, wm_hi = float(p["wm"].values[0]), float(p["wm"].values[-1])

    def snap(name: str, x: np.ndarray) -> np.ndarray:
        return p[name].values[_nearest(p[name], x)]

    def cost(own: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray) -> np.ndarray:
        d = D[own].astype(np.int64)
        if band:
            nets, _ = _regnet_nets(space, {"depth": d, "w0": w0, "wa": wa, "wm": wm, "b": band.b[own],
                                           "g": band.g[own]}, generator=False)
            ok = _admissible(space, band.budget, nets)[0]
            cuts = np.concatenate([np.zeros((len(own), 1)), np.cumsum(nets.depths, axis=1)], axis=1)
        else:  # the stages only
            ok = has_stages(d, w0, wa, wm, S, space.width_quantum)
            cap = int(d.max()) + 1
            cuts = np.stack([np.zeros(len(own)), *(first_block(k, w0, wa, wm, cap) for k in range(1, S)), D[own]],
                            axis=1)
        err = np.zeros(len(own))
        for k in range(S):  # the generator's widths (before compatibility) against the model's, block by block
            lwk = np.log(space.width_quantum * np.round(w0 * np.power(wm, float(k)) / space.width_quantum))
            span = np.minimum(cuts[:, k + 1, None], ends[own]) - np.maximum(cuts[:, k, None], starts[own])
            err += (np.maximum(span, 0) * np.abs(lwk[:, None] - lw[own])).sum(axis=1)
        return np.where(ok, err / D[own], np.inf)

    def best(own: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray) -> tuple[np.ndarray, ...]:
        e = cost(own, w0, wa, wm)
        pick = _pick(own, m, e)
        return e[pick], w0[pick], wa[pick], wm[pick]

    # coarse: w0 x wm x (wa / w0 inside the interval that puts the last block in stage S - 1)
    w0_grid = p["w0"].values if band else None
    n0 = len(w0_grid) if band else 7
    fm = np.tile(np.repeat(np.geomspace(wm_lo, wm_hi, 17), 9), n0)
    fc = np.tile((np.arange(9) + 0.5) / 9, n0 * 17)
    own = np.repeat(np.arange(m), len(fm))
    if band:
        w0 = np.tile(np.repeat(w0_grid, 17 * 9), m)
    else:
        w0 = snap("w0", widths[own, 0] * np.tile(np.repeat(2.0 ** np.linspace(-1, 1, 7), 17 * 9), m))
    wm = snap("wm", np.tile(fm, m))
    c_lo = np.expm1((S - 1.5) * np.log(wm)) / np.maximum(D[own] - 1, 1)
    c_hi = np.expm1((S - 0.5) * np.log(wm)) / np.maximum(D[own] - 1, 1)
    wa = snap("wa", w0 * c_lo * (c_hi / c_lo) ** np.tile(fc, m))
    e, w0, wa, wm = best(own, w0, wa, wm)
    # local: w0 by -1..1 grid steps, wm and wa by relative steps, twice (the second finer)
    for scale in (1.0, 0.25):
        a, b, c = (x.ravel() for x in np.meshgrid(
            np.arange(-1, 2), scale * np.array([0, -.04, -.02, -.01, .01, .02, .04]),
            scale * np.array([0, -.2, -.1, -.05, .05, .1, .2]), indexing="ij"))
        own = np.repeat(np.arange(m), len(a))
        cw0 = p["w0"].values[np.clip(_nearest(p["w0"], w0)[own] + np.tile(a, m), 0, p["w0"].size - 1)]
        cwm = snap("wm", wm[own] * np.exp(np.tile(b, m)))
        cwa = snap("wa", wa[own] * cw0 / w0[own] * np.exp(np.tile(c, m)))
        e2, w02, wa2, wm2 = best(np.r_[own, np.arange(m)], np.r_[cw0, w0], np.r_[cwa, wa], np.r_[cwm, wm])
        better = e2 < e
        e, w0, wa, wm = (np.where(better, x2, x) for x, x2 in ((e, e2), (w0, w02), (wa, wa2), (wm, wm2)))
    return {"w0": w0, "wa": wa, "wm": wm}, e


def _regnet_projection(src: _Source, later: Space) -> tuple[_Nets, np.ndarray]:
    raw = {k: src.raw[k].astype(later.parameters[k].values.dtype) for k in _REGNET}
    on_grid = np.logical_and.reduce([_on_grid(later.parameters[k], raw[k]) for k in _REGNET])
    nets, _ = _regnet_nets(later, raw)
    return nets, np.where(on_grid, None, RANGES)


# --- judging -------------------------------------------------------------------------------------------------
def _flops(space: Space, budget: Budget, nets: _Nets | _Source) -> np.ndarray:
    if len(nets.depths) == 0:
        return np.zeros(0, dtype=np.int64)
    return complexity_arrays(
        nets.depths, nets.widths, nets.ratios, nets.groups, se_ratio=space.se_ratio, stem_width=space.stem_width,
        stem_stride=budget.stem_stride, num_classes=budget.num_classes, in_channels=budget.in_channels,
        resolution=budget.resolution, block=space.block).flops


def _admissible(space: Space, budget: Budget, nets: _Nets) -> tuple[np.ndarray, np.ndarray]:
    """(admissible, flops) per candidate: a valid structure that the sampler's judge keeps in the budget."""
    flops = _flops(space, budget, nets)
    ok = nets.valid & within(flops, budget.flops)
    rows = np.flatnonzero(ok)
    if len(rows):
        batch = Batch({}, nets.depths[rows], nets.widths[rows], nets.ratios[rows], nets.groups[rows],
                      np.ones(len(rows), dtype=bool))
        keep, _ = judge(space, budget, batch)
        ok[:] = False
        ok[rows[keep]] = True
    return ok, flops


def _pick(owner: np.ndarray, count: int, *keys: np.ndarray) -> np.ndarray:
    """Per owner 0..count-1, the index of its candidate with the smallest keys (lexicographic; -1: none)."""
    out = np.full(count, -1, dtype=np.int64)
    if len(owner) == 0:
        return out
    order = np.lexsort((np.arange(len(owner)), *reversed(keys), owner))
    first = np.r_[True, owner[order][1:] != owner[order][:-1]]
    out[owner[order][first]] = order[first]
    return out


# --- re-fit: AnyNet ------------------------------------------------------------------------------------------
def _scaled(space: Space, start: _Nets, owner: np.ndarray, s: np.ndarray) -> _Nets:
    """Candidates with raw widths the grid values nearest to s * w (the grid's end where s * w lies beyond it)."""
    grid = space.parameters["w"]
    w = grid.values[_nearest(grid, s[:, None] * start.raw["w"][owner])]
    return _compatible(space, start.raw["d"][owner], w, start.raw["b"][owner], start.raw["g"][owner])


def _multiplier_anynet(space: Space, budget: Budget, start: _Nets, f0: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, _Nets, np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct single-multiplier outcome inside the bracket of the band: (owner, s, candidates,
    admissible, flops, distance of its interval of s from 1 in log)."""
    m = len(f0)
    coarse = np.geomspace(*S_RANGE, COARSE)
    owner = np.repeat(np.arange(m), COARSE)
    flops = _flops(space, budget, _scaled(space, start, owner, np.tile(coarse, m))).reshape(m, COARSE)
    lo, hi = budget.flops
    below = (flops < lo).sum(axis=1) if lo is not None else np.zeros(m, dtype=np.int64)  # flops grow with s
    above = (flops > hi).sum(axis=1) if hi is not None else np.zeros(m, dtype=np.int64)
    # the band lies between the last s below it and the first above it; when it is beyond S_RANGE, the last
    # coarse interval at that end (its outcomes start the per-stage steps)
    first = np.clip(below - 1, 0, COARSE - 2)
    last = np.clip(COARSE - above, first + 1, COARSE - 1)
    s_a, s_b = coarse[first], coarse[last]
    grid = space.parameters["w"]
    v = grid.values.astype(np.float64)
    cuts = (v[:-1] + v[1:]) / 2  # where the nearest grid value changes
    bp = (cuts[None, None, :] / start.raw["w"][:, :, None]).reshape(m, -1)
    bp = np.where((bp > s_a[:, None]) & (bp < s_b[:, None]), bp, np.inf)
    ends = np.sort(np.concatenate([s_a[:, None], s_b[:, None], bp], axis=1), axis=1)
    left, right = ends[:, :-1], ends[:, 1:]
    keep = np.isfinite(right) & (right > left * (1 + 1e-12))
    owner, col = np.nonzero(keep)
    s = (left[owner, col] + right[owner, col]) / 2
    nets = _scaled(space, start, owner, s)
    ok, flops_c = _admissible(space, budget, nets)
    # the tie-break "s nearest 1" is the distance from 1 to the interval the candidate stands for
    dist = np.maximum.reduce([np.log(left[owner, col]), -np.log(right[owner, col]), np.zeros(len(s))])
    return owner, s, nets, ok, flops_c, dist


def _l1_offsets(stages: int) -> np.ndarray:
    """Every integer vector delta with 1 <= sum |delta_i| <= L, by sum |delta| then lexicographically, with the
    largest L <= MAX_STEPS that keeps at most MAX_OFFSETS of them."""
    def ball(s: int, radius: int) -> list[tuple[int, ...]]:
        if s == 0:
            return [()]
        return [(x, *rest) for x in range(-radius, radius + 1) for rest in ball(s - 1, radius - abs(x))]

    for radius in range(MAX_STEPS, 0, -1):
        if _ball_size(stages, radius) <= MAX_OFFSETS or radius == 1:
            pts = np.array([p for p in ball(stages, radius) if any(p)], dtype=np.int64).reshape(-1, stages)
            return pts[np.lexsort((*pts.T[::-1], np.abs(pts).sum(axis=1)))]
    raise AssertionError("unreachable")


def _ball_size(stages: int, radius: int) -> int:
    from math import comb

    return sum(2 ** k * comb(stages, k) * comb(radius, k) for k in range(min(stages, radius) + 1))


def _steps_anynet(space: Space, start: _Nets) -> tuple[np.ndarray, _Nets, np.ndarray]:
    """Per-stage steps from each start: (its start, candidates, sum |delta| of each)."""
    m, S = start.widths.shape
    grid = space.parameters["w"]
    V = grid.values
    # every final width compatibility makes of the width grid for each stage's (b, g): monotone in the raw width
    fin, _, _ = blocks.get(space.block).compatible(V[None, None, :], start.raw["b"][:, :, None],
                                                   start.raw["g"][:, :, None])
    fin = np.broadcast_to(fin, (m, S, V.size)).astype(np.int64)
    run = np.concatenate([np.zeros((m, S, 1), np.int64), np.cumsum(np.diff(fin, axis=2) != 0, axis=2)], axis=2)
    here = run[np.arange(m)[:, None], np.arange(S)[None, :], np.searchsorted(V, start.raw["w"])]
    runs = run[:, :, -1] + 1
    offsets = _l1_offsets(S)
    k, nv = len(offsets), V.size
    owner = np.repeat(np.arange(m), k)
    target = here[owner] + np.tile(offsets, (m, 1))  # (m * k, S): the run each stage moves to
    inside = ((target >= 0) & (target < runs[owner])).all(axis=1)
    target = np.clip(target, 0, runs[owner] - 1)
    row = (owner[:, None] * S + np.arange(S)[None, :]).ravel()  # (model, stage) of each cell
    flat = (np.arange(m * S)[:, None] * (nv + 1) + run.reshape(m * S, nv)).ravel()  # sorted: runs grow
    first = np.searchsorted(flat, row * (nv + 1) + target.ravel()) - row * nv  # the run's first raw width
    fin2 = fin.reshape(m * S, nv)
    value = fin2[row, first]
    # the raw width: the final width itself when it is a grid value compatibility keeps, else the run's first
    j_self = np.minimum(np.searchsorted(V, value), nv - 1)
    keeps = (V[j_self] == value) & (fin2[row, j_self] == value)
    w = np.where(keeps, V[j_self], V[first]).reshape(m * k, S)
    nets = _compatible(space, start.raw["d"][owner], w, start.raw["b"][owner], start.raw["g"][owner])
    nets.valid &= inside
    return owner, nets, np.abs(np.tile(offsets, (m, 1))).sum(axis=1)


# --- re-fit: RegNet ------------------------------------------------------------------------------------------
def _regnet_candidates(space: Space, start: _Nets, owner: np.ndarray, w0: np.ndarray, wm: np.ndarray,
                       s: np.ndarray) -> _Nets:
    p = space.parameters
    raw = {"depth": start.raw["depth"][owner], "w0": w0, "wa": p["wa"].values[_nearest(p["wa"], s * start.raw["wa"][owner])],
           "wm": wm, "b": start.raw["b"][owner], "g": start.raw["g"][owner]}
    return _regnet_nets(space, raw, generator=False)[0]


def _multiplier_regnet(space: Space, budget: Budget, start: _Nets, f0: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, _Nets, np.ndarray, np.ndarray, np.ndarray]:
    V = space.parameters["w0"].values
    s_all = V[None, :] / start.raw["w0"][:, None].astype(np.float64)
    owner, col = np.nonzero((s_all >= S_RANGE[0]) & (s_all <= S_RANGE[1]))
    s = s_all[owner, col]
    nets = _regnet_candidates(space, start, owner, V[col], start.raw["wm"][owner], s)
    ok, flops = _admissible(space, budget, nets)
    return owner, s, nets, ok, flops, np.abs(np.log(s))


def _steps_regnet(space: Space, start: _Nets) -> tuple[np.ndarray, _Nets, np.ndarray]:
    """Grid steps of (w0, wm, wa) from each start (`REGNET_STEPS`): (its start, candidates, steps of each)."""
    p = space.parameters
    m = len(start.depths)
    axes = [np.arange(-n, n + 1) for n, _ in REGNET_STEPS.values()]
    a, b, c = (x.ravel() for x in np.meshgrid(*axes, indexing="ij"))
    keep = (a != 0) | (b != 0) | (c != 0)
    a, b, c = (np.tile(x[keep], m) for x in (a, b, c))
    owner = np.repeat(np.arange(m), int(keep.sum()))
    w0 = p["w0"].values[_nearest(p["w0"], start.raw["w0"][owner] + a * space.width_quantum)]
    wm = p["wm"].values[_nearest(p["wm"], start.raw["wm"][owner] * (1 + REGNET_STEPS["wm"][1]) ** b)]
    s = w0 / start.raw["w0"][owner].astype(np.float64) * (1 + REGNET_STEPS["wa"][1]) ** c
    nets = _regnet_candidates(space, start, owner, w0, wm, s)
    return owner, nets, np.abs(a) + np.abs(b) + np.abs(c)


# --- the whole ----------------------------------------------------------------------------------------------
def _refit(space: Space, budget: Budget, start: _Nets, f0: np.ndarray,
           source: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[
        _Nets, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(re-fitted networks, found, how index, multiplier, steps) for projections outside the band; `source`: the
    source models' (depths, widths), for the last resort of an AnyNet -> RegNet twin (an in-band stage fit)."""
    m = len(f0)
    start = start.take(np.arange(m))
    if space.family != "regnet":  # scale the network's widths (a raw width compatibility keeps): the order stays
        start.raw["w"] = start.widths.copy()
    out = start.take(np.arange(m))
    how = np.zeros(m, dtype=np.int64)
    mult = np.ones(m)
    steps = np.zeros(m, dtype=np.int64)
    if m == 0:
        return out, np.zeros(0, dtype=bool), how, mult, steps
    regnet = space.family == "regnet"
    owner, s, nets, ok, flops, dist = (_multiplier_regnet if regnet else _multiplier_anynet)(space, budget, start, f0)
    gap = np.abs(flops - f0[owner]).astype(np.float64)
    cand = np.flatnonzero(ok)
    pick = _pick(owner[cand], m, gap[cand], dist[cand])
    found = pick >= 0
    chosen = cand[pick[found]]
    out.put(np.flatnonzero(found), nets.take(chosen))
    how[found], mult[found] = 1, s[chosen]
    # per-stage steps from the nearest multiplier candidates below and above the source's flops
    rest = np.flatnonzero(~found)
    usable = np.flatnonzero(nets.valid & np.isin(owner, rest))
    lower = flops[usable] < f0[owner[usable]]
    starts = np.concatenate([usable[sub][p[p >= 0]] for sub in (lower, ~lower)
                             for p in [_pick(owner[usable[sub]], m, gap[usable[sub]], dist[usable[sub]])]])
    if len(starts):
        step_owner, nets2, steps2 = (_steps_regnet if regnet else _steps_anynet)(space, nets.take(starts))
        model = owner[starts][step_owner]
        ok2, flops2 = _admissible(space, budget, nets2)
        cand = np.flatnonzero(ok2)
        pick = _pick(model[cand], m, steps2[cand], np.abs(flops2[cand] - f0[model[cand]]))
        done = np.flatnonzero(pick >= 0)
        chosen = cand[pick[done]]
        out.put(done, nets2.take(chosen))
        how[done], mult[done], steps[done] = 2, s[starts[step_owner[chosen]]], steps2[chosen]
        found[done] = True
    rest = np.flatnonzero(~found)
    if regnet and source is not None and len(rest):  # the in-band RegNet nearest the source model's widths
        fit, err = _stage_fit(space, source[0][rest], source[1][rest],
                              _Band(budget, start.raw["b"][rest], start.raw["g"][rest]))
        done = rest[np.isfinite(err)]
        raw = {k: (fit[k] if k in fit else start.raw[k][rest])[np.isfinite(err)] for k in _REGNET}
        raw["depth"] = start.raw["depth"][done]
        out.put(done, _regnet_nets(space, raw, generator=False)[0])
        how[done], mult[done], found[done] = 3, np.nan, True
    return out, found, how, mult, steps


def twins(
    frame: pd.DataFrame,
    earlier: str | os.PathLike | Mapping[str, Any] | Space,
    later: str | os.PathLike | Mapping[str, Any] | Space,
    budget: str | os.PathLike | Mapping[str, Any] | Budget,
    *,
    constrained_fit: bool = True,
) -> TwinTable:
    """The twin in `later` of every model of `frame` (a sampled table of `earlier`), in `budget` (module docstring).

    Spaces and the budget as `sampler.draw` takes them. Flops of the source models are recounted at `budget`.
    `constrained_fit=False` (AnyNet -> RegNet): a model whose free fit does not give `num_stages` stages is skipped
    instead of fitted among the RegNets that do.
    """
    import pandas as pd

    early, late, bud = load(earlier), load(later), load_budget(budget)
    kind = projection_kind(early, late)
    src = _source(frame, early)
    f0 = _flops(early, bud, src)
    constrained = np.zeros(len(src.ids), dtype=bool)
    if kind == "anynet":
        nets, reason = _anynet_projection(src, early, late)
    elif kind == "fit":
        nets, reason, constrained = _fit_projection(src, early, late, constrained_fit)
    else:
        nets, reason = _regnet_projection(src, late)
    reason = reason.astype(object)
    live = np.flatnonzero(pd.isna(reason))
    ok, _ = _admissible(late, bud, nets.take(live))
    how = np.zeros(len(src.ids), dtype=np.int64)
    mult = np.ones(len(src.ids))
    steps = np.zeros(len(src.ids), dtype=np.int64)
    redo = live[~ok]
    source = (src.depths[redo], src.widths[redo]) if kind == "fit" else None
    refitted, found, how_r, mult_r, steps_r = _refit(late, bud, nets.take(redo), f0[redo], source)
    nets.put(redo, refitted)
    how[redo], mult[redo], steps[redo] = how_r, mult_r, steps_r
    reason[redo[~found]] = NO_FIT
    if late.family == "regnet":  # the searches read the stages off the exponents' thresholds: regenerate
        done = redo[found]
        gen, _ = _regnet_nets(late, {k: nets.raw[k][done] for k in _REGNET})
        differ = done[~_same(gen, _Source(done, {}, nets.depths[done], nets.widths[done], nets.ratios[done],
                                          nets.groups[done]))]
        if len(differ):  # not expected (regnet_stages is exact); the generator has the last word
            nets.put(differ, gen.take(np.searchsorted(done, differ)))
            reason[differ[~_admissible(late, bud, nets.take(differ))[0]]] = NO_FIT
    kept = np.flatnonzero(pd.isna(reason))
    twin = nets.take(kept)
    table = _table(late, bud, twin)
    table["twin_of"] = src.ids[kept]
    identical = _same(twin, _Source(src.ids[kept], {}, src.depths[kept], src.widths[kept], src.ratios[kept],
                                    src.groups[kept]))
    refit = pd.DataFrame({"twin_of": src.ids[kept], "how": np.array(HOW, dtype=object)[how[kept]],
                          "multiplier": mult[kept], "steps": steps[kept], "identical": identical,
                          "fit": np.where(constrained[kept], "constrained", "free" if kind == "fit" else ""),
                          "source_flops": f0[kept], "flops": table["flops"].to_numpy()})
    skipped = pd.DataFrame({"model_id": src.ids[pd.notna(reason)], "reason": reason[pd.notna(reason)].astype(str)})
    return TwinTable(table, skipped, refit, early.name, late.name, bud.name)


def _table(space: Space, budget: Budget, nets: _Nets) -> pd.DataFrame:
    """The twins as the sampler writes a table of `space` (`sampler.columns`), metrics counted exactly."""
    import pandas as pd

    S, n = space.num_stages, len(nets.depths)
    p = space.parameters
    table: dict[str, Any] = {}
    if space.family == "regnet":
        for k in _REGNET:
            table[k] = nets.raw[k].astype(p[k].values.dtype)
    else:
        for k in _PARAMS:
            vals = nets.raw[k].astype(p[k].values.dtype)
            if space.is_shared(k):
                table[k] = vals[:, 0]
            else:
                table.update({f"raw_{k}{i + 1}": vals[:, i] for i in range(S)})
    final = {"depths": nets.depths, "widths": nets.widths, "bottleneck_ratios": nets.ratios,
             "group_widths": nets.groups}
    table.update(network_columns(space, budget, final))
    scalars = {"se_ratio": space.se_ratio, "stem_width": space.stem_width, "stem_stride": budget.stem_stride,
               "num_classes": budget.num_classes, "in_channels": budget.in_channels}
    cx = complexity_arrays(nets.depths, nets.widths, nets.ratios, nets.groups, **scalars,
                           resolution=budget.resolution, block=space.block) if n else None
    for k in ("flops", "params", "acts"):
        table[k] = getattr(cx, k).astype(np.int64) if cx is not None else np.zeros(0, dtype=np.int64)
    table["total_depth"] = nets.depths.sum(axis=1).astype(np.int64)
    return pd.DataFrame(table)[columns(space)]
