"""What a reader sees in a figure: the data drawn in an axes, and whether any of it lies under a legend."""

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
