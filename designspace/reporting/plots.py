"""Publication-style figures of design-space analyses; every function returns a matplotlib Figure.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state), so they render
headless. Each space keeps one color across all figures (`space_colors`); legends read
"name (n=, min=, mean=)" and name the diverged/failed models and how they were counted
(`designspace.analysis.outcomes`). The numbers behind each figure come from the tables in
`designspace.analysis`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from designspace import analysis as an
from designspace.analysis.outcomes import ERROR, PENALTY, Counts, Policy

__all__ = [
    "legend_label", "plot_complexity_scatter", "plot_edfs", "plot_effect_ladder", "plot_efit", "plot_normalized_edfs",
    "plot_param_scatter", "plot_random_search", "plot_trends", "plot_width_profiles", "space_colors",
]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#F0E442", "#000000")
"""Okabe-Ito colors (colorblind-safe), assigned to spaces in order of appearance."""

RC = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "lines.linewidth": 1.6,
    "savefig.bbox": "tight", "figure.dpi": 110, "savefig.dpi": 200, "pdf.fonttype": 42,
}
ERROR_LABEL = "top-1 error (%)"
UNITS = {"flops": "flops (multiply-adds)", "params": "params", "acts": "activations"}


@contextmanager
def _style():
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def _figure(n_panels: int, ncols: int | None = None, panel: tuple[float, float] = (3.4, 2.7)) -> tuple[Figure, list]:
    ncols = ncols or min(n_panels, 4)
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def space_colors(names: Sequence[str]) -> dict[str, str]:
    """A fixed color per space name, in order."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _colors(frame: pd.DataFrame, colors: Mapping[str, str] | None) -> dict[str, str]:
    base = space_colors([n for n, _ in an.space_groups(frame)])
    return {**base, **(colors or {})}


def legend_label(name: str, errors: np.ndarray, counts: Counts | None = None) -> str:
    """'name (n=, min=, mean=)', plus the diverged/failed/untrained note of `counts`."""
    e = np.asarray(errors, dtype=np.float64)
    text = f"{name} (n={e.size}, min={e.min():.2f}%, mean={e.mean():.2f}%)" if e.size else f"{name} (n=0)"
    note = counts.note() if counts is not None else ""
    return f"{text}\n  {note}" if note else text


