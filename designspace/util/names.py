"""Names that come from data (a space name in someone else's sweep, a `names=` label, a folder name) made safe for
each place they are shown: one function per place, used by every command that shows them.

- `one_line`: the terminal, a log line, a figure label: line breaks of every kind (CR, LF, VT, FF, NEL, U+2028,
  U+2029) and other control characters shown as escapes (`\\n`, `\\x1b`), so a name cannot add a line.
- `markdown_text`: a report's Markdown (and so its HTML): one line, and the characters that would make a link,
  image, emphasis, code, table cell or heading shown as themselves.
- `file_slug`: a file name (`designspace.util.paths.safe_name`: ASCII, bounded length, never a path).
- `spreadsheet_cell` / `spreadsheet_safe`: a CSV cell that a spreadsheet cannot run as a formula.

Figures need no function of their own beyond `one_line`: mathtext is off in every figure (`reporting.layout.RC`),
so `$` in a name is drawn as a dollar sign.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from designspace.util.paths import safe_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["file_slug", "markdown_text", "one_line", "spreadsheet_cell", "spreadsheet_safe"]

_BREAKS = ("Cc", "Cf", "Zl", "Zp")


def one_line(text: object) -> str:
    """`text` on one line: every control, format and line- or paragraph-separator character (LF, CR, tab, ESC,
    U+2028, U+2029, ...) shown as its escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in _BREAKS else ch
                   for ch in str(text))


_INLINE = re.compile(r"([\\`*\[\]|#])")
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_BLOCK_START = re.compile(r"^(?:(>|[-+*](?=\s))|(\d+)(?=[.)]))")


def markdown_text(text: object) -> str:
    """`text` as literal Markdown text on one line: `\\`, backquotes, `*`, `[`, `]`, `|`, `#` and a `_` that could
    start or end emphasis are backslash-escaped, `&` and `<` written as entities (no entity, autolink or raw HTML),
    a quote or list marker at its start escaped, and surrounding spaces (not shown by Markdown, or read as a code
    block) dropped - so a name can never become a link, image, heading or table row, wherever a report puts it."""
    out = _INLINE.sub(r"\\\1", one_line(text).strip().replace("&", "&amp;").replace("<", "&lt;"))
    out = _EDGE_UNDERSCORE.sub(r"\\_", out)
    return _BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\", out, count=1)


def file_slug(text: object, fallback: str = "unnamed") -> str:
    """`text` as one bounded, safe file-name component (`safe_name`)."""
    return safe_name(text, fallback)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula (starting with =, +, -, @, a tab or CR, or their
    full-width forms) with a leading `'`, which spreadsheets show as text; any other value unchanged. Numbers stay
    numbers: a negative number is not text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell and column name through `spreadsheet_cell` (a copy when anything changes)."""
    import pandas as pd

    text = [i for i, dtype in enumerate(frame.dtypes)
            if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype))]
    columns = [spreadsheet_cell(c) for c in frame.columns]
    if not text and columns == list(frame.columns):
        return frame
    out = frame.copy()
    for i in text:
        column = out.iloc[:, i]
        out.isetitem(i, column.astype(object).map(spreadsheet_cell) if isinstance(column.dtype, pd.CategoricalDtype)
                     else column.map(spreadsheet_cell))
    out.columns = columns
    return out
