"""Names from someone else's sweep stay names wherever a report shows them (issue 36): one line, no forged heading,
row, link or image, no mathtext, a bounded file name, no spreadsheet formula, no fetch from another host; and a
full disk in a figure child is the one-line disk error. New names are imported inside the tests, so that each
test fails on its own on the code before the fix."""

from __future__ import annotations

import errno
import re

import pandas as pd
import pytest

from designspace.reporting.report import markdown_table, render_html
from tests.helpers.html import problems, text_of

FORGED = "x\n# Verdict: reproduced\n| forged | row |\n[click](https://evil.example/)\r\u2028![t](//host/x.png)"


# --- 6. a 300-character name fits a file name ----------------------------------------------------------------------


def test_a_300_character_name_makes_a_bounded_file_name():
    from designspace.reporting import report

    slug = report._slug("AnyNetX_" + "x" * 300)
    assert len(f"params_{slug}_best.csv") < 160 and report._slug("AnyNetX_" + "x" * 300 + "y") != slug


# --- 7. mathtext is off in every figure ---------------------------------------------------------------------------


def test_a_name_with_dollar_signs_is_drawn_as_text(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from designspace.analysis import Analysis
    from designspace.reporting import plots
    from tests.helpers import synthetic

    frame = synthetic.frame(n=12, spaces=("anynetx_a",)).assign(space="$^$ or $\\frac{$")
    fig = plots.plot_edfs(Analysis(frame), title="$x^$")
    paths = plots.save(fig, tmp_path / "edf", ("png",))  # mathtext would raise on `$^$` while drawing
    assert paths[0].stat().st_size > 0
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if "$" in t.get_text()]
    assert texts and not any(t.get_parse_math() for t in fig.findobj(matplotlib.text.Text) if "$" in t.get_text())


# --- 8. newlines forge nothing ------------------------------------------------------------------------------------


def test_a_name_with_newlines_adds_no_row_heading_or_link_to_a_table():
    page = render_html(markdown_table(pd.DataFrame({"space": [FORGED], "n": [3]})), "t")
    assert "<h1" not in page and "<a " not in page and "<img" not in page
    assert page.count("<tr>") == 2  # the header and the one row
    assert "Verdict: reproduced" in text_of(page)  # shown, as text


def test_a_heading_of_a_name_is_one_heading():
    from designspace.reporting.report import Document

    doc = Document()
    doc.heading(f"Refining {FORGED}", 1)
    page = render_html(doc.text(), "t")
    assert len(re.findall(r"<h\d", page)) == 1 and "<a " not in page and "<img" not in page


def test_names_reach_the_report_on_one_line_and_distinct():
    from designspace.reporting.report import one_line_names
    from designspace.util.usage import UserError

    frame = pd.DataFrame({"space": ["a\nb", "a\nb", "c"], "budget": ["x\u2028y", None, "z"]})
    assert one_line_names(frame)["space"].tolist() == ["a\\nb", "a\\nb", "c"]
    assert one_line_names(frame)["budget"].tolist()[0] == "x\\u2028y"
    with pytest.raises(UserError, match="differ only in line breaks"):
        one_line_names(pd.DataFrame({"space": ["a\nb", "a\\nb"]}))


def test_the_terminal_summary_has_one_line_per_space(tmp_path):
    from designspace.cli.analyze import summary_text

    (tmp_path / "data").mkdir()
    pd.DataFrame({"space": ["A\nB  9  0/0/0/0  1.00  1.00  fake-model\r\x1b[2K"], "n": [3], "ok": [3], "diverged": [0],
                  "failed": [0], "untrained": [0], "median_error": [20.0], "min_error": [10.0],
                  "best_model": ["m\nforged line"]}).to_csv(tmp_path / "data" / "summary.csv", index=False)
    text = summary_text(tmp_path / "report.md")
    table = text.split("\n\n")[0].splitlines()
    assert len(table) == 3 and "\\n" in table[2] and "\r" not in text and "\x1b" not in text


@pytest.mark.parametrize("name", [FORGED, "# Verdict", "> quoted", "- listed", "1. numbered", "**bold** _em_ `code`",
                                  "<https://evil.example/>", "<b>x</b> &amp; &lt;", "a\\|b | c", "[x][1]\n\n[1]: http://e"])
def test_markdown_text_is_shown_as_it_is(name):
    from designspace.util.names import markdown_text, one_line

    for markdown in (f"Space {markdown_text(name)} has 3 models.\n", f"{markdown_text(name)}\n",
                     f"- [{markdown_text(name)}](data/x.csv)\n"):
        page = render_html(markdown, "t")
        body = page.split("<body>", 1)[1]
        assert not re.search(r"<(h\d|em|strong|code|blockquote|ol|img|table)\b", body), body
        assert body.count("<a ") == markdown.count("](data/x.csv)")
        assert one_line(name) in text_of(page)


# --- 9. no formula in a CSV -----------------------------------------------------------------------------------------


def test_a_name_that_would_be_a_formula_is_text_in_a_csv(tmp_path):
    from designspace.util.names import spreadsheet_safe

    frame = pd.DataFrame({"space": ["=HYPERLINK(\"http://evil\",\"x\")", "+1", "-cmd", "@SUM(A1)", "ok"],
                          "n": [-1, 2, 3, 4, 5]})
    frame.columns = ["=space", "n"]
    spreadsheet_safe(frame).to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back.columns) == ["'=space", "n"] and back["n"].tolist() == [-1, 2, 3, 4, 5]
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in back["'=space"])


# --- 10. no fetch from another host ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["//host/x.png", "\\\\host\\x.png", "/\\host/x.png", " //host/x.png", "&#47;/host/x",
                                 "/\t/host/x.png", "\\/host/x"])
def test_protocol_relative_and_backslash_urls_are_dropped(url):
    page = render_html(f"![t]({url}) and [l]({url})", "t")
    assert "host" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page)), page
    assert problems(page) == []
    assert 'src="figures/a.png"' in render_html("![fig](figures/a.png)", "t")  # the report's own figures stay


def test_the_checker_flags_a_fetch_from_another_host():
    assert problems('<body><img src="//host/x.png"></body>') == ["src='//host/x.png'"]
    assert problems('<body><a href="\\\\host\\x">x</a></body>') == ["href='\\\\\\\\host\\\\x'"]


# --- 13. a full disk while a figure child saves: the one-line disk error ---------------------------------------------


def _full_disk(path: str) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", path)


def test_a_full_disk_in_a_figure_child_is_the_childs_error(capfd):
    from designspace.reporting.background import ForkedTasks
    from designspace.util.usage import is_user_error, message

    tasks = ForkedTasks(workers=1)
    tasks.submit("figures/edf", _full_disk, "/report/figures/edf.png")
    with pytest.raises(OSError) as raised:
        tasks.join()
    assert raised.value.errno == errno.ENOSPC and is_user_error(raised.value)
    assert message(raised.value) == "cannot write /report/figures/edf.png: No space left on device"
    assert "Traceback" not in capfd.readouterr().err


def test_a_write_that_fills_the_disk_names_its_file(tmp_path):
    from designspace.util.atomic import atomic_write

    def no_space(f) -> None:  # as matplotlib writing a figure through a file object: no file name in the error
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as raised:
        atomic_write(tmp_path / "figures" / "edf.png", no_space)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "figures" / "edf.png")
    assert not list((tmp_path / "figures").iterdir())  # no temporary left
