"""A report as Markdown and one HTML page to mail, and the sweep report.

`render_html` renders a report's Markdown into one page with one style, safe for text from someone else's sweep
(raw HTML escaped, an allow-list sanitiser, no script or off-host URL) and, written beside its files, one file to
mail: its own figures embedded, every other file beside it named as text, never linked. Every report of the package
(analyze, refine, reproduce) is written through it; `Document` builds the Markdown. `write_report(frame, out)`
writes the sweep report::

    out/report.md, out/report.html     tables + figures (report.md links them; report.html is one file to mail)
    out/figures/<name>.png|.pdf        one file per figure and format
    out/data/<name>.csv                the numbers behind each figure, and each table

Every number comes from one `analysis.Analysis`; nothing here computes a statistic or reads a sweep directory.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from designspace import analysis as an
from designspace.analysis.bootstrap import per_draw
from designspace.reporting import hparam_plots, layout, plots
from designspace.reporting.background import ForkedTasks
from designspace.util.atomic import atomic_write_text
from designspace.util.names import file_slug, markdown_text, one_line, spreadsheet_safe

__all__ = ["ReportSettings", "markdown_table", "render_html", "write_report"]


@dataclass(frozen=True)
class ReportSettings(an.AnalysisSettings):
    """How the tables are computed (`AnalysisSettings`), plus what the report looks like."""

    formats: tuple[str, ...] = ("png", "pdf")
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


def markdown_table(frame: pd.DataFrame, digits: dict[str, int] | None = None) -> str:
    """A GitHub-style Markdown table (tabulate), numbers rounded per column (default 3 decimals); every text
    cell and column name is literal text (`markdown_text`: a space name cannot add a row, link or heading)."""
    from tabulate import tabulate

    digits = digits or {}
    cols = [str(c) for c in frame.columns]
    rows = [[_cell(v, digits.get(c, 3)) for c, v in zip(cols, row)] for row in frame.itertuples(index=False)]
    return tabulate(rows, headers=[markdown_text(c) for c in cols], tablefmt="github", disable_numparse=True)


def _cell(value: Any, digits: int) -> str:
    text = _fmt(value, digits)
    return text if isinstance(value, (int, float, np.number, bool, np.bool_)) or value is None else markdown_text(text)


_SAFE_URL = re.compile(r"^(?:https?:|mailto:|#|(?![/\\]{2})[^:/?#\\]*(?:[/?#]|$))", re.IGNORECASE)
"""http(s), mailto, a fragment or a relative URL - not a protocol-relative one (`//host/x`, `\\\\host\\x`), which
fetches from another host (an SMB request from a file:// page on Windows)."""


def _no_raw_html(unlink: bool = False) -> Any:
    """A Python-Markdown extension for text that comes from sweeps (space names, setups, reasons): raw HTML is
    shown as text, never passed through, and a link or image may not use a script (javascript:, data:) URL.
    With `unlink`, a link to a file beside the page (a relative URL) becomes text (`_as_text`)."""
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class SafeUrls(Treeprocessor):
        def run(self, root: Any) -> None:
            for el in root.iter():
                for attr in ("href", "src"):
                    value = el.get(attr)
                    if value is not None and not _safe_url(value):
                        el.set(attr, "#")
            for el in [el for el in root.iter("a") if unlink and _beside(el.get("href", ""))]:
                _as_text(el)

    class NoRawHtml(Extension):
        def extendMarkdown(self, md: Any) -> None:  # noqa: N802 - Python-Markdown's name
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")
            md.treeprocessors.register(SafeUrls(md), "safe_urls", 0)

    return NoRawHtml()


ALLOWED_TAGS = frozenset({"a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
                          "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"style"}, "td": {"style"}}
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
"""What a report's HTML may hold, by name (everything else is dropped by nh3): the tags Python-Markdown writes for
our Markdown, links and images with http(s)/mailto or relative URLs, and table cells' text-align."""


def _safe_url(url: str) -> bool:
    """Whether a link or image URL may stay: `_SAFE_URL`, judged with whitespace and control characters removed
    (as a browser reads it) and with no backslash anywhere (browsers read `\\` as `/`: `/\\host` is `//host`)."""
    cleaned = "".join(ch for ch in url if not (ch.isspace() or ch < " " or ch == "\x7f"))
    return "\\" not in cleaned and _SAFE_URL.match(cleaned) is not None


def _beside(url: str) -> bool:
    """Whether `url` names a file beside the page (relative: no scheme, not a fragment of the page itself)."""
    return not urlsplit(url).scheme and not url.startswith("#")


def _as_text(link: Any) -> None:
    """Turn the link element `link` into text: its URL as code when the link text is the URL, else the link text
    followed by the URL as code in parentheses (the `span` left around it is dropped by the sanitiser)."""
    from xml.etree.ElementTree import SubElement

    url = link.get("href", "")
    link.attrib.clear()
    if "".join(link.itertext()).strip() == url:
        link.tag = "code"
        return
    link.tag = "span"
    last = list(link)[-1] if len(link) else None
    if last is not None:
        last.tail = (last.tail or "") + " ("
    else:
        link.text = (link.text or "") + " ("
    code = SubElement(link, "code")
    code.text, code.tail = url, ")"


def _relative_url(url: str) -> str | None:
    """nh3's judge of a relative URL: kept unless protocol-relative or with a backslash (then dropped)."""
    return url if _safe_url(url) else None


def sanitize_html(body: str) -> str:
    """`body` through an allow-list sanitiser (nh3, Rust's ammonia): tags, attributes, URL schemes and style
    properties allowed by name, entities decoded before any URL is judged - so a name like
    `[x](java&#115;cript:...)` in someone's sweep can never become a live link, handler or script - and relative
    URLs only when they stay on this page's host (`//host/x.png`, `\\\\host\\x` are dropped)."""
    import nh3

    return nh3.clean(body, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                     url_schemes=set(ALLOWED_SCHEMES), filter_style_properties={"text-align"},
                     link_rel="noopener noreferrer", strip_comments=True, url_relative=_relative_url)


_IMG = re.compile(r"<img\b[^>]*>")
EMBEDDED = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _attribute(tag: str, name: str) -> str | None:
    """The value of attribute `name` of an HTML start tag as the sanitiser wrote it (double quotes), unescaped."""
    found = re.search(rf'\b{name}="([^"]*)"', tag)
    return html.unescape(found.group(1)) if found else None


def embed_images(body: str, base: Path) -> str:
    """Replace each image that is a file under `base` (the report's own figures, by relative path) with its
    bytes as a data URI, so the page is one file that can be mailed; any other image beside the page (missing,
    outside `base`, not PNG or JPEG) becomes its alt text and path, as text. Runs after `sanitize_html`, which
    never lets a data: URL through from the text itself."""
    import base64

    root = base.resolve()

    def inline(match: re.Match) -> str:
        tag, src = match.group(0), _attribute(match.group(0), "src")
        if src is None or not _beside(src):
            return tag
        path = (root / src).resolve()
        kind = EMBEDDED.get(path.suffix.lower())
        if kind is None or root not in path.parents or not path.is_file():
            alt = html.escape(_attribute(tag, "alt") or "figure")
            return f"<em>{alt} (not embedded: <code>{html.escape(src)}</code>)</em>"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return re.sub(r'\bsrc="[^"]*"', lambda _: f'src="data:{kind};base64,{data}"', tag, count=1)

    return _IMG.sub(inline, body)


def render_html(markdown_text: str, title: str, base: Path | None = None) -> str:
    """The HTML page of a Markdown report (Python-Markdown with tables and fenced code), one style. Every value
    in the report may come from someone else's sweep: raw HTML in the Markdown is escaped, not rendered, and the
    rendered body is sanitised by an allow-list (`sanitize_html`). With `base` (the folder the page is written to)
    the page is one file to mail: its own figures embedded (`embed_images`), and every link to a file beside it
    shown as that file's path in plain text (`_as_text`), so that nothing on the page points beside it."""
    import markdown

    extensions = ["tables", "fenced_code", _no_raw_html(unlink=base is not None)]
    body = sanitize_html(markdown.markdown(markdown_text, extensions=extensions, output_format="html"))
    if base is not None:
        body = embed_images(body, base)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


# --- the document ---------------------------------------------------------------------------------------
@dataclass
class Document:
    """A report built as Markdown, written as report.md and its HTML rendering (`render_html`)."""

    md: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        """A heading of plain text (`markdown_text`: names in it stay names, on one line)."""
        self.md.append(f"{'#' * level} {markdown_text(text)}\n")

    def para(self, text: str) -> None:
        self.md.append(text + "\n")

    def bullets(self, items: Sequence[str]) -> None:
        self.md.append("\n".join(f"- {i}" for i in items) + "\n")

    def code(self, text: str, lang: str = "") -> None:
        """A fenced code block, its fence longer than any run of backquotes in `text` (which cannot close it)."""
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
        self.md.append(f"{fence}{lang}\n{text.rstrip()}\n{fence}\n")

    def table(self, frame: pd.DataFrame, csv: str | None = None, digits: dict[str, int] | None = None,
              empty: str = "No rows.") -> None:
        """The table (with a link to its CSV, named by its path); a table without rows is never drawn: `empty`
        says why."""
        if frame.empty:
            self.para(empty)
            return
        self.md.append(markdown_table(frame, digits) + (f"\n\n([{csv}]({csv}))\n" if csv else "\n"))

    figures: int = 0

    def figure(self, number: int | None, caption: str, stem: str, formats: Sequence[str], csvs: Sequence[str] = (),
               folder: str = "figures") -> int:
        """Figure `number` (None: the next one): the image (PNG if written) under `folder`, caption and links to its
        files, each named by its path (report.html shows the paths as text)."""
        number = number if number is not None else self.figures + 1
        self.figures = max(self.figures, number)
        where = f"{folder}/" if folder else ""
        img = f"{where}{stem}.png" if "png" in formats else f"{where}{stem}.{formats[0]}"
        links = [f"[{where}{stem}.{f}]({where}{stem}.{f})" for f in formats] + [f"[{c}]({c})" for c in csvs]
        self.md.append(f"![Figure {number}: {caption}]({img})\n\n*Figure {number}.* {caption} ({', '.join(links)})\n")
        return number

    def add_figure(self, fig: Any, out: Path, stem: str, caption: str, formats: Sequence[str] = ("png", "pdf"),
                   csvs: Sequence[str] = (), folder: str = "figures") -> int:
        """Save `fig` as out/<folder>/<stem>.<format> (200 dpi; `plots.save`) and add it as the next figure."""
        (out / folder).mkdir(parents=True, exist_ok=True)
        plots.save(fig, out / folder / stem, formats)
        return self.figure(None, caption, stem, formats, csvs, folder)

    def text(self) -> str:
        return "\n".join(self.md)

    def write(self, out: Path, stem: str, title: str) -> Path:
        """Write out/<stem>.md and out/<stem>.html atomically; returns the Markdown file's path."""
        text = self.text()
        atomic_write_text(out / f"{stem}.md", text)
        atomic_write_text(out / f"{stem}.html", render_html(text, title, base=out))
        return out / f"{stem}.md"


_CSS = (f"body{{font-family:system-ui,sans-serif;max-width:{layout.PAGE_PX}px;margin:2em auto;padding:0 1em;color:#222}}"
        "table{border-collapse:collapse;margin:.5em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:right}th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}"
        "figcaption{font-size:.9em;color:#444}.src{font-size:.8em;margin-top:0}")


def _slug(name: str) -> str:
    """A space name in a figure's or CSV's file name: safe and bounded (a 300-character name fits a file name)."""
    return file_slug(name, "space")


NAME_COLUMNS = ("space", "space_name", "budget")


def one_line_names(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its names (space labels, space and budget names) on one line (`one_line`), so that no figure,
    table, CSV or terminal line shows a line break from someone else's sweep; a UserError when two labels become
    one (they would be merged)."""
    from designspace.util.usage import UserError

    changed = {}
    for col in (c for c in NAME_COLUMNS if c in frame):
        values = frame[col]
        mapped = values.map(lambda v: one_line(v) if isinstance(v, str) else v)
        if not mapped.equals(values):
            changed[col] = mapped
    if not changed:
        return frame
    if "space" in changed and frame["space"].nunique() != changed["space"].nunique():
        raise UserError("two space labels differ only in line breaks or control characters; name the sweeps "
                        "with names=[...]")
    out = frame.copy()
    for col, mapped in changed.items():
        out[col] = mapped
    out.attrs = dict(frame.attrs)
    return out


def write_report(data: pd.DataFrame | an.Analysis, out: str | os.PathLike, settings: ReportSettings | None = None,
                 workers: int | None = None) -> Path:
    """Analyse `data` (a sweep table of one or more spaces, column `space`; or an `Analysis` already made of
    one) and write the report under `out`. Returns the path of report.md.

    Every number comes from one `analysis.Analysis` (each table computed once): the CSVs, the Markdown and
    every figure are drawn from its tables. Files already in `out` are overwritten, others kept. `workers`:
    figures drawn and saved in that many child processes at once (`reporting.background`; None: one per usable
    core, 0: here)."""
    a, s = _analysis(data, settings or ReportSettings())
    out = Path(out)
    for sub in ("data", "figures"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    doc, figures = Document(), _Figures(out / "figures", s.formats, workers)

    def csv(name: str, table: pd.DataFrame) -> str:
        spreadsheet_safe(table).to_csv(out / "data" / f"{name}.csv", index=False)
        return f"data/{name}.csv"

    def figure(stem: str, caption: str, data: dict[str, pd.DataFrame], draw: Callable[..., Any], *args: Any) -> None:
        """The next figure: `draw(*args)` (a `plots` function and tables of `a`) drawn and saved in a child while
        the report goes on; `data`'s tables written as its CSVs."""
        doc.figure(None, caption, stem, s.formats, [csv(k, v) for k, v in data.items()], "figures")
        figures.submit(stem, draw, *args)

    sections = SECTIONS if a.trained else (_header, _untrained_section)
    for section in sections:
        section(doc, a, s, figure, csv)
    figures.join()  # every figure on disk before report.html embeds them
    return doc.write(out, "report", s.title)


def _analysis(data: pd.DataFrame | an.Analysis, s: ReportSettings) -> tuple[an.Analysis, ReportSettings]:
    """The report's `Analysis` and settings: an `Analysis` given keeps its own settings (the report states
    those); a sweep table is analysed with `s`, its names on one line."""
    if isinstance(data, an.Analysis):
        return data, dataclasses.replace(s, **{f.name: getattr(data.settings, f.name)
                                               for f in dataclasses.fields(data.settings)})
    return an.Analysis(one_line_names(data), s), s


AddFigure = Callable[..., None]
Csv = Callable[[str, pd.DataFrame], str]
"""A section's callbacks: `figure(stem, caption, tables, draw, *args)` and `csv(name, table) -> its path`."""


def _header(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    """The title, sources, training setups and damaged records."""
    doc.heading(s.title, 1)
    if s.sources:
        doc.para("Sources: " + ", ".join(markdown_text(source) for source in s.sources))
    for note in (_setup_note(a.frame), _damaged_note(a.damaged)):
        if note:
            doc.para(note)


def _untrained_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    doc.heading("Spaces", 2)
    doc.table(a.summary, csv("summary", a.summary))
    doc.para("No trained models yet, so there is nothing to analyse: train the sweeps with "
             "`python -m designspace.train sweep_dir=DIR`, then rerun this command.")


def _spaces_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    """Methods, the spaces' summary and the KS distances between them."""
    doc.heading("Methods", 2)
    doc.bullets(_methods(a))
    doc.heading("Spaces", 2)
    doc.table(a.summary, csv("summary", a.summary), {"min_error": 2, "median_error": 2, "mean_error": 2})
    if a.untrained:
        doc.para(f"Not trained yet, so left out of everything below: {', '.join(map(markdown_text, a.untrained))}.")
    if len(a.trained) >= 2:
        doc.heading("KS distances between spaces", 2)
        doc.para("D = sup |F_a - F_b| of the error EDFs; p from scipy's two-sample KS test (unweighted); "
                 f"D_normalized_{s.normalize[-1] if s.normalize else ''} between the complexity-normalized EDFs.")
        doc.table(a.ks, csv("ks", a.ks), {"D": 3, "p_value": 3}, empty="No pair of spaces with trained models.")


def _axis_note(a: an.Analysis) -> str:
    return (f"The error axis ends at the {a.settings.bulk:g}th percentile of each space's trained models' errors "
            f"(at most {a.error_range[1]:.1f}%); curves and points beyond it end in a triangle at the edge.")


def _distributions_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    """The error EDFs, plain and complexity-normalized, error against complexity, and random search."""
    labels, colors, note = plots.legend_labels(a.summary, a.counts), plots.space_colors(a.names), _axis_note(a)
    doc.heading("Error distributions", 2)
    figure("edf", "Error EDFs, F(e) = share of models with error < e. Legend: name [min|mean error] and n; "
           f"diverged/failed models as stated. {note}", {"edf": a.edf}, plots.plot_edfs, a, labels, colors)
    if s.normalize and a.bins > 1:
        norm = pd.concat([a.normalized_edf(b).assign(normalized_by=b) for b in s.normalize], ignore_index=True)
        fewer = (f" Fewer than the {s.bins} asked for: the smallest space has {_smallest(a)} models, and a bin needs "
                 f"{an.MIN_PER_BIN} on average, or one model's weight dominates." if a.bins < s.bins else "")
        figure("edf_normalized", f"Plain and complexity-normalized EDFs ({a.bins} equal bins over the range of all "
               f"spaces; empty bins: {s.empty}).{fewer} {note}", {"edf_normalized": norm},
               plots.plot_normalized_edfs, a, s.normalize, labels, colors)
    elif s.normalize:
        doc.para(f"No complexity-normalized EDFs: the smallest space has {_smallest(a)} models, fewer than "
                 f"{2 * an.MIN_PER_BIN} (two bins of {an.MIN_PER_BIN}); with one model weighing 1/(k m) of its "
                 "space, they would show single models, not the space.")
    figure("complexity", f"Error against flops (MF), params (M) and activations (M). {note}",
           {"complexity": a.complexity}, plots.plot_complexity_scatter, a.complexity, labels, colors, a.error_range)
    rs = a.random_search
    beyond = (" Dashed, without a band: k above n/2, extrapolated - the k draws from the n models would repeat "
              "models often, and never go below the best of the n." if rs["extrapolated"].any() else "")
    figure("random_search", "Expected minimum error of k models drawn at random (closed form from the EDF of the n "
           f"models); band: 95% interval of that minimum, cut at the top of the axis.{beyond}", {"random_search": rs},
           plots.plot_random_search, rs, labels, colors)


def _good_models_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    """The best-model bootstrap of every structural parameter: its table and a figure per space."""
    labels, colors = plots.legend_labels(a.summary, a.counts), plots.space_colors(a.names)
    doc.heading("Where the good models are", 2)
    ranges = a.best_ranges
    doc.para(f"Bootstrap of the best model: {s.draws} draws of {s.frac:.0%} of the models with replacement; "
             "median [2.5%, 97.5%] of the parameter value of the lowest-error model of each draw."
             + (f" n and models per draw: {_n_per_draw(ranges)}." if not ranges.empty else ""))
    too_few = _too_few_note(ranges, s.frac, s.min_per_draw)
    doc.table(_ranges_wide(ranges), csv("best_ranges", ranges), empty=too_few)
    if too_few and not ranges.empty:
        doc.para(too_few)
    for name in a.trained:
        points, cols = a.params(name)
        if not cols:
            continue
        mine = ranges[ranges["space"] == name]
        figure(f"params_{_slug(name)}", f"{markdown_text(name)}: error against each parameter; shaded: 95% interval, "
               f"line: median of the best model's value (bootstrap). {_axis_note(a)}",
               {f"params_{_slug(name)}": points, f"params_{_slug(name)}_best": mine},
               plots.plot_param_scatter, points, mine, name, cols, colors[name], labels[name], a.error_range, s.frac)


def _width_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    """The quantized-linear fit of every model (e_fit) and the widths of each space's best models."""
    labels, colors = plots.legend_labels(a.summary, a.counts), plots.space_colors(a.names)
    doc.heading("The linear width rule", 2)
    ef = a.efit
    doc.para("e_fit: mean over blocks of |ln w_hat_j - ln w_j| of the best quantized-linear fit (w0, wa, wm) "
             f"at the model's own depth, wm in [{s.wm_range[0]:g}, {s.wm_range[1]:g}], w0 a multiple of 8. "
             "Exact fits (e_fit = 0) are recognised exactly; other values are the best found by the search "
             f"(upper bounds). Line: least squares w0 + wa*j through the block widths of the best {s.top} models "
             "of a space (of those with per-stage widths; all of them where it has no more).")
    doc.table(ef, csv("efit_summary", ef) if len(ef) else None,
              {"exact_share": 2, "median_e_fit": 4, "mean_e_fit": 4, "median_e_fit_top": 4, "line_w0": 1,
               "line_wa": 2, "line_rmse": 1}, empty="No model has per-stage widths, so there is no width fit.")
    if len(ef):
        figure("efit", "Quality of the quantized-linear fit: EDF of e_fit per space, and error against e_fit. "
               + _axis_note(a), {"efit": a.efit_points, "efit_edf": a.efit_edf},
               plots.plot_efit, a.efit_points, a.efit_edf, ef, labels, colors, a.error_range)
    for name in a.trained:
        profiles, line, c = a.profiles(name), a.width_line(name), a.counts[name]
        if profiles.empty:
            continue
        shown = profiles["rank"].nunique()
        legend = f"best {shown} models of {name} (of n={c.used}{'; ' + c.note() if c.note() else ''})"
        figure(f"widths_{_slug(name)}", f"{markdown_text(name)}: per-block widths of "
               f"{f'all {c.used}' if shown >= c.used else f'the {shown} best of its {c.used}'} models, the fitted "
               "line (dashed) and the paper's 48*(j+1) (dotted).",
               {f"widths_{_slug(name)}": profiles.assign(line_w0=line[0] if line else float("nan"),
                                                         line_wa=line[1] if line else float("nan"))},
               functools.partial(plots.plot_width_profiles, n=c.used, color=colors[name], legend=legend),
               profiles, name, line)


def _hparams_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv) -> None:
    hparam_plots.hparams_section(doc, a, s, figure, csv)  # error against lr, wd, ... when a sweep sampled them


class _Figures:
    """A report's figures, each drawn and saved as folder/<stem>.<format> in a forked child (`ForkedTasks`), with a
    bar on a terminal (tqdm hides itself elsewhere) from the first figure on, whose total grows as figures are
    planned (~17 at 6 x 500, ~1 s each on a core)."""

    def __init__(self, folder: Path, formats: Sequence[str], workers: int | None) -> None:
        self.folder, self.formats, self.workers = folder, formats, workers
        self.bar: Any = None
        self.tasks: ForkedTasks | None = None

    def submit(self, stem: str, draw: Callable[..., Any], *args: Any) -> None:
        if self.tasks is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=0, desc="report figures", unit="figure", disable=None, leave=False)
            self.tasks = ForkedTasks(self.workers, on_done=lambda what: self.bar.update(1))
            if self.tasks.workers:
                layout.warm_up(self.formats)  # once here, not in every child
        self.bar.total += 1
        self.bar.refresh()
        self.tasks.submit(f"figures/{stem}", _draw_and_save, self.folder / stem, self.formats, draw, *args)

    def join(self) -> None:
        if self.tasks is None:
            return
        try:
            self.tasks.join()
        finally:
            self.bar.close()


def _draw_and_save(stem: Path, formats: Sequence[str], draw: Callable[..., Any], *args: Any) -> None:
    plots.save(draw(*args), stem, formats)


def _trends_section(doc: Document, a: an.Analysis, s: ReportSettings, figure: AddFigure, csv: Csv | None = None) -> None:
    """Trends across flop regimes (for two spaces or more with flops): drawn only for design spaces with at least
    two sweeps (regimes)."""
    if "flops" not in a.frame or len(a.trained) < 2:
        return
    doc.heading("Trends across regimes", 2)
    several = {fam: sweeps for fam, sweeps in a.regimes.items() if len(sweeps) >= 2}
    if not several:
        doc.para("No figure: every design space here has one sweep, i.e. one flop regime "
                 f"({', '.join(f'{markdown_text(f)}: {len(v)}' for f, v in a.regimes.items())}); trends across regimes need at "
                 "least two sweeps of one space at different budgets.")
        return
    trends = a.trends
    trends = trends[trends["family"].isin(several)]
    if trends.empty:
        doc.para(_too_few_note(a.trends, s.frac, s.min_per_draw) or "No sweep has the columns for trends.")
        return
    figure("trends", "Best models' parameters and complexity against flops, one point per sweep (median "
           "flops), bootstrap median and 95% interval; lines join the sweeps of one design space.", {"trends": trends},
           functools.partial(plots.plot_trends, colors=plots.space_colors(list(several)), frac=s.frac), trends)
    if a.trends.attrs.get("too_few"):
        doc.para(_too_few_note(a.trends, s.frac, s.min_per_draw))
    single = [f for f in a.regimes if f not in several]
    if single:
        doc.para(f"One regime only, so not in the figure: {', '.join(map(markdown_text, single))}.")


def _n_per_draw(table: pd.DataFrame) -> str:
    """'A: n=50, 12 per draw; B: ...' from a best_ranges table."""
    first = table.groupby("space", sort=False)[["n", "per_draw"]].max()
    return "; ".join(f"{markdown_text(sp)}: n={int(r['n'])}, {int(r['per_draw'])} per draw"
                     for sp, r in first.iterrows())


def _too_few_note(table: pd.DataFrame, frac: float, min_per_draw: int) -> str:
    """Which spaces the best-model bootstrap skipped, and the n it needs."""
    skipped = table.attrs.get("too_few") or {}
    if not skipped:
        return ""
    need = next(n for n in range(1, 10**7) if per_draw(n, frac) >= min_per_draw)
    parts = [f"{markdown_text(sp)} (n={n}, {per_draw(n, frac) if n else 0} per draw)" for sp, n in skipped.items()]
    return (f"Too few models for the best-model bootstrap, not estimated: {', '.join(parts)}. With {frac:.0%} "
            f"subsamples it needs at least {min_per_draw} models per draw, so n >= {need} per space; with fewer, "
            "'the best model of a draw' is close to a random model.")


def _setup_note(frame: pd.DataFrame) -> str:
    """The training setup of each sweep's records (one per sweep: `results.load` never mixes them)."""
    if "setup" not in frame or "sweep_dir" not in frame:
        return ""
    seen = frame.drop_duplicates("sweep_dir")
    parts = [f"{markdown_text(r['space'])}: setup {markdown_text(r['setup'])}"
             + (f" ({markdown_text(r['setup_desc'])})" if isinstance(r.get("setup_desc"), str) else "")
             for _, r in seen.iterrows() if isinstance(r["setup"], str)]
    return "Training setups (dataset, schedule, seed): " + "; ".join(parts) + "." if parts else ""


def _damaged_note(damaged: dict[str, int]) -> str:
    """'N in FOLDER' per sweep with damaged records set aside (`Analysis.damaged`; their models count as untrained)."""
    parts = [f"{n} in {markdown_text(folder)}" for folder, n in damaged.items() if n]
    return ("Damaged result records set aside (kept; their models count as not trained): " + ", ".join(parts)
            if parts else "")


def _smallest(a: an.Analysis) -> int:
    """Models used by the smallest trained space."""
    return min((g[2].used for g in a.resolved.groups if g[2].used), default=0)


def _methods(a: an.Analysis) -> list[str]:
    s = a.settings
    frame = a.frame[a.frame["space"].astype(str).isin(a.trained)] if "space" in a.frame else a.frame
    pen = (f"diverged/failed models count with error {s.penalty:g}%" if s.policy == "penalize"
           else "diverged/failed models are left out")
    return [
        "Error: final top-1 test error (%) of each trained model; untrained models are left out and counted.",
        f"Missing results: {pen}; their number is given in every figure legend and in the Spaces table.",
        "EDF: F(e) = share of models with error strictly below e.",
        f"Normalized EDF (NDS): {a.bins} equal-width bins of {' / '.join(s.normalize) or '-'} over the range of all "
        f"spaces (at most {s.bins}, at least {an.MIN_PER_BIN} models per bin on average in the smallest space); a "
        f"model in a bin of m models weighs 1/({a.bins} m); empty bins: {s.empty} "
        "(merge: an empty bin joins the preceding non-empty one, which then carries its share).",
        "KS: D = sup over e of |F_a(e) - F_b(e)|, on the union of the error values.",
        f"Bootstrap: {s.draws} draws, {s.frac:.0%} of the models each, seed {s.seed}; 95% percentile interval.",
        f"Figures: error axes end at the {s.bulk:g}th percentile of each space's trained errors; anything beyond "
        "is marked at the edge, never dropped.",
        f"Models: {len(frame)} in {len(a.trained)} space(s).",
    ]


def _short(value: float) -> str:
    """Four significant digits, no trailing zeros (parameter values)."""
    return f"{float(value):.4g}"


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


SECTIONS = (_header, _spaces_section, _distributions_section, _good_models_section, _hparams_section, _width_section,
            _trends_section)
"""The sweep report's sections, in order; each `section(doc, analysis, settings, figure, csv)`."""
