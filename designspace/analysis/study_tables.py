"""The tables of a reproduction study (design-spec 6-7): the progression's findings (the ordered chain, the
pairwise comparisons, the space sizes, where the best models are, the width rule), the regime trends, the power of
each comparison at the proxy, the proxy zoo and the exact space sizes - plain functions on the study's frames,
which `analysis.study.Study` computes once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis import findings as fd
from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.analysis.power import power_row, spearman_power
from designspace.analysis.progression import PAPER_NAMES, PROGRESSION, STEPS, chain_claim
from designspace.space import spaces
from designspace.space.budgets import load_budget

__all__ = ["MIN_STABLE", "TRENDS", "power_table", "progression_findings", "regime_comparisons", "regime_findings",
           "regime_groups", "regime_label", "sizes_table", "zoo_table"]


MIN_STABLE = 20  # models needed before "no significant trend" counts as "stable"
TREND_RHO = 0.5
"""A strong trend: a non-significant "grows with flops" is "too few models to tell" unless the test had 80% power
to find this rank correlation (`power.spearman_power`; 25 models in the best quarters at alpha 0.05)."""


def _errors(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    rows, _ = resolve_errors(frame)
    return rows, rows[ERROR].to_numpy(dtype=np.float64)


def power_table(by_space: dict[str, pd.DataFrame], alpha: float) -> pd.DataFrame:
    """Per space comparison: n, m, the observed one-sided KS distance in the claim's direction (improves:
    b better; no_loss: b worse), the smallest distance detectable at alpha, and the bootstrap power at it."""
    rows = []
    for a, b, kind in STEPS:
        if a not in by_space or b not in by_space:
            continue
        ea, eb = _errors(by_space[a])[1], _errors(by_space[b])[1]
        if min(ea.size, eb.size) < 2:
            continue
        # 'greater' on (x, y): x's EDF above y's. improves: b better than a; no_loss: a better than b (b worse).
        x, y = (eb, ea) if kind == "improves" else (ea, eb)
        row = power_row(x, y, alpha, "greater")
        rows.append({"comparison": f"{PAPER_NAMES[b]} vs {PAPER_NAMES[a]}",
                     "tested": "b better" if kind == "improves" else "b worse",
                     "n_a": ea.size, "n_b": eb.size, "d_observed": row["d_observed"],
                     "d_detectable": row["d_detectable"], "power": row["power"]})
    return pd.DataFrame(rows)


def progression_findings(by_space: dict[str, pd.DataFrame], alpha: float) -> list[fd.Finding]:
    """B ~ A, C ~ B, D > C, E > D, RegNet > E, size, and where the best models are."""
    out: list[fd.Finding] = []
    err = {s: _errors(f) for s, f in by_space.items()}
    chain = [s for s in PROGRESSION if s in err]
    if len(chain) >= 3:
        out.append(fd.ordered_chain(chain_claim([PAPER_NAMES[s] for s in chain]),
                                    {PAPER_NAMES[s]: err[s][1] for s in chain}, alpha))
    for a, b, kind in STEPS:
        if a in err and b in err:
            test = fd.improves if kind == "improves" else fd.no_loss
            out.append(test(PAPER_NAMES[a], err[a][1], PAPER_NAMES[b], err[b][1], alpha))
    if "anynetx_a" in by_space and "regnet" in by_space:
        regnet = spaces.load("regnet")
        cards = {"AnyNetX_A": spaces.load("anynetx_a").cardinality(), "RegNet": regnet.networks()}
        f = fd.smaller_space(cards, "AnyNetX_A", "RegNet")
        out.append(replace(f, evidence=f.evidence + f"; RegNet counted as distinct networks (per-stage d, w, b, g "
                           f"after compatibility; {regnet.cardinality():.3g} parameter tuples on its grid), "
                           "AnyNetX_A as configurations, as in the paper's Table 1"))

    def pooled(names: Sequence[str], column: str) -> tuple[np.ndarray, np.ndarray, str]:
        used = [(s, err[s]) for s in names if s in err and column in err[s][0]]
        if not used:
            return np.array([]), np.array([]), ""
        x = np.concatenate([r[column].to_numpy(dtype=np.float64) for _, (r, _) in used])
        e = np.concatenate([e for _, (_, e) in used])
        keep = np.isfinite(x)
        return x[keep], e[keep], "+".join(PAPER_NAMES.get(s, s) for s, _ in used)

    checks = [("b", ("anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnet"), "eq:1",
               "the best models have bottleneck ratio b = 1"),
              ("g", ("anynetx_c", "anynetx_d", "anynetx_e", "regnet"), "gt:1", "the best models have group width g > 1"),
              ("total_depth", tuple(by_space), "near:20", "the best models have about 20 blocks"),
              ("wm", ("regnet",), "near:2.5", "the best RegNet models have wm ~ 2.5")]
    for column, names, test, claim in checks:
        x, e, label = pooled(names, column)
        if x.size:
            out.append(fd.best_value(label, x, e, claim, test))
    if "anynetx_e" in err:
        rows, e = err["anynetx_e"]
        finding, _ = fd.width_rule("AnyNetX_E", rows, e, alpha)
        out.append(finding)
    return out


TRENDS = (("w0", "w0 of the best models grows with flops", "up"),
          ("wa", "wa of the best models grows with flops", "up"),
          ("g", "group width of the best models grows with flops", "up"),
          ("total_depth", "depth of the best models is stable across regimes", "flat"),
          ("wm", "wm of the best models is stable across regimes", "flat"))


def _n_for_trend(alpha: float) -> int:
    return next(n for n in range(4, 10_000) if spearman_power(n, TREND_RHO, alpha) >= 0.8)


def regime_findings(frame: pd.DataFrame, budgets: Sequence[str], alpha: float) -> list[fd.Finding]:
    """Trends across regimes, on the best quarter of each regime's models (pooled, Spearman)."""
    from scipy import stats

    rows, out = [], []
    groups = regime_groups(frame, budgets)
    for a, b, _kind in regime_comparisons(budgets, frame):
        if a in groups and b in groups:
            out.append(fd.improves(a, groups[a][ERROR].to_numpy(float), b, groups[b][ERROR].to_numpy(float), alpha))
    for rank, b in enumerate(budgets):
        sub, e = _errors(frame[frame["budget"] == b])
        if len(sub) == 0:
            continue
        top = sub.iloc[np.argsort(e, kind="stable")[: max(1, len(sub) // 4)]].copy()
        recorded = top["regime_gf"].dropna() if "regime_gf" in top else top.iloc[:0]
        # the regime recorded in the sweep's config.yaml; today's budget file only for sweeps without one
        top["regime_gf"] = float(recorded.iat[0]) if len(recorded) else load_budget(b).regime
        top["regime_rank"] = rank
        rows.append(top)
    if len(rows) < 3:
        return out + [fd.Finding("parameters of the best models change with the regime", "inconclusive",
                                 f"{len(rows)} regimes with results; need at least 3")]
    top = pd.concat(rows, ignore_index=True)
    if len(top) < fd.MIN_MODELS:  # a rank correlation over so few points cannot reach significance
        return out + [fd.Finding(claim, "inconclusive", f"too few models to tell: {len(top)} in the best quarters of "
                                 f"{len(rows)} regimes, need {fd.MIN_MODELS}")
                      for _, claim, _ in TRENDS]
    for column, claim, expect in TRENDS:
        if column not in top:
            continue
        values = top[column].to_numpy(dtype=np.float64)
        if np.ptp(values) == 0:  # a constant parameter has no trend
            rho, p = 0.0, 1.0
        else:
            rho, p = stats.spearmanr(top["regime_gf"].to_numpy(), values)
        med = top.groupby("regime_rank")[column].median().to_numpy()
        text = (f"best quarter of each regime, n={len(top)} models over {len(rows)} regimes: Spearman rho = {rho:.3f}, "
                f"p = {p:.3g}; medians per regime {', '.join(f'{m:.3g}' for m in med)}")
        if expect == "up":
            verdict = "reproduced" if (rho > 0 and p < alpha) else "not reproduced"
            power = spearman_power(len(top), TREND_RHO, alpha)
            if verdict != "reproduced" and power < 0.8:  # not shown, but a strong trend would often be missed too
                verdict = "inconclusive"
                text += (f"; too few models to tell: power {power:.2f} to find a trend of rho = {TREND_RHO:g} with "
                         f"n = {len(top)} (80% needs n >= {_n_for_trend(alpha)})")
        elif p < alpha:
            verdict = "not reproduced"
        else:  # no significant trend is evidence of stability only with enough models
            verdict = "reproduced" if len(top) >= MIN_STABLE else "inconclusive"
            text += "" if len(top) >= MIN_STABLE else f"; fewer than {MIN_STABLE} models: no trend found, but too few to call it stable"
        out.append(fd.Finding(claim, verdict, text))
    return out


def regime_label(frame: pd.DataFrame, budget: str) -> str:
    """A regime's group name: the space's label in the report (Space@budget)."""
    labels = frame.loc[frame["budget"] == budget, "space"] if "space" in frame else frame.iloc[:0]
    return str(labels.iat[0]) if len(labels) else budget


def regime_groups(frame: pd.DataFrame, budgets: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Resolved rows per regime, keyed by the regime's label."""
    return {regime_label(frame, b): _errors(frame[frame["budget"] == b])[0] for b in budgets
            if (frame["budget"] == b).any()}


def regime_comparisons(budgets: Sequence[str], frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Each regime against the next larger one: more flops, lower error (the paper's regime trend)."""
    labels = [regime_label(frame, b) for b in budgets]
    return [(lo, hi, "improves") for lo, hi in zip(labels, labels[1:])]


def zoo_table(zoo_frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's pick: per regime, the best of the candidates within the flops tolerance."""
    rows = []
    for budget, frame in zoo_frames.items():
        sub, e = _errors(frame)
        if len(sub) == 0:
            continue
        best = sub.iloc[int(np.argmin(e))]
        rows.append({"regime": budget, "candidates": len(frame), "trained": int((frame.get("status") == "ok").sum()),
                     "model_id": best["model_id"], "error": float(best[ERROR]),
                     **{k: best.get(k) for k in ("depth", "w0", "wa", "wm", "g")},
                     "stage_depths": " ".join(str(int(best[f"d{i}"])) for i in range(1, int(best["num_stages"]) + 1)),
                     "stage_widths": " ".join(str(int(best[f"w{i}"])) for i in range(1, int(best["num_stages"]) + 1)),
                     "flops": int(best["flops"]), "params": int(best["params"]), "acts": int(best["acts"])})
    return pd.DataFrame(rows)


def sizes_table(names: Sequence[str], recorded: Mapping[str, Mapping[str, Any] | None] | None = None) -> pd.DataFrame:
    """Exact sizes of the spaces, from the definitions recorded with their samples (`recorded`: name ->
    the `space_config` of a sweep's config.yaml); today's YAML only for sweeps that recorded none."""
    rows = []
    for s in names:
        definition = (recorded or {}).get(s)
        sp = spaces.load(definition if definition else s)
        rows.append({"space": PAPER_NAMES.get(s, s), "dims": sp.dims, "size": f"{sp.cardinality():.3g}",
                     "exact": str(sp.cardinality()),
                     "note": "; ".join(x for x in (sp.grid_note(), "" if definition else
                                                   "definition from today's YAML (none recorded)") if x)})
    return pd.DataFrame(rows)
