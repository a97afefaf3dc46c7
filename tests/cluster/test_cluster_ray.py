"""Sweeps on a local Ray cluster (`ray start --head` on 127.0.0.1) through `hydra/launcher=ray_cluster`, as the
README runs them: shards as Ray tasks, a worker process killed mid-model, exactly one record per model after
Ray's retry of the task (and, with retries off, after running the command again)."""

from __future__ import annotations

from pathlib import Path

import pytest

from designspace.sweep.results import read_records
from tests.helpers.cluster import (
    TINY_SWEEP_EPOCHS,
    TINY_SWEEP_SCHEDULE,
    assert_one_record_per_model,
    finish,
    hold_mid_model,
    kill,
    launch,
    launched,
    sample_sweep,
    tail,
    wait_until,
)
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, cli, make_sweep

pytestmark = pytest.mark.cluster

EPOCHS = 4
SCHEDULE = [f"schedule.{k}={v}" for k, v in {**TINY_SCHEDULE, "epochs": EPOCHS, "train_subset": 4096}.items()]


def ray_args(address: str, shards: int, *extra: str) -> list[str]:
    """The README's Ray overrides for CPU-only shards on the local head."""
    return [f"shard=range(0,{shards})", f"num_shards={shards}", "hydra/launcher=ray_cluster",
            f"hydra.launcher.ray.init.address={address}", "hydra.launcher.ray.remote.num_gpus=0",
            "hydra.launcher.ray.remote.num_cpus=1", *extra]


def kill_worker_mid_model(sweep, log: Path, proc) -> str:
    """SIGKILL the Ray worker process training some model after its first epoch; returns the model id.

    The process is held stopped first (`Held`), so the model cannot finish between the check and the kill."""
    held = wait_until("a model to checkpoint inside a Ray task", lambda: hold_mid_model(sweep), 240, log, proc)
    try:
        cmdline = Path(f"/proc/{held.pid}/cmdline").read_bytes().decode(errors="replace")
        assert "ray::" in cmdline or "default_worker" in cmdline, f"pid {held.pid} is not a Ray worker: {cmdline!r}"
        kill(held.pid)
        held.wait_gone(30)
    finally:
        held.release()
    return held.model


def test_killed_worker_is_retried_by_ray_and_resumes(ray_head, tmp_path: Path) -> None:
    sweep = sample_sweep(tmp_path / "sweep", 6)
    argv = cli("-m", f"sweep_dir={sweep.root}", *TINY_SWEEP_SCHEDULE, "checkpoint_every_s=0",
               *ray_args(ray_head.address, 3))
    log = tmp_path / "launcher.log"
    with launched(argv, log) as proc:
        killed = kill_worker_mid_model(sweep, log, proc)
        text = finish(proc, log, 400)
    assert proc.returncode == 0, text[-4000:]  # the preset's max_retries ran the shard's task again
    assert "taking over stale claim on " + killed in text, tail(log)
    records = assert_one_record_per_model(sweep, epochs=TINY_SWEEP_EPOCHS)
    assert records[killed]["resumed_from_epoch"] >= 1  # from its checkpoint, not from scratch


def test_killed_worker_without_retries_then_rerun(ray_head, tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:4])
    argv = cli("-m", f"sweep_dir={sweep.root}", *SCHEDULE, "checkpoint_every_s=0",
               *ray_args(ray_head.address, 2, "hydra.launcher.ray.remote.max_retries=0"))
    log = tmp_path / "launcher.log"
    with launched(argv, log) as proc:
        killed = kill_worker_mid_model(sweep, log, proc)
        text = finish(proc, log, 400)
    assert proc.returncode != 0, "the launcher succeeded although its task's worker died:\n" + tail(log)
    assert "WorkerCrashedError" in text or "worker died" in text.lower(), tail(log)
    assert killed not in {r["model_id"] for r in read_records(sweep).values()}

    rerun_log = tmp_path / "rerun.log"
    rerun = launch(argv, rerun_log)
    text = finish(rerun, rerun_log, 400)
    assert rerun.returncode == 0, text[-4000:]
    records = assert_one_record_per_model(sweep, epochs=EPOCHS)
    assert records[killed]["resumed_from_epoch"] >= 1
