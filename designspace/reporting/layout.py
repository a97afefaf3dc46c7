"""The layout engine of the report's figures: their style and size, legend placement and tick checks.

A figure is built on `matplotlib.figure.Figure` (no pyplot) with an Agg canvas, laid out once by its layout engine
without drawing (`lay_out`); `readable_ticks` thins or rotates the tick labels that overlap on that layout,
`place_legend` puts a legend inside the axes where it covers no data (else below the panels); `plots.save` then
draws each format once. Sizes are chosen for the page that shows them: a report's HTML shows a figure at most
`PAGE_PX` CSS pixels wide, so `figure` keeps a figure narrow enough (`MAX_COLUMNS`, `MAX_WIDTH_IN`) that its
smallest text (`SMALLEST_PT`) is at least `MIN_TEXT_PX` pixels there (`text_px`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "DPI", "MAX_COLUMNS", "MAX_WIDTH_IN", "MIN_TEXT_PX", "PAGE_PX", "RC", "SMALLEST_PT", "bulk_limits", "edge_marks",
    "figure", "integer_axis", "is_integral", "lay_out", "legend_below", "marker_handle", "place_legend", "plain_log",
    "readable_ticks", "style", "text_px", "warm_up", "wide",
]

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

PAGE_PX = 1100
"""Widest a report's HTML shows a figure, in CSS pixels (the page's max-width; `reporting.report` styles it)."""
MIN_TEXT_PX = 9.0
"""Smallest text a figure may show on that page, in CSS pixels."""
SMALLEST_PT = 7.5
"""Smallest font size any figure uses (the legends'); every explicit `fontsize` is at least this."""
MAX_WIDTH_IN = round(SMALLEST_PT / 72 * PAGE_PX / MIN_TEXT_PX * 0.85, 1)
"""Widest figure (inches; 15% under the size where `SMALLEST_PT` shows at `MIN_TEXT_PX` on the page: ~10.8)."""
MAX_COLUMNS = 3
"""Most panels side by side: more rows rather than panels too narrow to read at page width."""
LEGEND_SPOTS = ("lower right", "upper left", "upper right", "lower left", "center right", "center left",
                "upper center", "lower center")


def text_px(fontsize_pt: float, width_in: float, page_px: float = PAGE_PX, dpi: float = DPI) -> float:
    """CSS pixels a `fontsize_pt` text takes on the page: the PNG (`width_in` x `dpi` pixels) is shown at its own
    size, or shrunk to `page_px` when wider."""
    return fontsize_pt / 72 * min(dpi, page_px / width_in)


@contextmanager
def style():
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def figure(n_panels: int, ncols: int | None = None, panel: tuple[float, float] = (3.4, 2.7)) -> tuple[Figure, list]:
    """A figure of `n_panels` axes in rows of `ncols` (at most `MAX_COLUMNS`), panels `panel` inches, narrowed
    to `MAX_WIDTH_IN` in all; the unused axes hidden. Laid out at the PNG's dpi."""
    ncols = max(1, min(ncols or n_panels, MAX_COLUMNS, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    width = min(panel[0] * ncols, MAX_WIDTH_IN)
    fig = agg(Figure(figsize=(width, panel[1] * nrows), layout="constrained", dpi=DPI))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def agg(fig: Figure) -> Figure:
    """Give `fig` an Agg canvas (a bare Figure's canvas does not draw, so text sizes and layout stay unknown)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    return fig


def warm_up(formats: Sequence[str] = ("png", "pdf")) -> None:
    """Load, once, what saving a figure (`plots.save`) in each of `formats` needs the first time (the backends,
    fontTools' table modules, the font): forked children then inherit it instead of each loading it again (~0.2 s a
    child at its first PDF on this project's 2-core machine)."""
    import io

    with style():
        fig, (ax,) = figure(1, panel=(1.0, 1.0))
        ax.plot([0, 1], [0, -1], label="fitted")
        ax.set_title("fitted w0 [0|1] n=2")
        fig.savefig(io.BytesIO(), format=formats[0] if formats else "png", dpi=DPI)
        for fmt in formats[1:]:
            fig.savefig(io.BytesIO(), format=fmt, dpi=DPI)


# --- the layout and the ticks ------------------------------------------------------------------------------
def lay_out(fig: Figure) -> None:
    """Place the axes as the figure's layout engine would at its next draw, without drawing any artist.

    The layout measures every tick label and title, so their boxes are known afterwards (tick labels through
    `Axis.get_ticklabels`, which places them at the current ticks); a draw without rendering would also walk
    every artist (3,000 points at 6 x 500), which nothing here needs. Same layout as `Figure.draw`'s."""
    engine = agg(fig).get_layout_engine()
    if fig.axes and engine is not None:
        with suppress(ValueError):  # as Figure.draw: an axes too small to lay out keeps its place
            engine.execute(fig)


def readable_ticks(fig: Figure) -> Figure:
    """Make tick labels that overlap readable: drop minor labels, then rotate, then keep every other.

    One layout measures every axis (none when nothing changed since the last); only crowded axes are changed, and
    laid out again to check. The figure is left laid out as it will be drawn: `plots.save` lays it out again only if it
    changes before (matplotlib marks a changed figure `stale`)."""
    from matplotlib.ticker import NullFormatter

    with style():  # ticks are counted and measured at the figure's font sizes, as `plots.save` draws them
        if fig.stale:
            lay_out(fig)
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
            lay_out(fig)
        fig.stale = False  # measuring the ticks marked it changed: it is not, as laid out
    return fig


def _ticks_overlap(axis: Any) -> bool:
    """Whether the visible, non-empty tick labels of `axis` inside its view overlap (as last drawn)."""
    lo, hi = sorted(axis.get_view_interval())
    boxes = []
    for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                         (axis.get_minorticklocs(), axis.get_minorticklabels())):
        boxes += [t.get_window_extent() for loc, t in zip(locs, labels)
                  if t.get_visible() and t.get_text().strip() and lo - 1e-12 <= loc <= hi + 1e-12]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


# --- legends ----------------------------------------------------------------------------------------------
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


def _over_band(box: Any, ax: Any, steps: int = 7) -> bool:
    """Whether any point of a grid over `box` lies inside one of the filled areas (interval bands) of `ax`."""
    from matplotlib.collections import PolyCollection

    bands = [c.get_transform().transform_path(p) for c in ax.collections if isinstance(c, PolyCollection)
             for p in c.get_paths() if len(p.vertices)]
    if not bands:
        return False
    gx, gy = np.meshgrid(np.linspace(box.x0, box.x1, steps), np.linspace(box.y0, box.y1, steps))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    return any(path.contains_points(grid).any() for path in bands)


def place_legend(ax: Any, handles: list | None = None, labels: list | None = None, ncols_below: int = 2,
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
        if (not _covers(box, _data_points(ax)) and not _over_band(box, ax)
                and box.width < 0.75 * ax.get_window_extent().width):
            fig.stale = False  # a legend inside the axes leaves the layout as it is
            return leg
        leg.remove()
    # one column when the entries would not fit side by side across the figure (a wide legend is cut at both edges)
    widest = max(len(str(label).split("\n")[0]) for label in labels)
    size = kw.get("fontsize", RC["legend.fontsize"])
    per_row = max(1, min(ncols_below, int(fig.get_figwidth() * 72 / (size * 0.6) // (widest + 6))))
    return fig.legend(handles, labels, loc="outside lower center", ncols=per_row, frameon=False, **kw)


def legend_below(fig: Figure, handles: list, labels: list, ncols: int = 3) -> Any:
    """One legend for every panel, below them (at most `ncols` entries a row)."""
    return fig.legend(handles, labels, loc="outside lower center", ncols=max(1, min(ncols, len(handles))),
                      frameon=False)


def marker_handle(marker: str) -> Any:
    """A legend entry's handle: a grey marker alone (what the edge marks look like)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker=marker, ms=5, color="#555555", markeredgewidth=0)


# --- axes -------------------------------------------------------------------------------------------------
def edge_marks(ax: Any, x: np.ndarray, y: np.ndarray, color: str, axis: str = "y") -> int:
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


def bulk_limits(lo: float, hi: float, top: float) -> tuple[float, float]:
    """Axis limits around [lo, hi] (a little padding); `top`: the largest value drawn."""
    span = max(hi - lo, 1e-6)
    return lo - 0.03 * span, min(hi + 0.04 * span, top + 0.04 * span)


def integer_axis(ax: Any, axis: str, log2: bool = False) -> None:
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


def plain_log(ax: Any, axis: str, base: float = 10, values: Any = None) -> None:
    """Log scale with plain-number labels (no 2^k or 10^k mathtext), no minor labels. Given the `values` drawn, a
    base-10 axis spanning under two decades gets ticks at 1, 2 and 5 times the powers of ten, under a factor 5 at
    1-9 times (two labels at least, never one or none; `readable_ticks` thins them where they crowd)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=base)
    target = ax.xaxis if axis == "x" else ax.yaxis
    v = np.asarray(values if values is not None else [], dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if base == 10 and v.size and v.max() < 100 * v.min():
        subs = (1.0, 2.0, 5.0) if v.max() >= 5 * v.min() else tuple(float(k) for k in range(1, 10))
        target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    target.set_minor_formatter(NullFormatter())


def is_integral(values: Any) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool(np.all(v == np.round(v)))


def wide(values: Any) -> bool:
    """Whether positive `values` span more than a factor 8 (then a log axis reads them best)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and v.min() > 0 and v.max() / v.min() > 8
