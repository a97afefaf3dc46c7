"""Plain text tables for the terminal (tabulate), one way for every command."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, fmt: str = "simple") -> str:
    """Cells as given (no number parsing); the first `left` columns left-aligned, the others right-aligned."""
    from tabulate import tabulate

    return tabulate(rows, list(header), tablefmt=fmt, disable_numparse=True,
                    colalign=tuple("left" if i < left else "right" for i in range(len(header))))
