"""Compute once, then draw: one report resolves the outcomes once and computes each statistic once; its
CSVs, Markdown and figures show the same numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from designspace import analysis as an  # noqa: E402
from designspace.reporting import plots  # noqa: E402
from designspace.reporting.report import ReportSettings  # noqa: E402
from tests.helpers.reports import REGIMES, SPACES, regimes_frame, rendered  # noqa: E402

N_SWEEPS = len(SPACES) * len(REGIMES)


@pytest.fixture(scope="module")
def counted():
    """A full report of four sweeps (two spaces x two regimes) with every statistic's calls recorded."""
    r = rendered()
    return r.calls, r.analyses, r.out


def test_one_analysis_per_report(counted):
    _, analyses, _ = counted
    assert analyses == 1


def test_outcomes_are_resolved_once_per_space(counted):
    calls, _, out = counted
    spaces = pd.read_csv(out / "data" / "summary.csv")["space"]
    assert len(calls["resolve"]) == len(spaces) == N_SWEEPS


def test_no_bootstrap_is_run_twice(counted):
    calls, _, out = counted
    boots = calls["bootstrap"]
    assert boots and max(Counter(boots).values()) == 1  # no two bootstraps of the same data
    ranges = pd.read_csv(out / "data" / "best_ranges.csv")
    trends = pd.read_csv(out / "data" / "trends.csv")
    # every (sweep, column) estimated once, whether a table of best ranges or of trends shows it
    pairs = set(zip(ranges["space"], ranges["param"])) | set(zip(trends["space"], trends["column"]))
    assert len(boots) == len(pairs)
    assert len(pairs) < len(ranges) + len(trends)  # the two tables share estimates


def test_each_other_statistic_once(counted):
    calls, _, out = counted
    n_spaces = N_SWEEPS
    normalize = len(ReportSettings().normalize)
    assert len(calls["random_search"]) == n_spaces
    assert len(calls["ks"]) == len(pd.read_csv(out / "data" / "ks.csv")) == n_spaces * (n_spaces - 1) // 2
    assert len(calls["edf"]) == n_spaces * (1 + normalize)  # plain, and normalized by each column
    for name in ("random_search", "ks", "edf"):
        assert max(Counter(calls[name]).values()) == 1, name


def test_the_figures_draw_the_csvs(counted):
    """The EDF figure's lines are the EDF CSV's steps; the trends figure's points the trends CSV's medians."""
    figs, out = rendered().figures, rendered().out
    edf = pd.read_csv(out / "data" / "edf.csv")
    ax = figs["edf"].axes[0]
    lines = {ln.get_label().split(" [")[0]: ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2}
    assert set(lines) == set(edf["space"])
    for name, part in edf.groupby("space"):
        x, y = lines[name].get_xdata(), lines[name].get_ydata()
        assert np.allclose(np.unique(x), np.unique(part["error"]))
        assert np.allclose(np.unique(y)[1:], np.unique(part["F"]))  # steps up to each F (and 0 before)
    trends = pd.read_csv(out / "data" / "trends.csv")
    depth = trends[trends["param"] == "total_depth"]
    tax = figs["trends"].axes[0]
    drawn = np.concatenate([ln.get_ydata() for ln in tax.get_lines()
                            if len(ln.get_xdata()) == len(REGIMES) and ln.get_marker() == "o"])
    assert np.allclose(np.sort(drawn), np.sort(depth["median"]))


def test_policy_is_stated_once():
    """policy='drop', given once to the settings, reaches every table and every legend."""
    frame = regimes_frame()
    bad = int(frame["status"].isin(["diverged", "failed"]).sum())
    a = an.Analysis(frame, ReportSettings(policy="drop", draws=50, bins=4))
    assert a.summary["n"].sum() == len(frame) - bad
    assert a.edf["error"].max() < 100 and a.random_search["expected_min_error"].max() < 100
    labels = plots.legend_labels(a.summary, a.counts)
    assert "3 diverged/failed dropped" in labels["anynetx_e@b0"]


def test_the_console_shows_the_key_table(counted):
    """analyze prints, from the report's CSVs, per space n, outcomes, median and best error, the KS table
    and the report's path; train's summary is a table."""
    from designspace.cli.analyze import summary_text
    from designspace.cli.train import summary_text as train_text

    _, _, out = counted
    text = summary_text(out / "report.md")
    summary = pd.read_csv(out / "data" / "summary.csv")
    row = summary.iloc[0]
    line = next(ln for ln in text.splitlines() if ln.startswith(row["space"] + " "))
    assert line.split()[1:5] == [str(row["n"]), f"{row['ok']}/{row['diverged']}/{row['failed']}/{row['untrained']}",
                                 f"{row['median_error']:.2f}", f"{row['min_error']:.2f}"]
    ks = pd.read_csv(out / "data" / "ks.csv")
    assert f"{ks['D'].iloc[0]:.3f}" in text and f"report: {out / 'report.md'}" in text
    t = train_text({"shard": 0, "num_shards": 2, "models_in_shard": 6, "already_done": 1, "trained": 5, "ok": 4,
                    "diverged": 1, "failed": 0, "held_elsewhere": 0, "seconds": 75.2})
    header, _, values = t.splitlines()
    assert header.split()[:2] == ["shard", "models"] and values.split() == ["0/2", "6", "1", "5", "4", "1", "0", "0",
                                                                            "1m", "15s"]
