"""An independent reading of rendered HTML: what a browser would run or follow (tags outside the allow-list,
on* handlers, URL schemes other than http/https/mailto after entity decoding and control-character removal, and
relative URLs that reach another host: protocol-relative `//host/x` or with a backslash, which browsers read as
`/`), the text a reader sees (`text_of`), what a page points to beside it (`relative_urls`) and how wide it shows
its content (`page_width_px`)."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

from designspace.reporting.report import ALLOWED_SCHEMES, ALLOWED_TAGS


class Checker(HTMLParser):
    """Collects every problem a browser could execute: a tag not allowed, an on* handler, a URL with a scheme
    other than http(s)/mailto (after entity decoding, with whitespace and control characters removed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "body":
            self.in_body = True
            return
        if not self.in_body:
            return
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name}")
            if name in ("href", "src") and value is not None:
                cleaned = "".join(ch for ch in value if not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")))
                scheme = urlsplit(cleaned).scheme.lower()
                if tag == "img" and name == "src" and re.fullmatch(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]*",
                                                                   cleaned):
                    continue  # a report's own figure, embedded: an image, never a script
                if scheme and scheme not in ALLOWED_SCHEMES or not scheme and (cleaned.startswith("//") or "\\" in cleaned):
                    self.problems.append(f"{name}={value!r}")
            if name == "style" and re.search(r"url|expression|javascript", value or "", re.I):
                self.problems.append(f"style {value!r}")


def problems(page: str) -> list[str]:
    checker = Checker()
    checker.feed(page)
    return checker.problems


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.in_body = self.in_body or tag == "body"

    def handle_data(self, data: str) -> None:
        if self.in_body:
            self.parts.append(data)


def text_of(page: str) -> str:
    """The text of a page's body as a reader sees it (entities decoded, tags gone)."""
    reader = _Text()
    reader.feed(page)
    return "".join(reader.parts)


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.urls += [(tag, name, value) for name, value in attrs if name in ("href", "src", "data", "action",
                                                                             "poster", "srcset") and value]


def relative_urls(page: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, URL) of every URL on the page that names something beside it: no scheme (not http:,
    mailto:, data:) and not a fragment of the page itself."""
    reader = _Urls()
    reader.feed(page)
    return [(t, a, u) for t, a, u in reader.urls if not urlsplit(u.strip()).scheme and not u.strip().startswith("#")]


def page_width_px(page: str) -> float:
    """The widest the page shows its content, in CSS pixels: the body's max-width in its style sheet."""
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    body = re.search(r"(?:^|})\s*body\s*{([^}]*)}", style).group(1)
    return float(re.search(r"max-width:\s*([0-9.]+)px", body).group(1))
