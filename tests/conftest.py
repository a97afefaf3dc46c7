"""Shared test fixtures: the reference zoo table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SHARED_ZOO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "regnet_zoo.csv"


def read_zoo_reference() -> list[dict[str, str]]:
    with open(DATA / "regnet_zoo.csv", newline="") as f:
        return list(csv.DictReader(f))


def ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split())


@pytest.fixture(scope="session")
def zoo_reference() -> list[dict[str, str]]:
    return read_zoo_reference()
