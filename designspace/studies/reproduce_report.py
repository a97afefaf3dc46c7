"""The report of a reproduction run: the paper's findings with verdicts, then the full analysis.

report/REPORT.md (and .html) states which findings the run reproduced, each with the statistics
behind the verdict, the design-space sizes, the EDF progression and, for regime studies, the
trends and the proxy model zoo. report/analysis/ holds the complete analysis report (every
figure as PNG and PDF, the numbers behind each as CSV).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis import findings as fd
from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.util.atomic import atomic_write_text

MIN_STABLE = 20  # models needed before "no significant trend" counts as "stable"
PROGRESSION = ("anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnet")
PAPER_NAMES = {"anynetx_a": "AnyNetX_A", "anynetx_b": "AnyNetX_B", "anynetx_c": "AnyNetX_C",
               "anynetx_d": "AnyNetX_D", "anynetx_e": "AnyNetX_E", "regnet": "RegNet",
               "regnetx": "RegNetX", "regnety": "RegNetY"}


def _errors(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    rows, _ = resolve_errors(frame)
    return rows, rows[ERROR].to_numpy(dtype=np.float64)


STEPS = (("anynetx_a", "anynetx_b", "no_loss"), ("anynetx_b", "anynetx_c", "no_loss"),
         ("anynetx_c", "anynetx_d", "improves"), ("anynetx_d", "anynetx_e", "improves"),
         ("anynetx_e", "regnet", "improves"))


def power_table(by_space: dict[str, pd.DataFrame], alpha: float) -> pd.DataFrame:
    """Per space comparison: n, m, the observed one-sided KS distance in the claim's direction (improves:
    b better; no_loss: b worse), the smallest distance detectable at alpha, and the bootstrap power at it."""
    from designspace.analysis.power import power_row

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


def fidelity_of(jobs: Sequence[Any]) -> pd.DataFrame:
    """fidelity.csv: per space, the proxy's errors on its fidelity subset against a second seed and a longer run."""
    from designspace.analysis.collect import load_sweep
    from designspace.analysis.fidelity import fidelity_table

    def errors(sweep: Any) -> pd.DataFrame | None:
        if sweep is None or not sweep.exists():
            return None
        rows, e = _errors(load_sweep(sweep.root))
        return pd.DataFrame({"model_id": rows["model_id"].to_numpy(), "error": e})

    subsets = {}
    for job in jobs:
        if job.kind != "space":
            continue
        seed = next((j.sweep for j in jobs if j.kind == "seed" and j.source == job.sweep), None)
        long = next((j.sweep for j in jobs if j.kind == "long" and j.source == job.sweep), None)
        base = errors(job.sweep)
        if base is None or (seed is None and long is None):
            continue
        label = PAPER_NAMES.get(job.space, job.space) + (f"@{job.budget}" if len({j.budget for j in jobs}) > 1 else "")
        subsets[label] = (base, errors(seed), errors(long))
    return fidelity_table(subsets) if subsets else pd.DataFrame()


def gate_by_fidelity(found: list[fd.Finding], fidelity: pd.DataFrame, factor: int) -> list[fd.Finding]:
    """A verdict the proxy cannot carry (pooled long-schedule tau below MIN_TAU) becomes inconclusive."""
    from designspace.analysis.fidelity import fidelity_note

    ok, note = fidelity_note(fidelity, factor)
    out = []
    for f in found:
        if ok or f.verdict == "inconclusive" or not f.from_training:
            out.append(f)
        else:
            out.append(fd.Finding(f.claim, "inconclusive", f"{note} (the statistics alone say: {f.verdict}). {f.evidence}"))
    return out


def progression_findings(by_space: dict[str, pd.DataFrame], alpha: float) -> list[fd.Finding]:
    """B ~ A, C ~ B, D > C, E > D, RegNet > E, size, and where the best models are."""
    from designspace.space import spaces

    out: list[fd.Finding] = []
    err = {s: _errors(f) for s, f in by_space.items()}
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


