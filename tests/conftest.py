"""Shared test fixtures: the reference zoo table, one torch thread, the bundled Fashion-MNIST."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.helpers.paths import read_zoo_reference

# Commands under test put their logs in $TMPDIR/designspace-logs-<uid>, which must be private (0700); a folder of
# that name left by an older version on the machine is refused by design. The suite gets a private TMPDIR of
# its own, so it depends on no state of the machine's /tmp.
os.environ["TMPDIR"] = tempfile.mkdtemp(prefix="designspace-tests-")
os.chmod(os.environ["TMPDIR"], 0o1777)  # like /tmp: services the cluster tests start (MariaDB as `mysql`) write here
tempfile.tempdir = None



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
    from designspace.training.data import load_dataset
    from tests.helpers.train import bundled_fmnist

    return load_dataset(bundled_fmnist())
