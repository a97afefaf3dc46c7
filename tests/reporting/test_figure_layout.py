"""Every figure of a report, read as a reader would, from the drawn artists: no text over text, every text
on the canvas, panels not squeezed, no data under a legend, integer quantities with integer ticks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from designspace.reporting import plots  # noqa: E402
from tests.helpers.figures import legends, points_under_legends  # noqa: E402
from tests.helpers.reports import rendered  # noqa: E402

AXES_SHARE = 0.40
"""The visible axes together cover at least this share of the canvas."""
TOL = 0.5  # pixels


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
    return [*rendered().figures.items(), ("effect_ladder", plots.plot_effect_ladder(ladder_table())),
            ("hparams", hparam_figure())]


@pytest.fixture(scope="module")
def figures() -> list[tuple[str, Figure]]:
    figs = _figures()
    for _, fig in figs:
        fig.set_dpi(plots.DPI)  # as the PNG is written
        fig.canvas.draw()
    return figs


def _texts(fig: Figure) -> list[tuple[str, object]]:
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
            lo, hi = sorted(axis.get_view_interval())
            for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                                 (axis.get_minorticklocs(), axis.get_minorticklabels())):
                out += [("tick", t) for loc, t in zip(locs, labels) if lo - 1e-9 <= loc <= hi + 1e-9]
        if ax.get_legend():
            out += [("legend", t) for t in ax.get_legend().get_texts()]
    unique = {id(t): (w, t) for w, t in reversed(out)}  # the suptitle is also one of fig.texts
    return [(w, t) for w, t in unique.values() if t.get_visible() and t.get_text().strip()]


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
        texts = [(w, t.get_text(), t.get_window_extent()) for w, t in _texts(fig)]
        assert len(texts) > 10, stem
        clashes = [(f"{wa} {ta!r}", f"{wb} {tb!r}") for i, (wa, ta, a) in enumerate(texts)
                   for wb, tb, b in texts[i + 1:] if _overlap(a, b)]
        assert not clashes, f"{stem}: text over text: {clashes[:3]}"


def test_every_text_is_on_the_canvas(figures):
    for stem, fig in figures:
        w, h = fig.canvas.get_width_height()
        for what, t in _texts(fig):
            b = t.get_window_extent()
            assert b.x0 >= -TOL and b.y0 >= -TOL and b.x1 <= w + TOL and b.y1 <= h + TOL, \
                f"{stem}: {what} {t.get_text()!r} is clipped ({b} on a {w}x{h} canvas)"


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


def _integer_data(ax, axis: str) -> bool:
    """Whether every data value drawn in data coordinates on `axis` (scatter points, plotted lines) is an
    integer, and there are some."""
    k = 0 if axis == "x" else 1
    values = [np.asarray(c.get_offsets(), dtype=float)[:, k] for c in ax.collections
              if hasattr(c, "get_offsets") and c.get_offset_transform() is ax.transData and len(c.get_offsets())]
    values += [np.asarray(ln.get_xydata(), dtype=float)[:, k] for ln in ax.get_lines()
               if ln.get_transform() is ax.transData and len(ln.get_xydata()) >= 2]
    v = np.concatenate(values) if values else np.empty(0)
    v = v[np.isfinite(v)]
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
    assert round(dpi) == plots.DPI and w == pytest.approx(fig.get_figwidth() * plots.DPI, abs=2)


def test_the_effect_ladder_draws_its_table():
    table = ladder_table()
    fig = plots.plot_effect_ladder(table)
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
