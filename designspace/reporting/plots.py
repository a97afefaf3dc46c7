"""Figures of design-space analyses in the paper's style; every function returns a matplotlib Figure.

Each function draws the tables it is given (`designspace.analysis.Analysis` computes them once per
report) and computes no statistic itself. For convenience the EDF, normalized-EDF, random-search and
width functions also take an `Analysis`, or a sweep table (then analysed with the keyword settings).

Conventions: one color per space across every figure of a report (`space_colors`); legends inside the
axes where no data is (else below the panels), entries `name [min|mean] n=`; error axes end at a
stated percentile of the trained models' errors (`AnalysisSettings.bulk`), models beyond it are marked
at the edge; flops, params and activations in MF / M; integer ticks for integer quantities; grid;
saved by `save` as 200 dpi PNG and PDF. Figures are built on `matplotlib.figure.Figure` (no pyplot).
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from designspace import analysis as an
from designspace.analysis.outcomes import ERROR, Counts
from designspace.util.atomic import atomic_write

__all__ = [
    "DPI", "legend_label", "legend_labels", "plot_complexity_scatter", "plot_edfs", "plot_effect_ladder",
    "plot_efit", "plot_normalized_edfs", "plot_param_scatter", "plot_random_search", "plot_trends",
    "plot_width_profiles", "readable_ticks", "save", "space_colors",
]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#F0E442", "#000000")
"""Okabe-Ito colors (colorblind-safe)."""
PAPER_SPACES = ("AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E", "RegNet", "RegNetX", "RegNetY")
"""The paper's spaces keep the same color in every report (their index in PALETTE)."""
DPI = 200
RC = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "lines.linewidth": 1.6,
    "legend.framealpha": 0.9, "legend.edgecolor": "#cccccc", "figure.dpi": 100, "savefig.dpi": DPI,
    "pdf.fonttype": 42, "axes.formatter.useoffset": False,
    "text.parse_math": False,  # names come from sweeps: `$^$` is text, never mathtext (which raises on it)
}
# pdf.fonttype 42 (TrueType, subset by fontTools) is kept although it is the slowest choice measured: the 17 PDFs of
# the 6 x 500 report took 13.7-16.2 s with it, 8.6-10.5 s with Type 3, 7.1-7.3 s with the 14 core fonts (2 cores,
# a loaded machine; experiments/bench_analysis.py --report); journals' PDF checks (IEEE PDF eXpress, ACM) reject
# Type 3 fonts, and the core fonts lack DejaVu's glyphs (the minus sign U+2212 of every negative tick).
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting logs every table at INFO under Hydra
ERROR_LABEL = "top-1 error (%)"
SCALE = {"flops": (1e-6, "flops (MF)"), "params": (1e-6, "params (M)"), "acts": (1e-6, "activations (M)")}
"""Complexity columns are drawn in millions: (factor, axis label)."""
LEGEND_SPOTS = ("lower right", "upper left", "upper right", "lower left", "center right", "center left",
                "upper center", "lower center")


@contextmanager
def _style():
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def _figure(n_panels: int, ncols: int | None = None, panel: tuple[float, float] = (3.4, 2.7)) -> tuple[Figure, list]:
    ncols = ncols or min(n_panels, 4)
    nrows = int(np.ceil(n_panels / ncols))
    fig = _agg(Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained", dpi=DPI))  # laid out at the PNG's dpi
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _agg(fig: Figure) -> Figure:
    """Give `fig` an Agg canvas (a bare Figure's canvas does not draw, so text sizes and layout stay unknown)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write `fig` as stem.<format> for each format (raster formats at `DPI`; atomic writes); returns the paths."""
    paths = []
    engine = fig.get_layout_engine()
    with _style():
        if fig.stale:  # the `plots` functions end laid out (`readable_ticks`): not again unless changed since
            _lay_out(fig)
        # Laid out once: the layout is in figure fractions and text in points, so it holds for every format.
        # Without a layout engine `savefig` draws once; with one (even a placeholder) it first draws the whole
        # figure without output to lay it out, which cost ~40% of each save (bench_analysis.py --report).
        fig.set_layout_engine(None)
        try:
            for fmt in formats:  # each file whole or not at all: a report is reread while `analyze watch=true` redraws it
                path = atomic_write(f"{stem}.{fmt}", lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=DPI))
                paths.append(path)
        finally:
            fig.set_layout_engine(engine)
    return paths


def warm_up(formats: Sequence[str] = ("png", "pdf")) -> None:
    """Load, once, what saving a figure in each of `formats` needs the first time (the backends, fontTools' table
    modules, the font): forked children then inherit it instead of each loading it again (~0.2 s a child at its
    first PDF on this project's 2-core machine)."""
    import io

    with _style():
        fig, (ax,) = _figure(1, panel=(1.0, 1.0))
        ax.plot([0, 1], [0, -1], label="fitted")
        ax.set_title("fitted w0 [0|1] n=2")
        fig.savefig(io.BytesIO(), format=formats[0] if formats else "png", dpi=DPI)
        for fmt in formats[1:]:
            fig.savefig(io.BytesIO(), format=fmt, dpi=DPI)


# --- colors and legends ---------------------------------------------------------------------------------
def _family(name: str) -> str:
    """The design space of a label: 'AnyNetX_A@fmnist_50mf' -> 'AnyNetX_A'."""
    return str(name).split("@", 1)[0]


