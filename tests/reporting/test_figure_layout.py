"""Every figure of a report, read as a reader would, from the drawn artists: no text over text, every text
on the canvas, no text too small to read at the page's width, panels not squeezed, no data under a legend, integer
quantities with integer ticks, two tick labels at least on every axis."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from designspace.reporting import ladder_plots, layout, plots  # noqa: E402
from designspace.reporting.report import render_html  # noqa: E402
from tests.helpers.figures import legends, points_under_legends, shown_px, texts, tick_labels  # noqa: E402
from tests.helpers.html import page_width_px  # noqa: E402
from tests.helpers.reports import rendered  # noqa: E402

AXES_SHARE = 0.40
"""The visible axes together cover at least this share of the canvas."""
TOL = 0.5  # pixels


MIN_TEXT_PX = 9.0
"""The smallest text a figure may show on the report's page, in CSS pixels."""


def ladder_table() -> pd.DataFrame:
    """Three comparisons on a ladder of four training budgets (an effect that grows with the budget)."""
    rows = []
    for name, slope in (("AnyNetX_B vs A", 0.3), ("AnyNetX_E vs D", 1.2), ("RegNet vs E", 2.0)):
        for r, images in enumerate((2_000, 8_000, 32_000, 128_000)):
            effect = slope * (r + 1) - 0.5
            rows.append({"comparison": name, "rung_images": images, "effect": effect, "low": effect - 1.5 + 0.2 * r,
                         "high": effect + 1.5 - 0.2 * r, "n": 50})
    return pd.DataFrame(rows)


def hparam_figure() -> Figure:
    """Error against lr, weight decay and their product of 60 models, with the good ranges and the schedule's values."""
    from designspace.analysis.hparams import good_ranges, with_product
    from designspace.reporting.hparam_plots import plot_hparam_scatter

    rng = np.random.default_rng(5)
    lr, wd = np.exp(rng.uniform(np.log(0.05), np.log(0.8), 60)), np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), 60))
    frame = pd.DataFrame({"lr": lr, "weight_decay": wd, "error": 20 + 5 * np.log(lr / 0.2) ** 2, "status": "ok"})
    ranges = good_ranges(frame, reference={"lr": 0.2, "weight_decay": 5e-5})
    points = with_product(frame).assign(err=frame["error"])
    return plot_hparam_scatter(points, ranges, "RegNet", ["lr", "weight_decay", "lr_wd"], legend="RegNet n=60",
                               error_range=(20.0, 40.0), frac=0.25)


def _figures() -> list[tuple[str, Figure]]:
    return [*rendered().figures.items(), ("effect_ladder", ladder_plots.plot_effect_ladder(ladder_table())),
            ("hparams", hparam_figure())]


def study_figures() -> list[tuple[str, Figure]]:
    """The reproduction report's multi-panel figures (claims across the ladder, sequential decisions) and refine's
    wide EDF figure."""
    from designspace import analysis as an
    from tests.helpers import synthetic

    histories = {f"step {i}": pd.DataFrame({"n": np.arange(1, 13), "low": -3 + 0.2 * np.arange(12) - i,
                                            "high": 3 - 0.1 * np.arange(12)}) for i in range(4)}
    wide = plots.plot_edfs(an.Analysis(synthetic.frame(seed=3, n=20)), title="error EDF: a long title",
                           panel=(9.5, 3.6))
    return [("claim_ladder", ladder_plots.plot_claim_ladder(ladder_table())),
            ("decisions", ladder_plots.plot_sequential_panels(histories, margin=1.0)), ("edf_top", wide)]


@pytest.fixture(scope="module")
def figures() -> list[tuple[str, Figure]]:
    figs = _figures()
    for _, fig in figs:
        fig.set_dpi(layout.DPI)  # as the PNG is written
        fig.canvas.draw()
    return figs


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - TOL and b.x0 < a.x1 - TOL and a.y0 < b.y1 - TOL and b.y0 < a.y1 - TOL


@pytest.mark.slow
def test_every_figure_is_checked(figures):
    stems = {s for s, _ in figures}
    assert {"edf", "edf_normalized", "complexity", "random_search", "efit", "trends", "effect_ladder",
            "hparams"} <= stems
    assert any(s.startswith("params_") for s in stems) and any(s.startswith("widths_") for s in stems)


def test_no_text_overlaps_another(figures):
    for stem, fig in figures:
        boxes = [(w, t.get_text(), t.get_window_extent()) for w, t in texts(fig)]
        assert len(boxes) > 10, stem
        clashes = [(f"{wa} {ta!r}", f"{wb} {tb!r}") for i, (wa, ta, a) in enumerate(boxes)
                   for wb, tb, b in boxes[i + 1:] if _overlap(a, b)]
        assert not clashes, f"{stem}: text over text: {clashes[:3]}"


def test_every_text_is_on_the_canvas(figures):
    for stem, fig in figures:
        w, h = fig.canvas.get_width_height()
        for what, t in texts(fig):
            b = t.get_window_extent()
            assert b.x0 >= -TOL and b.y0 >= -TOL and b.x1 <= w + TOL and b.y1 <= h + TOL, \
                f"{stem}: {what} {t.get_text()!r} is clipped ({b} on a {w}x{h} canvas)"