def regime_findings(frame: pd.DataFrame, budgets: Sequence[str], alpha: float) -> list[fd.Finding]:
    """Trends across regimes, on the best quarter of each regime's models (pooled, Spearman)."""
    from scipy import stats

    from designspace.space.budgets import load_budget

    rows = []
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
        return [fd.Finding("parameters of the best models change with the regime", "inconclusive",
                           f"{len(rows)} regimes with results; need at least 3")]
    top = pd.concat(rows, ignore_index=True)
    out = []
    for column, claim, expect in (("w0", "w0 of the best models grows with flops", "up"),
                                  ("wa", "wa of the best models grows with flops", "up"),
                                  ("g", "group width of the best models grows with flops", "up"),
                                  ("total_depth", "depth of the best models is stable across regimes", "flat"),
                                  ("wm", "wm of the best models is stable across regimes", "flat")):
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
        elif p < alpha:
            verdict = "not reproduced"
        else:  # no significant trend is evidence of stability only with enough models
            verdict = "reproduced" if len(top) >= MIN_STABLE else "inconclusive"
            text += "" if len(top) >= MIN_STABLE else f"; fewer than {MIN_STABLE} models: no trend found, but too few to call it stable"
        out.append(fd.Finding(claim, verdict, text))
    return out


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
    from designspace.space import spaces

    rows = []
    for s in names:
        definition = (recorded or {}).get(s)
        sp = spaces.load(definition if definition else s)
        rows.append({"space": PAPER_NAMES.get(s, s), "dims": sp.dims, "size": f"{sp.cardinality():.3g}",
                     "exact": str(sp.cardinality()),
                     "note": "; ".join(x for x in (sp.grid_note(), "" if definition else
                                                   "definition from today's YAML (none recorded)") if x)})
    return pd.DataFrame(rows)


def recorded_space(sweep: Any) -> dict[str, Any] | None:
    """The composed space definition a sweep recorded in its config.yaml (None for older sweeps)."""
    cfg = sweep.read_config()
    value = cfg.get("space_config")
    if value is None and isinstance(cfg.get("space"), dict):
        value = cfg["space"]  # sweeps written by `python -m designspace.sample` hold the composed space there
    return value if isinstance(value, dict) else None