def space_colors(names: Sequence[str]) -> dict[str, str]:
    """A color per space label: one hue per design space (the paper's spaces always the same one), and
    for several sweeps of one space (labels 'space@budget', in order) shades from light to full."""
    from matplotlib.colors import to_hex, to_rgb

    families = list(dict.fromkeys(_family(n) for n in names))
    fixed = {f: PALETTE[PAPER_SPACES.index(f)] for f in families if f in PAPER_SPACES}
    free = [c for c in PALETTE if c not in fixed.values()]
    hue = {**fixed, **{f: free[i % len(free)] for i, f in enumerate(f for f in families if f not in fixed)}}
    out = {}
    for fam in families:
        members = [n for n in dict.fromkeys(names) if _family(n) == fam]
        base = np.array(to_rgb(hue[fam]))
        for i, n in enumerate(members):
            light = 0.55 * (len(members) - 1 - i) / max(len(members) - 1, 1)  # the last sweep in full color
            out[n] = to_hex(base + (1 - base) * light)
    return out


def _colors_for(names: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, str]:
    return {**space_colors(list(names)), **(colors or {})}


def legend_label(name: str, n: int, min_error: float, mean_error: float, note: str = "") -> str:
    """The paper's legend entry: 'name [min|mean] n=50', and on a second line the outcome note."""
    text = f"{name} [{min_error:.1f}|{mean_error:.1f}] n={n}" if n else f"{name} n=0"
    return f"{text}\n{note}" if note else text


def legend_labels(summary: pd.DataFrame, counts: Mapping[str, Counts] | None = None) -> dict[str, str]:
    """Legend entry of every space of a summary table (`Analysis.summary`), with the notes of `counts`."""
    counts = counts or {}
    return {str(r.space): legend_label(str(r.space), int(r.n), r.min_error, r.mean_error,
                                       counts[r.space].note() if r.space in counts else "")
            for r in summary.itertuples(index=False)}


def _as_analysis(data: Any, **settings: Any) -> an.Analysis:
    if isinstance(data, an.Analysis):
        return data
    return an.Analysis(data, **{k: v for k, v in settings.items() if v is not None})


def _data_points(ax: Any, step: float = 2.0) -> np.ndarray:
    """Display coordinates of the data drawn in `ax`: scatter points, line and band outlines sampled every
    `step` pixels, error bars; only those inside the axes' box."""
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection

    paths = []
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy):
            paths.append(line.get_transform().transform(xy))
    pts = []
    for coll in ax.collections:
        if isinstance(coll, PathCollection):
            pts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float)))
        elif isinstance(coll, LineCollection):
            paths += [coll.get_transform().transform(np.asarray(s, dtype=float)) for s in coll.get_segments() if len(s)]
        elif isinstance(coll, PolyCollection):
            paths += [coll.get_transform().transform(p.vertices) for p in coll.get_paths() if len(p.vertices)]
    for p in paths:
        p = p[np.isfinite(p).all(axis=1)]
        if len(p) == 1:
            pts.append(p)
        for a, b in zip(p[:-1], p[1:]):
            k = max(2, int(np.hypot(*(b - a)) / step) + 1)
            pts.append(a + (b - a) * np.linspace(0, 1, k)[:, None])
    if not pts:
        return np.empty((0, 2))
    p = np.concatenate(pts)
    box = ax.get_window_extent()
    inside = (p[:, 0] >= box.x0) & (p[:, 0] <= box.x1) & (p[:, 1] >= box.y0) & (p[:, 1] <= box.y1)
    return p[inside]


def _covers(box: Any, pts: np.ndarray, pad: float = 2.0) -> bool:
    return bool(((pts[:, 0] >= box.x0 - pad) & (pts[:, 0] <= box.x1 + pad)
                 & (pts[:, 1] >= box.y0 - pad) & (pts[:, 1] <= box.y1 + pad)).any())


def _bands(ax: Any) -> list:
    """The filled areas (interval bands) of `ax`, as paths in display coordinates."""
    from matplotlib.collections import PolyCollection

    return [c.get_transform().transform_path(p) for c in ax.collections if isinstance(c, PolyCollection)
            for p in c.get_paths() if len(p.vertices)]


def _over_band(box: Any, bands: list, steps: int = 7) -> bool:
    """Whether any point of a grid over `box` lies inside one of the `bands`."""
    if not bands:
        return False
    gx, gy = np.meshgrid(np.linspace(box.x0, box.x1, steps), np.linspace(box.y0, box.y1, steps))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    return any(path.contains_points(grid).any() for path in bands)


