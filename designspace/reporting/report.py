"""The analysis report: figures (PNG + PDF), the CSV behind each figure, Markdown and HTML pages.

`write_report(frame, out)` lays out::

    out/report.md, out/report.html     tables + figures (images linked by relative path)
    out/figures/<name>.png|.pdf        one file per figure and format
    out/data/<name>.csv                the numbers behind each figure, and each table
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from designspace import analysis as an
from designspace.analysis.bootstrap import MIN_PER_DRAW
from designspace.analysis.outcomes import ERROR, PENALTY, Policy
from designspace.reporting import plots
from designspace.util.atomic import atomic_write_text

__all__ = ["ReportSettings", "markdown_table", "write_report"]


@dataclass(frozen=True)
class ReportSettings:
    policy: Policy = "penalize"
    penalty: float = PENALTY
    bins: int = 10
    normalize: tuple[str, ...] = ("params", "flops")
    empty: str = "merge"
    min_per_draw: int = MIN_PER_DRAW
    frac: float = 0.25
    draws: int = 10_000
    seed: int = 0
    top: int = 20
    ks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    formats: tuple[str, ...] = ("png", "pdf")
    wm_range: tuple[float, float] = an.DEFAULT_WM_RANGE
    title: str = "Design-space analysis"
    sources: tuple[str, ...] = field(default_factory=tuple)


# --- formatting --------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    """Ints as ints; floats with `digits` decimals, very small or large ones in scientific notation."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return str(value)


def _short(value: float) -> str:
    """Four significant digits, no trailing zeros (parameter values)."""
    return f"{float(value):.4g}"


def markdown_table(frame: pd.DataFrame, digits: dict[str, int] | None = None) -> str:
    """A GitHub-style Markdown table (tabulate), numbers rounded per column (default 3 decimals)."""
    from tabulate import tabulate

    digits = digits or {}
    cols = [str(c) for c in frame.columns]
    rows = [[_fmt(v, digits.get(c, 3)).replace("|", "\\|") for c, v in zip(cols, row)]
            for row in frame.itertuples(index=False)]
    return tabulate(rows, headers=cols, tablefmt="github", disable_numparse=True)


_SAFE_URL = re.compile(r"^(?:https?:|mailto:|#|[^:/?#]*(?:[/?#]|$))", re.IGNORECASE)


def _no_raw_html() -> Any:
    """A Python-Markdown extension for text that comes from sweeps (space names, setups, reasons): raw HTML is
    shown as text, never passed through, and a link or image may not use a script (javascript:, data:) URL."""
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class SafeUrls(Treeprocessor):
        def run(self, root: Any) -> None:
            for el in root.iter():
                for attr in ("href", "src"):
                    value = el.get(attr)
                    if value is not None and not _SAFE_URL.match("".join(value.split())):
                        el.set(attr, "#")

    class NoRawHtml(Extension):
        def extendMarkdown(self, md: Any) -> None:  # noqa: N802 - Python-Markdown's name
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")
            md.treeprocessors.register(SafeUrls(md), "safe_urls", 0)

    return NoRawHtml()


