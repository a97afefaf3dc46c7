"""Figures of design-space analyses in the paper's style; every function returns a matplotlib Figure.

Each function draws the tables it is given - computed once per report by `designspace.analysis.Analysis` - and
computes no statistic. The EDF, normalized-EDF, random-search and width functions also take the `Analysis` itself
(its tables, legend entries and error range); a raw sweep table is refused: make its `Analysis` first.

Conventions: one color per space across every figure of a report (`space_colors`); legends inside the
axes where no data is (else below the panels), entries `name [min|mean] n=`; error axes end at a
stated percentile of the trained models' errors (`AnalysisSettings.bulk`), models beyond it are marked
at the edge; flops, params and activations in MF / M; integer ticks for integer quantities; grid;
saved by `save` as 200 dpi PNG and PDF. Size, style, legend placement and tick checks: `reporting.layout`;
the reproduction's figures of effects across the budget ladder and of sequential decisions: `reporting.ladder_plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from designspace import analysis as an
from designspace.analysis.outcomes import ERROR, Counts
from designspace.reporting import layout
from designspace.reporting.layout import readable_ticks
from designspace.util.atomic import atomic_write

__all__ = [
    "PALETTE", "legend_label", "legend_labels", "plot_complexity_scatter", "plot_edfs", "plot_efit",
    "plot_normalized_edfs", "plot_param_scatter", "plot_random_search", "plot_trends", "plot_width_profiles", "save",
    "space_colors", "widths_title",
]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#F0E442", "#000000")
"""Okabe-Ito colors (colorblind-safe)."""
PAPER_SPACES = ("AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E", "RegNet", "RegNetX", "RegNetY")
"""The paper's spaces keep the same color in every report (their index in PALETTE)."""
ERROR_LABEL = "top-1 error (%)"
SCALE = {"flops": (1e-6, "flops (MF)"), "params": (1e-6, "params (M)"), "acts": (1e-6, "activations (M)")}
"""Complexity columns are drawn in millions: (factor, axis label)."""


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write `fig` as stem.<format> for each format (raster formats at `layout.DPI`; atomic writes); returns the
    paths."""
    paths = []
    engine = fig.get_layout_engine()
    with layout.style():
        if fig.stale:  # the `plots` functions end laid out (`readable_ticks`): not again unless changed since
            layout.lay_out(fig)
        # Laid out once: the layout is in figure fractions and text in points, so it holds for every format.
        # Without a layout engine `savefig` draws once; with one (even a placeholder) it first draws the whole
        # figure without output to lay it out, which cost ~40% of each save (bench_analysis.py --report).
        fig.set_layout_engine(None)
        try:
            for fmt in formats:  # each file whole or not at all: a report is reread while `analyze watch=true` redraws it
                path = atomic_write(f"{stem}.{fmt}", lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=layout.DPI))
                paths.append(path)
        finally:
            fig.set_layout_engine(engine)
    return paths


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


def _drawn_from(data: Any, function: str, columns: set[str], what: str) -> an.Analysis | None:
    """`data` as an `Analysis`, or None when it is the table `function` draws; a TypeError for anything else (a
    sweep table: the figure would have to compute its statistics)."""
    if isinstance(data, an.Analysis):
        return data
    if isinstance(data, pd.DataFrame) and columns <= set(data.columns):
        return None
    raise TypeError(f"{function} draws {what} or an analysis.Analysis, not a sweep table: pass "
                    "designspace.analysis.Analysis(frame) (settings as keywords: policy=, bins=, top=, ...)")


def _steps(errors: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners of the EDF's step line (drawn as plain vertices): from (e_1, 0) up and across."""
    e, f = np.asarray(errors, dtype=float), np.asarray(mass, dtype=float)
    return np.repeat(e, 2), np.r_[0.0, np.repeat(f, 2)[:-1]]


# --- EDFs ----------------------------------------------------------------------------------------------
def _draw_edfs(ax: Any, table: pd.DataFrame, labels: Mapping[str, str], colors: Mapping[str, str],
               xlim: tuple[float, float] | None, bulk: float | None) -> None:
    from matplotlib.ticker import MultipleLocator

    names = list(dict.fromkeys(table["space"].astype(str)))
    col = _colors_for(names, colors)
    top = float(table["error"].max()) if len(table) else 1.0
    lo, hi = xlim if xlim is not None else (float(table["error"].min()), top)
    x0, x1 = layout.bulk_limits(lo, hi, top)
    ax.set_xlim(x0, x1)
    ax.set_ylim(0, 1.0)
    marked = 0
    for name in names:
        part = table[table["space"].astype(str) == name]
        ax.plot(*_steps(part["error"].to_numpy(), part["F"].to_numpy()), color=col[name], label=labels.get(name, name))
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
    ax.yaxis.set_major_locator(MultipleLocator(0.2))


