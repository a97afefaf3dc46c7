"""Compute once, then draw: one report resolves the outcomes once and computes each statistic once; its
CSVs, Markdown and figures show the same numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import hashlib  # noqa: E402
from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from designspace import analysis as an  # noqa: E402
from designspace.analysis import _tables  # noqa: E402
from designspace.reporting.report import ReportSettings, write_report  # noqa: E402
from tests.fixtures.reports import regimes_frame  # noqa: E402


def _key(*arrays: np.ndarray, **params: object) -> str:
    h = hashlib.sha1()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    h.update(repr(sorted(params.items())).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    """A full report of six sweeps (two spaces x three regimes) with every statistic's calls recorded."""
    calls: dict[str, list[str]] = {"bootstrap": [], "resolve": [], "random_search": [], "ks": [], "edf": []}
    mp = pytest.MonkeyPatch()

    def wrap(name, fn, key):
        def counted_fn(*a, **k):
            calls[name].append(key(*a, **k))
            return fn(*a, **k)
        mp.setattr(_tables, fn.__name__, counted_fn)

    wrap("bootstrap", _tables.bootstrap_best, lambda x, e, *a, **k: _key(x, e, a=a, k=k))
    wrap("resolve", _tables.resolve_errors, lambda rows, *a, **k: _key(rows.index.to_numpy(), a=a, k=k))
    wrap("random_search", _tables.random_search_efficiency, lambda e, ks=None, *a, **k: _key(e, ks=str(ks)))
    wrap("ks", _tables.ks_test, lambda x, y, *a, **k: _key(x, y))
    wrap("edf", _tables.edf, lambda e, w=None: _key(e, *(() if w is None else (w,))))
    analyses = []
    original_init = an.Analysis.__init__

    def init(self, *a, **k):
        analyses.append(self)
        original_init(self, *a, **k)

    mp.setattr(an.Analysis, "__init__", init)
    out = tmp_path_factory.mktemp("once")
    try:
        settings = ReportSettings(draws=200, formats=("png",), bins=4)
        write_report(regimes_frame(), out, settings)
    finally:
        mp.undo()
    return calls, analyses, out


def test_one_analysis_per_report(counted):
    _, analyses, _ = counted
    assert len(analyses) == 1


def test_outcomes_are_resolved_once_per_space(counted):
    calls, _, out = counted
    spaces = pd.read_csv(out / "data" / "summary.csv")["space"]
    assert len(calls["resolve"]) == len(spaces) == 6


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
    n_spaces = 6
    normalize = len(ReportSettings().normalize)
    assert len(calls["random_search"]) == n_spaces
    assert len(calls["ks"]) == len(pd.read_csv(out / "data" / "ks.csv")) == n_spaces * (n_spaces - 1) // 2
    assert len(calls["edf"]) == n_spaces * (1 + normalize)  # plain, and normalized by each column
    for name in ("random_search", "ks", "edf"):
        assert max(Counter(calls[name]).values()) == 1, name


def test_the_figures_draw_the_csvs(counted):
    """The EDF figure's lines are the EDF CSV's steps; the trends figure's points the trends CSV's medians."""
    from tests.fixtures.reports import rendered

    figs, out = rendered("regimes")
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
    drawn = np.concatenate([ln.get_ydata() for ln in tax.get_lines() if len(ln.get_xdata()) == 3])
    assert np.allclose(np.sort(drawn), np.sort(depth["median"]))


def test_policy_is_stated_once(tmp_path):
    """policy='drop' given once, to the report's settings, reaches every table and every legend."""
    frame = regimes_frame()
    bad = int(frame["status"].isin(["diverged", "failed"]).sum())
    write_report(frame, tmp_path, ReportSettings(policy="drop", draws=100, formats=("png",), bins=4,
                                                 normalize=()))
    summary = pd.read_csv(tmp_path / "data" / "summary.csv")
    assert summary["n"].sum() == len(frame) - bad
    edf = pd.read_csv(tmp_path / "data" / "edf.csv")
    assert edf["error"].max() < 100  # no model entered at the penalty
    md = (tmp_path / "report.md").read_text()
    assert "diverged/failed models are left out" in md