def _place_legend(ax: Any, handles: list | None = None, labels: list | None = None, ncols_below: int = 2,
                  **kw: Any) -> Any:
    """A legend inside `ax` at the first of `LEGEND_SPOTS` where it covers no data (nor the axes' title and
    tick labels), else below the panels, outside the data. Returns the legend."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    fig = ax.figure
    readable_ticks(fig)  # the final layout first (an Agg canvas, ticks thinned): a legend inside does not change it
    renderer = fig.canvas.get_renderer()
    for loc in LEGEND_SPOTS:
        leg = ax.legend(handles, labels, loc=loc, **kw)
        # placed for `loc` on the axes as laid out (its box is computed from the axes' box, no draw needed), then
        # measured against the data as drawn
        box = leg.get_window_extent(renderer)
        if (not _covers(box, _data_points(ax)) and not _over_band(box, _bands(ax))
                and box.width < 0.75 * ax.get_window_extent().width):
            fig.stale = False  # a legend inside the axes leaves the layout as it is
            return leg
        leg.remove()
    # one column when the entries would not fit side by side across the figure (a wide legend is cut at both edges)
    widest = max(len(str(label).split("\n")[0]) for label in labels)
    per_row = max(1, min(ncols_below, int(fig.get_figwidth() * 72 / (kw.get("fontsize", 7.5) * 0.6) // (widest + 6))))
    return fig.legend(handles, labels, loc="outside lower center", ncols=per_row, frameon=False, **kw)


def _edge_marks(ax: Any, x: np.ndarray, y: np.ndarray, color: str, axis: str = "y") -> int:
    """Mark the points beyond the upper limit of `axis` at that edge (triangles on the spine), so that
    no point is dropped. Returns how many were marked."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    hi = (ax.get_ylim() if axis == "y" else ax.get_xlim())[1]
    v = y if axis == "y" else x
    beyond = v > hi
    if beyond.any():
        xs, ys = (x[beyond], np.full(beyond.sum(), hi)) if axis == "y" else (np.full(beyond.sum(), hi), y[beyond])
        ax.plot(xs, ys, ls="none", marker="^" if axis == "y" else ">", ms=4.5, color=color, clip_on=False,
                zorder=4, markeredgewidth=0)
    return int(beyond.sum())


def _bulk_limits(lo: float, hi: float, top: float) -> tuple[float, float]:
    """Axis limits around [lo, hi] (a little padding); `top`: the largest value drawn."""
    span = max(hi - lo, 1e-6)
    return lo - 0.03 * span, min(hi + 0.04 * span, top + 0.04 * span)


