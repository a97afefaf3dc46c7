"""Where the checkout and the test data are, and the reference zoo table read independently of the package."""

from __future__ import annotations

import csv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
SHARED_ZOO = REPO.parent / "shared" / "reference" / "regnet_zoo.csv"


def read_zoo_reference() -> list[dict[str, str]]:
    with open(DATA / "regnet_zoo.csv", newline="") as f:
        return list(csv.DictReader(f))


def ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split())
