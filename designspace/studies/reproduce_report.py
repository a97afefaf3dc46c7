"""The report of a reproduction run: the paper's findings with verdicts, then the full analysis.

report/REPORT.md (and .html) states which findings the run reproduced, each with the statistics
behind the verdict, the design-space sizes, the EDF progression and, for regime studies, the
trends and the proxy model zoo. report/analysis/ holds the complete analysis report (every
figure as PNG and PDF, the numbers behind each as CSV).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis import findings as fd
from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.studies.progression import (
        PAPER_NAMES,
    PROGRESSION,
    STEPS,
    chain_claim,
    progression_comparisons,
)
from designspace.util.atomic import atomic_write_text

MIN_STABLE = 20  # models needed before "no significant trend" counts as "stable"


def _errors(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    rows, _ = resolve_errors(frame)
    return rows, rows[ERROR].to_numpy(dtype=np.float64)




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


def progression_findings(by_space: dict[str, pd.DataFrame], alpha: float) -> list[fd.Finding]:
    """B ~ A, C ~ B, D > C, E > D, RegNet > E, size, and where the best models are."""
    from designspace.space import spaces

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


def regime_findings(frame: pd.DataFrame, budgets: Sequence[str], alpha: float) -> list[fd.Finding]:
    """Trends across regimes, on the best quarter of each regime's models (pooled, Spearman)."""
    from scipy import stats

    from designspace.space.budgets import load_budget

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