def _integer_axis(ax: Any, axis: str, log2: bool = False) -> None:
    """Ticks at integers only (log2: at powers of two, written as plain integers)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    if log2:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
        target.set_major_locator(LogLocator(base=2, numticks=12))
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())
    else:
        target.set_major_locator(MaxNLocator(integer=True, nbins="auto", min_n_ticks=1))  # integers even in a narrow view


def _plain_log(ax: Any, axis: str, base: float = 10) -> None:
    """Log scale with plain-number labels (no 2^k or 10^k mathtext), no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=base)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _is_integral(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool(np.all(v == np.round(v)))


def _wide(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and v.min() > 0 and v.max() / v.min() > 8


def readable_ticks(fig: Figure) -> Figure:
    """Make tick labels that overlap readable: drop minor labels, then rotate, then keep every other.

    One layout measures every axis (none when nothing changed since the last); only crowded axes are changed, and
    laid out again to check. The figure is left laid out as it will be drawn: `save` lays it out again only if it
    changes before (matplotlib marks a changed figure `stale`)."""
    from matplotlib.ticker import NullFormatter

    with _style():  # ticks are counted and measured at the figure's font sizes, as `save` draws them
        if fig.stale:
            _lay_out(fig)
        for fix in ("minor", "rotate", "thin", "thin"):
            crowded = [(ax, axis) for ax in fig.axes if ax.get_visible() for axis in (ax.xaxis, ax.yaxis)
                       if _ticks_overlap(axis)]
            if not crowded:
                break
            for ax, axis in crowded:
                if fix == "minor":
                    axis.set_minor_formatter(NullFormatter())
                elif fix == "rotate" and axis is ax.xaxis:
                    for t in axis.get_ticklabels(which="both"):
                        t.set_rotation(30)
                        t.set_horizontalalignment("right")
                elif fix == "thin":
                    axis.set_ticks(list(axis.get_majorticklocs())[::2])
            _lay_out(fig)
        fig.stale = False  # measuring the ticks marked it changed: it is not, as laid out
    return fig


def _lay_out(fig: Figure) -> None:
    """Place the axes as the figure's layout engine would at its next draw, without drawing any artist.

    The layout measures every tick label and title, so their boxes are known afterwards (tick labels through
    `Axis.get_ticklabels`, which places them at the current ticks); a draw without rendering would also walk
    every artist (3,000 points at 6 x 500), which nothing here needs. Same layout as `Figure.draw`'s."""
    engine = _agg(fig).get_layout_engine()
    if fig.axes and engine is not None:
        with suppress(ValueError):  # as Figure.draw: an axes too small to lay out keeps its place
            engine.execute(fig)


def _ticks_overlap(axis: Any) -> bool:
    """Whether the visible, non-empty tick labels of `axis` inside its view overlap (as last drawn)."""
    lo, hi = sorted(axis.get_view_interval())
    boxes = []
    for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                         (axis.get_minorticklocs(), axis.get_minorticklabels())):
        boxes += [t.get_window_extent() for loc, t in zip(locs, labels)
                  if t.get_visible() and t.get_text().strip() and lo - 1e-12 <= loc <= hi + 1e-12]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _steps(errors: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners of the EDF's step line (drawn as plain vertices): from (e_1, 0) up and across."""
    e, f = np.asarray(errors, dtype=float), np.asarray(mass, dtype=float)
    x = np.repeat(e, 2)
    y = np.r_[0.0, np.repeat(f, 2)[:-1]]
    return x, y


# --- EDFs ----------------------------------------------------------------------------------------------
def _draw_edfs(ax: Any, table: pd.DataFrame, labels: Mapping[str, str], colors: Mapping[str, str],
               xlim: tuple[float, float] | None, bulk: float | None) -> None:
    names = list(dict.fromkeys(table["space"].astype(str)))
    col = _colors_for(names, colors)
    top = float(table["error"].max()) if len(table) else 1.0
    lo, hi = xlim if xlim is not None else (float(table["error"].min()), top)
    x0, x1 = _bulk_limits(lo, hi, top)
    ax.set_xlim(x0, x1)
    ax.set_ylim(0, 1.0)
    marked = 0
    for name in names:
        part = table[table["space"].astype(str) == name]
        x, y = _steps(part["error"].to_numpy(), part["F"].to_numpy())
        ax.plot(x, y, color=col[name], label=labels.get(name, name))
        beyond = part["error"].to_numpy() > x1
        if beyond.any():  # where the curve leaves the axis: the share of models still to come
            f_edge = float(part["F"].to_numpy()[~beyond][-1]) if (~beyond).any() else 0.0
            ax.plot([x1], [f_edge], ls="none", marker=">", ms=5, color=col[name], clip_on=False, zorder=4,
                    markeredgewidth=0)
            marked += 1
    if marked:
        what = f"the {bulk:g}th percentile" if bulk is not None and xlim is not None else "the axis"
        ax.plot([], [], ls="none", marker=">", ms=5, color="#555555", label=f"continues beyond {what}")
    ax.set_ylabel("cumulative prob.")
    from matplotlib.ticker import MultipleLocator

    ax.yaxis.set_major_locator(MultipleLocator(0.2))


def _edf_inputs(data: Any, labels: Mapping[str, str] | None, settings: dict[str, Any],
                by: str | None = None) -> tuple[pd.DataFrame, dict[str, str], tuple[float, float] | None, float | None]:
    if isinstance(data, pd.DataFrame) and {"space", "error", "F"} <= set(data.columns):
        return data, dict(labels or {}), None, None
    a = _as_analysis(data, **settings)
    table = a.edf if by is None else a.normalized_edf(by)
    return table, {**legend_labels(a.summary, a.counts), **(labels or {})}, a.error_range, a.settings.bulk


def plot_edfs(
    data: Any, labels: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None, *,
    normalize: str | None = None, xlim: tuple[float, float] | None = None, bulk: float | None = None,
    ax: Any = None, title: str | None = None, **settings: Any,
) -> Figure:
    """Error EDFs, one step line per space, legend `name [min|mean] n=` inside the axes where no curve is.

    `data`: an EDF table (space, error, F; `analysis.edf_table`) with `labels` (space -> legend entry), or
    an `Analysis` (its EDF, or the one normalized by `normalize`, its legend entries and error range), or
    a sweep table (analysed with `settings`, e.g. policy=, penalty=). `xlim`: the (lowest, bulk) error
    range the axis shows; curves beyond it end in a triangle at the edge (`bulk`: the percentile named)."""
    table, labs, rng, pct = _edf_inputs(data, labels, settings, normalize)
    xlim = xlim if xlim is not None else rng
    bulk = bulk if bulk is not None else pct
    own = ax is None
    with _style():
        fig, axes = (ax.figure, [ax]) if ax is not None else _figure(1, panel=(5.0, 3.6))
        ax = axes[0]
        _draw_edfs(ax, table, labs, colors or {}, xlim, bulk)
        ax.set_xlabel(ERROR_LABEL if not normalize else f"{ERROR_LABEL}, normalized by {normalize}")
        if title:
            ax.set_title(title)
        if own:
            _place_legend(ax)
            readable_ticks(fig)
    return fig


def plot_normalized_edfs(
    data: Any, by: Sequence[str] = ("params", "flops"), labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None, **settings: Any,
) -> Figure:
    """The NDS figure: the plain EDF, then the EDF normalized by each complexity column in `by`.

    `data`: an `Analysis`, or a sweep table analysed with `settings` (bins=, empty=, policy=, ...)."""
    a = _as_analysis(data, **{"normalize": tuple(by), **settings})
    with _style():
        fig, axes = _figure(1 + len(by), ncols=min(1 + len(by), 3), panel=(3.6, 3.6))
        plot_edfs(a, labels, colors, ax=axes[0], title="plain")
        for ax, b in zip(axes[1:], by):
            plot_edfs(a, labels, colors, normalize=b, ax=ax, title=f"normalized by {b} ({a.bins} bins)")
            ax.set_xlabel(ERROR_LABEL)
            ax.set_ylabel("")
        handles, labs = axes[0].get_legend_handles_labels()
        fig.legend(handles, labs, loc="outside lower center", ncols=min(4, len(handles)), frameon=False)
    return readable_ticks(fig)


# --- where the good models are -----------------------------------------------------------------------
def plot_param_scatter(
    points: pd.DataFrame, ranges: pd.DataFrame, name: str, labels: Mapping[str, str] | None = None,
    color: str | None = None, legend: str | None = None, error_range: tuple[float, float] | None = None,
    frac: float | None = None, ncols: int = 4,
) -> Figure:
    """Error against each structural parameter of one space, one panel per parameter, with the bootstrap
    band of the best model's value (`ranges`: rows of `analysis.best_ranges`; shaded 95% interval, line:
    median). `points`: the models (parameter columns, `err`); `labels`: column -> axis label (the order of
    the panels); `error_range`: the error axis' (lowest, bulk), errors above it marked at the top edge."""
    labels = dict(labels or {c: c for c in points.columns if c not in ("model_id", ERROR, "outcome")})
    cols = [p for p in labels if p in points and points[p].notna().any()]
    color = color or PALETTE[0]
    if "space" in ranges:
        ranges = ranges[ranges["space"].astype(str) == name]
    top = float(points[ERROR].max()) if len(points) else 1.0
    lo, hi = error_range if error_range is not None else (float(points[ERROR].min()), top)
    with _style():
        fig, axes = _figure(max(1, len(cols)), ncols=min(ncols, max(1, len(cols))), panel=(2.9, 2.5))
        for i, (ax, p) in enumerate(zip(axes, cols)):
            sub = points[points[p].notna()]
            x = sub[p].to_numpy(dtype=np.float64)
            ax.set_ylim(*_bulk_limits(lo, hi, top))
            ax.scatter(x, sub[ERROR], s=8, alpha=0.5, color=color, linewidths=0, label=legend if i == 0 else None)
            _edge_marks(ax, x, sub[ERROR].to_numpy(), color)
            r = ranges[ranges["param"] == p]
            if len(r):
                r = r.iloc[0]
                ax.axvspan(r["low"], r["high"], color="#444444", alpha=0.15, lw=0,
                           label="best model: 95% interval" if i == 0 else None)
                ax.axvline(r["median"], color="#222222", lw=1.2, label="best model: median" if i == 0 else None)
                ax.set_title(f"best {r['median']:.3g} [{r['low']:.3g}, {r['high']:.3g}]", fontsize=8)
            integral, wide = _is_integral(x), _wide(x) and _multiplicative(p)
            if integral:
                _integer_axis(ax, "x", log2=wide)
            elif wide:
                _plain_log(ax, "x", 2)
            ax.set_xlabel(labels.get(p, p))
            ax.set_ylabel(ERROR_LABEL if i % ncols == 0 else "")
        handles, labs = axes[0].get_legend_handles_labels()
        if len(points) and (points[ERROR] > hi).any():
            handles.append(_marker_handle("^"))
            labs.append("errors above the axis, at the edge")
        fig.legend(handles, labs, loc="outside lower center", ncols=min(4, len(handles)), frameon=False)
        how = f"bootstrap of the best model, {frac:.0%} subsamples" if frac is not None and len(ranges) else \
            "too few models for the best-model bootstrap" if not len(ranges) else "bootstrap of the best model"
        fig.suptitle(f"{name}: error vs parameters ({how})")
    return readable_ticks(fig)


def _marker_handle(marker: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker=marker, ms=5, color="#555555", markeredgewidth=0)


def _multiplicative(param: str) -> bool:
    """Widths, width slopes, group widths and complexity read best on a log axis; depths, b, wm not."""
    p = param.removeprefix("fit_")
    return p in ("w0", "wa", "g", "flops", "params", "acts") or (p[:1] == "w" and p[1:].isdigit())


def plot_width_profiles(
    data: Any, name: str | None = None, line: tuple[float, float] | None = None, *,
    reference: tuple[float, float] | None = (48, 48), color: str | None = None, legend: str | None = None,
    top: int | None = None, **settings: Any,
) -> Figure:
    """Per-block widths of the best models of a space and the fitted line w0 + wa*j through them (dashed),
    with a reference line (dotted; the paper's 48*(j+1)).

    `data`: a profiles table (rank, j, width; `Analysis.profiles`) with `line` = (w0, wa) of the fit
    (`Analysis.efit`), or an `Analysis` / sweep table (with `name`; `top` and `settings` for a table)."""
    if not (isinstance(data, pd.DataFrame) and {"rank", "j", "width"} <= set(data.columns)):
        a = _as_analysis(data, **({"top": top} if top else {}), **settings)
        name = name if name is not None else a.trained[0]
        data, line, color, legend = _width_inputs(a, name, color, legend)
    name = name or ""
    profiles = data
    n_models = int(profiles["rank"].nunique()) if len(profiles) else 0
    color = color or PALETTE[0]
    with _style():
        fig, (ax,) = _figure(1, panel=(5.0, 3.6))
        jmax = int(profiles["j"].max()) + 1 if len(profiles) else 1
        for i, (_, w) in enumerate(profiles.groupby("rank", sort=True)):
            ax.plot(w["j"], w["width"], color=color, alpha=0.35, lw=1.0, drawstyle="steps-mid",
                    label=(legend or f"top {n_models} models of {name}") if i == 0 else None)
        j = np.arange(jmax)
        if line is not None:
            ax.plot(j, line[0] + line[1] * j, color="black", ls="--", lw=1.6, label=f"fit: {line[0]:.1f} + {line[1]:.1f}·j")
        if reference is not None:
            ax.plot(j, reference[0] + reference[1] * j, color="#888888", ls=":", lw=1.4,
                    label=f"{reference[0]:g} + {reference[1]:g}·j")
        _integer_axis(ax, "y", log2=True)
        _integer_axis(ax, "x")
        ax.set_xlabel("block index j")
        ax.set_ylabel("width w_j (channels)")
        ax.set_title(f"{name}: widths of the top {n_models}")
        _place_legend(ax)
    return readable_ticks(fig)


def _width_inputs(a: an.Analysis, name: str, color: str | None, legend: str | None) -> tuple:
    """The profiles table, fitted line, color and legend entry of space `name` of an Analysis."""
    ef = a.efit
    row = ef[ef["space"] == name] if len(ef) else ef
    line = (float(row["line_w0"].iat[0]), float(row["line_wa"].iat[0])) if len(row) else None
    profiles = a.profiles(name)
    c = a.counts[name]
    note = f"; {c.note()}" if c.note() else ""
    legend = legend or f"top {profiles['rank'].nunique()} models of {name} (of n={c.used}{note})"
    return profiles, line, color or space_colors(a.names)[name], legend


# --- search efficiency and complexity ------------------------------------------------------------------
def plot_random_search(
    data: Any, labels: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None,
    **settings: Any,
) -> Figure:
    """Expected minimum error of k random models against k (band: 95% interval of that minimum).

    `data`: a random-search table (space, k, expected_min_error, low, high) with `labels`, or an `Analysis`
    / sweep table. The error axis ends above the largest expected minimum; bands above it are cut there."""
    if not (isinstance(data, pd.DataFrame) and "expected_min_error" in data):
        a = _as_analysis(data, **settings)
        data, labels = a.random_search, {**legend_labels(a.summary, a.counts), **(labels or {})}
    table = data
    labels = labels or {}
    names = list(dict.fromkeys(table["space"].astype(str)))
    col = _colors_for(names, colors)
    with _style():
        fig, (ax,) = _figure(1, panel=(5.0, 3.6))
        for name in names:
            part = table[table["space"].astype(str) == name]
            ax.plot(part["k"], part["expected_min_error"], marker="o", ms=3, color=col[name],
                    label=labels.get(name, name))
            ax.fill_between(part["k"], part["low"], part["high"], color=col[name], alpha=0.1, lw=0)
        if len(table):
            lo = float(table["low"].min())
            hi = float(table["expected_min_error"].max())
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-6), hi + 0.15 * (hi - lo + 1e-6))
        _integer_axis(ax, "x", log2=True)
        ax.set_xlabel("models drawn at random, k")
        ax.set_ylabel(f"expected min {ERROR_LABEL}")
        _place_legend(ax)
    return readable_ticks(fig)


