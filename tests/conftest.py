"""Shared test fixtures: the reference zoo table, one torch thread, the bundled Fashion-MNIST."""

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


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (bitwise comparisons, and the machine is shared), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fmnist():
    """The Fashion-MNIST subset bundled with the tests, loaded once per module."""
    from train_helpers import bundled_fmnist

    from designspace.training.data import load_dataset

    return load_dataset(bundled_fmnist())