def write_report(exp: Any, jobs: Sequence[Any], out: Path, alpha: float = 0.05, config_text: str = "",
                 zero_init_last_bn: bool = False) -> Path:
    """Write report/REPORT.md + REPORT.html and the full analysis under report/analysis/."""
    from designspace.analysis.collect import load_sweep
    from designspace.reporting import plots
    from designspace.reporting.report import ReportSettings, markdown_table, render_html
    from designspace.reporting.report import write_report as write_analysis

    out.mkdir(parents=True, exist_ok=True)
    space_jobs = [j for j in jobs if j.kind == "space" and j.sweep.exists()]
    zoo_jobs = [j for j in jobs if j.kind == "zoo" and j.sweep.exists()]
    multi_budget = len({j.budget for j in space_jobs}) > 1
    frames = []
    for j in space_jobs:
        label = PAPER_NAMES.get(j.space, j.space) + (f"@{j.budget}" if multi_budget else "")
        frames.append(load_sweep(j.sweep.root, label).assign(space_key=j.space))
    frame = pd.concat(frames, ignore_index=True)
    trained = int(frame["status"].isin(["ok", "diverged", "failed"]).sum()) if "status" in frame else 0
    md: list[str] = [f"# Reproduction: {exp.name}\n", f"{exp.description}\n",
                     f"Models: {len(frame)} sampled, {trained} trained "
                     f"({len(exp.spaces)} space(s) x {len(exp.budgets)} budget(s) x n = {exp.n}). Cost: {exp.cost}.\n"]

    by_space = {j.space: frame[frame["space_key"] == j.space] for j in space_jobs}
    if multi_budget:
        found = regime_findings(frame, [j.budget for j in space_jobs], alpha)
    else:
        found = progression_findings(by_space, alpha)
    fidelity = fidelity_of(jobs)
    if len(fidelity):
        fidelity.to_csv(out / "fidelity.csv", index=False)
    factor = exp.fidelity.long_factor if getattr(exp, "fidelity", None) else 4
    found = gate_by_fidelity(found, fidelity, factor)
    verdicts = pd.DataFrame([f.as_dict() for f in found])
    md += ["## The paper's findings at this scale\n",
           f"Tests at level alpha = {alpha}: two-sample KS tests on top-1 errors for space comparisons, bootstrap "
           "(25% of the models with replacement, 10^4 draws) for where the best models are, Spearman correlations "
           "for trends. Diverged/failed models count with error 100%. 'not reproduced' means the numbers below do "
           "not support the claim at this sample size, or contradict it.\n",
           markdown_table(verdicts) if len(verdicts) else "(no findings could be tested)", ""]
    n_ok = sum(f.verdict == "reproduced" for f in found)
    n_unclear = sum(f.verdict == "inconclusive" for f in found)
    md.append(f"**{n_ok} of {len(found)} findings reproduced, {n_unclear} inconclusive, "
              f"{len(found) - n_ok - n_unclear} not reproduced.**\n")
    md += _fidelity_section(fidelity, exp, factor)
    if not multi_budget:
        power = power_table(by_space, alpha)
        if len(power):
            power.to_csv(out / "power.csv", index=False)
            md += ["## Power of the space comparisons\n",
                   f"For each comparison, the one-sided KS distance observed in the direction tested, the smallest "
                   f"distance the test detects at alpha = {alpha} with these n (asymptotic critical value "
                   "c(alpha) * sqrt((n+m)/(n*m)), c = 1.224 one-sided), and the power to detect the observed effect "
                   "(bootstrap: both samples resampled, 2000 draws). A non-significant result with low power is "
                   "'too few models to tell', not evidence of no effect.\n",
                   markdown_table(power.round(3)), ""]

    fig = plots.plot_edfs(frame.drop(columns=["space_key"]))
    for fmt in ("png", "pdf"):
        fig.savefig(out / f"edf_progression.{fmt}")
    md += ["## Error EDFs\n", "![EDF progression](edf_progression.png)\n"]

    recorded = {j.space: recorded_space(j.sweep) for j in reversed(space_jobs)}
    md += ["## Design-space sizes\n", markdown_table(sizes_table(list(dict.fromkeys(j.space for j in space_jobs)),
                                                                 recorded)), ""]
    if zoo_jobs:
        zt = zoo_table({j.budget: load_sweep(j.sweep.root, f"zoo {j.budget}") for j in zoo_jobs})
        zt.to_csv(out / "proxy_zoo.csv", index=False)
        md += ["## Proxy model zoo\n", f"Per regime, the best of {exp.zoo_pick.candidates} random "
               f"{PAPER_NAMES.get(exp.zoo_pick.space, exp.zoo_pick.space)} models within +-{exp.zoo_pick.tolerance:.0%} "
               "of the regime's flops (the paper's procedure for its model zoo).\n",
               markdown_table(zt) if len(zt) else "(no trained candidates yet)", ""]
    md += ["## Full analysis\n", "Every figure (PNG, PDF) and the numbers behind it (CSV): "
           "[analysis/report.md](analysis/report.md) ([HTML](analysis/report.html)).\n"]
    if config_text:
        md += ["## Configuration\n", _training_note(zero_init_last_bn), "```yaml\n" + config_text.strip() + "\n```\n"]
    settings = ReportSettings(title=f"{exp.name}: full analysis", sources=tuple(str(j.sweep.root) for j in space_jobs))
    write_analysis(frame.drop(columns=["space_key"]), out / "analysis", settings)
    verdicts.to_csv(out / "findings.csv", index=False)
    text = "\n".join(md)
    atomic_write_text(out / "REPORT.md", text)
    atomic_write_text(out / "REPORT.html", render_html(text, exp.name))
    return out / "REPORT.md"


def _fidelity_section(fidelity: pd.DataFrame, exp: Any, factor: int) -> list[str]:
    from designspace.analysis.fidelity import MIN_TAU
    from designspace.reporting.report import markdown_table

    if fidelity is None or len(fidelity) == 0:
        return ["## Proxy fidelity\n", "Not measured in this run (the experiment has no `fidelity` section).\n"]
    fid = exp.fidelity
    text = ["## Proxy fidelity\n",
            f"The first {fid.models} models of each space, trained again with seed + {fid.seed_offset} (seed noise) and "
            f"with a schedule {factor}x longer (schedule fidelity): Kendall and Spearman rank correlations of the errors, "
            "median absolute difference (percentage points) and the median shift of the long run. The 'all' row pools "
            f"every space's subset. A long-schedule Kendall tau below {MIN_TAU} means the proxy ranks something other than "
            "the architecture; the space comparisons are then marked inconclusive. With n = "
            f"{fid.models} per space a single space's tau has a standard error of about "
            f"{np.sqrt(2 * (2 * fid.models + 5) / (9 * fid.models * (fid.models - 1))):.2f}; the pooled row is the one to read. "
            "([fidelity.csv](fidelity.csv))\n",
            markdown_table(fidelity.round(3)), ""]
    return text


def _training_note(zero: bool) -> str:
    return ("Training: the last BN scale of every residual block starts at 0 (`zero_init_last_bn: true`, a proxy "
            "setting; the paper's models were trained without it).\n" if zero else
            "Training: reference initialisation (`zero_init_last_bn: false`, as the paper trained its models).\n")