def plot_complexity_scatter(
    points: pd.DataFrame, labels: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None,
    error_range: tuple[float, float] | None = None,
) -> Figure:
    """Error against flops (MF), params (M) and activations (M), all spaces overlaid, one panel per metric.

    `points`: space, the complexity columns, `err` (`Analysis.complexity`); errors above `error_range`'s
    upper end are marked at the top edge."""
    metrics = [m for m in an.COMPLEXITY_METRICS if m in points]
    names = list(dict.fromkeys(points["space"].astype(str)))
    col = _colors_for(names, colors)
    labels = labels or {}
    top = float(points[ERROR].max()) if len(points) else 1.0
    lo, hi = error_range if error_range is not None else (float(points[ERROR].min()), top)
    with _style():
        fig, axes = _figure(max(1, len(metrics)), panel=(3.4, 3.3))
        for i, (ax, m) in enumerate(zip(axes, metrics)):
            factor, label = SCALE[m]
            ax.set_ylim(*_bulk_limits(lo, hi, top))
            for name in names:
                part = points[points["space"].astype(str) == name]
                x = part[m].to_numpy(dtype=np.float64) * factor
                ax.scatter(x, part[ERROR], s=8, alpha=0.5, color=col[name], linewidths=0, label=labels.get(name, name))
                _edge_marks(ax, x, part[ERROR].to_numpy(), col[name])
            if _wide(points[m].to_numpy(dtype=np.float64)):
                _plain_log(ax, "x")
            ax.set_xlabel(label)
            ax.set_ylabel(ERROR_LABEL if i == 0 else "")
        handles, labs = axes[0].get_legend_handles_labels()
        if (points[ERROR] > hi).any():
            handles.append(_marker_handle("^"))
            labs.append("errors above the axis, at the edge")
        fig.legend(handles, labs, loc="outside lower center", ncols=min(3, len(handles)), frameon=False)
    return readable_ticks(fig)


