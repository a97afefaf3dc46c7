"""report.html is one file to mail: its figures embedded, nothing linked beside it (the CSVs, PDFs and PNGs named as
text), read with an HTML parser; the damaged records it states come with the Analysis, not from the sweep folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from designspace import analysis as an  # noqa: E402
from designspace.reporting.report import ReportSettings, write_report  # noqa: E402
from designspace.sweep.layout import SweepDir  # noqa: E402
from tests.helpers import synthetic  # noqa: E402
from tests.helpers.html import problems, relative_urls, text_of  # noqa: E402
from tests.helpers.reports import rendered  # noqa: E402

REPORTING = Path(__file__).resolve().parents[2] / "designspace" / "reporting"


def test_the_report_links_to_nothing_beside_it():
    """The four-sweep report (only edf.png written): no relative href or src; its own figure embedded, the
    others (not on disk) and every CSV named as text, the CSV paths as report.md links them."""
    out = rendered().out
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert relative_urls(page) == [] and problems(page) == []
    assert page.count('src="data:image/png;base64,') == 1  # edf.png
    csvs = re.findall(r"\]\((data/[^)]+\.csv)\)", md)
    assert len(csvs) > 10 and all(f"<code>{c}</code>" in page for c in csvs)
    assert "(not embedded: figures/complexity.png)" in text_of(page)


@pytest.mark.slow
def test_a_tour_size_report_is_one_file_to_mail(tmp_path):
    """Two spaces of 20 models, every figure written: each embedded, no relative link, titles that say n."""
    frame = synthetic.frame(seed=7, n=20, spaces=("anynetx_e", "regnetx"))
    md = write_report(frame, tmp_path / "r", ReportSettings(draws=200, formats=("png", "pdf")), workers=0).read_text()
    page = (tmp_path / "r" / "report.html").read_text()
    figures = re.findall(r"^!\[Figure \d+: .*\]\((figures/[^)]+\.png)\)$", md, flags=re.M)
    assert len(figures) >= 8 and all((tmp_path / "r" / f).is_file() for f in figures)
    assert relative_urls(page) == [] and problems(page) == []
    assert page.count('<img ') == page.count('src="data:image/png;base64,') == len(figures)
    assert all(f"<code>{f.removesuffix('.png')}.pdf</code>" in page for f in figures)
    shown = text_of(page)
    assert "per-block widths of all 20 models" in shown and "top 20" not in shown
    assert "Dashed, without a band: k above n/2, extrapolated" in shown
    rs = pd.read_csv(tmp_path / "r" / "data" / "random_search.csv")
    assert rs.loc[rs["k"] <= 10, "extrapolated"].eq(False).all() and rs.loc[rs["k"] > 10, "extrapolated"].all()


def test_the_damaged_records_come_with_the_analysis(tmp_path):
    frame = synthetic.frame(seed=1, n=6, spaces=("anynetx_e", "regnetx"))
    sweeps = {name: SweepDir(tmp_path / name) for name in ("anynetx_e", "regnetx")}
    for sweep in sweeps.values():
        sweep.damaged_dir.mkdir(parents=True)
    for i in range(2):
        (sweeps["regnetx"].damaged_dir / f"m{i}.json").write_text("{")
    a = an.Analysis(frame.assign(sweep_dir=[str(sweeps[s].root) for s in frame["space"]]))
    assert a.damaged == {str(sweeps["regnetx"].damaged_dir): 2}
    assert an.Analysis(frame).damaged == {}
    from designspace.reporting.report import _damaged_note

    assert _damaged_note(a.damaged).endswith(f"2 in {sweeps['regnetx'].damaged_dir}")


def test_reporting_reads_no_sweep_and_plots_make_no_analysis():
    """Nothing in reporting/ imports the sweep layer; no figure function builds an Analysis of its own."""
    for path in REPORTING.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in modules if m.startswith("designspace.sweep")], path.name
    calls = [n for n in ast.walk(ast.parse((REPORTING / "plots.py").read_text())) if isinstance(n, ast.Call)]
    assert not [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "Analysis"]
