"""Hostile names in a report's HTML: never a live script, handler or link, checked by parsing the HTML."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from designspace.reporting.report import markdown_table, render_html
from tests.helpers.html import problems, text_of

PIECES = ["[", "]", "(", ")", "<", ">", '"', "'", "`", "!", "&", "#", ";", ":", "/", "\\", " ", "\t", "\n", "=",
          "javascript:", "java&#115;cript:", "JaVaScRiPt:", "&#x6A;avascript:", "java\tscript:", " javascript :",
          "vbscript:", "data:text/html,<script>alert(1)</script>", "alert(document.domain)", "<script>", "</script>",
          "<img src=x onerror=alert(1)>", "onerror=", "onclick=alert(1)", "<a href=javascript:x>", "<svg onload=x>",
          "&lt;", "&#58;", "&colon;", "%6A", "\x00", "\x1b[31m", "\u200b", "click", "x.csv", "http://ok", "](", "]("
          "javascript:alert(1))", "[click](java&#115;cript:alert(document.domain))", "<iframe src=x>", "<style>",
          # issue 36: fetches from another host, line breaks of every kind, Markdown that forges content
          "//host/x.png", "![t](//host/x.png)", "[l](\\\\host\\x)", "![t](/\\host/x.png)", "&#47;&#47;host", "\r",
          "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "# Verdict: reproduced", "| a | b |", "|---|", "> ", "- ", "1. ",
          "**", "_", "`", "$^$", "=HYPERLINK(", "+", "@", "<http://evil>", "[1]: http://evil", "[x][1]", "===", "    "]
NAMES = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)


def report_markdown(name: str) -> str:
    """Where sweep text reaches a report: headings, paragraphs, link texts and table cells."""
    import pandas as pd

    table = markdown_table(pd.DataFrame({"space": [name], "n": [3]}))
    return "\n".join([f"# Report: {name}\n", f"Space {name} has 3 models.\n", f"- [{name}](models.csv)\n", table, ""])


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(NAMES, NAMES)
def test_hostile_names_never_make_live_html(name, title):
    page = render_html(report_markdown(name), title)
    assert problems(page) == [], page


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_hostile_names_stay_names_wherever_a_report_puts_them(name):
    """`markdown_text` of any name, in a paragraph, a heading, a link text or a table cell: the page shows the name
    on one line (`one_line`) and nothing else - no tag beyond the ones the report itself writes."""
    import pandas as pd

    from designspace.util.names import markdown_text, one_line

    shown = markdown_text(name)
    for markdown, tags in ((f"Space {shown} has 3 models.\n", {"p"}), (f"{shown}: 3 models\n", {"p"}),
                           (f"## {shown}\n", {"h2"}),
                           (f"- [{shown}](models.csv)\n", {"ul", "li", "a"}),
                           (markdown_table(pd.DataFrame({"space": [name]})), {"table", "thead", "tbody", "tr", "th", "td"})):
        page = render_html(markdown, "t")
        assert problems(page) == [], page
        assert set(re.findall(r"<([a-z0-9]+)", page.split("<body>", 1)[1])) <= tags, page
        assert one_line(name).strip() in text_of(page), page


def test_the_reported_case_and_a_safe_link():
    page = render_html(report_markdown("[click](java&#115;cript:alert(document.domain))"), "t")
    assert problems(page) == [] and "cript:alert" not in re.sub(r"<[^>]*>", "", page.split("href=")[0])
    safe = render_html("[the CSV](models.csv) and [docs](https://example.org/x)", "t")
    assert 'href="models.csv"' in safe and 'href="https://example.org/x"' in safe and problems(safe) == []


def test_the_checker_can_fail():
    assert problems("<body><a href='java&#115;cript:x'>x</a></body>") == ["href='javascript:x'"]
    assert problems("<body><img src=x onerror=y></body>") == ["handler onerror"]
    assert problems("<body><script>x</script></body>") == ["tag script"]


def test_a_report_is_one_file_with_its_figures_embedded(tmp_path):
    """report.html embeds the report's own PNG figures (data URIs) and nothing else: a data: URL written in
    the text is dropped by the sanitiser, an image outside the report's folder is neither embedded nor linked (its
    alt text and path, as text), and a link to a file beside the page is its path as text."""
    import base64

    from tests.helpers.html import relative_urls

    (tmp_path / "figures").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    (tmp_path / "figures" / "f.png").write_bytes(png)
    (tmp_path.parent / "outside.png").write_bytes(png)
    text = ("![fig](figures/f.png) ![hostile](data:text/html;base64,PHNjcmlwdD4=) ![up <b>](../outside.png) "
            "[figures/f.pdf](figures/f.pdf) [the CSV](data/x.csv) [docs](https://example.org/x) [top](#top)")
    page = render_html(text, "t", base=tmp_path)
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert "data:text/html" not in page and "outside.png" not in "".join(u for _, _, u in relative_urls(page))
    assert relative_urls(page) == [] and problems(page) == []
    shown = text_of(page)
    assert "up <b> (not embedded: ../outside.png)" in shown and "<b>" not in page  # the alt text stays text
    assert "<code>figures/f.pdf</code>" in page and "the CSV (data/x.csv)" in shown
    assert 'href="https://example.org/x"' in page and 'href="#top"' in page  # off the page's folder: kept
    assert sorted(relative_urls(render_html(text, "t"))) == [  # rendered without a folder: nothing unlinked
        ("a", "href", "data/x.csv"), ("a", "href", "figures/f.pdf"), ("img", "src", "../outside.png"),
        ("img", "src", "figures/f.png")]

