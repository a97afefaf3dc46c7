"""The tables behind the reports: one row per space (or pair, parameter, sweep), each applying one explicit
diverged/failed policy (`outcomes`) and reporting how many models it used. Private: import them from
`designspace.analysis`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from designspace.analysis.bootstrap import MIN_PER_DRAW, bootstrap_best, per_draw
from designspace.analysis.edf import (
    EmptyBinError,
    complexity_weights,
    default_ks,
    edf,
    ks_distance,
    ks_test,
    random_search_efficiency,
    random_search_quantiles,
    supported_k,
)
from designspace.analysis.outcomes import ERROR, PENALTY, Counts, Policy, resolve_errors
from designspace.net.widthfit import DEFAULT_WM_RANGE, fit_regnet_many, fit_width_line

SPACE = "space"
COMPLEXITY_METRICS = ("flops", "params", "acts")


def space_groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per design space, in order of first appearance ('all' without a space column)."""
    if SPACE not in frame:
        return [("all", frame)]
    labels = pd.unique(frame[SPACE].astype(str))
    return [(str(s), frame[frame[SPACE].astype(str) == s]) for s in labels]


@dataclass(frozen=True)
class Resolved:
    """A sweep table with its outcomes resolved once: per space (name, rows used with their error, counts).

    Every table function accepts one in place of the frame; the policy and penalty are then the ones it was
    resolved with (the `policy`/`penalty` arguments are ignored)."""

    frame: pd.DataFrame
    policy: Policy
    penalty: float
    groups: tuple[tuple[str, pd.DataFrame, Counts], ...]

    @classmethod
    def of(cls, frame: pd.DataFrame, policy: Policy = "penalize", penalty: float = PENALTY) -> Resolved:
        groups = tuple((name, *resolve_errors(rows, policy, penalty)) for name, rows in space_groups(frame))
        return cls(frame, policy, float(penalty), groups)


Table = pd.DataFrame | Resolved
"""What a table function reads: the sweep table, or its `Resolved` outcomes."""


def _resolved(frame: Table, policy: Policy, penalty: float) -> list[tuple[str, pd.DataFrame, Counts]]:
    if isinstance(frame, Resolved):
        return list(frame.groups)
    return list(Resolved.of(frame, policy, penalty).groups)


# --- derived columns -------------------------------------------------------------------------
def _stage_count(frame: pd.DataFrame) -> int:
    from designspace.net.spec import stage_count

    return stage_count(frame.columns)


def add_derived(frame: pd.DataFrame, fit: bool = True, wm_range: tuple[float, float] = DEFAULT_WM_RANGE) -> pd.DataFrame:
    """A copy with total_depth, shared b and g (where all stages agree), and, with `fit`, the
    quantized-linear fit of every model: fit_w0, fit_wa, fit_wm, e_fit, e_fit_exact."""
    out = frame.copy()
    s = _stage_count(out)
    if s and "total_depth" not in out:
        out["total_depth"] = out[[f"d{i}" for i in range(1, s + 1)]].sum(axis=1, min_count=1)
    for key in ("b", "g"):
        cols = [f"{key}{i}" for i in range(1, s + 1) if f"{key}{i}" in out]
        if key not in out and cols:
            vals = out[cols].astype(np.float64)
            shared = vals.max(axis=1) == vals.min(axis=1)  # NaN stages (fewer stages) are skipped
            out[key] = np.where(shared, vals.iloc[:, 0], np.nan)
    if fit and s and "e_fit" not in out:
        fits = fit_regnet_many(out, wm_range=wm_range)
        out["fit_w0"], out["fit_wa"], out["fit_wm"] = fits["w0"], fits["wa"], fits["wm"]
        out["e_fit"], out["e_fit_exact"] = fits["e_fit"], fits["exact"]
    return out