def _legend_outside(fig: Figure, axes: Sequence[Any], **kw: Any) -> None:
    """One legend for all panels, right of them (never over data); labels shown once each."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen.keys()), loc="outside right upper", frameon=False, **kw)


def readable_ticks(fig: Figure) -> Figure:
    """Make tick labels that overlap readable: drop minor labels, then rotate, then keep every other.

    One draw measures every axis; only crowded axes are changed, and redrawn to check again."""
    from matplotlib.ticker import NullFormatter

    fig.canvas.draw()
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
        fig.canvas.draw()
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


def _log_if_wide(ax: Any, values: np.ndarray, axis: str = "x", base: float = 10) -> None:
    """Log scale (base `base`, no minor labels) when the positive values span more than 8x."""
    from matplotlib.ticker import NullFormatter

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size and v.min() > 0 and v.max() / v.min() > 8:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=base)
        (ax.xaxis if axis == "x" else ax.yaxis).set_minor_formatter(NullFormatter())


def _is_multiplicative(param: str) -> bool:
    """Widths, width slopes, group widths and complexity read best on a log axis; depths, b, wm not."""
    p = param.removeprefix("fit_")
    return p in ("w0", "wa", "g", "flops", "params", "acts") or (p[:1] == "w" and p[1:].isdigit())


def _clip_penalized(ax: Any, used: list[pd.DataFrame], axis: str = "x") -> None:
    """Keep the error axis on the trained models' errors; the penalized ones (counted in the
    legend) sit off-scale at the penalty."""
    ok = np.concatenate([u.loc[u["outcome"] == "ok", ERROR].to_numpy() for u in used] or [np.empty(0)])
    bad = any((u["outcome"] != "ok").any() for u in used)
    if bad and ok.size:
        span = max(ok.max() - ok.min(), 1e-6)
        (ax.set_xlim if axis == "x" else ax.set_ylim)(ok.min() - 0.03 * span, ok.max() + 0.06 * span)


def _step(ax: Any, errors: np.ndarray, mass: np.ndarray, **kw: Any) -> None:
    x = np.r_[errors[0], errors]
    y = np.r_[0.0, mass]
    ax.step(x, y, where="post", **kw)


# --- EDFs ----------------------------------------------------------------------------------------------
def plot_edfs(
    frame: pd.DataFrame, normalize: str | None = None, bins: int = 10, empty: str = "raise",
    policy: Policy = "penalize", penalty: float = PENALTY, colors: Mapping[str, str] | None = None,
    ax: Any = None, title: str | None = None,
) -> Figure:
    """EDF of each space's errors (normalized by a complexity column if `normalize`), one line per space."""
    own = ax is None
    with _style():
        fig, axes = (ax.figure, [ax]) if ax is not None else _figure(1, panel=(4.6, 3.3))
        ax = axes[0]
        col = _colors(frame, colors)
        table = an.edf_table(frame, normalize, bins, empty, policy, penalty)
        kept = []
        for name, rows in an.space_groups(frame):
            used, counts = an.resolve_errors(rows, policy, penalty)
            part = table[table["space"] == name]
            if part.empty:
                continue
            kept.append(used)
            _step(ax, part["error"].to_numpy(), part["F"].to_numpy(), color=col[name],
                  label=legend_label(name, used[ERROR].to_numpy(), counts))
        _clip_penalized(ax, kept)
        ax.set_xlabel(ERROR_LABEL if not normalize else f"{ERROR_LABEL}, normalized by {normalize}")
        ax.set_ylabel("cumulative probability")
        ax.set_ylim(0, 1.02)
        ax.set_title(title or ("error EDF" if not normalize else f"normalized error EDF ({bins} {normalize} bins)"))
        if own:
            _legend_outside(fig, [ax])
        else:  # a panel of the caller's figure: its legend beside the panel, outside the data
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return readable_ticks(fig) if own else fig


def plot_normalized_edfs(
    frame: pd.DataFrame, by: Sequence[str] = ("params", "flops"), bins: int = 10, empty: str = "raise",
    policy: Policy = "penalize", penalty: float = PENALTY, colors: Mapping[str, str] | None = None,
) -> Figure:
    """The NDS figure: the plain EDF, then the EDF normalized by each complexity column in `by`."""
    with _style():
        fig, axes = _figure(1 + len(by), panel=(4.2, 3.3))
        plot_edfs(frame, None, bins, empty, policy, penalty, colors, ax=axes[0], title="error EDF")
        for ax, b in zip(axes[1:], by):
            plot_edfs(frame, b, bins, empty, policy, penalty, colors, ax=ax, title=f"normalized by {b} ({bins} bins)")
        for ax in axes:
            ax.get_legend().remove()
        _legend_outside(fig, axes)
    return readable_ticks(fig)


