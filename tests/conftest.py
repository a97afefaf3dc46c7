"""Shared test fixtures: the reference zoo table."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import pytest

# Commands under test put their logs in $TMPDIR/designspace-logs-<uid>, which must be private (0700); a folder of
# that name left by an older version on the machine is refused by design. The suite gets a private TMPDIR of
# its own, so it depends on no state of the machine's /tmp.
os.environ["TMPDIR"] = tempfile.mkdtemp(prefix="designspace-tests-")
os.chmod(os.environ["TMPDIR"], 0o1777)  # like /tmp: services the cluster tests start (MariaDB as `mysql`) write here
tempfile.tempdir = None

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