def render_html(markdown_text: str, title: str) -> str:
    """The HTML page of a Markdown report (Python-Markdown with tables and fenced code), one style. Every value
    in the report may come from someone else's sweep, so raw HTML in the Markdown is escaped, not rendered."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code", _no_raw_html()],
                             output_format="html")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


# --- the document ---------------------------------------------------------------------------------------
@dataclass
class Document:
    """A report built as Markdown, written as report.md and its HTML rendering (`render_html`)."""

    md: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.md.append(f"{'#' * level} {text}\n")

    def para(self, text: str) -> None:
        self.md.append(text + "\n")

    def bullets(self, items: Sequence[str]) -> None:
        self.md.append("\n".join(f"- {i}" for i in items) + "\n")

    def code(self, text: str, lang: str = "") -> None:
        self.md.append(f"```{lang}\n{text.rstrip()}\n```\n")

    def table(self, frame: pd.DataFrame, csv: str | None = None, digits: dict[str, int] | None = None,
              empty: str = "No rows.") -> None:
        """The table (with a link to its CSV); a table without rows is never drawn: `empty` says why."""
        if frame.empty:
            self.para(empty)
            return
        self.md.append(markdown_table(frame, digits) + (f"\n\n([CSV]({csv}))\n" if csv else "\n"))

    def figure(self, number: int, caption: str, stem: str, formats: Sequence[str], csvs: Sequence[str]) -> None:
        img = f"figures/{stem}.png" if "png" in formats else f"figures/{stem}.{formats[0]}"
        links = [f"[{f.upper()}](figures/{stem}.{f})" for f in formats] + [f"[{Path(c).name}]({c})" for c in csvs]
        self.md.append(f"![Figure {number}: {caption}]({img})\n\n*Figure {number}.* {caption} ({', '.join(links)})\n")

    def text(self) -> str:
        return "\n".join(self.md)

    def write(self, out: Path, stem: str, title: str) -> Path:
        """Write out/<stem>.md and out/<stem>.html atomically; returns the Markdown file's path."""
        text = self.text()
        atomic_write_text(out / f"{stem}.md", text)
        atomic_write_text(out / f"{stem}.html", render_html(text, title))
        return out / f"{stem}.md"


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:right}th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}"
        "figcaption{font-size:.9em;color:#444}.src{font-size:.8em;margin-top:0}")