def param_columns(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, axis label) of the structural parameters present: d_i, w_i, b, g, total depth and
    w0, wa, wm (the sampled RegNet parameters, else the fitted ones)."""
    s = _stage_count(frame)
    cols = [(f"d{i}", f"d{i} (blocks)") for i in range(1, s + 1)]
    cols += [(f"w{i}", f"w{i} (channels)") for i in range(1, s + 1)]
    for key, label in (("b", "b (bottleneck ratio)"), ("g", "g (group width)"), ("total_depth", "total depth (blocks)")):
        if key in frame and frame[key].notna().any():
            cols.append((key, label))
    for key, unit in (("w0", " (channels)"), ("wa", " (channels/block)"), ("wm", "")):
        if key in frame and frame[key].notna().any():
            cols.append((key, key + unit))
        elif f"fit_{key}" in frame:
            cols.append((f"fit_{key}", f"{key}{unit}, fitted"))
    return [(c, lab) for c, lab in cols if c in frame and frame[c].notna().any()]


def best_models(frame: Table, top: int = 20, policy: Policy = "penalize", penalty: float = PENALTY) -> pd.DataFrame:
    """The `top` lowest-error models of each space (with column 'err'), best first."""
    parts = [rows.nsmallest(top, ERROR, keep="first") for _, rows, _ in _resolved(frame, policy, penalty)]
    return pd.concat(parts) if parts else frame.iloc[:0]


# --- per-space tables ------------------------------------------------------------------------------
def summary_table(frame: Table, policy: Policy = "penalize", penalty: float = PENALTY) -> pd.DataFrame:
    """Per space: models, outcomes, models used, and min / median / mean error of those used."""
    rows = []
    for name, used, c in _resolved(frame, policy, penalty):
        e = used[ERROR].to_numpy()
        best = used.loc[used[ERROR].idxmin()] if e.size else None
        rows.append({
            "space": name, "models": c.total, "ok": c.ok, "diverged": c.diverged, "failed": c.failed,
            "untrained": c.untrained, "n": c.used,
            "min_error": float(e.min()) if e.size else np.nan,
            "median_error": float(np.median(e)) if e.size else np.nan,
            "mean_error": float(e.mean()) if e.size else np.nan,
            "best_model": (best["model_id"] if best is not None and "model_id" in best else None),
        })
    return pd.DataFrame(rows)


def _normalized_weights(groups: list[tuple[str, pd.DataFrame, Counts]], by: str, bins: int,
                        empty: str) -> dict[str, np.ndarray]:
    values = np.concatenate([g[by].to_numpy(dtype=np.float64) for _, g, _ in groups if len(g)])
    rng = (float(values.min()), float(values.max()))
    out = {}
    for name, g, _ in groups:
        if len(g) == 0:
            continue
        try:
            out[name] = complexity_weights(g[by].to_numpy(dtype=np.float64), bins, range=rng, empty=empty)
        except EmptyBinError as exc:
            raise EmptyBinError(f"space {name!r}, normalizing by {by}: {exc}") from None
    return out


def edf_table(
    frame: Table, normalize: str | None = None, bins: int = 10, empty: str = "raise",
    policy: Policy = "penalize", penalty: float = PENALTY,
) -> pd.DataFrame:
    """The EDF step points of each space: space, error, F (mass of errors <= error).

    `normalize`: None, or a complexity column ('flops', 'params', 'acts'); the NDS weights then use
    `bins` equal bins over the range of all spaces together.
    """
    groups = _resolved(frame, policy, penalty)
    weights = _normalized_weights(groups, normalize, bins, empty) if normalize else {}
    parts = []
    for name, used, _ in groups:
        if len(used) == 0:
            continue
        f = edf(used[ERROR].to_numpy(), weights.get(name))
        parts.append(pd.DataFrame({"space": name, "error": f.errors, "F": f.mass}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["space", "error", "F"])


def ks_table(
    frame: Table, normalize: str | None = "flops", bins: int = 10, empty: str = "raise",
    policy: Policy = "penalize", penalty: float = PENALTY,
) -> pd.DataFrame:
    """KS statistic between every pair of spaces: D and scipy's p-value (unweighted EDFs), and
    D_normalized between the EDFs normalized by `normalize` (None: omitted)."""
    groups = [g for g in _resolved(frame, policy, penalty) if len(g[1])]
    weights = _normalized_weights(groups, normalize, bins, empty) if normalize else {}
    rows = []
    for (na, a, ca), (nb, b, cb) in combinations(groups, 2):
        ea, eb = a[ERROR].to_numpy(), b[ERROR].to_numpy()
        test = ks_test(ea, eb)
        row = {"space_a": na, "space_b": nb, "n_a": ca.used, "n_b": cb.used, "D": test.statistic, "p_value": test.pvalue}
        if normalize:
            row[f"D_normalized_{normalize}"] = ks_distance(ea, eb, weights[na], weights[nb])
        rows.append(row)
    return pd.DataFrame(rows)


def best_ranges(
    frame: Table, params: Sequence[str] | None = None, frac: float = 0.25, draws: int = 10_000,
    seed: int = 0, ci: float = 0.95, policy: Policy = "penalize", penalty: float = PENALTY,
    min_per_draw: int = MIN_PER_DRAW,
) -> pd.DataFrame:
    """Bootstrap of the best model's parameter values per space: space, param, n, per_draw, median, low, high.

    `params` defaults to `param_columns` of each space. Rows where a parameter is missing are left
    out of that parameter's bootstrap (their number is in column n). A space whose draws would hold
    fewer than `min_per_draw` models is skipped: attrs["too_few"] maps it to its n."""
    rows, too_few = [], {}
    for name, used, _ in _resolved(frame, policy, penalty):
        if per_draw(len(used), frac) < min_per_draw:
            too_few[name] = len(used)
            continue
        cols = list(params) if params is not None else [c for c, _ in param_columns(used)]
        for col in cols:
            if col not in used:
                continue
            sub = used[used[col].notna()]
            if per_draw(len(sub), frac) < min_per_draw:
                continue
            res = bootstrap_best(sub[col].to_numpy(dtype=np.float64), sub[ERROR].to_numpy(), frac, draws, seed, ci)
            rows.append({"space": name, "param": col, "n": len(sub), "per_draw": per_draw(len(sub), frac),
                         "median": res.median, "low": res.low, "high": res.high})
    out = pd.DataFrame(rows, columns=["space", "param", "n", "per_draw", "median", "low", "high"])
    out.attrs["too_few"] = too_few
    return out


def random_search_table(
    frame: Table, ks: Sequence[int] | None = None, q: tuple[float, float] = (0.025, 0.975),
    policy: Policy = "penalize", penalty: float = PENALTY,
) -> pd.DataFrame:
    """Expected minimum error of k random models per space, with the `q` quantiles of that minimum, the space's n
    and whether k is `extrapolated` (k > n/2, `supported_k`)."""
    parts = []
    for name, used, _ in _resolved(frame, policy, penalty):
        if len(used) == 0:
            continue
        e = used[ERROR].to_numpy()
        k = np.asarray(ks if ks is not None else default_ks(len(e)))
        quant = random_search_quantiles(e, k, q)
        parts.append(pd.DataFrame({"space": name, "k": k, "expected_min_error": random_search_efficiency(e, k),
                                   "low": quant[:, 0], "high": quant[:, 1], "n": len(e),
                                   "extrapolated": k > supported_k(len(e))}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["space", "k", "expected_min_error", "low", "high", "n", "extrapolated"])


def efit_table(frame: Table, top: int = 20, policy: Policy = "penalize", penalty: float = PENALTY) -> pd.DataFrame:
    """Per space: e_fit over all models and over the `top` best, the share fitted exactly, and the
    line w0 + wa*j through the best models' block widths. Needs `add_derived(..., fit=True)` columns."""
    if not isinstance(frame, Resolved) and "e_fit" not in frame:
        frame = add_derived(frame)
    whole = frame.frame if isinstance(frame, Resolved) else frame
    rows = []
    for (name, rows_all), (_, used, _) in zip(space_groups(whole), _resolved(frame, policy, penalty)):
        fitted = rows_all[rows_all["e_fit"].notna()]  # models without per-stage widths have no fit
        best = used[used["e_fit"].notna()].nsmallest(top, ERROR, keep="first")
        if len(fitted) == 0:
            continue
        ef = fitted["e_fit"].to_numpy(dtype=np.float64)
        ef_top = best["e_fit"].to_numpy(dtype=np.float64)
        line = fit_width_line(best) if len(best) else None
        rows.append({
            "space": name, "n": len(fitted), "exact_share": float(np.mean(fitted["e_fit_exact"].astype(bool))),
            "median_e_fit": float(np.median(ef)), "mean_e_fit": float(np.mean(ef)),
            "top": len(best), "median_e_fit_top": float(np.median(ef_top)) if ef_top.size else np.nan,
            "line_w0": line.w0 if line else np.nan, "line_wa": line.wa if line else np.nan,
            "line_rmse": line.rmse if line else np.nan,
        })
    return pd.DataFrame(rows)


