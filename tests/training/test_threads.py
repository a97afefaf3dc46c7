"""The default thread rule: cores / processes on this machine, and no more than the cores the rest of the machine
leaves idle (with a warning)."""

from __future__ import annotations

import logging

import pytest

from designspace.cli.train import local_processes
from designspace.training.trainer import configure_threads, default_threads


@pytest.mark.parametrize(("processes", "cores", "load", "expected"), [
    (1, 8, 0.0, 8),    # a quiet laptop: every core
    (4, 8, 0.0, 2),    # four local shards share eight cores
    (3, 8, 0.2, 2),    # 8 // 3
    (16, 8, 0.0, 1),   # more processes than cores: one each
    (1, 8, 3.5, 5),    # three cores busy elsewhere: the five left
    (1, 2, 2.3, 1),    # the shared 2-core machine under load: one thread, not two
    (2, 8, 7.9, 1),    # at least one
])
def test_threads_are_cores_over_processes_capped_by_idle_cores(processes: int, cores: int, load: float,
                                                               expected: int) -> None:
    assert default_threads(processes, cores=cores, load=load) == expected


def test_a_busy_machine_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert default_threads(1, cores=2, load=2.3) == 1
    assert "busy" in caplog.text and "threads=N" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert default_threads(2, cores=8, load=1.0) == 4
    assert caplog.text == ""


def test_local_launchers_share_the_machine_cluster_ones_do_not() -> None:
    assert local_processes(4, "submitit_local") == 4 and local_processes(4, "joblib") == 4
    assert local_processes(32, "submitit_slurm") == 1 and local_processes(16, "ray_cluster") == 1
    assert local_processes(3, None) == 1 and local_processes(3, "basic") == 1  # Hydra's own runs one at a time


def test_configure_threads_sets_torch() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1 == torch.get_num_threads()
        assert configure_threads(None) >= 1
    finally:
        torch.set_num_threads(before)
