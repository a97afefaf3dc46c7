"""The reproduction report draws from its Study: the EDFs at the proxy and at the longest rung are the Study's
analyses (each made once, the proxy's shared with the full analysis), and REPORT.html is one file to mail."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from designspace.analysis.outcomes import resolve_errors  # noqa: E402
from designspace.analysis.reproduction import Ladder, Rung  # noqa: E402
from designspace.analysis.study import Study  # noqa: E402
from designspace.reporting import plots  # noqa: E402
from designspace.studies import reproduce_report  # noqa: E402
from designspace.studies.experiment import Experiment  # noqa: E402
from tests.helpers import synthetic  # noqa: E402
from tests.helpers.html import problems, relative_urls, text_of  # noqa: E402

NAMES = {"anynetx_a": "AnyNetX_A", "anynetx_b": "AnyNetX_B"}


def _resolved(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([resolve_errors(g)[0] for _, g in frame.groupby("space", sort=False)])


def study(measured: bool = True) -> Study:
    """Two spaces of 20 proxy models; a ladder of the first 8 of each at x1 and x4 (errors 10 points lower)."""
    frame = synthetic.frame(seed=3, n=20, spaces=tuple(NAMES))
    frame = frame.assign(space_key=frame["space"], space=frame["space"].map(NAMES))
    fixed = frame.groupby("space").head(8)
    rungs = [Rung(1, 4096, _resolved(fixed), 1.0)]
    if measured:
        rungs.append(Rung(4, 16384, _resolved(fixed.assign(error=fixed["error"] - 10)), 4.0))
    return Study(frame, ["fmnist_tiny"], ladder=Ladder(rungs, models=8))


def test_the_study_analyses_its_edfs_once():
    s = study()
    assert s.proxy_analysis is s.proxy_analysis and list(s.proxy_analysis.summary["n"]) == [20, 20]
    longest = s.longest_analysis
    assert list(longest.summary["space"]) == ["AnyNetX_A", "AnyNetX_B"] and list(longest.summary["n"]) == [8, 8]
    assert longest.edf["error"].max() < s.proxy_analysis.edf["error"].max()
    assert study(measured=False).longest_analysis is None


def test_report_html_draws_the_study_and_links_to_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    s, drawn, full = study(), [], []
    edfs = plots.plot_edfs

    def recorded(data, *args, **kw):
        drawn.append(data)
        return edfs(data, *args, **kw)

    monkeypatch.setattr(plots, "plot_edfs", recorded)
    monkeypatch.setattr(reproduce_report, "write_analysis", lambda data, out, settings: full.append(data))
    exp = Experiment.from_config({"name": "tiny", "spaces": list(NAMES), "budgets": ["fmnist_tiny"], "n": 20})
    reproduce_report.write_report(s, tmp_path, exp=exp)
    assert drawn == [s.longest_analysis, s.proxy_analysis] and full == [s.proxy_analysis]
    page = (tmp_path / "REPORT.html").read_text()
    assert relative_urls(page) == [] and problems(page) == []
    assert page.count("<img ") == page.count('src="data:image/png;base64,') == 3  # the ladder and the two EDFs
    shown = text_of(page)
    assert "(ladder.csv, which" in shown and "analysis/report.md, analysis/report.html" in shown