def progression_claims(space_keys: Sequence[str], alpha: float) -> Any:
    """What the ladder recomputes for the A -> ... -> RegNet progression."""
    from designspace.studies.ladder_report import Claims

    def group(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {PAPER_NAMES.get(k, k): frame[frame["space_key"] == k] for k in space_keys
                if (frame["space_key"] == k).any()}

    def findings_of(frame: pd.DataFrame) -> list[fd.Finding]:
        return progression_findings({k: frame[frame["space_key"] == k] for k in space_keys}, alpha)

    comparisons = [(PAPER_NAMES[a], PAPER_NAMES[b], kind) for a, b, kind in STEPS if a in space_keys and b in space_keys]
    width = PAPER_NAMES["anynetx_e"] if "anynetx_e" in space_keys else None
    order = tuple(PAPER_NAMES[s] for s in PROGRESSION if s in space_keys)
    return Claims(group, comparisons, findings_of, width, (chain_claim(order), order) if len(order) >= 3 else None)


def sequential_decisions(exp: Any, jobs: Sequence[Any]) -> dict[str, Any]:
    """claim -> the sequential comparison at the longest rung, from its records (design-spec 6c); {} when the
    experiment does not decide sequentially."""
    from designspace.studies.decide import Arm, state, table_order, trained_errors

    seq = exp.fidelity.sequential if exp.fidelity else None
    longest = {j.space: j for j in jobs if j.kind == "rung" and j.longest and j.sweep.exists()}
    if seq is None or not longest:
        return {}
    errors = {s: trained_errors(Arm(s, j.sweep, table_order(j.sweep))) for s, j in longest.items()}
    kinds = {(a, b): kind for a, b, kind in STEPS}
    return {fd.comparison_claim(PAPER_NAMES[c.a], PAPER_NAMES[c.b], kinds[(c.a, c.b)]): r
            for c, r in state(errors, progression_comparisons(list(longest), seq.margin), seq.alpha, seq.cap).items()}


def regime_claims(budgets: Sequence[str], frame: pd.DataFrame, alpha: float) -> Any:
    """What the ladder recomputes for a regime study."""
    from designspace.studies.ladder_report import Claims

    return Claims(lambda f: regime_groups(f, budgets), regime_comparisons(budgets, frame),
                  lambda f: regime_findings(f, budgets, alpha))


def write_report(exp: Any, jobs: Sequence[Any], out: Path, alpha: float = 0.05, config_text: str = "",
                 zero_init_last_bn: bool = False) -> Path:
    """Write report/REPORT.md + REPORT.html, the CSVs behind them and the full analysis under report/analysis/."""
    from designspace.analysis.collect import load_sweep
    from designspace.reporting import plots
    from designspace.reporting.report import ReportSettings, markdown_table, render_html
    from designspace.reporting.report import write_report as write_analysis
    from designspace.studies.ladder_report import build_ladder, judge

    out.mkdir(parents=True, exist_ok=True)
    space_jobs = [j for j in jobs if j.kind == "space" and j.sweep.exists()]
    zoo_jobs = [j for j in jobs if j.kind == "zoo" and j.sweep.exists()]
    multi_budget = len({j.budget for j in space_jobs}) > 1

    def label_of(j: Any) -> str:
        return PAPER_NAMES.get(j.space, j.space) + (f"@{j.budget}" if multi_budget else "")

    if not space_jobs:
        from designspace.studies.experiment import ExperimentError

        raise ExperimentError(f"no sampled sweeps under {out.parent}: run stage=sample (and stage=train) first")
    frame = pd.concat([load_sweep(j.sweep.root, label_of(j)).assign(space_key=j.space) for j in space_jobs],
                      ignore_index=True)
    trained = int(frame["status"].isin(["ok", "diverged", "failed"]).sum()) if "status" in frame else 0
    md: list[str] = [f"# Reproduction: {exp.name}\n", f"{exp.description}\n",
                     f"Models: {len(frame)} sampled, {trained} trained "
                     f"({len(exp.spaces)} space(s) x {len(exp.budgets)} budget(s) x n = {exp.n}). Cost: {exp.cost}.\n"]

    by_space = {j.space: frame[frame["space_key"] == j.space] for j in space_jobs}
    budgets = [j.budget for j in space_jobs]
    if multi_budget:
        found, claims = regime_findings(frame, budgets, alpha), regime_claims(budgets, frame, alpha)
    else:
        found, claims = progression_findings(by_space, alpha), progression_claims(list(by_space), alpha)
    ladder = build_ladder(jobs, frame, label_of)
    decisions = {} if multi_budget else sequential_decisions(exp, jobs)
    judged = judge(found, frame, ladder, claims, decisions, alpha)
    verdicts = judged.findings
    md += _findings_section(verdicts, ladder, alpha)
    md += _decisions_section(decisions, exp, out)
    md += _ladder_section(judged, ladder, exp, out)
    if not multi_budget:
        power = power_table(by_space, alpha)
        if len(power):
            power.to_csv(out / "power.csv", index=False)
            md += ["## Power of the space comparisons at the proxy\n",
                   f"For each comparison, the one-sided KS distance observed in the direction tested, the smallest "
                   f"distance the test detects at alpha = {alpha} with these n (asymptotic critical value "
                   "c(alpha) * sqrt((n+m)/(n*m)), c = 1.224 one-sided), and the power to detect the observed effect "
                   "(bootstrap: both samples resampled, 2000 draws). A non-significant result with low power is "
                   "'too few models to tell', not evidence of no effect.\n",
                   markdown_table(power.round(3)), ""]

    if ladder.measured and len(ladder.longest.frame):
        longest = ladder.longest
        cols = [c for c in ("space_key", ERROR, "outcome") if c in longest.frame]
        plots.save(plots.plot_edfs(longest.frame.drop(columns=cols)), out / "edf_longest")
        md += [f"## Error EDFs at the longest rung ({longest.label}: {longest.images} training images per model)\n",
               "What the verdicts are read on: every model trained at the longest rung (the fixed first models of "
               "each space and those the sequential comparisons added).\n", "![EDFs at the longest rung](edf_longest.png)\n"]
    plots.save(plots.plot_edfs(frame.drop(columns=["space_key"])), out / "edf_progression")
    md += ["## Error EDFs at the proxy\n", "The proxy's short schedule (every sampled model): it ranks convergence "
           "speed as much as design (see the ladder above).\n", "![EDF progression at the proxy](edf_progression.png)\n"]

    recorded = {j.space: recorded_space(j.sweep) for j in reversed(space_jobs)}
    md += ["## Design-space sizes\n", markdown_table(sizes_table(list(dict.fromkeys(j.space for j in space_jobs)),
                                                                 recorded)), ""]
    if zoo_jobs:
        zt = zoo_table({j.budget: load_sweep(j.sweep.root, f"zoo {j.budget}") for j in zoo_jobs})
        zt.to_csv(out / "proxy_zoo.csv", index=False)
        md += ["## Proxy model zoo\n", f"Per regime, the best of {exp.zoo_pick.candidates} random "
               f"{PAPER_NAMES.get(exp.zoo_pick.space, exp.zoo_pick.space)} models within +-{exp.zoo_pick.tolerance:.0%} "
               "of the regime's flops (the paper's procedure for its model zoo), picked at the proxy's budget.\n",
               markdown_table(zt) if len(zt) else "(no trained candidates yet)", ""]
    md += ["## Full analysis\n", "Every figure (PNG, PDF) and the numbers behind it (CSV): "
           "[analysis/report.md](analysis/report.md) ([HTML](analysis/report.html)).\n"]
    if config_text:
        md += ["## Configuration\n", _training_note(zero_init_last_bn), "```yaml\n" + config_text.strip() + "\n```\n"]
    settings = ReportSettings(title=f"{exp.name}: full analysis", sources=tuple(str(j.sweep.root) for j in space_jobs))
    write_analysis(frame.drop(columns=["space_key"]), out / "analysis", settings)
    verdicts.to_csv(out / "findings.csv", index=False)
    _models_csv(frame).to_csv(out / "models.csv", index=False)
    text = "\n".join(md)
    atomic_write_text(out / "REPORT.md", text)
    atomic_write_text(out / "REPORT.html", render_html(text, exp.name, base=out))
    return out / "REPORT.md"


def _findings_section(verdicts: pd.DataFrame, ladder: Any, alpha: float) -> list[str]:
    from designspace.reporting.report import markdown_table

    longest = (f"the longest rung ({ladder.longest.label}: {ladder.longest.images} training images, "
               f"{len(ladder.longest.frame)} models)" if ladder.measured else "")
    intro = ("Each finding is tested twice. At the proxy: two-sample KS tests on top-1 errors for space comparisons, "
             "bootstrap (25% of the models with replacement, 10^4 draws) for where the best models are, Spearman "
             f"correlations for trends, at level alpha = {alpha}; diverged/failed models count with error 100%. "
             + (f"Under longer training: the same statistic on the fidelity subset at every rung of the budget ladder; "
                f"the verdict is read at {longest} (design-spec 6b). A finding is **reproduced** only when it holds "
                "there: holds / holds, smaller (still significant, smaller than the proxy said) / appears (only with "
                "longer training); **inconclusive** when it shrinks into noise (the proxy's effect lies outside the "
                "long interval, which contains 0: a convergence-speed effect of the proxy) or the long rung has too "
                "few models to tell; **not reproduced** when it reverses or is not shown.\n"
                if ladder.measured else
                "No longer-training ladder was measured: the proxy's verdicts stand untested (design-spec 6b).\n"))
    table = verdicts[["claim", "verdict", "proxy_verdict", "longer_training"]].rename(
        columns={"proxy_verdict": "at the proxy", "longer_training": "under longer training"})
    n_ok = int((verdicts["verdict"] == "reproduced").sum())
    n_unclear = int((verdicts["verdict"] == "inconclusive").sum())
    chain = verdicts[verdicts["claim"].str.endswith("holds as an ordered chain (error non-increasing)")]
    headline = []
    if len(chain):
        c = chain.iloc[0]
        where = "at the longest rung" if c["longer_training_evidence"] else "at the proxy"
        headline = [f"**The paper's progression, tested as one ordered chain (Jonckheere-Terpstra): {c['verdict']}** "
                    f"({c['longer_training']} under longer training). {where.capitalize()}: "
                    f"{_chain_p(c['longer_training_evidence'] or c['evidence'])}\n"]
    lines = ["## The paper's findings at this scale\n", *headline, intro, markdown_table(table) if len(table) else
             "(no findings could be tested)", "",
             f"**{n_ok} of {len(verdicts)} findings reproduced, {n_unclear} inconclusive, "
             f"{len(verdicts) - n_ok - n_unclear} not reproduced.**\n", "### Evidence\n"]
    for _, r in verdicts.iterrows():
        lines.append(f"- **{r['claim']}**: at the proxy, {str(r['evidence']).rstrip('.')}."
                     + (f" Under longer training: {r['longer_training_evidence']}." if r["longer_training_evidence"] else ""))
    return lines + [""]


def _models_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Every model of the proxy sweeps in sample order: its space, id, design, complexity, status and error (the
    proxy's findings and power recompute from it; fidelity_models.csv holds the ladder's)."""
    keep = [c for c in ("space", "budget", "model_id", "status", "error", "flops", "params", "acts", "total_depth",
                        "num_stages", "wm", "w0", "wa") if c in frame]
    design = [c for c in frame.columns if re.fullmatch(r"[dwbg][1-9][0-9]*", str(c))]
    out = frame[keep + sorted(design, key=lambda c: (c[0], int(c[1:])))].copy()
    out.insert(0, "order", out.groupby("space").cumcount())
    return out


def _chain_p(evidence: str) -> str:
    """The chain test's sentence from its evidence text (J, p and the effect), for the headline."""
    start = evidence.find("Jonckheere")
    return evidence[start:].rstrip(".") + "." if start >= 0 else evidence.split(": ", 1)[-1].rstrip(".") + "."


def _decisions_section(decisions: dict[str, Any], exp: Any, out: Path) -> list[str]:
    """Each pairwise comparison decided at the longest rung: the decision, the pairs it spent and why it stopped."""
    from designspace.reporting import plots
    from designspace.reporting.report import markdown_table

    if not decisions:
        return []
    seq = exp.fidelity.sequential
    def why(r: Any) -> str:
        if r.decided or r.available >= seq.cap:
            return r.reason
        return (f"not decided yet: the run stopped after {r.available} of at most {seq.cap} pairs (e-values "
                f"{r.wealth_a:.3g} for a, {r.wealth_b:.3g} for b; 2/alpha = {2 / r.alpha:g}); rerunning stage=train "
                "goes on")

    rows = [{"claim": claim, "decision": r.decision, "pairs spent": r.n, "pairs trained": r.available,
             "median difference (a - b), anytime 95%": f"[{r.low:+.2f}, {r.high:+.2f}]",
             "e-value a / b": f"{r.wealth_a:.3g} / {r.wealth_b:.3g}", "why it stopped": why(r)}
            for claim, r in decisions.items()]
    table = pd.DataFrame(rows)
    table.to_csv(out / "decisions.csv", index=False)
    histories = {claim.split(":")[0]: r.history for claim, r in decisions.items() if len(r.history)}
    figure = []
    if histories:
        plots.save(plots.plot_sequential_panels(histories, seq.margin), out / "decisions")
        figure = ["![the interval against the pairs trained](decisions.png)\n"]
    return ["## Deciding each comparison at the longest rung\n",
            f"The longest rung trains the first {exp.fidelity.models} models of every space, then adds {seq.step} "
            f"models a side to each comparison that is still undecided, up to {seq.cap}: the i-th models of two "
            "spaces (in their sweeps' sampled order, a uniform random order) form a pair, and an anytime-valid sign "
            f"test by betting (design-spec 6c; `designspace.analysis.sequential`) looks after every pair at level "
            f"alpha = {seq.alpha:g}. It decides for a space when its bet reaches 2/alpha, or 'equivalent' when the "
            f"confidence sequence for the median paired difference lies within +-{seq.margin} points; 'undecided' "
            "means the cap (or the run) ended first. a is the earlier space of the progression, b the later.\n",
            markdown_table(table), "", *figure]


def _ladder_section(judged: Any, ladder: Any, exp: Any, out: Path) -> list[str]:
    from designspace.analysis.ladder import cheapest_agreeing_rung
    from designspace.analysis.power import median_difference_detectable
    from designspace.reporting import plots
    from designspace.reporting.report import markdown_table

    if not ladder.measured:
        return ["## Does it survive longer training?\n",
                "Not measured in this run (the experiment has no `fidelity` ladder).\n"]
    judged.ladder.to_csv(out / "ladder.csv", index=False)
    judged.convergence.to_csv(out / "convergence.csv", index=False)
    judged.diagnostics.to_csv(out / "fidelity.csv", index=False)
    judged.models.to_csv(out / "fidelity_models.csv", index=False)
    rungs = pd.DataFrame([{"rung": r.label, "training images": r.images,
                           "x proxy": f"{r.images / ladder.rungs[0].images:.1f}" if r.images and ladder.rungs[0].images
                           else "", "models": str(len(r.frame)) + (" (a subset of the proxy's sweep)" if i == 0 else ""),
                           "CPU time (s, summed)": round(r.wall_s)} for i, r in enumerate(ladder.rungs)])
    longest = ladder.longest
    spread = longest.frame.groupby("space")["error"].std().median() if len(longest.frame) else float("nan")
    n = ladder.models
    mde = median_difference_detectable(float(spread), n, n) if n and np.isfinite(spread) else float("nan")
    lines = ["## Does it survive longer training? (the budget ladder)\n",
             f"The first {n} models of each space (the fidelity subset) trained at every rung: the proxy's own budget "
             "(x1) and k times its training images (more distinct images while the training set has them, then more "
             "epochs; the learning rate reaches zero at the end of each run).\n",
             markdown_table(rungs), "",
             f"Power at the longest rung: the models of a space spread by a median standard deviation of {spread:.2f} "
             f"points there, so with {n} models per space a difference of medians of about {mde:.1f} points is "
             "detected with 80% power at alpha 0.05 (normal approximation of the median's variance); smaller "
             "differences are 'too few models to tell'.\n"]
    comp = judged.ladder[judged.ladder["rung"] != "proxy (all models)"] if len(judged.ladder) else judged.ladder
    if len(comp):
        points = comp[~comp["comparison"].str.startswith("width rule")]
        if len(points):
            plots.save(plots.plot_claim_ladder(
                points.assign(rung_images=points["images"], n=points[["n_a", "n_b"]].min(axis=1))),
                out / "ladder")
        table = comp.assign(value=[f"{e:+.2f} [{lo:+.2f}, {hi:+.2f}] n={na},{nb}" if np.isfinite(e) else
                                   f"- (n={na},{nb})" for e, lo, hi, na, nb in
                                   comp[["effect", "low", "high", "n_a", "n_b"]].itertuples(index=False)])
        pivot = table.pivot_table(index="comparison", columns="rung", values="value", aggfunc="first", sort=False)
        pivot = pivot[[r.label for r in ladder.rungs if r.label in pivot.columns]].reset_index()
        lines += ["### Each claim's effect at every rung\n",
                  "Median error difference in percentage points in the claimed direction (improves: the worse space's "
                  "median minus the better's; restriction costs nothing: the loss, the restricted space's median minus "
                  "the other's), and Spearman rho for the width rule; 95% percentile-bootstrap intervals. "
                  "([ladder.csv](ladder.csv), which also has the one-sided KS distance with its interval, and the "
                  "proxy's effect over all its models.)\n",
                  "![effect against training budget](ladder.png)\n", "(One panel per claim: the median difference at each rung with its 95% interval and n, the zero line; the "
                  "chain's panel is the drop from AnyNetX_A to RegNet. The width rule's rho is in the table.)\n", markdown_table(pivot), ""]
        labels = [r.label for r in ladder.rungs]
        agree = cheapest_agreeing_rung(comp, labels)
        rung = next((r for r in ladder.rungs if r.label == agree), None)
        if rung is not None:
            lines += [f"Cheapest rung whose every claim's effect lies inside the longest rung's interval: **{agree}** "
                      f"({rung.images} training images per model)"
                      + (" - no cheaper budget agrees with the longest rung here.\n" if agree == labels[-1] else
                         ": a proxy at that budget would have reached the same effects.\n")]
    conv = judged.convergence.round(2)
    lines += ["### How far each space's models move\n",
              "Median test error per space and rung on the same models, and the median of the paired change from "
              "the previous rung ([convergence.csv](convergence.csv)). Spaces that converge more slowly lose more at "
              "the proxy's budget.\n", markdown_table(conv), ""]
    diag = judged.diagnostics.round(3)
    lines += ["### Per-model rank agreement (diagnostic)\n",
              "Kendall tau-b and Spearman of the proxy's errors against each longer run (and the seed rerun, if any) "
              "on the same models, with 95% bootstrap intervals; not a gate: inside a narrow flops band models "
              "differ by less than seed noise ([fidelity.csv](fidelity.csv); every model's error at every rung: "
              "[fidelity_models.csv](fidelity_models.csv)).\n", markdown_table(diag), ""]
    return lines


def _training_note(zero: bool) -> str:
    return ("Training: the last BN scale of every residual block starts at 0 (`zero_init_last_bn: true`, a proxy "
            "setting; the paper's models were trained without it).\n" if zero else
            "Training: reference initialisation (`zero_init_last_bn: false`, as the paper trained its models).\n")


