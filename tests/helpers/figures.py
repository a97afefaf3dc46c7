"""What a reader sees in a figure: its texts and how large the page shows them, the data drawn in an axes, and
whether any of it lies under a legend."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def data_points(ax) -> np.ndarray:
    """Display coordinates of every scatter point, and of line and error-bar paths sampled every 2 pixels,
    inside the axes' box."""
    from matplotlib.collections import LineCollection, PathCollection

    paths, pts = [], []
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy):
            paths.append(line.get_transform().transform(xy))
    for coll in ax.collections:
        if isinstance(coll, PathCollection):
            pts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float)))
        elif isinstance(coll, LineCollection):
            paths += [coll.get_transform().transform(np.asarray(s, dtype=float)) for s in coll.get_segments()]
    for p in paths:
        p = p[np.isfinite(p).all(axis=1)]
        pts.append(p)
        for a, b in zip(p[:-1], p[1:]):
            pts.append(a + (b - a) * np.linspace(0, 1, int(np.hypot(*(b - a)) / 2) + 2)[:, None])
    if not pts:
        return np.empty((0, 2))
    p = np.concatenate(pts)
    box = ax.get_window_extent()
    return p[(p[:, 0] >= box.x0) & (p[:, 0] <= box.x1) & (p[:, 1] >= box.y0) & (p[:, 1] <= box.y1)]


def legends(fig: Figure) -> list:
    """The figure's legends and those of its axes."""
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


def points_under_legends(fig: Figure) -> tuple[int, int]:
    """(data points of the visible axes, how many of them lie under a legend), as last drawn."""
    boxes = [leg.get_window_extent() for leg in legends(fig)]
    checked = under = 0
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        pts = data_points(ax)
        checked += len(pts)
        for b in boxes:
            under += int(((pts[:, 0] >= b.x0) & (pts[:, 0] <= b.x1) & (pts[:, 1] >= b.y0) & (pts[:, 1] <= b.y1)).sum())
    return checked, under


def texts(fig: Figure) -> list[tuple[str, object]]:
    """(what, Text) of every visible, non-empty text: titles, axis labels, tick labels in view, legends."""
    out = [("figure text", t) for t in fig.texts]
    if fig._suptitle is not None:
        out.append(("suptitle", fig._suptitle))
    for leg in fig.legends:
        out += [("legend", t) for t in leg.get_texts()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [("title", ax.title), ("title", ax._left_title), ("title", ax._right_title),
                ("x label", ax.xaxis.label), ("y label", ax.yaxis.label)] + [("text", t) for t in ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            out += [("tick", t) for t in tick_labels(axis)]
        if ax.get_legend():
            out += [("legend", t) for t in ax.get_legend().get_texts()]
    unique = {id(t): (w, t) for w, t in reversed(out)}  # the suptitle is also one of fig.texts
    return [(w, t) for w, t in unique.values() if t.get_visible() and t.get_text().strip()]


def tick_labels(axis) -> list:
    """The tick labels of `axis` (major and minor) at ticks inside its view, as last drawn, empty ones too."""
    lo, hi = sorted(axis.get_view_interval())
    return [t for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                                   (axis.get_minorticklocs(), axis.get_minorticklabels()))
            for loc, t in zip(locs, labels) if lo - 1e-9 <= loc <= hi + 1e-9]


def shown_px(fontsize_pt: float, fig: Figure, page_px: float, dpi: float) -> float:
    """CSS pixels of a `fontsize_pt` text of `fig` on a page `page_px` wide: the PNG (`dpi`) at its own width in
    CSS pixels, or scaled down to the page's width (`img{max-width:100%}`)."""
    png_px = fig.get_figwidth() * dpi
    return fontsize_pt / 72 * dpi * min(1.0, page_px / png_px)