# --- where the good models are -----------------------------------------------------------------------
def plot_param_scatter(
    frame: pd.DataFrame, space: str | None = None, params: Sequence[str] | None = None,
    frac: float = 0.25, draws: int = 10_000, seed: int = 0, policy: Policy = "penalize",
    penalty: float = PENALTY, colors: Mapping[str, str] | None = None, ncols: int = 4,
    ranges: pd.DataFrame | None = None,
) -> Figure:
    """Error against each structural parameter of one space, with the bootstrap band of the best
    model's value (shaded: 95% interval, line: median), one panel per parameter. `ranges`: the
    `analysis.best_ranges` table already computed (else it is computed here); no band where it has no row."""
    groups = dict(an.space_groups(frame))
    name = space if space is not None else next(iter(groups))
    rows = groups[name]
    used, counts = an.resolve_errors(rows, policy, penalty)
    labels = dict(an.param_columns(used))
    cols = [p for p in (params or list(labels)) if p in used and used[p].notna().any()]
    if ranges is None:
        ranges = an.best_ranges(rows, cols, frac, draws, seed, policy=policy, penalty=penalty)
    if "space" in ranges:
        ranges = ranges[ranges["space"].astype(str) == name]
    color = _colors(frame, colors)[name]
    with _style():
        fig, axes = _figure(max(1, len(cols)), ncols=min(ncols, max(1, len(cols))), panel=(2.9, 2.4))
        for i, (ax, p) in enumerate(zip(axes, cols)):
            sub = used[used[p].notna()]
            x = sub[p].to_numpy(dtype=np.float64)
            ax.scatter(x, sub[ERROR], s=7, alpha=0.45, color=color, linewidths=0,
                       label=legend_label(name, used[ERROR].to_numpy(), counts) if i == 0 else None)
            r = ranges[ranges["param"] == p]
            if len(r):
                r = r.iloc[0]
                ax.axvspan(r["low"], r["high"], color="#444444", alpha=0.15, lw=0,
                           label="best model: 95% interval" if i == 0 else None)
                ax.axvline(r["median"], color="#222222", lw=1.2, label="best model: median" if i == 0 else None)
                ax.set_title(f"best: {r['median']:.3g} [{r['low']:.3g}, {r['high']:.3g}]", fontsize=8)
            if _is_multiplicative(p):
                _log_if_wide(ax, x, base=2)
            ax.set_xlabel(labels.get(p, p))
            ax.set_ylabel(ERROR_LABEL)
            _clip_penalized(ax, [used], "y")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, frameon=False)
        fig.suptitle(f"{name}: error vs parameters, with the bootstrap of the best model ({frac:.0%} subsamples)"
                     if len(ranges) else f"{name}: error vs parameters (too few models for the best-model bootstrap)")
    return readable_ticks(fig)


def plot_width_profiles(
    frame: pd.DataFrame, space: str | None = None, top: int = 20, reference: tuple[float, float] | None = (48, 48),
    policy: Policy = "penalize", penalty: float = PENALTY, colors: Mapping[str, str] | None = None,
) -> Figure:
    """Per-block widths of the `top` best models of a space, the fitted line w0 + wa*j through
    them, and (optionally) a reference line u_j = w0 + wa*j, the paper's 48*(j+1)."""
    groups = dict(an.space_groups(frame))
    name = space if space is not None else next(iter(groups))
    rows = groups[name]
    if "num_stages" in rows:
        rows = rows[rows["num_stages"].notna()]  # models with per-stage widths
    best = an.best_models(rows, top, policy, penalty)
    _, counts = an.resolve_errors(groups[name], policy, penalty)
    note = f"; {counts.note()}" if counts.note() else ""
    color = _colors(frame, colors)[name]
    with _style():
        fig, (ax,) = _figure(1, panel=(4.6, 3.4))
        jmax = 1
        for i, (_, row) in enumerate(best.iterrows()):
            w = an.block_widths_of(row)
            jmax = max(jmax, w.size)
            ax.plot(np.arange(w.size), w, color=color, alpha=0.35, lw=1.0, drawstyle="steps-mid",
                    label=f"top {len(best)} models of {name} (of n={counts.used}{note})" if i == 0 else None)
        if len(best):
            line = an.fit_width_line(best)
            j = np.arange(jmax)
            ax.plot(j, line(j), color="black", ls="--", lw=1.6,
                    label=f"fit: {line.w0:.1f} + {line.wa:.1f}·j (rmse {line.rmse:.0f})")
        if reference is not None:
            j = np.arange(jmax)
            ax.plot(j, reference[0] + reference[1] * j, color="#888888", ls=":", lw=1.4,
                    label=f"{reference[0]:g} + {reference[1]:g}·j")
        ax.set_yscale("log", base=2)
        ax.set_xlabel("block index j")
        ax.set_ylabel("width w_j (channels)")
        ax.set_title(f"{name}: per-block widths of the best models")
        _legend_outside(fig, [ax])
    return readable_ticks(fig)


