"""The report of a reproduction run, drawn from its `analysis.study.Study`: the paper's findings with verdicts,
then the full analysis.

report/REPORT.md (and .html) states which findings the run reproduced, each with the statistics
behind the verdict, the sequential decisions, the design-space sizes, the EDF progression and, for regime studies,
the trends and the proxy model zoo. report/analysis/ holds the complete analysis report (every
figure as PNG and PDF, the numbers behind each as CSV). Nothing here computes a statistic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis.decisions import FUTILITY_AFTER
from designspace.analysis.forecast import FUTILITY
from designspace.analysis.progression import PAPER_NAMES
from designspace.analysis.sequential import ESTIMANDS
from designspace.analysis.study import Study
from designspace.reporting import ladder_plots, plots
from designspace.reporting.report import ReportSettings, markdown_table, render_html
from designspace.reporting.report import write_report as write_analysis
from designspace.util.atomic import atomic_write_text
from designspace.util.names import markdown_text, spreadsheet_safe


def write_report(study: Study, out: Path, *, exp: Any, config_text: str = "", zero_init_last_bn: bool = False,
                 sources: Sequence[str] = ()) -> Path:
    """Write report/REPORT.md + REPORT.html, the CSVs behind them and the full analysis under report/analysis/,
    drawn from `study` (`exp`: the experiment, for its name, description and protocol; `sources`: the sweeps)."""
    out.mkdir(parents=True, exist_ok=True)
    frame, alpha = study.frame, study.alpha
    trained = int(frame["status"].isin(["ok", "diverged", "failed"]).sum()) if "status" in frame else 0
    md: list[str] = [f"# Reproduction: {markdown_text(exp.name)}\n", f"{markdown_text(exp.description)}\n",
                     f"Models: {len(frame)} sampled, {trained} trained "
                     f"({len(exp.spaces)} space(s) x {len(exp.budgets)} budget(s) x n = {exp.n}). Cost: {exp.cost}.\n"]
    judged, ladder = study.judged, study.ladder
    md += _findings_section(judged.findings, ladder, alpha)
    md += _decisions_section(study.standings, exp, out)
    md += _twins_section(study, exp, out)
    md += _ladder_section(study, exp, out)
    power = study.power
    if len(power):
        spreadsheet_safe(power).to_csv(out / "power.csv", index=False)
        md += ["## Power of the space comparisons at the proxy\n",
               f"For each comparison, the one-sided KS distance observed in the direction tested, the smallest "
               f"distance the test detects at alpha = {alpha} with these n (asymptotic critical value "
               "c(alpha) * sqrt((n+m)/(n*m)), c = 1.224 one-sided), and the power to detect the observed effect "
               "(bootstrap: both samples resampled, 2000 draws). A non-significant result with low power is "
               "'too few models to tell', not evidence of no effect.\n",
               markdown_table(power.round(3)), ""]
    md += _edf_sections(study, out)
    md += ["## Design-space sizes\n", markdown_table(study.sizes), ""]
    if study.zoo_frames:
        zt = study.zoo
        spreadsheet_safe(zt).to_csv(out / "proxy_zoo.csv", index=False)
        md += ["## Proxy model zoo\n", f"Per regime, the best of {exp.zoo_pick.candidates} random "
               f"{PAPER_NAMES.get(exp.zoo_pick.space, exp.zoo_pick.space)} models within +-{exp.zoo_pick.tolerance:.0%} "
               "of the regime's flops (the paper's procedure for its model zoo), picked at the proxy's budget.\n",
               markdown_table(zt) if len(zt) else "(no trained candidates yet)", ""]
    md += ["## Full analysis\n", "Every figure (PNG, PDF) and the numbers behind it (CSV), beside this report: "
           "[analysis/report.md](analysis/report.md), [analysis/report.html](analysis/report.html).\n"]
    if config_text:
        md += ["## Configuration\n", _training_note(zero_init_last_bn), "```yaml\n" + config_text.strip() + "\n```\n"]
    settings = ReportSettings(title=f"{exp.name}: full analysis", sources=tuple(sources))
    write_analysis(study.proxy_analysis, out / "analysis", settings)
    spreadsheet_safe(judged.findings).to_csv(out / "findings.csv", index=False)
    spreadsheet_safe(_models_csv(frame)).to_csv(out / "models.csv", index=False)
    text = "\n".join(md)
    atomic_write_text(out / "REPORT.md", text)
    atomic_write_text(out / "REPORT.html", render_html(text, exp.name, base=out))
    return out / "REPORT.md"


def _edf_sections(study: Study, out: Path) -> list[str]:
    """The EDFs at the longest rung (what the verdicts are read on) and at the proxy (`Study`'s analyses)."""
    md = []
    longest = study.longest_analysis
    if longest is not None:
        rung = study.ladder.longest
        plots.save(plots.plot_edfs(longest), out / "edf_longest")
        md += [f"## Error EDFs at the longest rung ({rung.label}: {rung.images} training images per model)\n",
               "What the verdicts are read on: every model trained at the longest rung (the fixed first models of "
               "each space and those the sequential comparisons added).\n", "![EDFs at the longest rung](edf_longest.png)\n"]
    plots.save(plots.plot_edfs(study.proxy_analysis), out / "edf_progression")
    return md + ["## Error EDFs at the proxy\n", "The proxy's short schedule (every sampled model): it ranks convergence "
                 "speed as much as design (see the ladder above).\n", "![EDF progression at the proxy](edf_progression.png)\n"]


def _findings_section(verdicts: pd.DataFrame, ladder: Any, alpha: float) -> list[str]:
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
    """Each pairwise comparison at the longest rung: the decision, what it spent, its forecast and why it stopped."""
    if not decisions:
        return []
    seq = exp.fidelity.sequential

    def why(s: Any) -> str:
        if s.stop is None:
            return (f"not finished: the run stopped after {s.pairs} of at most {seq.cap} pairs; rerunning stage=train "
                    f"goes on ({s.forecast.text()})")
        return s.why

    def hours(x: float | None) -> str:
        return "" if x is None or not np.isfinite(x) else f"{x:.2f}"

    rows = []
    for claim, s in decisions.items():
        r, f = s.result, s.forecast
        more = "" if not f.available or s.stop == "decided" else (
            f"{f.more_median:.0f}" if np.isfinite(f.more_median) else f"> {f.limit - f.pairs}")
        names = (PAPER_NAMES.get(s.comparison.a, s.comparison.a), PAPER_NAMES.get(s.comparison.b, s.comparison.b))
        rows.append({"claim": claim, "decision": r.decision, "verdict": r.text(names).split(":")[0],
                     "pairs to the decision": r.n, "pairs trained": s.pairs,
                     "location of a - b, anytime 95%": f"[{r.low:+.2f}, {r.high:+.2f}]",
                     "certified margin": f"{r.certified_margin:.2f}" if np.isfinite(r.certified_margin) else "",
                     "e-value a / b": f"{r.wealth_a:.3g} / {r.wealth_b:.3g}",
                     "spent core-hours": hours(None if s.seconds_per_pair is None else s.pairs * s.seconds_per_pair / 3600),
                     "forecast more pairs": more,
                     "forecast core-hours": hours(f.core_hours()) if more else "",
                     "P(decided by cap)": "" if not more else f"{f.p_decided:.2f}",
                     "why it stopped": why(s)})
    table = pd.DataFrame(rows)
    spreadsheet_safe(table).to_csv(out / "decisions.csv", index=False)
    histories = {claim.split(":")[0]: s.result.history for claim, s in decisions.items() if len(s.result.history)}
    figure = []
    if histories:
        plots.save(ladder_plots.plot_sequential_panels(histories, seq.margin), out / "decisions")
        figure = ["![the interval against the pairs trained](decisions.png)\n"]
    budget = "no budget" if seq.budget_core_hours is None else f"a budget of {seq.budget_core_hours:g} core-hours"
    estimand = ESTIMANDS[seq.test]
    return ["## Deciding each comparison at the longest rung\n",
            f"The longest rung trains the first {exp.fidelity.models} models of every space; then, round after round, "
            f"the undecided comparison whose forecast decision is cheapest gets {seq.step} more models a side, each "
            f"up to {seq.cap}, with {budget} for the added models. The i-th models of two spaces (in their sweeps' "
            "sampled order, a uniform random order) form a pair, and an anytime-valid test by betting "
            f"(`{seq.test}`, design-spec 6c; `designspace.analysis.sequential`) looks after every pair at level "
            f"alpha = {seq.alpha:g}. It estimates {estimand}; it decides for a space when its bet reaches 2/alpha, "
            f"or, for the steps that claim no loss, 'equivalent' when the confidence sequence lies within "
            f"+-{seq.margin} points. A comparison stops when decided, at its cap, when its forecast (a predictive "
            f"simulation from its pairs so far, `analysis.forecast`) gives it less than a "
            f"{FUTILITY:.0%} chance to decide within the cap (from {FUTILITY_AFTER} pairs on), or when the budget is "
            "spent. a is the earlier space of the progression, b the later; the certified margin is the smallest "
            "+-margin the interval lies inside; spent core-hours count both arms' models of the pairs (a space's "
            "models serve both of its comparisons).\n",
            markdown_table(table), "", *figure]


def _twins_section(study: Study, exp: Any, out: Path) -> list[str]:
    """Each step's twin verdict (every earlier-space model against its own restriction) beside its independent one,
    each with its estimand, pairs and core-hours; twins.csv holds one row per step."""
    twins = study.twin_standings
    if not twins:
        return []
    rows = []
    for claim, t in twins.items():
        r, ind = t.result, study.standings.get(claim)
        hours = None if t.seconds_per_pair is None else t.pairs * t.seconds_per_pair / 3600
        names = (PAPER_NAMES.get(t.comparison.a, t.comparison.a),
                 PAPER_NAMES.get(t.comparison.b.removeprefix("twin:"), t.comparison.b) + " twins")
        rows.append({"step": claim.split(":")[0], "pairs": t.pairs, "decision": r.decision,
                     "verdict": r.text(names).split(":")[0],
                     "pairs to the decision": r.n, "low": round(r.low, 3), "high": round(r.high, 3),
                     "skipped twins": study.twins.skipped.get(claim, 0) if study.twins else 0,
                     "core_hours": None if hours is None else round(hours, 3), "why": t.why,
                     "independent decision": ind.result.text(
                         (names[0], names[1].removesuffix(" twins"))).split(":")[0] if ind else "",
                     "independent pairs": ind.pairs if ind else "",
                     "independent interval": f"[{ind.result.low:+.2f}, {ind.result.high:+.2f}]" if ind else ""})
    table = pd.DataFrame(rows)
    spreadsheet_safe(table).to_csv(out / "twins.csv", index=False)
    shown = table.assign(**{"twin interval": [f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(table["low"], table["high"])],
                            "twin core-hours": table["core_hours"].map(lambda h: "" if h is None or h != h else
                                                                       f"{h:.2f}")})
    shown = shown[["step", "independent decision", "independent pairs", "independent interval", "verdict", "pairs",
                   "twin interval", "skipped twins", "twin core-hours"]].rename(
        columns={"verdict": "twin verdict", "pairs": "twin pairs"})
    cap = exp.fidelity.twins.cap
    return ["## Each step on twins: a model against its own restriction\n",
            "Every model of the earlier space at the longest rung is paired with its twin in the later space: the "
            "step's restriction applied to the model's own sampled values (share b; share g; sort the widths; sort "
            "the depths; the quantized-linear fit), compatibility re-applied and re-fitted into the flops band by "
            "the smallest width change (`designspace.space.twins`), trained with the same seed and data order. "
            f"The same sequential test decides, up to {cap} pairs. **Estimand**: a twin verdict measures the effect "
            "of imposing the restriction on a model of the earlier space at equal flops; the independent verdict "
            "compares independent draws of the two spaces (their EDFs). They answer different questions and may "
            "disagree; a model whose twin cannot be brought into the band is left out, never replaced "
            "(skipped twins). Location intervals are of earlier - later (points; positive: the restricted model is "
            "better) ([twins.csv](twins.csv)).\n", markdown_table(shown), ""]


def _ladder_section(study: Study, exp: Any, out: Path) -> list[str]:
    judged, ladder = study.judged, study.ladder

    if not ladder.measured:
        return ["## Does it survive longer training?\n",
                "Not measured in this run (the experiment has no `fidelity` ladder).\n"]
    spreadsheet_safe(judged.ladder).to_csv(out / "ladder.csv", index=False)
    spreadsheet_safe(judged.convergence).to_csv(out / "convergence.csv", index=False)
    spreadsheet_safe(judged.diagnostics).to_csv(out / "fidelity.csv", index=False)
    spreadsheet_safe(judged.models).to_csv(out / "fidelity_models.csv", index=False)
    rungs = pd.DataFrame([{"rung": r.label, "training images": r.images,
                           "x proxy": f"{r.images / ladder.rungs[0].images:.1f}" if r.images and ladder.rungs[0].images
                           else "", "models": str(len(r.frame)) + (" (a subset of the proxy's sweep)" if i == 0 else ""),
                           "CPU time (s, summed)": round(r.wall_s)} for i, r in enumerate(ladder.rungs)])
    spread, n, mde = study.ladder_power
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
            plots.save(ladder_plots.plot_claim_ladder(
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
        agree = study.agreeing_rung
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


