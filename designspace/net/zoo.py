"""The 24 published RegNetX/RegNetY models, generated from their (d, w0, wa, wm, g).

Generator parameters are the paper's (Radosavovic et al., 2020, App. C); widths, depths and
complexity are computed, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from designspace.net.regnet import regnet_spec
from designspace.net.spec import NetSpec


@dataclass(frozen=True)
class ZooEntry:
    name: str
    depth: int
    w0: int
    wa: float
    wm: float
    group_width: int
    se_ratio: float

    def params(self) -> dict[str, Any]:
        return {"depth": self.depth, "w0": self.w0, "wa": self.wa, "wm": self.wm,
                "group_width": self.group_width, "se_ratio": self.se_ratio}


_X = [  # name, d, w0, wa, wm, g
    ("200MF", 13, 24, 36.44, 2.49, 8),
    ("400MF", 22, 24, 24.48, 2.54, 16),
    ("600MF", 16, 48, 36.97, 2.24, 24),
    ("800MF", 16, 56, 35.73, 2.28, 16),
    ("1.6GF", 18, 80, 34.01, 2.25, 24),
    ("3.2GF", 25, 88, 26.31, 2.25, 48),
    ("4.0GF", 23, 96, 38.65, 2.43, 40),
    ("6.4GF", 17, 184, 60.83, 2.07, 56),
    ("8.0GF", 23, 80, 49.56, 2.88, 120),
    ("12GF", 19, 168, 73.36, 2.37, 112),
    ("16GF", 22, 216, 55.59, 2.1, 128),
    ("32GF", 23, 320, 69.86, 2.0, 168),
]
_Y = [
    ("200MF", 13, 24, 36.44, 2.49, 8),
    ("400MF", 16, 48, 27.89, 2.09, 8),
    ("600MF", 15, 48, 32.54, 2.32, 16),
    ("800MF", 14, 56, 38.84, 2.4, 16),
    ("1.6GF", 27, 48, 20.71, 2.65, 24),
    ("3.2GF", 21, 80, 42.63, 2.66, 24),
    ("4.0GF", 22, 96, 31.41, 2.24, 64),
    ("6.4GF", 25, 112, 33.22, 2.27, 72),
    ("8.0GF", 17, 192, 76.82, 2.19, 56),
    ("12GF", 19, 168, 73.36, 2.37, 112),
    ("16GF", 18, 200, 106.23, 2.48, 112),
    ("32GF", 20, 232, 115.89, 2.53, 232),
]

ENTRIES: dict[str, ZooEntry] = {
    f"RegNet{kind}-{regime}": ZooEntry(f"RegNet{kind}-{regime}", d, w0, wa, wm, g, se)
    for kind, rows, se in (("X", _X, 0.0), ("Y", _Y, 0.25))
    for regime, d, w0, wa, wm, g in rows
}


def names() -> list[str]:
    """All model names, RegNetX then RegNetY, each in increasing flops."""
    return list(ENTRIES)


def entry(name: str) -> ZooEntry:
    try:
        return ENTRIES[_canonical(name)]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(ENTRIES)}") from None


def get(name: str, **netspec_fields: Any) -> NetSpec:
    """The `NetSpec` of a published model, e.g. get('RegNetY-800MF', num_classes=10)."""
    return regnet_spec(**entry(name).params(), **netspec_fields)


def _canonical(name: str) -> str:
    lookup = {k.lower().replace("_", "-"): k for k in ENTRIES}
    return lookup.get(name.lower().replace("_", "-"), name)