def _slug(name: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return keep.strip("_") or "space"


# --- the report -----------------------------------------------------------------------------------------
def _damaged_note(frame: pd.DataFrame) -> str:
    """'N damaged records set aside' per sweep directory that has any (their models count as untrained)."""
    from designspace.sweep.results import DAMAGED_DIR, damaged_count

    if "sweep_dir" not in frame:
        return ""
    counts = {d: damaged_count(d) for d in frame["sweep_dir"].dropna().unique()}
    parts = [f"{n} in {d}/results/{DAMAGED_DIR}" for d, n in counts.items() if n]
    return ("Damaged result records set aside (kept; their models count as not trained): " + ", ".join(parts)
            if parts else "")


def write_report(frame: pd.DataFrame, out: str | os.PathLike, settings: ReportSettings | None = None) -> Path:
    """Analyse `frame` (one or more spaces, column `space`) and write the report under `out`.

    Returns the path of report.md. Every number in the tables and figures comes from
    `designspace.analysis` with `settings`; files already in `out` are overwritten, others kept.
    """
    s = settings or ReportSettings()
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    frame = an.add_derived(frame, fit=True, wm_range=s.wm_range)
    names = [n for n, _ in an.space_groups(frame)]
    colors = plots.space_colors(names)
    pol = {"policy": s.policy, "penalty": s.penalty}
    doc = Document()
    figure_no = [0]

    def csv(name: str, table: pd.DataFrame) -> str:
        table.to_csv(out / "data" / f"{name}.csv", index=False)
        return f"data/{name}.csv"

    def figure(stem: str, caption: str, make: Callable[[], Any], data: dict[str, pd.DataFrame]) -> None:
        fig = make()
        for fmt in s.formats:
            fig.savefig(out / "figures" / f"{stem}.{fmt}")
        figure_no[0] += 1
        doc.figure(figure_no[0], caption, stem, s.formats, [csv(k, v) for k, v in data.items()])

    summary = an.summary_table(frame, **pol)
    doc.heading(s.title, 1)
    if s.sources:
        doc.para("Sources: " + ", ".join(s.sources))
    setup_note = _setup_note(frame)
    if setup_note:
        doc.para(setup_note)
    damaged = _damaged_note(frame)
    if damaged:
        doc.para(damaged)
    untrained = [str(r["space"]) for _, r in summary.iterrows() if int(r["n"]) == 0]
    if len(untrained) == len(summary):
        doc.heading("Spaces", 2)
        doc.table(summary, csv("summary", summary))
        doc.para("No trained models yet, so there is nothing to analyse: train the sweeps with "
                 "`python -m designspace.train sweep_dir=DIR`, then rerun this command.")
        return doc.write(out, "report", s.title)
    if untrained:
        frame = frame[~frame["space"].astype(str).isin(untrained)]
        names = [n for n in names if n not in untrained]
    doc.heading("Methods", 2)
    doc.bullets(_methods(s, frame))

    doc.heading("Spaces", 2)
    doc.table(summary, csv("summary", summary), {"min_error": 2, "median_error": 2, "mean_error": 2})
    if untrained:
        doc.para(f"Not trained yet, so left out of everything below: {', '.join(untrained)}.")

    if len(names) >= 2:
        ks = an.ks_table(frame, s.normalize[-1] if s.normalize else None, s.bins, s.empty, **pol)
        doc.heading("KS distances between spaces", 2)
        doc.para("D = sup |F_a - F_b| of the error EDFs; p from scipy's two-sample KS test (unweighted); "
                 f"D_normalized_{s.normalize[-1] if s.normalize else ''} between the complexity-normalized EDFs.")
        doc.table(ks, csv("ks", ks), {"D": 3, "p_value": 3}, empty="No pair of spaces with trained models.")

    doc.heading("Error distributions", 2)
    figure("edf", "Error EDFs, F(e) = share of models with error < e. Legend: n, min and mean error; "
           "diverged/failed models as stated.", lambda: plots.plot_edfs(frame, colors=colors, **pol),
           {"edf": an.edf_table(frame, **pol)})
    if s.normalize:
        norm = pd.concat([an.edf_table(frame, b, s.bins, s.empty, **pol).assign(normalized_by=b) for b in s.normalize],
                         ignore_index=True)
        figure("edf_normalized", f"Plain and complexity-normalized EDFs ({s.bins} equal bins over the range of all "
               f"spaces; empty bins: {s.empty}).",
               lambda: plots.plot_normalized_edfs(frame, s.normalize, s.bins, s.empty, colors=colors, **pol),
               {"edf_normalized": norm})
    metrics = [m for m in an.COMPLEXITY_METRICS if m in frame]
    points = _points(frame, metrics, s)
    figure("complexity", "Error against flops, params and activations.",
           lambda: plots.plot_complexity_scatter(frame, metrics, colors=colors, **pol), {"complexity": points})
    rs = an.random_search_table(frame, s.ks, **pol)
    figure("random_search", "Expected minimum error of k models drawn at random (closed form from the EDF); "
           "band: 95% interval of that minimum.", lambda: plots.plot_random_search(frame, s.ks, colors=colors, **pol),
           {"random_search": rs})

    doc.heading("Where the good models are", 2)
    ranges = an.best_ranges(frame, None, s.frac, s.draws, s.seed, min_per_draw=s.min_per_draw, **pol)
    doc.para(f"Bootstrap of the best model: {s.draws} draws of {s.frac:.0%} of the models with replacement; "
             "median [2.5%, 97.5%] of the parameter value of the lowest-error model of each draw."
             + (f" n and models per draw: {_n_per_draw(ranges)}." if not ranges.empty else ""))
    too_few = _too_few_note(ranges, s.frac, s.min_per_draw)
    doc.table(_ranges_wide(ranges), csv("best_ranges", ranges), empty=too_few)
    if too_few and not ranges.empty:
        doc.para(too_few)
    for name in names:
        sub = frame[frame["space"].astype(str) == name] if "space" in frame else frame
        cols = [c for c, _ in an.param_columns(sub)]
        if not cols:
            continue
        figure(f"params_{_slug(name)}", f"{name}: error against each parameter; shaded: 95% interval, line: median "
               "of the best model's value (bootstrap).",
               lambda sub=sub, name=name, cols=cols: plots.plot_param_scatter(
                   sub, name, cols, s.frac, s.draws, s.seed, colors=colors, ranges=ranges, **pol),
               {f"params_{_slug(name)}": _param_points(sub, cols, s),
                f"params_{_slug(name)}_best": ranges[ranges["space"] == name]})

    doc.heading("The linear width rule", 2)
    ef = an.efit_table(frame, s.top, **pol)
    doc.para("e_fit: mean over blocks of |ln w_hat_j - ln w_j| of the best quantized-linear fit (w0, wa, wm) "
             f"at the model's own depth, wm in [{s.wm_range[0]:g}, {s.wm_range[1]:g}], w0 a multiple of 8. "
             "Exact fits (e_fit = 0) are recognised exactly; other values are the best found by the search "
             f"(upper bounds). Line: least squares w0 + wa*j through the block widths of the top {s.top} models.")
    doc.table(ef, csv("efit_summary", ef), {"exact_share": 2, "median_e_fit": 4, "mean_e_fit": 4,
                                            "median_e_fit_top": 4, "line_w0": 1, "line_wa": 2, "line_rmse": 1})
    figure("efit", "Quality of the quantized-linear fit: EDF of e_fit per space, and error against e_fit.",
           lambda: plots.plot_efit(frame, colors=colors, **pol), {"efit": _efit_points(frame, s)})
    for name in names:
        sub = frame[frame["space"].astype(str) == name] if "space" in frame else frame
        sub = sub[sub["e_fit"].notna()]  # models with per-stage widths
        if sub.empty:
            continue
        best = an.best_models(sub, s.top, **pol)
        figure(f"widths_{_slug(name)}", f"{name}: per-block widths of the {s.top} best models, the fitted line "
               "(dashed) and the paper's 48*(j+1) (dotted).",
               lambda sub=sub, name=name: plots.plot_width_profiles(sub, name, s.top, colors=colors, **pol),
               {f"widths_{_slug(name)}": _profiles(best)})

    if len(names) >= 2 and "flops" in frame:
        trends = an.trend_table(frame, frac=s.frac, draws=s.draws, seed=s.seed, min_per_draw=s.min_per_draw, **pol)
        doc.heading("Trends across sweeps", 2)
        if trends.empty:
            doc.para(_too_few_note(trends, s.frac, s.min_per_draw) or "No sweep has the columns for trends.")
        else:
            figure("trends", "Best models' parameters and complexity against flops, one point per sweep (median "
                   "flops), bootstrap median and 95% interval; lines join the sweeps of one design space.",
                   lambda: plots.plot_trends(frame, frac=s.frac, seed=s.seed, colors=colors, table=trends, **pol),
                   {"trends": trends})
            if trends.attrs.get("too_few"):
                doc.para(_too_few_note(trends, s.frac, s.min_per_draw))

    return doc.write(out, "report", s.title)


def _n_per_draw(table: pd.DataFrame) -> str:
    """'A: n=50, 12 per draw; B: ...' from a best_ranges table."""
    first = table.groupby("space", sort=False)[["n", "per_draw"]].max()
    return "; ".join(f"{sp}: n={int(r['n'])}, {int(r['per_draw'])} per draw" for sp, r in first.iterrows())


def _too_few_note(table: pd.DataFrame, frac: float, min_per_draw: int) -> str:
    """Which spaces the best-model bootstrap skipped, and the n it needs."""
    from designspace.analysis.bootstrap import per_draw

    skipped = table.attrs.get("too_few") or {}
    if not skipped:
        return ""
    need = next(n for n in range(1, 10**7) if per_draw(n, frac) >= min_per_draw)
    parts = [f"{sp} (n={n}, {per_draw(n, frac) if n else 0} per draw)" for sp, n in skipped.items()]
    return (f"Too few models for the best-model bootstrap, not estimated: {', '.join(parts)}. With {frac:.0%} "
            f"subsamples it needs at least {min_per_draw} models per draw, so n >= {need} per space; with fewer, "
            "'the best model of a draw' is close to a random model.")


def _setup_note(frame: pd.DataFrame) -> str:
    """The training setup of each sweep's records (one per sweep: `results.load` never mixes them)."""
    if "setup" not in frame or "sweep_dir" not in frame:
        return ""
    seen = frame.drop_duplicates("sweep_dir")
    parts = [f"{r['space']}: setup {r['setup']}" + (f" ({r['setup_desc']})" if isinstance(r.get("setup_desc"), str)
                                                      else "")
             for _, r in seen.iterrows() if isinstance(r["setup"], str)]
    return "Training setups (dataset, schedule, seed): " + "; ".join(parts) + "." if parts else ""


def _methods(s: ReportSettings, frame: pd.DataFrame) -> list[str]:
    pen = (f"diverged/failed models count with error {s.penalty:g}%" if s.policy == "penalize"
           else "diverged/failed models are left out")
    return [
        "Error: final top-1 test error (%) of each trained model; untrained models are left out and counted.",
        f"Missing results: {pen}; their number is given in every figure legend and in the Spaces table.",
        "EDF: F(e) = share of models with error strictly below e.",
        f"Normalized EDF (NDS): {s.bins} equal-width bins of {' / '.join(s.normalize) or '-'} over the range of all "
        f"spaces; a model in a bin of m models weighs 1/({s.bins} m); empty bins: {s.empty} "
        "(merge: an empty bin joins the preceding non-empty one, which then carries its share).",
        "KS: D = sup over e of |F_a(e) - F_b(e)|, on the union of the error values.",
        f"Bootstrap: {s.draws} draws, {s.frac:.0%} of the models each, seed {s.seed}; 95% percentile interval.",
        f"Models: {len(frame)} in {frame['space'].nunique() if 'space' in frame else 1} space(s).",
    ]


def _points(frame: pd.DataFrame, metrics: Sequence[str], s: ReportSettings) -> pd.DataFrame:
    parts = []
    for name, rows in an.space_groups(frame):
        used, _ = an.resolve_errors(rows, s.policy, s.penalty)
        cols = [c for c in ("model_id", *metrics) if c in used]
        parts.append(used[cols + [ERROR, "outcome"]].assign(space=name))
    return pd.concat(parts, ignore_index=True)


def _param_points(sub: pd.DataFrame, cols: Sequence[str], s: ReportSettings) -> pd.DataFrame:
    used, _ = an.resolve_errors(sub, s.policy, s.penalty)
    keep = [c for c in ("model_id", *cols) if c in used]
    return used[keep + [ERROR, "outcome"]]


def _efit_points(frame: pd.DataFrame, s: ReportSettings) -> pd.DataFrame:
    cols = [c for c in ("space", "model_id", "total_depth", "fit_w0", "fit_wa", "fit_wm", "e_fit", "e_fit_exact",
                        "status", "error") if c in frame]
    return frame[cols]


def _profiles(best: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rank, (_, r) in enumerate(best.iterrows(), start=1):
        w = an.block_widths_of(r)
        rows += [{"rank": rank, "model_id": r.get("model_id"), "err": r[ERROR], "j": j, "width": int(x)}
                 for j, x in enumerate(w)]
    table = pd.DataFrame(rows, columns=["rank", "model_id", "err", "j", "width"])
    if len(best):
        line = an.fit_width_line(best)
        table["line_w0"], table["line_wa"] = line.w0, line.wa
    return table


def _ranges_wide(ranges: pd.DataFrame) -> pd.DataFrame:
    """param x space table of 'median [low, high]' cells."""
    if ranges.empty:
        return ranges
    cell = ranges.assign(cell=[f"{_short(m)} [{_short(lo)}, {_short(hi)}]"
                               for m, lo, hi in zip(ranges["median"], ranges["low"], ranges["high"])])
    wide = cell.pivot(index="param", columns="space", values="cell")
    order = list(dict.fromkeys(ranges["param"]))
    wide = wide.reindex(order)[list(dict.fromkeys(ranges["space"]))]
    return wide.reset_index().fillna("-")
