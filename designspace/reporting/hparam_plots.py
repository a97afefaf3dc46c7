"""Error against the training hyperparameters a sweep sampled per model, with their good range (paper style).

`plot_hparam_scatter` draws one space: a panel per sampled key (lr, weight decay, their product lr_wd, ...), each
model a point, the bootstrap's 95% interval of the best model's value shaded and its median as a line
(`designspace.analysis.hparams.good_ranges`), the schedule's own value dashed where given. It follows
`reporting.plots`: its style, colors and legends, error axes ending at the report's bulk percentile (models above
marked at the edge), log axes for keys sampled on a log scale, laid out once (`layout.readable_ticks`), saved by
`plots.save`. `hparams_section` writes the report section (the table and one figure per space) through the
report's own `figure` and `csv` callbacks; it says nothing when no key varies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from designspace.analysis.bootstrap import per_draw
from designspace.analysis.hparams import LABELS
from designspace.analysis.outcomes import ERROR
from designspace.reporting import layout, plots
from designspace.reporting.plots import ERROR_LABEL, PALETTE
from designspace.util.names import markdown_text
from designspace.util.paths import safe_name

__all__ = ["hparams_section", "plot_hparam_scatter"]


def plot_hparam_scatter(
    points: pd.DataFrame, ranges: pd.DataFrame, name: str, keys: list[str], color: str | None = None,
    legend: str | None = None, error_range: tuple[float, float] | None = None, frac: float | None = None,
) -> Figure:
    """Error against each sampled key of one space (`keys`, one panel each). `points`: the models (the keys'
    columns, `err`); `ranges`: its rows of `good_ranges` (shaded interval, median line, dashed reference);
    `error_range`: the error axis' (lowest, bulk), errors above it marked at the top edge."""
    color = color or PALETTE[0]
    if "space" in ranges:
        ranges = ranges[ranges["space"].astype(str) == name]
    top = float(points[ERROR].max()) if len(points) else 1.0
    lo, hi = error_range if error_range is not None else (float(points[ERROR].min()) if len(points) else 0.0, top)
    ncols = min(layout.MAX_COLUMNS, max(1, len(keys)))
    with layout.style():
        fig, axes = layout.figure(max(1, len(keys)), ncols=ncols, panel=(3.0, 2.6))
        for ax, key in zip(axes, keys):
            sub = points[np.isfinite(points[key].to_numpy(dtype=np.float64))] if key in points else points.iloc[:0]
            x = sub[key].to_numpy(dtype=np.float64) if key in sub else np.empty(0)
            r = ranges[ranges["param"] == key]
            if (bool(r["log_scale"].iat[0]) if len(r) else bool(x.size and (x > 0).all())):
                layout.plain_log(ax, "x", values=x)  # before drawing: margins are then taken on the log scale
            ax.set_ylim(*layout.bulk_limits(lo, hi, top))
            ax.scatter(x, sub[ERROR], s=10, alpha=0.6, color=color, linewidths=0, label=legend)
            layout.edge_marks(ax, x, sub[ERROR].to_numpy(), color)
            if len(r):  # each label is drawn on every panel that has it, and listed once in the legend
                r = r.iloc[0]
                ax.axvspan(r["low"], r["high"], color="#444444", alpha=0.15, lw=0, label="best model: 95% interval")
                ax.axvline(r["median"], color="#222222", lw=1.2, label="best model: median")
                ax.set_title(f"best {r['median']:.3g} [{r['low']:.3g}, {r['high']:.3g}]", fontsize=8)
                if np.isfinite(r["reference"]):
                    ax.axvline(r["reference"], color="#D55E00", lw=1.2, ls="--", label="the schedule's value")
            ax.set_xlabel(LABELS.get(key, key))
            ax.set_ylabel(ERROR_LABEL if axes.index(ax) % ncols == 0 else "")
        handles, labs = [], []
        for ax in axes:  # the legend entries of every panel, once each (a reference may be drawn on one panel only)
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labs:
                    handles.append(h)
                    labs.append(lab)
        if len(points) and (points[ERROR] > hi).any():
            handles.append(layout.marker_handle("^"))
            labs.append("errors above the axis, at the edge")
        layout.legend_below(fig, handles, labs, ncols=4)
        how = (f"bootstrap of the best model, {frac:.0%} subsamples" if frac is not None and len(ranges) else
               "too few models for the best-model bootstrap" if not len(ranges) else "bootstrap of the best model")
        fig.suptitle(f"{name}: error vs training hyperparameters ({how})")
    limits = [ax.get_xlim() for ax in axes]
    layout.readable_ticks(fig)  # thinning the ticks of a crowded log axis (set_ticks) may widen it to a far tick
    for ax, lim in zip(axes, limits):
        ax.set_xlim(*lim)
    return layout.readable_ticks(fig)