# --- search efficiency and complexity ------------------------------------------------------------------
def plot_random_search(
    frame: pd.DataFrame, ks: Sequence[int] | None = None, policy: Policy = "penalize",
    penalty: float = PENALTY, colors: Mapping[str, str] | None = None,
) -> Figure:
    """Expected minimum error of k random models against k (band: 95% interval of that minimum)."""
    table = an.random_search_table(frame, ks, policy=policy, penalty=penalty)
    col = _colors(frame, colors)
    with _style():
        fig, (ax,) = _figure(1, panel=(4.6, 3.3))
        for name, rows in an.space_groups(frame):
            part = table[table["space"] == name]
            if part.empty:
                continue
            used, counts = an.resolve_errors(rows, policy, penalty)
            ax.plot(part["k"], part["expected_min_error"], marker="o", ms=3, color=col[name],
                    label=legend_label(name, used[ERROR].to_numpy(), counts))
            ax.fill_between(part["k"], part["low"], part["high"], color=col[name], alpha=0.15, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("models drawn k")
        ax.set_ylabel(f"expected min {ERROR_LABEL}")
        ax.set_title("random search efficiency")
        _legend_outside(fig, [ax])
    return readable_ticks(fig)


def plot_complexity_scatter(
    frame: pd.DataFrame, metrics: Sequence[str] = an.COMPLEXITY_METRICS, policy: Policy = "penalize",
    penalty: float = PENALTY, colors: Mapping[str, str] | None = None,
) -> Figure:
    """Error against each complexity metric, all spaces overlaid, one panel per metric."""
    metrics = [m for m in metrics if m in frame]
    col = _colors(frame, colors)
    with _style():
        fig, axes = _figure(max(1, len(metrics)), panel=(3.6, 2.9))
        for ax, m in zip(axes, metrics):
            kept = []
            for name, rows in an.space_groups(frame):
                used, counts = an.resolve_errors(rows, policy, penalty)
                kept.append(used)
                ax.scatter(used[m], used[ERROR], s=7, alpha=0.5, color=col[name], linewidths=0,
                           label=legend_label(name, used[ERROR].to_numpy(), counts))
            _log_if_wide(ax, frame[m].to_numpy(dtype=np.float64))
            _clip_penalized(ax, kept, "y")
            ax.set_xlabel(UNITS.get(m, m))
            ax.set_ylabel(ERROR_LABEL)
        _legend_outside(fig, axes[:1], fontsize=6)
        fig.suptitle("error vs complexity")
    return readable_ticks(fig)


def plot_trends(
    frame: pd.DataFrame, params: Sequence[str] = an.TREND_PARAMS, x: str = "flops", frac: float = 0.25,
    draws: int = 10_000, seed: int = 0, policy: Policy = "penalize", penalty: float = PENALTY,
    colors: Mapping[str, str] | None = None, ncols: int = 4, table: pd.DataFrame | None = None,
) -> Figure:
    """The best models' parameters and complexity against `x` (flops), one point per sweep with its
    bootstrap 95% interval: the paper's trends across flop regimes. A line joins the sweeps of one
    design space (`family`) only, one color per family. `table`: `analysis.trend_table` already computed."""
    if table is None:
        table = an.trend_table(frame, params, x, frac, draws, seed, policy=policy, penalty=penalty)
    families = list(dict.fromkeys(table["family"])) if "family" in table else []
    col = {**space_colors(families), **(colors or {})} if len(families) > 1 else _colors(frame, colors)
    n_of = table.groupby("family")["n"].apply(lambda v: ", ".join(str(int(k)) for k in v.unique())) if len(table) else {}
    present = [p for p in params if (table["param"] == p).any()]
    with _style():
        fig, axes = _figure(max(1, len(present)), ncols=min(ncols, max(1, len(present))), panel=(2.9, 2.4))
        for ax, p in zip(axes, present):
            part = table[table["param"] == p].sort_values(x)
            for fam, rows in part.groupby("family", sort=False):
                c = col.get(fam, col.get(rows["space"].iat[0], "black"))
                if len(rows) > 1:
                    ax.plot(rows[x], rows["median"], color=c, lw=0.9, alpha=0.7, zorder=1)
                ax.errorbar(rows[x], rows["median"], yerr=[rows["median"] - rows["low"], rows["high"] - rows["median"]],
                            fmt="o", ms=4, capsize=2, color=c, zorder=2,
                            label=f"{fam} (n per sweep: {n_of[fam]})" if len(n_of) else fam)
            ax.set_xscale("log")
            _log_if_wide(ax, part[["low", "high"]].to_numpy().ravel(), "y")
            fitted = part["column"].str.startswith("fit_")
            how = " (fitted)" if fitted.all() else " (sampled or fitted)" if fitted.any() else ""
            ax.set_ylabel(p.replace("_", " ") + how)
            ax.set_xlabel(UNITS.get(x, x))
        _legend_outside(fig, axes[:1], fontsize=6)
        fig.suptitle(f"best models across regimes (bootstrap median and 95% interval, {frac:.0%} subsamples)")
    return readable_ticks(fig)


def plot_efit(
    frame: pd.DataFrame, policy: Policy = "penalize", penalty: float = PENALTY,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """e_fit of the quantized-linear width fit: its EDF per space, and error against e_fit."""
    if "e_fit" not in frame:
        frame = an.add_derived(frame)
    col = _colors(frame, colors)
    with _style():
        fig, (ax0, ax1) = _figure(2, panel=(4.0, 3.2))
        kept = []
        for name, rows in an.space_groups(frame):
            rows = rows[rows["e_fit"].notna()]  # models without per-stage widths have no fit
            if rows.empty:
                continue
            ef = rows["e_fit"].to_numpy(dtype=np.float64)
            f = an.edf(ef)
            _step(ax0, f.errors, f.mass, color=col[name],
                  label=f"{name} (n={ef.size}, exact {np.mean(rows['e_fit_exact']):.0%}, median {np.median(ef):.3f})")
            used, counts = an.resolve_errors(rows, policy, penalty)
            kept.append(used)
            ax1.scatter(used["e_fit"], used[ERROR], s=7, alpha=0.5, color=col[name], linewidths=0,
                        label=legend_label(name, used[ERROR].to_numpy(), counts))
        ax0.set_xlabel("e_fit (mean |ln w_hat / w| per block)")
        ax0.set_ylabel("cumulative probability")
        ax0.set_title("quantized-linear fit quality")
        _clip_penalized(ax1, kept, "y")
        ax1.set_xlabel("e_fit")
        ax1.set_ylabel(ERROR_LABEL)
        ax1.set_title("error vs e_fit")
        _legend_outside(fig, [ax0, ax1], fontsize=6)
    return readable_ticks(fig)


def plot_effect_ladder(table: pd.DataFrame) -> Figure:
    """Each claim's effect (with its 95% interval) against the rung's training images, one line per comparison;
    space comparisons (percentage points) and correlations (rho) in panels of their own. `table`: ladder.csv rows
    (columns comparison, images, effect, low, high)."""
    import matplotlib.ticker

    is_rho = table["comparison"].str.contains("width rule")
    panels = [(p, label) for p, label in ((table[~is_rho], "median error difference (points)"),
                                          (table[is_rho], "Spearman rho(e_fit, error)")) if len(p)]
    with _style():
        fig, axes = _figure(len(panels), panel=(5.2, 3.6))
        for ax, (part, ylabel) in zip(axes, panels):
            names = list(dict.fromkeys(part["comparison"]))
            colors = space_colors(names)
            for i, name in enumerate(names):
                rows = part[part["comparison"] == name].sort_values("images")
                x = rows["images"].to_numpy(float) * (1 + 0.04 * (i - (len(names) - 1) / 2))  # dodge the bars
                y = rows["effect"].to_numpy(float)
                err = np.vstack([y - rows["low"].to_numpy(float), rows["high"].to_numpy(float) - y])
                ax.errorbar(x, y, yerr=err, color=colors[name], marker="o", ms=4, capsize=2.5, label=name)
            ax.axhline(0, color="0.3", lw=0.8, ls="--")
            ax.set_xscale("log")
            ticks = sorted(part["images"].dropna().unique())
            ax.set_xticks(ticks, [f"{t:,.0f}" for t in ticks])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel("training images per model (log scale)")
            ax.set_ylabel(ylabel)
            ax.set_title("effect in the claimed direction vs budget")
            ax.legend(loc="best", frameon=True, framealpha=0.9)
    return fig
