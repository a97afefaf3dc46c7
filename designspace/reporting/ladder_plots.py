"""Figures of the reproduction's comparisons: each effect across the budget ladder (`plot_effect_ladder`, one
panel per claim in `plot_claim_ladder`) and the anytime-valid interval of a sequential comparison against the pairs
trained (`plot_sequential`, `plot_sequential_panels`). In the style of `reporting.plots`, laid out by
`reporting.layout`, saved by `plots.save`; each draws the table it is given.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from designspace.reporting import layout
from designspace.reporting.layout import readable_ticks
from designspace.reporting.plots import PALETTE

__all__ = ["plot_claim_ladder", "plot_effect_ladder", "plot_sequential", "plot_sequential_panels"]


def plot_effect_ladder(table: pd.DataFrame, colors: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """Effect of each comparison against the training budget of the rung: one line per comparison with its
    95% interval as a band, a zero line, the budget (training images) on a log axis.

    `table`: comparison, rung_images, effect, low, high (percentage points), n (models per group)."""
    names = list(dict.fromkeys(table["comparison"].astype(str)))
    col = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    col.update(colors or {})
    with layout.style():
        fig, (ax,) = layout.figure(1, panel=(5.2, 3.6))
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
        layout.plain_log(ax, "x", values=table["rung_images"].to_numpy(float) if len(table) else None)
        lo = float(min(table["low"].min(), 0.0)) if len(table) else -1.0
        hi = float(max(table["high"].max(), 0.0)) if len(table) else 1.0
        pad = 0.08 * (hi - lo + 1e-6)
        ax.set_ylim(lo - pad, hi + 0.45 * (hi - lo + 1e-6))  # headroom for the legend
        ax.set_xlabel("training images per model (rung)")
        ax.set_ylabel("effect (percentage points)")
        if title:
            ax.set_title(title)
        layout.place_legend(ax)
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
    layout.integer_axis(ax, "x")
    ax.set_xlabel("pairs of models trained")
    if legend:
        layout.place_legend(ax)


def plot_sequential(history: pd.DataFrame, names: Sequence[str], margin: float | None = None,
                    title: str | None = None) -> Figure:
    """One sequential comparison: the anytime-valid interval for the location of the paired difference
    (names[0] - names[1], points) against the pairs trained. `history`: n, low, high."""
    with layout.style():
        fig, (ax,) = layout.figure(1, panel=(5.2, 3.4))
        _sequential_panel(ax, history, margin, legend=False)
        ax.set_ylabel(f"{names[0]} - {names[1]} (points)")
        ax.set_title(title or f"{names[1]} vs {names[0]}")
        layout.place_legend(ax)
    return readable_ticks(fig)


def plot_sequential_panels(histories: Mapping[str, pd.DataFrame], margin: float | None = None) -> Figure:
    """One panel per comparison (title -> history, as `plot_sequential`'s), the location of a - b on y."""
    with layout.style():
        fig, axes = layout.figure(len(histories), panel=(3.3, 2.6))
        ncols = min(layout.MAX_COLUMNS, len(histories))
        for i, (ax, (title, history)) in enumerate(zip(axes, histories.items())):
            _sequential_panel(ax, history, margin, legend=False)
            ax.set_title(title if len(title) <= 40 else title[:38] + "...", fontsize=8)
            if i % ncols == 0:
                ax.set_ylabel("a - b (points)")
        layout.legend_below(fig, *axes[0].get_legend_handles_labels(), ncols=2)
    return readable_ticks(fig)


def plot_claim_ladder(table: pd.DataFrame, title: str | None = None) -> Figure:
    """One panel per claim: its effect at every rung with the 95% interval and the zero line, rungs on a log
    axis of training images per model. `table`: claim (the panel's title; `comparison` instead where present),
    rung_images, effect, low, high, n (models per group)."""
    key = "comparison" if "comparison" in table else "claim"
    table = table.assign(claim=table[key])
    claims = list(dict.fromkeys(table["claim"].astype(str)))
    ncols = min(layout.MAX_COLUMNS, len(claims))
    with layout.style():
        fig, axes = layout.figure(len(claims), panel=(3.3, 2.6))
        for i, (ax, claim) in enumerate(zip(axes, claims)):
            part = table[table["claim"].astype(str) == claim].sort_values("rung_images")
            x = part["rung_images"].to_numpy(float)
            ax.axhline(0.0, color="#333333", lw=0.9, zorder=1)
            ax.errorbar(x, part["effect"], yerr=[part["effect"] - part["low"], part["high"] - part["effect"]],
                        fmt="o-", ms=4, capsize=3, color=PALETTE[i % len(PALETTE)], lw=1.2, zorder=3)
            for xi, yi, ni in zip(x, part["high"].to_numpy(float), part["n"].to_numpy()):
                ax.annotate(f"n={int(ni)}", (xi, yi), textcoords="offset points", xytext=(0, 3), ha="center",
                            fontsize=layout.SMALLEST_PT, color="#555555")
            layout.plain_log(ax, "x")
            ax.set_xticks(x)
            ax.set_xlim(x.min() / 1.6, x.max() * 1.6)
            lo, hi = float(min(part["low"].min(), 0.0)), float(max(part["high"].max(), 0.0))
            pad = 0.12 * (hi - lo + 1e-6)
            ax.set_ylim(lo - pad, hi + 2 * pad)
            ax.set_title(textwrap.fill(claim, 48), fontsize=8)  # the whole claim, on as many lines as it needs
            ax.set_xlabel("training images per model")
            if i % ncols == 0:
                ax.set_ylabel("effect (points)")
        if title:
            fig.suptitle(title)
    return readable_ticks(fig)