def _range_cells(ranges: pd.DataFrame) -> pd.DataFrame:
    """space, hyperparameter, n, good range 'median [low, high]', and (given a reference) the schedule's value and
    where it lies."""
    cells = pd.DataFrame({
        "space": ranges["space"], "hyperparameter": [LABELS.get(p, p) for p in ranges["param"]], "n": ranges["n"],
        "good range": [f"{m:.3g} [{lo:.3g}, {hi:.3g}]" for m, lo, hi in
                       zip(ranges["median"], ranges["low"], ranges["high"])],
    })
    if ranges["reference"].notna().any():  # judged only where a reference was given
        cells["schedule's value"] = ["-" if not np.isfinite(v) else f"{v:.3g}" for v in ranges["reference"]]
        cells["lies"] = [v or "-" for v in ranges["verdict"]]
    return cells


def hparams_section(doc: Any, a: Any, s: Any, figure: Callable[..., None], csv: Callable[[str, pd.DataFrame], str],
                    reference: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The report's "Training hyperparameters" section for the spaces of Analysis `a` that sampled a key per model
    (`Analysis.hparam_spaces`): the good-range table (`Analysis.hparam_ranges`, CSV `hparam_ranges`) and one figure
    per space, drawn by the report's `figure(stem, caption, data, draw, *args)`; nothing when no space sampled one.
    `s`: the report's settings (frac, draws, min_per_draw); `reference`: the schedule's values to judge. Returns
    the ranges (empty: none)."""
    if not a.hparam_spaces:
        return pd.DataFrame()
    ranges = a.hparam_ranges(reference)
    doc.heading("Training hyperparameters", 2)
    doc.para("Sampled per model with the design (`python -m designspace.sample ... hparams.lr=[low,high]`); each "
             f"model trained with its own values. Good range: {s.draws} bootstrap draws of {s.frac:.0%} of the models "
             "with replacement, median [2.5%, 97.5%] of the value of each draw's lowest-error model, on a log scale "
             "for values sampled log-uniformly; lr_wd is lr x weight decay.")
    skipped = ranges.attrs.get("too_few") or {}
    note = ("Too few models for the good-range bootstrap: " + ", ".join(
        f"{markdown_text(sp)} (n={n}, {per_draw(n, s.frac)} per draw; it needs {s.min_per_draw})"
        for sp, n in skipped.items())
        + ".") if skipped else ""
    doc.table(_range_cells(ranges), csv("hparam_ranges", ranges), empty=note or "No sampled key varies.")
    if note and len(ranges):
        doc.para(note)
    colors = plots.space_colors(a.names)
    labels = plots.legend_labels(a.summary, a.counts)
    for name in a.hparam_spaces:
        points, keys = a.hparam_points(name)
        mine = ranges[ranges["space"] == name]
        slug = safe_name(name, "space")
        figure(f"hparams_{slug}", f"{markdown_text(name)}: error against each training hyperparameter sampled per "
               "model; shaded: 95% interval, line: median of the best model's value (bootstrap)"
               + ("; dashed: the schedule's value" if mine["reference"].notna().any() else "") + ".",
               {f"hparams_{slug}": points, f"hparams_{slug}_best": mine},
               plot_hparam_scatter, points, mine, name, keys, colors[name], labels[name], a.error_range, s.frac)
    return ranges
