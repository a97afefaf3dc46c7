"""Reports know their sample sizes and hide nothing: the bootstrap's minimum n, untrained sweeps,
no empty tables, no data under a legend, readable tick labels, trends within one design space."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from designspace import analysis as an  # noqa: E402
from designspace.reporting import layout  # noqa: E402
from designspace.reporting.report import ReportSettings, write_report  # noqa: E402
from tests.helpers import synthetic  # noqa: E402
from tests.helpers.figures import legends, points_under_legends  # noqa: E402
from tests.helpers.reports import REGIMES, SPACES, rendered  # noqa: E402


@pytest.fixture(scope="module")
def figures() -> dict[str, Figure]:
    """Every figure of a full report on four sweeps (two spaces x two regimes), captured as it is saved."""
    return rendered().figures


def test_the_report_has_every_figure(figures):
    for stem in ("edf", "edf_normalized", "complexity", "random_search", "efit", "trends"):
        assert stem in figures
    sweeps = len(SPACES) * len(REGIMES)
    assert sum(s.startswith("params_") for s in figures) == sweeps
    assert sum(s.startswith("widths_") for s in figures) == sweeps


def test_trends_need_two_regimes():
    """One sweep per space: no trends figure, and the report says why."""
    from designspace.reporting.report import Document, _trends_section

    frame = synthetic.frame(seed=2, n=12, spaces=("anynetx_e", "regnetx"))
    doc, drawn = Document(), []
    _trends_section(doc, an.Analysis(frame), ReportSettings(), lambda *a: drawn.append(a))
    assert not drawn
    assert "No figure: every design space here has one sweep" in doc.text() and "regnetx: 1" in doc.text()


def test_no_data_point_lies_under_a_legend(figures):
    checked = 0
    for stem, fig in figures.items():
        fig.canvas.draw()
        assert legends(fig), f"{stem}: no legend"
        points, under = points_under_legends(fig)
        checked += points
        assert not under, f"{stem}: {under} data point(s) under the legend"
    assert checked > 1000


def _overlapping_ticks(fig: Figure) -> list[str]:
    """'axis label' of every axis whose visible tick labels (major and minor, inside the view) overlap, drawn as
    `plots.save` draws it (its style: matplotlib counts the ticks of an axis from the tick label size)."""
    with layout.style():
        fig.canvas.draw()
    bad = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            boxes = []
            for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                                 (axis.get_minorticklocs(), axis.get_minorticklabels())):
                boxes += [t.get_window_extent() for loc, t in zip(locs, labels)
                          if t.get_visible() and t.get_text().strip() and lo <= loc <= hi]
            if any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]):
                bad.append(axis.get_label_text() or "?")
    return bad


def test_tick_labels_do_not_overlap(figures):
    for stem, fig in figures.items():
        assert not _overlapping_ticks(fig), f"{stem}: tick labels overlap on {_overlapping_ticks(fig)}"


def test_crowded_log_ticks_are_made_readable():
    from designspace.reporting.layout import readable_ticks

    fig = Figure(figsize=(1.6, 1.4), layout="constrained")
    ax = fig.subplots()
    ax.plot([2.1e6, 9.7e6], [1, 2], "o")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1.1, 1.9)
    assert _overlapping_ticks(fig)  # matplotlib's default labels run into each other here
    assert not _overlapping_ticks(readable_ticks(fig))
    assert any(t.get_text().strip() for t in ax.xaxis.get_majorticklabels() + ax.xaxis.get_minorticklabels())


def test_trends_join_the_sweeps_of_one_space_only(figures):
    fig = figures["trends"]
    ax = next(a for a in fig.axes if a.get_visible())
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_linestyle() not in ("None", "")]
    assert len(lines) == len(SPACES)  # one per design space, none across them
    colors = {ln.get_color() for ln in lines}
    assert len(colors) == len(SPACES)
    for ln in lines:  # each line's points are exactly the regimes of one space
        assert len(ln.get_xdata()) == len(REGIMES)


def test_the_bootstrap_skips_spaces_with_too_few_models_per_draw():
    f = synthetic.frame(seed=3, n=60, spaces=("anynetx_e", "regnetx"))
    small = f[(f["space"] == "regnetx")].head(4)
    frame = an.add_derived(pd.concat([f[f["space"] == "anynetx_e"], small], ignore_index=True))
    ranges = an.best_ranges(frame, ["total_depth"], draws=200)
    assert ranges.attrs["too_few"] == {"regnetx": 4}
    row = ranges.set_index("space").loc["anynetx_e"]
    assert row["n"] == 60 and row["per_draw"] == 15  # round(0.25 * 60)
    trends = an.trend_table(frame, ["total_depth"], draws=200)
    assert set(trends["space"]) == {"anynetx_e"} and trends.attrs["too_few"] == {"regnetx": 4}
    # the boundary: at 25%, n = 38 gives 10 per draw (kept), n = 37 gives 9 (skipped)
    for n, kept in ((38, True), (37, False)):
        sub = an.add_derived(f[f["space"] == "anynetx_e"].head(n))
        assert (not an.best_ranges(sub, ["total_depth"], draws=50).empty) is kept


@pytest.mark.slow
def test_small_and_untrained_sweeps_are_reported_as_such(tmp_path):
    f = synthetic.frame(seed=4, n=40, spaces=("anynetx_e", "regnetx", "anynetx_a"))
    small = f["space"] == "anynetx_a"
    f = f[~small | (f.groupby("space").cumcount() < 4)].copy()  # anynetx_a: 4 models
    untrained = synthetic.frame(seed=5, n=6, spaces=("anynetx_c",)).assign(status="pending", error=np.nan)
    frame = pd.concat([f, untrained], ignore_index=True)
    md = write_report(frame, tmp_path / "r", ReportSettings(draws=200, formats=("png",), bins=3)).read_text()
    assert "Not trained yet, so left out of everything below: anynetx_c." in md
    assert "Too few models for the best-model bootstrap, not estimated: anynetx_a (n=4, 1 per draw)" in md
    assert "n >= 38 per space" in md
    assert "anynetx_e: n=40, 10 per draw" in md
    assert "|  |" not in md and "\n||\n" not in md  # no empty table anywhere
    ks = pd.read_csv(tmp_path / "r" / "data" / "ks.csv")
    assert set(ks["space_a"]) | set(ks["space_b"]) == {"anynetx_e", "regnetx", "anynetx_a"}
    assert {"n_a", "n_b"} <= set(ks.columns)


def test_an_untrained_sweep_alone_gives_a_short_report(tmp_path):
    frame = synthetic.frame(seed=6, n=5, spaces=("anynetx_c",)).assign(status="pending", error=np.nan)
    md = write_report(frame, tmp_path / "r", ReportSettings(draws=100, formats=("png",))).read_text()
    assert "No trained models yet" in md and "## Methods" not in md
    assert pd.read_csv(tmp_path / "r" / "data" / "summary.csv")["untrained"].tolist() == [5]