def plot_trends(
    table: pd.DataFrame, params: Sequence[str] = an.TREND_PARAMS, x: str = "flops",
    colors: Mapping[str, str] | None = None, ncols: int = 4, frac: float | None = None,
) -> Figure:
    """The best models' parameters against `x` (flops, MF), one point per sweep with its bootstrap 95%
    interval (`analysis.trend_table`): the paper's trends across flop regimes. A line joins the sweeps of
    one design space (`family`) only, one color per family."""
    families = list(dict.fromkeys(table["family"])) if "family" in table else []
    base = space_colors(families)
    col = {**base, **{k: v for k, v in (colors or {}).items() if k in base}}
    n_of = table.groupby("family")["n"].apply(lambda v: ", ".join(str(int(k)) for k in v.unique())) if len(table) else {}
    present = [p for p in params if (table["param"] == p).any()]
    factor, xlabel = SCALE.get(x, (1.0, x))
    with _style():
        fig, axes = _figure(max(1, len(present)), ncols=min(ncols, max(1, len(present))), panel=(2.9, 2.5))
        for ax, p in zip(axes, present):
            part = table[table["param"] == p].sort_values(x)
            pf, plabel = SCALE.get(p, (1.0, p.replace("_", " ")))
            for fam, rows in part.groupby("family", sort=False):
                c = col.get(fam, "black")
                xs = rows[x].to_numpy(dtype=float) * factor
                med, low, high = (rows[k].to_numpy(dtype=float) * pf for k in ("median", "low", "high"))
                if len(rows) > 1:
                    ax.plot(xs, med, color=c, lw=0.9, alpha=0.7, zorder=1)
                ax.errorbar(xs, med, yerr=[med - low, high - med], fmt="o", ms=4, capsize=2, color=c, zorder=2,
                            label=f"{fam} (n per sweep: {n_of[fam]})" if len(n_of) else fam)
            _plain_log(ax, "x")
            yv = part[["low", "high"]].to_numpy(dtype=float).ravel() * pf
            if _is_integral(part["median"].to_numpy(dtype=float) * pf):  # depth, g, b, w0: integer ticks
                _integer_axis(ax, "y", log2=_wide(yv) and _multiplicative(p))
            elif _wide(yv):
                _plain_log(ax, "y", 2 if _multiplicative(p) else 10)
            fitted = part["column"].str.startswith("fit_")
            how = " (fitted)" if fitted.all() else " (sampled or fitted)" if fitted.any() else ""
            ax.set_ylabel(plabel + how)
            ax.set_xlabel(xlabel)
        handles, labs = axes[0].get_legend_handles_labels()
        fig.legend(handles, labs, loc="outside lower center", ncols=min(3, len(handles)), frameon=False)
        fig.suptitle("best models across flop regimes (bootstrap median and 95% interval"
                     + (f", {frac:.0%} subsamples)" if frac is not None else ")"))
    return readable_ticks(fig)