def plot_edfs(
    data: pd.DataFrame | an.Analysis, labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None, *, normalize: str | None = None,
    xlim: tuple[float, float] | None = None, bulk: float | None = None, ax: Any = None, title: str | None = None,
    panel: tuple[float, float] = (5.0, 3.6),
) -> Figure:
    """Error EDFs, one step line per space, legend `name [min|mean] n=` inside the axes where no curve is.

    `data`: an EDF table (space, error, F; `Analysis.edf`) with `labels` (space -> legend entry), or an
    `Analysis` (its EDF, or the one normalized by `normalize`, its legend entries and error range). `xlim`: the
    (lowest, bulk) error range the axis shows; curves beyond it end in a triangle at the edge (`bulk`: the
    percentile named). `panel`: the figure's size in inches (unless drawn into `ax`)."""
    a = _drawn_from(data, "plot_edfs", {"space", "error", "F"}, "an EDF table (space, error, F)")
    table, labs = data, dict(labels or {})
    if a is not None:
        table = a.edf if normalize is None else a.normalized_edf(normalize)
        labs = {**legend_labels(a.summary, a.counts), **labs}
        xlim, bulk = xlim if xlim is not None else a.error_range, bulk if bulk is not None else a.settings.bulk
    own = ax is None
    with layout.style():
        fig, axes = (ax.figure, [ax]) if ax is not None else layout.figure(1, panel=panel)
        ax = axes[0]
        _draw_edfs(ax, table, labs, colors or {}, xlim, bulk)
        ax.set_xlabel(ERROR_LABEL if not normalize else f"{ERROR_LABEL}, normalized by {normalize}")
        if title:
            ax.set_title(title)
        if own:
            layout.place_legend(ax)
            readable_ticks(fig)
    return fig