TREND_PARAMS = ("total_depth", "w0", "wa", "wm", "g", "b", "params", "acts")


def trend_table(
    frame: Table, params: Sequence[str] = TREND_PARAMS, x: str = "flops", frac: float = 0.25,
    draws: int = 10_000, seed: int = 0, ci: float = 0.95, policy: Policy = "penalize", penalty: float = PENALTY,
    min_per_draw: int = MIN_PER_DRAW, ranges: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The best models' parameters against complexity, one point per sweep (space label): the
    median `x` of the sweep, and the bootstrap median / interval of each parameter. w0, wa, wm
    fall back to the fitted values where a sweep has no sampled ones. Column `family` is the design
    space the sweep drew from (`space_name`, else the label): trends run within a family only.
    Sweeps with fewer than `min_per_draw` models per draw are skipped (attrs["too_few"]).
    `ranges`: a `best_ranges` table of the same frame, frac, draws, seed and ci; its rows are reused,
    not bootstrapped again."""
    done = ({} if ranges is None else
            {(r.space, r.param): (r.median, r.low, r.high) for r in ranges.itertuples(index=False)})
    rows, too_few = [], {}
    for name, used, _ in _resolved(frame, policy, penalty):
        if len(used) == 0 or x not in used:
            continue
        if per_draw(len(used), frac) < min_per_draw:
            too_few[name] = len(used)
            continue
        family = _family(used, name)
        xv = float(np.median(used[x].to_numpy(dtype=np.float64)))
        for p in params:
            col = p if p in used and used[p].notna().any() else f"fit_{p}" if f"fit_{p}" in used else None
            if col is None:
                continue
            sub = used[used[col].notna()]
            if per_draw(len(sub), frac) < min_per_draw:
                continue
            if (name, col) in done:
                med, low, high = done[name, col]
            else:
                med, low, high, _ = bootstrap_best(sub[col].to_numpy(dtype=np.float64), sub[ERROR].to_numpy(), frac,
                                                   draws, seed, ci)
            rows.append({"space": name, "family": family, x: xv, "param": p, "column": col, "n": len(sub),
                         "median": med, "low": low, "high": high})
    out = pd.DataFrame(rows, columns=["space", "family", x, "param", "column", "n", "median", "low", "high"])
    out.attrs["too_few"] = too_few
    return out


def _family(rows: pd.DataFrame, label: str) -> str:
    """The design space a sweep's rows were drawn from (column space_name), else its label."""
    if "space_name" in rows and rows["space_name"].notna().any():
        return str(rows["space_name"].dropna().iat[0])
    return label