def plot_efit(
    points: pd.DataFrame, edf: pd.DataFrame, summary: pd.DataFrame, labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None, error_range: tuple[float, float] | None = None,
) -> Figure:
    """e_fit of the quantized-linear width fit: its EDF per space (`edf`: space, e_fit, F; `Analysis.efit_edf`),
    and error against e_fit (`points`: space, e_fit, `err`, NaN for models not used). `summary`: the
    `analysis.efit_table` (exact share and median e_fit in the legend)."""
    names = list(dict.fromkeys(edf["space"].astype(str)))
    col = _colors_for(names, colors)
    labels = labels or {}
    stats = summary.set_index("space") if len(summary) else summary
    used = points[points[ERROR].notna()]
    top = float(used[ERROR].max()) if len(used) else 1.0
    lo, hi = error_range if error_range is not None else (float(used[ERROR].min()) if len(used) else 0.0, top)
    with _style():
        fig, (ax0, ax1) = _figure(2, panel=(3.9, 3.1))
        ax1.set_ylim(*_bulk_limits(lo, hi, top))
        for name in names:
            part = edf[edf["space"].astype(str) == name]
            how = (f": exact {stats.loc[name, 'exact_share']:.0%}, median {stats.loc[name, 'median_e_fit']:.3f}"
                   if name in stats.index else "")
            ax0.plot(*_steps(part["e_fit"].to_numpy(), part["F"].to_numpy()), color=col[name], label=name + how)
            u = used[used["space"].astype(str) == name]
            ax1.scatter(u["e_fit"], u[ERROR], s=8, alpha=0.5, color=col[name], linewidths=0,
                        label=labels.get(name, name))
            _edge_marks(ax1, u["e_fit"].to_numpy(), u[ERROR].to_numpy(), col[name])
        ax0.set_ylim(0, 1.0)
        ax0.set_xlabel("e_fit (mean |ln ŵ_j / w_j|)")
        ax0.set_ylabel("cumulative prob.")
        ax0.set_title("quantized-linear fit quality")
        ax1.set_xlabel("e_fit")
        ax1.set_ylabel(ERROR_LABEL)
        ax1.set_title("error vs e_fit")
        h0, l0 = ax0.get_legend_handles_labels()
        fig.legend(h0, l0, loc="outside lower center", ncols=min(3, len(h0)), frameon=False)
    return readable_ticks(fig)