def plot_normalized_edfs(
    a: an.Analysis, by: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """The NDS figure of an `Analysis`: the plain EDF, then the EDF normalized by each complexity column in `by`
    (default: the analysis' `normalize`) in its `bins` bins."""
    if not isinstance(a, an.Analysis):
        raise TypeError("plot_normalized_edfs draws an analysis.Analysis, not a sweep table: pass "
                        "designspace.analysis.Analysis(frame, bins=, empty=)")
    by = tuple(a.settings.normalize if by is None else by)
    with layout.style():
        fig, axes = layout.figure(1 + len(by), panel=(3.6, 3.6))
        plot_edfs(a, labels, colors, ax=axes[0], title="plain")
        for ax, b in zip(axes[1:], by):
            plot_edfs(a, labels, colors, normalize=b, ax=ax, title=f"normalized by {b} ({a.bins} bins)")
            ax.set_xlabel(ERROR_LABEL)
            ax.set_ylabel("")
        layout.legend_below(fig, *axes[0].get_legend_handles_labels(), ncols=4)
    return readable_ticks(fig)


# --- where the good models are -----------------------------------------------------------------------
def plot_param_scatter(
    points: pd.DataFrame, ranges: pd.DataFrame, name: str, labels: Mapping[str, str] | None = None,
    color: str | None = None, legend: str | None = None, error_range: tuple[float, float] | None = None,
    frac: float | None = None, ncols: int = layout.MAX_COLUMNS,
) -> Figure:
    """Error against each structural parameter of one space, one panel per parameter, with the bootstrap
    band of the best model's value (`ranges`: rows of `analysis.best_ranges`; shaded 95% interval, line:
    median). `points`: the models (parameter columns, `err`); `labels`: column -> axis label (the order of
    the panels); `error_range`: the error axis' (lowest, bulk), errors above it marked at the top edge."""
    labels = dict(labels or {c: c for c in points.columns if c not in ("model_id", ERROR, "outcome")})
    cols = [p for p in labels if p in points and points[p].notna().any()]
    color = color or PALETTE[0]
    ncols = max(1, min(ncols, layout.MAX_COLUMNS, len(cols)))
    if "space" in ranges:
        ranges = ranges[ranges["space"].astype(str) == name]
    top = float(points[ERROR].max()) if len(points) else 1.0
    lo, hi = error_range if error_range is not None else (float(points[ERROR].min()), top)
    with layout.style():
        fig, axes = layout.figure(max(1, len(cols)), ncols=ncols, panel=(2.9, 2.5))
        for i, (ax, p) in enumerate(zip(axes, cols)):
            sub = points[points[p].notna()]
            x = sub[p].to_numpy(dtype=np.float64)
            ax.set_ylim(*layout.bulk_limits(lo, hi, top))
            ax.scatter(x, sub[ERROR], s=8, alpha=0.5, color=color, linewidths=0, label=legend if i == 0 else None)
            layout.edge_marks(ax, x, sub[ERROR].to_numpy(), color)
            r = ranges[ranges["param"] == p]
            if len(r):
                r = r.iloc[0]
                ax.axvspan(r["low"], r["high"], color="#444444", alpha=0.15, lw=0,
                           label="best model: 95% interval" if i == 0 else None)
                ax.axvline(r["median"], color="#222222", lw=1.2, label="best model: median" if i == 0 else None)
                ax.set_title(f"best {r['median']:.3g} [{r['low']:.3g}, {r['high']:.3g}]", fontsize=8)
            if layout.is_integral(x):
                layout.integer_axis(ax, "x", log2=layout.wide(x) and _multiplicative(p))
            elif layout.wide(x) and _multiplicative(p):
                layout.plain_log(ax, "x", 2)
            ax.set_xlabel(labels.get(p, p))
            ax.set_ylabel(ERROR_LABEL if i % ncols == 0 else "")
        handles, labs = axes[0].get_legend_handles_labels()
        if len(points) and (points[ERROR] > hi).any():
            handles.append(layout.marker_handle("^"))
            labs.append("errors above the axis, at the edge")
        layout.legend_below(fig, handles, labs, ncols=4)
        how = f"bootstrap of the best model, {frac:.0%} subsamples" if frac is not None and len(ranges) else \
            "too few models for the best-model bootstrap" if not len(ranges) else "bootstrap of the best model"
        fig.suptitle(f"{name}: error vs parameters ({how})")
    return readable_ticks(fig)


def _multiplicative(param: str) -> bool:
    """Widths, width slopes, group widths and complexity read best on a log axis; depths, b, wm not."""
    p = param.removeprefix("fit_")
    return p in ("w0", "wa", "g", "flops", "params", "acts") or (p[:1] == "w" and p[1:].isdigit())


def widths_title(name: str, shown: int, n: int | None) -> str:
    """'name: widths of the best 20 of 500 models', or 'of all 20 models' when they are every model used."""
    if n is None or shown < n:
        return f"{name}: widths of the best {shown}" + (f" of {n} models" if n is not None else " models")
    return f"{name}: widths of all {n} models"


def plot_width_profiles(
    data: pd.DataFrame | an.Analysis, name: str | None = None, line: tuple[float, float] | None = None, *,
    n: int | None = None, reference: tuple[float, float] | None = (48, 48), color: str | None = None,
    legend: str | None = None,
) -> Figure:
    """Per-block widths of the best models of a space and the fitted line w0 + wa*j through them (dashed),
    with a reference line (dotted; the paper's 48*(j+1)); the title names how many of the space's n they are.

    `data`: a profiles table (rank, j, width; `Analysis.profiles`) with `line` = (w0, wa) of the fit
    (`Analysis.width_line`) and `n`, or an `Analysis` (with `name`, default its first trained space)."""
    a = _drawn_from(data, "plot_width_profiles", {"rank", "j", "width"}, "a profiles table (rank, j, width)")
    if a is not None:
        name = name if name is not None else a.trained[0]
        data, line, color, legend, n = _width_inputs(a, name, color, legend)
    name, profiles = name or "", data
    shown = int(profiles["rank"].nunique()) if len(profiles) else 0
    color = color or PALETTE[0]
    with layout.style():
        fig, (ax,) = layout.figure(1, panel=(5.0, 3.6))
        jmax = int(profiles["j"].max()) + 1 if len(profiles) else 1
        for i, (_, w) in enumerate(profiles.groupby("rank", sort=True)):
            ax.plot(w["j"], w["width"], color=color, alpha=0.35, lw=1.0, drawstyle="steps-mid",
                    label=(legend or f"best {shown} models of {name}") if i == 0 else None)
        j = np.arange(jmax)
        if line is not None:
            ax.plot(j, line[0] + line[1] * j, color="black", ls="--", lw=1.6, label=f"fit: {line[0]:.1f} + {line[1]:.1f}·j")
        if reference is not None:
            ax.plot(j, reference[0] + reference[1] * j, color="#888888", ls=":", lw=1.4,
                    label=f"{reference[0]:g} + {reference[1]:g}·j")
        layout.integer_axis(ax, "y", log2=True)
        layout.integer_axis(ax, "x")
        ax.set_xlabel("block index j")
        ax.set_ylabel("width w_j (channels)")
        ax.set_title(widths_title(name, shown, n))
        layout.place_legend(ax)
    return readable_ticks(fig)


def _width_inputs(a: an.Analysis, name: str, color: str | None, legend: str | None) -> tuple:
    """The profiles table, fitted line, color, legend entry and n of space `name` of an Analysis."""
    profiles, c = a.profiles(name), a.counts[name]
    note = f"; {c.note()}" if c.note() else ""
    legend = legend or f"best {profiles['rank'].nunique()} models of {name} (of n={c.used}{note})"
    return profiles, a.width_line(name), color or space_colors(a.names)[name], legend, c.used


# --- search efficiency and complexity ------------------------------------------------------------------
def plot_random_search(
    data: pd.DataFrame | an.Analysis, labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Expected minimum error of k random models against k (band: 95% interval of that minimum).

    `data`: a random-search table (space, k, expected_min_error, low, high; `Analysis.random_search`) with
    `labels`, or an `Analysis`. Where the table marks k `extrapolated` (k > n/2, `analysis.supported_k`) the curve
    goes on dashed, without a band, and the legend says so. The error axis ends above the largest expected
    minimum; bands above it are cut there."""
    a = _drawn_from(data, "plot_random_search", {"space", "k", "expected_min_error", "low", "high"},
                    "a random-search table (space, k, expected_min_error, low, high)")
    if a is not None:
        data, labels = a.random_search, {**legend_labels(a.summary, a.counts), **(labels or {})}
    table, labels = data, labels or {}
    extra = table["extrapolated"].astype(bool) if "extrapolated" in table else pd.Series(False, index=table.index)
    names = list(dict.fromkeys(table["space"].astype(str)))
    col = _colors_for(names, colors)
    with layout.style():
        fig, (ax,) = layout.figure(1, panel=(5.0, 3.6))
        for name in names:
            mine = table["space"].astype(str) == name
            part, beyond = table[mine & ~extra], table[mine & extra]
            ax.plot(part["k"], part["expected_min_error"], marker="o", ms=3, color=col[name],
                    label=labels.get(name, name))
            ax.fill_between(part["k"], part["low"], part["high"], color=col[name], alpha=0.1, lw=0)
            if len(beyond):  # from the last supported k on, dashed
                ax.plot(np.r_[part["k"].to_numpy()[-1:], beyond["k"]],
                        np.r_[part["expected_min_error"].to_numpy()[-1:], beyond["expected_min_error"]],
                        ls="--", marker="o", ms=3, mfc="none", lw=1.1, color=col[name])
        if extra.any():
            ax.plot([], [], ls="--", marker="o", ms=3, mfc="none", lw=1.1, color="#555555",
                    label="extrapolated: k > n/2")
        if len(table):
            lo = float(table.loc[~extra, "low"].min() if (~extra).any() else table["low"].min())
            hi = float(table["expected_min_error"].max())
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-6), hi + 0.15 * (hi - lo + 1e-6))
        layout.integer_axis(ax, "x", log2=True)
        ax.set_xlabel("models drawn at random, k")
        ax.set_ylabel(f"expected min {ERROR_LABEL}")
        layout.place_legend(ax)
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
    with layout.style():
        fig, axes = layout.figure(max(1, len(metrics)), panel=(3.4, 3.3))
        for i, (ax, m) in enumerate(zip(axes, metrics)):
            factor, label = SCALE[m]
            ax.set_ylim(*layout.bulk_limits(lo, hi, top))
            for name in names:
                part = points[points["space"].astype(str) == name]
                x = part[m].to_numpy(dtype=np.float64) * factor
                ax.scatter(x, part[ERROR], s=8, alpha=0.5, color=col[name], linewidths=0, label=labels.get(name, name))
                layout.edge_marks(ax, x, part[ERROR].to_numpy(), col[name])
            if layout.wide(points[m].to_numpy(dtype=np.float64)):
                layout.plain_log(ax, "x", values=points[m].to_numpy(dtype=np.float64) * factor)
            ax.set_xlabel(label)
            ax.set_ylabel(ERROR_LABEL if i == 0 else "")
        handles, labs = axes[0].get_legend_handles_labels()
        if (points[ERROR] > hi).any():
            handles.append(layout.marker_handle("^"))
            labs.append("errors above the axis, at the edge")
        layout.legend_below(fig, handles, labs)
    return readable_ticks(fig)


def plot_trends(
    table: pd.DataFrame, params: Sequence[str] = an.TREND_PARAMS, x: str = "flops",
    colors: Mapping[str, str] | None = None, ncols: int = layout.MAX_COLUMNS, frac: float | None = None,
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
    with layout.style():
        fig, axes = layout.figure(max(1, len(present)), ncols=ncols, panel=(2.9, 2.5))
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
            layout.plain_log(ax, "x", values=part[x].to_numpy(dtype=float) * factor)
            yv = part[["low", "high"]].to_numpy(dtype=float).ravel() * pf
            if layout.is_integral(part["median"].to_numpy(dtype=float) * pf):  # depth, g, b, w0: integer ticks
                layout.integer_axis(ax, "y", log2=layout.wide(yv) and _multiplicative(p))
            elif layout.wide(yv):
                layout.plain_log(ax, "y", 2 if _multiplicative(p) else 10, values=yv)
            fitted = part["column"].str.startswith("fit_")
            how = " (fitted)" if fitted.all() else " (sampled or fitted)" if fitted.any() else ""
            ax.set_ylabel(plabel + how)
            ax.set_xlabel(xlabel)
        layout.legend_below(fig, *axes[0].get_legend_handles_labels())
        fig.suptitle("best models across flop regimes (bootstrap median and 95% interval"
                     + (f", {frac:.0%} subsamples)" if frac is not None else ")"))
    return readable_ticks(fig)


def plot_efit(
    points: pd.DataFrame, edf: pd.DataFrame, summary: pd.DataFrame, labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None, error_range: tuple[float, float] | None = None,
) -> Figure:
    """e_fit of the quantized-linear width fit: its EDF per space (`edf`: space, e_fit, F; `Analysis.efit_edf`),
    and error against e_fit (`points`: space, e_fit, `err`, NaN for models not used; `Analysis.efit_points`).
    `summary`: the `analysis.efit_table` (exact share and median e_fit in the legend)."""
    names = list(dict.fromkeys(edf["space"].astype(str)))
    col = _colors_for(names, colors)
    labels = labels or {}
    stats = summary.set_index("space") if len(summary) else summary
    used = points[points[ERROR].notna()]
    top = float(used[ERROR].max()) if len(used) else 1.0
    lo, hi = error_range if error_range is not None else (float(used[ERROR].min()) if len(used) else 0.0, top)
    with layout.style():
        fig, (ax0, ax1) = layout.figure(2, panel=(3.9, 3.1))
        ax1.set_ylim(*layout.bulk_limits(lo, hi, top))
        for name in names:
            part = edf[edf["space"].astype(str) == name]
            how = (f": exact {stats.loc[name, 'exact_share']:.0%}, median {stats.loc[name, 'median_e_fit']:.3f}"
                   if name in stats.index else "")
            ax0.plot(*_steps(part["e_fit"].to_numpy(), part["F"].to_numpy()), color=col[name], label=name + how)
            u = used[used["space"].astype(str) == name]
            ax1.scatter(u["e_fit"], u[ERROR], s=8, alpha=0.5, color=col[name], linewidths=0,
                        label=labels.get(name, name))
            layout.edge_marks(ax1, u["e_fit"].to_numpy(), u[ERROR].to_numpy(), col[name])
        ax0.set_ylim(0, 1.0)
        ax0.set_xlabel("e_fit (mean |ln ŵ_j / w_j|)")
        ax0.set_ylabel("cumulative prob.")
        ax0.set_title("quantized-linear fit quality")
        ax1.set_xlabel("e_fit")
        ax1.set_ylabel(ERROR_LABEL)
        ax1.set_title("error vs e_fit")
        layout.legend_below(fig, *ax0.get_legend_handles_labels())
    return readable_ticks(fig)
