"""Candidate restrictions of a design space, scored on a trained sweep (design-spec section 7b).

Under rejection semantics the models of a sweep that satisfy a restriction R are an exact sample
of "the space with R" in the same budget, so every candidate is scored on models already trained:

- kinds (`Restriction.kind`): ``shared`` (one value of a per-stage parameter for all stages; only
  for parameters drawn uniformly, b and g, where "drawn once" equals "conditioned on equal"),
  ``non_decreasing`` / ``non_increasing`` (final d or w), ``value`` / ``range`` (a sampled
  parameter kept on part of its grid, both ends on the grid, in every stage, judged on the raw
  draws), ``bound`` (total depth, params, acts, and for AnyNet the fitted w0/wa/wm and e_fit of
  `designspace.net.widthfit`), and conjunctions of two of them (pairs of the best `pair_pool` singles);
- statistics per candidate (n = models used after the outcome policy): n and share kept, median
  and best-quartile (25th percentile) error of the kept models and of the rest, the one-sided KS
  distance D+ = sup(F_kept - F_all) (kept better), its p-value from the kept-vs-rest test (the
  two samples are independent under "no effect"; F_kept - F_all = (1 - f)(F_kept - F_rest), so
  one distance gives the other), asymptotic p = exp(-2 n_e D_rest^2), n_e = k(n-k)/n, and Holm's
  adjustment over every candidate tried (the singles and *all* their possible pairs, evaluated or
  not, so choosing which pairs to score cannot inflate the family-wise error);
- score = D_rest * sqrt(f (1 - f)) = z / sqrt(n): the KS z-statistic per square root of a model.
  It grows with the EDF gain and with the share of models the test can use, so a handful of lucky
  models and a restriction that keeps nearly everything both score low. A conjunction A and B
  scores at most each term's own gain inside the other (z of A-and-B against A-and-not-B, and the
  same for B), so a term that adds nothing beyond the other cannot lift a pair above its parts.

Candidates keeping fewer than `min_kept` models (or leaving fewer than `min_kept` out) are listed
as "too few models to tell" and not tested. Everything is NumPy over boolean masks (candidates x
models); the KS distances come from `designspace.analysis.power.ks_distances`, batched by kept count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis.outcomes import ERROR, PENALTY, Policy, resolve_errors
from designspace.analysis.power import ks_distances
from designspace.net.widthfit import fit_regnet_many
from designspace.space import spaces
from designspace.space.schema import Space

__all__ = ["Candidate", "Restriction", "candidates", "holm", "score_masks", "suggest"]

SMALL_GRID = 16  # grids up to this size get every value and every range; larger ones get cut points
CUTS = 7  # cut points (grid values near quantiles of the observed values) for wide grids and derived bounds
DERIVED = ("total_depth", "params", "acts", "fit_w0", "fit_wa", "fit_wm", "e_fit")
COUNTABLE = ("shared", "non_decreasing", "non_increasing", "value", "range")


# --- restrictions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Restriction:
    """One constraint added to a space: see the module docstring for the kinds."""

    kind: str
    param: str
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()

    @property
    def slot(self) -> str:
        """Two restrictions in one slot are not conjoined (redundant or contradictory)."""
        return f"order:{self.param}" if self.kind.startswith("non_") else self.param

    @property
    def countable(self) -> bool:
        """Whether `designspace.space.cardinality` counts the restricted space exactly."""
        return self.kind in COUNTABLE or (self.kind == "bound" and self.param == "total_depth")

    def label(self) -> str:
        p = self.param
        if self.kind == "shared":
            return f"shared {p}"
        if self.kind == "non_decreasing":
            return f"{p}_(i+1) >= {p}_i"
        if self.kind == "non_increasing":
            return f"{p}_(i+1) <= {p}_i"
        if self.kind == "value":
            return f"{p} = {_num(self.values[0])}"
        if self.kind == "range" and self.values:
            return f"{p} in {{{', '.join(_num(v) for v in self.values)}}}"
        if self.low is None:
            return f"{p} <= {_num(self.high)}"
        if self.high is None:
            return f"{p} >= {_num(self.low)}"
        return f"{_num(self.low)} <= {p} <= {_num(self.high)}"

    def fragment(self, space: Space) -> dict[str, Any]:
        """The space-config keys that add this restriction to `space` (merged over it)."""
        p = self.param
        if self.kind == "shared":
            return {"constraints": {"shared": [*space.shared, p]}}
        if self.kind in ("non_decreasing", "non_increasing"):
            return {"constraints": {self.kind: [*getattr(space, self.kind), p]}}
        if self.kind in ("value", "range"):
            if space.parameters[p].kind == "choice":
                return {"parameters": {p: {"values": [_plain(v) for v in self.values]}}}
            ends = {"low": _plain(self.low), "high": _plain(self.high)}
            return {"parameters": {p: {k: v for k, v in ends.items() if v is not None}}}
        lo, hi = space.bounds.get(p, (None, None))
        lo = self.low if lo is None else lo if self.low is None else max(lo, self.low)
        hi = self.high if hi is None else hi if self.high is None else min(hi, self.high)
        return {"constraints": {"bounds": {p: [_plain(lo), _plain(hi)]}}}


def _plain(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else float(f"{f:.12g}")


def _num(v: Any) -> str:
    f = float(v)
    return f"{f:.4g}" if not f.is_integer() or abs(f) >= 1e6 else str(int(f))


@dataclass(frozen=True)
class Candidate:
    """A restriction or a conjunction of two, with its mask over the used models."""

    parts: tuple[Restriction, ...]
    mask: np.ndarray

    def label(self) -> str:
        return " and ".join(r.label() for r in self.parts)

    def fragment(self, space: Space) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.parts:
            _merge(out, r.fragment(space))
        return out


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    for k, v in part.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        elif isinstance(v, list) and isinstance(into.get(k), list) and all(isinstance(x, str) for x in v):
            into[k] = list(dict.fromkeys([*into[k], *v]))
        else:
            into[k] = dict(v) if isinstance(v, Mapping) else v


# --- enumeration ----------------------------------------------------------------------------------
def _raw(frame: pd.DataFrame, space: Space, name: str) -> np.ndarray:
    """(n, stages) raw draws of an AnyNet parameter, (n, 1) for one drawn once (and RegNet's)."""
    if space.family == "anynet" and not space.is_shared(name):
        cols = [f"raw_{name}{i}" for i in range(1, space.num_stages + 1)]
    else:
        cols = [name]
    return frame[cols].to_numpy(dtype=np.float64)


def _final(frame: pd.DataFrame, space: Space, name: str) -> np.ndarray:
    return frame[[f"{name}{i}" for i in range(1, space.num_stages + 1)]].to_numpy(dtype=np.float64)


def _cut_values(grid_values: np.ndarray, observed: np.ndarray, cuts: int) -> np.ndarray:
    """Grid values nearest to `cuts` evenly spaced quantiles of the observed values (distinct)."""
    obs = observed[np.isfinite(observed)]
    if obs.size == 0:
        return np.array([])
    qs = np.quantile(obs, np.linspace(0, 1, cuts + 2)[1:-1])
    idx = np.clip(np.searchsorted(grid_values, qs), 0, len(grid_values) - 1)
    return np.unique(grid_values[idx])


def _nice(x: np.ndarray) -> np.ndarray:
    """Three significant digits (bounds on derived quantities written in a space file)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        mag = np.where(x != 0, 10.0 ** (np.floor(np.log10(np.abs(x))) - 2), 1.0)
    return np.unique(np.round(x / mag) * mag)


def _param_candidates(frame: pd.DataFrame, space: Space, cuts: int) -> list[Candidate]:
    out: list[Candidate] = []
    for name, grid in space.parameters.items():
        if grid.size < 2:
            continue
        raw = _raw(frame, space, name)
        vals = grid.values
        if grid.size <= SMALL_GRID:
            ends = vals
        else:
            inner = _cut_values(vals, raw.ravel(), cuts)
            ends = np.unique(np.concatenate([[vals[0]], inner, [vals[-1]]]))
        lo_obs, hi_obs = raw.min(axis=1), raw.max(axis=1)
        for i, lo in enumerate(ends):
            for hi in ends[i:]:
                if lo == vals[0] and hi == vals[-1]:
                    continue
                kept = vals[(vals >= lo) & (vals <= hi)]
                if grid.size > SMALL_GRID and lo == hi:
                    continue  # one value of a wide grid: not a hypothesis a sweep can test
                kind = "value" if kept.size == 1 else "range"
                listed = tuple(float(v) for v in kept) if grid.kind == "choice" or kept.size == 1 else ()
                r = Restriction(kind, name, None if lo == vals[0] and not listed else float(lo),
                                None if hi == vals[-1] and not listed else float(hi), listed)
                out.append(Candidate((r,), (lo_obs >= lo) & (hi_obs <= hi)))
    return out


def _structure_candidates(frame: pd.DataFrame, space: Space) -> list[Candidate]:
    out: list[Candidate] = []
    if space.family != "anynet":
        return out
    for name in ("b", "g", "d", "w"):
        grid = space.parameters[name]
        uniform_pmf = np.allclose(grid.pmf, grid.pmf[0])
        if not space.is_shared(name) and uniform_pmf:
            raw = _raw(frame, space, name)
            out.append(Candidate((Restriction("shared", name),), (raw == raw[:, :1]).all(axis=1)))
    for name in ("d", "w"):
        if space.is_shared(name):
            continue
        steps = np.diff(_final(frame, space, name), axis=1)
        if name not in space.non_decreasing and name not in space.non_increasing:
            out.append(Candidate((Restriction("non_decreasing", name),), (steps >= 0).all(axis=1)))
            out.append(Candidate((Restriction("non_increasing", name),), (steps <= 0).all(axis=1)))
    return out


def _derived_candidates(frame: pd.DataFrame, space: Space, cuts: int) -> list[Candidate]:
    out: list[Candidate] = []
    names = [d for d in DERIVED if d in frame and not (space.family == "regnet" and (
        d.startswith("fit_") or d in ("e_fit", "total_depth")))]  # RegNet samples these directly
    for name in names:
        x = frame[name].to_numpy(dtype=np.float64)
        if not np.isfinite(x).any() or np.nanmin(x) == np.nanmax(x):
            continue
        ends = _nice(np.unique(np.quantile(x[np.isfinite(x)], np.linspace(0, 1, cuts + 2)[1:-1])))
        if name == "total_depth":
            ends = np.unique(np.round(ends))
        pairs = [(None, h) for h in ends] + [(lo, None) for lo in ends]
        pairs += [(lo, h) for i, lo in enumerate(ends) for h in ends[i + 1:]]
        for lo, hi in pairs:
            m = np.isfinite(x)
            if lo is not None:
                m &= x >= lo
            if hi is not None:
                m &= x <= hi
            out.append(Candidate((Restriction("bound", name, lo, hi),), m))
    return out


def candidates(frame: pd.DataFrame, space: Space, cuts: int = CUTS) -> list[Candidate]:
    """Every single restriction of `space` that the models of `frame` can score (masks over its rows)."""
    out = _structure_candidates(frame, space) + _param_candidates(frame, space, cuts)
    out += _derived_candidates(frame, space, cuts)
    keep, seen = [], set()
    for c in out:  # a restriction no model violates says nothing; identical masks are kept once (first)
        if c.mask.all():
            continue
        key = (c.parts[0].param, c.mask.tobytes())
        if key not in seen:
            seen.add(key)
            keep.append(c)
    return keep


# --- statistics -----------------------------------------------------------------------------------
def _order_stat(sorted_err: np.ndarray, cum: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Value of the rank-th (0-based) kept model of each row; `cum` = cumulative kept counts."""
    pos = (cum <= rank[:, None]).sum(axis=1)
    return sorted_err[np.minimum(pos, sorted_err.size - 1)]


def _quantile(sorted_err: np.ndarray, masks: np.ndarray, q: float) -> np.ndarray:
    """numpy's linear-interpolation quantile of the kept errors of each mask row (NaN if empty)."""
    cum = np.cumsum(masks, axis=1, dtype=np.int32)
    k = cum[:, -1]
    h = np.maximum(k - 1, 0) * q
    lo, hi = np.floor(h).astype(np.int64), np.ceil(h).astype(np.int64)
    a, b = _order_stat(sorted_err, cum, lo), _order_stat(sorted_err, cum, hi)
    return np.where(k > 0, a + (h - lo) * (b - a), np.nan)


def holm(p: np.ndarray, m: int | None = None) -> np.ndarray:
    """Holm's step-down adjusted p-values; `m` >= len(p) counts untested hypotheses too (as p = 1)."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size if m is None else int(m)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(p.size)) * p[order]))
    out = np.empty_like(adj)
    out[order] = adj
    return out


def _ks_greater(s_err: np.ndarray, kept: np.ndarray, rest: np.ndarray, rows_ok: np.ndarray) -> np.ndarray:
    """sup(F_kept - F_rest) per row of two disjoint masks over the sorted errors (0 where not rows_ok)."""
    out = np.zeros(len(kept))
    k, r = kept.sum(axis=1), rest.sum(axis=1)
    sizes = np.unique(np.stack([k, r], axis=1)[rows_ok], axis=0)
    for a, b in sizes:
        rows = np.flatnonzero(rows_ok & (k == a) & (r == b))
        shape = (len(rows), s_err.size)
        vals = np.broadcast_to(s_err, shape)
        out[rows] = ks_distances(vals[kept[rows]].reshape(len(rows), a), vals[rest[rows]].reshape(len(rows), b),
                                 "greater")
    return out


def conditional_z(err: np.ndarray, masks: np.ndarray, context: np.ndarray, min_kept: int = 5) -> np.ndarray:
    """One-sided KS z = D sqrt(n_e) of `masks` against the rest *within* `context` (rows: candidates)."""
    order = np.argsort(err, kind="stable")
    s_err, kept, ctx = err[order], masks[:, order] & context[:, order], context[:, order]
    rest = ctx & ~kept
    k, r = kept.sum(axis=1), rest.sum(axis=1)
    ok = (k >= min_kept) & (r >= min_kept)
    d = _ks_greater(s_err, kept, rest, ok)
    return np.where(ok, d * np.sqrt(k * r / np.maximum(k + r, 1)), 0.0)


def score_masks(err: np.ndarray, masks: np.ndarray, min_kept: int = 5) -> pd.DataFrame:
    """The statistics of each boolean mask row (candidates x models) over the errors `err`.

    Columns: n, n_kept, frac_kept, median_kept, median_rest, q25_kept, q25_rest, D (= sup(F_kept -
    F_all), one-sided, kept better), D_rest, p_value (kept vs rest, NaN when untested), tested.
    """
    err = np.asarray(err, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    n = err.size
    order = np.argsort(err, kind="stable")
    s_err, s_mask = err[order], masks[:, order]
    k = s_mask.sum(axis=1)
    tested = (k >= min_kept) & (n - k >= min_kept)
    d_rest = _ks_greater(s_err, s_mask, ~s_mask, tested)
    frac = k / n if n else np.zeros(len(masks))
    n_e = np.where(tested, k * (n - k) / max(n, 1), 0.0)
    p = np.where(tested, np.minimum(1.0, np.exp(-2.0 * n_e * d_rest**2)), np.nan)
    return pd.DataFrame({
        "n": n, "n_kept": k, "frac_kept": frac,
        "median_kept": _quantile(s_err, s_mask, 0.5), "median_rest": _quantile(s_err, ~s_mask, 0.5),
        "q25_kept": _quantile(s_err, s_mask, 0.25), "q25_rest": _quantile(s_err, ~s_mask, 0.25),
        "D": (1.0 - frac) * d_rest, "D_rest": d_rest, "p_value": p, "tested": tested,
        "score": np.where(tested, d_rest * np.sqrt(frac * (1.0 - frac)), 0.0),
    })


# --- the ranked table -----------------------------------------------------------------------------
def with_fits(frame: pd.DataFrame, space: Space) -> pd.DataFrame:
    """`frame` plus total_depth and, for AnyNet, the quantized-linear fit (fit_w0, fit_wa, fit_wm, e_fit)."""
    out = frame.copy()
    if "total_depth" not in out and space.family == "anynet":
        out["total_depth"] = _final(out, space, "d").sum(axis=1)
    if space.family == "anynet" and "e_fit" not in out:
        fits = fit_regnet_many(out)
        out["fit_w0"], out["fit_wa"], out["fit_wm"], out["e_fit"] = fits["w0"], fits["wa"], fits["wm"], fits["e_fit"]
    return out


def suggest(table: pd.DataFrame, space: Space | str, *, policy: Policy = "penalize", penalty: float = PENALTY,
            alpha: float = 0.05, min_kept: int = 5, pair_pool: int = 40, cuts: int = CUTS,
            fits: bool = True) -> pd.DataFrame:
    """Ranked candidate restrictions of `space` scored on one sweep's joined samples+results `table`.

    One row per candidate, best score first: label, kind, terms, the statistics of `score_masks`,
    p_holm (Holm over `m_family` = singles + every pair of singles), significant (p_holm < alpha),
    countable (whether the restricted space's size can be counted exactly) and, in `attrs`:
    'candidates' (the `Candidate` objects, row order), 'counts' (the outcome policy's counts),
    'm_family'. Untrained rows are left out; diverged/failed ones follow `policy`.
    """
    space = spaces.load(space)
    used, counts = resolve_errors(table, policy, penalty)
    used = used.reset_index(drop=True)
    if fits:
        used = with_fits(used, space)
    err = used[ERROR].to_numpy(dtype=np.float64)
    singles = candidates(used, space, cuts)
    if not singles:
        raise ValueError(f"no candidate restriction of {space.name} can be scored on {len(used)} models")
    stats = score_masks(err, np.stack([c.mask for c in singles]), min_kept)
    n_tested = int(stats["tested"].sum())
    pool = [singles[i] for i in np.argsort(-stats["score"].to_numpy(), kind="stable")[:pair_pool]
            if stats["tested"].iat[i]]
    pairs, seen = [], {c.mask.tobytes() for c in singles}
    for a, b in combinations(pool, 2):
        if a.parts[0].slot == b.parts[0].slot:
            continue
        mask = a.mask & b.mask
        if mask.tobytes() in seen:  # the same models as an existing candidate: nothing new to test
            continue
        seen.add(mask.tobytes())
        pairs.append(Candidate((*a.parts, *b.parts), mask))
    every = singles + pairs
    if pairs:
        joint = score_masks(err, np.stack([c.mask for c in pairs]), min_kept)
        by_part = {id(c.parts[0]): c.mask for c in singles}
        first = np.stack([by_part[id(c.parts[0])] for c in pairs])
        second = np.stack([by_part[id(c.parts[1])] for c in pairs])
        z_min = np.minimum(conditional_z(err, second, first, min_kept), conditional_z(err, first, second, min_kept))
        joint["score"] = np.minimum(joint["score"].to_numpy(), z_min / math.sqrt(len(err)))
        stats = pd.concat([stats, joint], ignore_index=True)
    m_family = n_tested + math.comb(n_tested, 2)
    p = stats["p_value"].to_numpy()
    p_holm = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        p_holm[ok] = holm(p[ok], max(m_family, int(ok.sum())))
    stats["p_holm"] = p_holm
    stats["significant"] = np.nan_to_num(p_holm, nan=1.0) < alpha
    stats.insert(0, "label", [c.label() for c in every])
    stats.insert(1, "kind", ["+".join(r.kind for r in c.parts) for c in every])
    stats.insert(2, "terms", [len(c.parts) for c in every])
    stats["countable"] = [all(r.countable for r in c.parts) for c in every]
    order = np.lexsort((stats["terms"].to_numpy(), -stats["frac_kept"].to_numpy(), -stats["score"].to_numpy()))
    out = stats.iloc[order].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.attrs.update(candidates=[every[i] for i in order], counts=counts, m_family=m_family, space=space,
                     alpha=alpha, min_kept=min_kept, policy=policy)
    return out


def space_config(candidate: Candidate, space: Space, base: str | Mapping[str, Any], name: str,
                 description: str | None = None) -> dict[str, Any]:
    """A space file for `space` with `candidate` added: ``defaults: [base, _self_]`` plus its keys.

    `base` is the space's name (or path) as the sweep recorded it; a mapping (an inline space)
    is written out whole with the restriction merged into it.
    """
    frag = candidate.fragment(space)
    head: dict[str, Any]
    if isinstance(base, Mapping):
        head = {k: v for k, v in base.items() if k != "defaults"}
        _merge(head, frag)
        head.update(name=name, description=description or f"{space.name} + {candidate.label()}")
        return head
    head = {"defaults": [str(base), "_self_"], "name": name,
            "description": description or f"{space.name} + {candidate.label()}"}
    head.update(frag)
    return head


def sizes(rows: pd.DataFrame, space: Space, configs: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """Exact size of each restricted space where `designspace.space.cardinality` counts it (else None)."""
    out: list[int | None] = []
    for countable, cfg in zip(rows["countable"], configs):
        out.append(spaces.load(dict(cfg)).cardinality() if countable else None)
    return out