# --- proxy fidelity --------------------------------------------------------------------------------------
def plot_effect_ladder(table: pd.DataFrame, colors: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """Effect of each comparison against the training budget of the rung: one line per comparison with its
    95% interval as a band, a zero line, the budget (training images) on a log axis.

    `table`: comparison, rung_images, effect, low, high (percentage points), n (models per group)."""
    names = list(dict.fromkeys(table["comparison"].astype(str)))
    col = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    col.update(colors or {})
    with _style():
        fig, (ax,) = _figure(1, panel=(5.2, 3.6))
        ax.axhline(0.0, color="#333333", lw=0.9, zorder=1)
        for name in names:
            part = table[table["comparison"].astype(str) == name].sort_values("rung_images")
            n = part["n"].astype(int).unique()
            ns = f"n={n[0]}" if len(n) == 1 else f"n={n.min()}-{n.max()}"
            ax.plot(part["rung_images"], part["effect"], marker="o", ms=3.5, color=col[name], zorder=3,
                    label=f"{name} ({ns})")
            if len(part) > 1:
                ax.fill_between(part["rung_images"], part["low"], part["high"], color=col[name], alpha=0.15, lw=0)
            ax.errorbar(part["rung_images"], part["effect"],
                        yerr=[part["effect"] - part["low"], part["high"] - part["effect"]],
                        fmt="none", capsize=2.5, color=col[name], lw=1.0, zorder=2)
        _plain_log(ax, "x")
        lo = float(min(table["low"].min(), 0.0)) if len(table) else -1.0
        hi = float(max(table["high"].max(), 0.0)) if len(table) else 1.0
        pad = 0.08 * (hi - lo + 1e-6)
        ax.set_ylim(lo - pad, hi + 0.45 * (hi - lo + 1e-6))  # headroom for the legend
        ax.set_xlabel("training images per model (rung)")
        ax.set_ylabel("effect (percentage points)")
        if title:
            ax.set_title(title)
        _place_legend(ax)
    return readable_ticks(fig)



def _sequential_panel(ax: Any, history: pd.DataFrame, margin: float | None, legend: bool) -> None:
    """The anytime-valid interval of one sequential comparison against the pairs trained (infinite ends drawn
    at the edge of the view), with the zero line and +-margin."""
    n = history["n"].to_numpy(float)
    low, high = history["low"].to_numpy(float), history["high"].to_numpy(float)
    if n.size:  # the last interval holds until the next pair: drawn one step further
        n, low, high = np.append(n, n[-1] + 1), np.append(low, low[-1]), np.append(high, high[-1])
    finite = np.concatenate([low[np.isfinite(low)], high[np.isfinite(high)], [0.0]])
    if margin is not None:
        finite = np.concatenate([finite, [-margin, margin]])
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.15 * (hi - lo) + 0.5
    y_lo, y_hi = lo - pad, hi + pad
    ax.fill_between(n, np.clip(low, y_lo, y_hi), np.clip(high, y_lo, y_hi), step="post", color=PALETTE[0],
                    alpha=0.25, lw=0, label="95% anytime-valid interval")
    ax.step(n, np.clip(low, y_lo, y_hi), where="post", color=PALETTE[0], lw=1.2)
    ax.step(n, np.clip(high, y_lo, y_hi), where="post", color=PALETTE[0], lw=1.2)
    ax.axhline(0.0, color="#333333", lw=0.9)
    if margin is not None:
        for m in (-margin, margin):
            ax.axhline(m, color=PALETTE[1], lw=1.0, ls="--", label=f"margin +-{margin:g}" if m > 0 else None)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlim(0.5, max(n.max(), 2) if n.size else 2)
    _integer_axis(ax, "x")
    ax.set_xlabel("pairs of models trained")
    if legend:
        _place_legend(ax)


def plot_sequential(history: pd.DataFrame, names: Sequence[str], margin: float | None = None,
                    title: str | None = None) -> Figure:
    """One sequential comparison: the anytime-valid interval for the location of the paired difference
    (names[0] - names[1], points) against the pairs trained. `history`: n, low, high."""
    with _style():
        fig, (ax,) = _figure(1, panel=(5.2, 3.4))
        _sequential_panel(ax, history, margin, legend=False)
        ax.set_ylabel(f"{names[0]} - {names[1]} (points)")
        ax.set_title(title or f"{names[1]} vs {names[0]}")
        _place_legend(ax)
    return readable_ticks(fig)


def plot_sequential_panels(histories: Mapping[str, pd.DataFrame], margin: float | None = None) -> Figure:
    """One panel per comparison (title -> history, as `plot_sequential`'s), the location of a - b on y."""
    with _style():
        fig, axes = _figure(len(histories), ncols=min(3, len(histories)), panel=(3.3, 2.6))
        for i, (ax, (title, history)) in enumerate(zip(axes, histories.items())):
            _sequential_panel(ax, history, margin, legend=False)
            ax.set_title(title if len(title) <= 40 else title[:38] + "...", fontsize=8)
            if i % 3 == 0:
                ax.set_ylabel("a - b (points)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return readable_ticks(fig)


def plot_claim_ladder(table: pd.DataFrame, title: str | None = None) -> Figure:
    """One panel per claim: its effect at every rung with the 95% interval and the zero line, rungs on a log
    axis of training images per model. `table`: claim (the panel's title; `comparison` instead where present),
    rung_images, effect, low, high, n (models per group)."""
    key = "comparison" if "comparison" in table else "claim"
    table = table.assign(claim=table[key])
    claims = list(dict.fromkeys(table["claim"].astype(str)))
    with _style():
        fig, axes = _figure(len(claims), ncols=min(3, len(claims)), panel=(3.3, 2.6))
        for i, (ax, claim) in enumerate(zip(axes, claims)):
            part = table[table["claim"].astype(str) == claim].sort_values("rung_images")
            x = part["rung_images"].to_numpy(float)
            ax.axhline(0.0, color="#333333", lw=0.9, zorder=1)
            ax.errorbar(x, part["effect"], yerr=[part["effect"] - part["low"], part["high"] - part["effect"]],
                        fmt="o-", ms=4, capsize=3, color=PALETTE[i % len(PALETTE)], lw=1.2, zorder=3)
            for xi, yi, ni in zip(x, part["high"].to_numpy(float), part["n"].to_numpy()):
                ax.annotate(f"n={int(ni)}", (xi, yi), textcoords="offset points", xytext=(0, 3), ha="center",
                            fontsize=6.5, color="#555555")
            _plain_log(ax, "x")
            ax.set_xticks(x)
            ax.set_xlim(x.min() / 1.6, x.max() * 1.6)
            lo, hi = float(min(part["low"].min(), 0.0)), float(max(part["high"].max(), 0.0))
            pad = 0.12 * (hi - lo + 1e-6)
            ax.set_ylim(lo - pad, hi + 2 * pad)
            ax.set_title(textwrap.fill(claim, 48), fontsize=8)  # the whole claim, on as many lines as it needs
            ax.set_xlabel("training images per model")
            if i % 3 == 0:
                ax.set_ylabel("effect (points)")
        if title:
            fig.suptitle(title)
    return readable_ticks(fig)
