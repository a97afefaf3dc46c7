"""File names made from names that come from data (a space name recorded in someone else's sweep)."""

from __future__ import annotations

import hashlib

MAX_NAME = 100


def safe_name(name: object, fallback: str = "unnamed") -> str:
    """`name` as one file-name component that cannot leave its folder: ASCII letters, digits, '-', '_' and '.'
    only (anything else becomes '_'), no leading dot ('..', hidden files), at most MAX_NAME characters (a
    longer name is cut and given 8 hex digits of its hash, so distinct long names stay distinct)."""
    text = str(name)
    keep = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in text)
    keep = keep.lstrip("._").rstrip("_") or fallback
    if len(keep) > MAX_NAME:
        keep = f"{keep[:MAX_NAME]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return keep