def test_no_text_is_too_small_to_read_at_the_page_width(figures):
    """As report.html shows each figure (the PNG at 200 dpi, scaled down to the page's max-width when wider), every
    text is at least MIN_TEXT_PX CSS pixels high (font size in points x shown pixels per figure point)."""
    page_px = page_width_px(render_html("text", "t"))
    checked = 0
    for stem, fig in [*figures, *study_figures()]:
        fig.canvas.draw()
        for what, t in texts(fig):
            px = shown_px(t.get_fontsize(), fig, page_px, layout.DPI)
            assert px >= MIN_TEXT_PX, f"{stem}: {what} {t.get_text()!r} shows at {px:.1f} px on the page"
            checked += 1
    assert checked > 500


def test_the_size_check_can_fail():
    """The figures of the report before issue 38: four panels of 3.4 in, legends at 7.5 pt, ~8 px on the page."""
    fig = Figure(figsize=(13.6, 2.7))
    assert shown_px(7.5, fig, 1100, layout.DPI) < MIN_TEXT_PX <= shown_px(7.5, Figure(figsize=(10.8, 2.7)), 1100,
                                                                          layout.DPI)
    assert shown_px(8, Figure(figsize=(5, 3.6)), 1100, layout.DPI) == pytest.approx(8 / 72 * 200)  # not enlarged


def test_every_axis_has_two_tick_labels_at_least(figures):
    """An axis over a range of values (a log axis over less than two decades too: 1-2-5 or 1-9 ticks) shows two
    tick labels at least, never one alone, nor none; a parameter that takes one value may show one."""
    checked = 0
    for stem, fig in [*figures, *study_figures()]:
        fig.canvas.draw()
        for ax in (ax for ax in fig.axes if ax.get_visible()):
            for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
                if np.unique(_data_values(ax, which)).size == 1:
                    continue
                labels = [t for t in tick_labels(axis) if t.get_visible() and t.get_text().strip()]
                assert len(labels) >= 2, f"{stem}: {axis.get_label_text()!r} has {len(labels)} tick label(s)"
                checked += 1
    assert checked > 100


def test_the_panels_fill_the_canvas(figures):
    for stem, fig in figures:
        w, h = fig.canvas.get_width_height()
        area = sum(ax.get_window_extent().width * ax.get_window_extent().height for ax in fig.axes if ax.get_visible())
        assert area / (w * h) >= AXES_SHARE, f"{stem}: the axes cover {area / (w * h):.0%} of the canvas"


def test_no_data_under_a_legend(figures):
    checked = 0
    for stem, fig in figures:
        assert legends(fig), f"{stem}: no legend"
        points, under = points_under_legends(fig)
        checked += points
        assert not under, f"{stem}: {under} data point(s) under the legend"
    assert checked > 10_000


def _data_values(ax, axis: str) -> np.ndarray:
    """The finite data values drawn in data coordinates on `axis` (scatter points, plotted lines)."""
    k = 0 if axis == "x" else 1
    values = [np.asarray(c.get_offsets(), dtype=float)[:, k] for c in ax.collections
              if hasattr(c, "get_offsets") and c.get_offset_transform() is ax.transData and len(c.get_offsets())]
    values += [np.asarray(ln.get_xydata(), dtype=float)[:, k] for ln in ax.get_lines()
               if ln.get_transform() is ax.transData and len(ln.get_xydata()) >= 2]
    v = np.concatenate(values) if values else np.empty(0)
    return v[np.isfinite(v)]


def _integer_data(ax, axis: str) -> bool:
    """Whether every data value drawn in data coordinates on `axis` is an integer, and there are some."""
    v = _data_values(ax, axis)
    return v.size > 0 and bool(np.all(v == np.round(v)))


def test_integer_quantities_have_integer_ticks(figures):
    checked = 0
    for stem, fig in figures:
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
                if not _integer_data(ax, which):
                    continue
                lo, hi = sorted(axis.get_view_interval())
                locs = [loc for loc, t in zip(axis.get_majorticklocs(), axis.get_majorticklabels())
                        if lo - 1e-9 <= loc <= hi + 1e-9 and t.get_text().strip()]
                locs += [loc for loc, t in zip(axis.get_minorticklocs(), axis.get_minorticklabels())
                         if lo - 1e-9 <= loc <= hi + 1e-9 and t.get_text().strip()]
                assert locs, f"{stem}: {axis.get_label_text()!r} has no tick labels"
                bad = [loc for loc in locs if abs(loc - round(loc)) > 1e-9]
                assert not bad, f"{stem}: {axis.get_label_text()!r} (integer data) has ticks at {bad}"
                checked += 1
    assert checked >= 10  # depths, widths, k, block index j, b and g


def test_the_pngs_are_200_dpi(figures):
    from PIL import Image

    png = rendered().out / "figures" / "edf.png"
    with Image.open(png) as im:
        w, _ = im.size
        dpi = im.info.get("dpi", (0, 0))[0]
    fig = rendered().figures["edf"]
    assert round(dpi) == layout.DPI and w == pytest.approx(fig.get_figwidth() * layout.DPI, abs=2)


def test_the_effect_ladder_draws_its_table():
    table = ladder_table()
    fig = ladder_plots.plot_effect_ladder(table)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 4 and ln.get_marker() == "o"]  # not the caps
    assert len(lines) == 3
    for ln, (name, part) in zip(lines, table.groupby("comparison", sort=False)):
        assert np.allclose(ln.get_xdata(), part["rung_images"]) and np.allclose(ln.get_ydata(), part["effect"])
        assert ln.get_label() == f"{name} (n=50)"
    zero = [ln for ln in ax.get_lines() if np.allclose(ln.get_ydata(), 0)]
    assert zero, "no zero line"
    lo, hi = ax.get_ylim()
    assert lo <= table["low"].min() and hi >= table["high"].max()  # every interval inside the axes
