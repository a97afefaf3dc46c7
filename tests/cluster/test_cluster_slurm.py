"""Sweeps on a real (one-node) SLURM cluster through `hydra/launcher=submitit_slurm`, as the README runs them:
a job array of shards, one task requeued mid-model (`scontrol requeue`), another cancelled (`scancel`)
and the command run again; `designspace.reproduce ... stage=train` the same way."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from designspace.sweep.layout import SweepDir
from designspace.sweep.results import read_records
from tests.helpers.cluster import (
    TINY_SWEEP_EPOCHS,
    TINY_SWEEP_SCHEDULE,
    Held,
    assert_one_record_per_model,
    finish,
    hold_mid_model,
    holding,
    launch,
    launched,
    release_requeued,
    run_cmd,
    sacct_states,
    sample_sweep,
    scancel,
    scontrol,
    squeue,
    tail,
    wait_until,
)
from tests.helpers.train import BUNDLED_FASHION_MNIST, TINY_SCHEDULE, TINY_SPECS, cli, make_sweep

pytestmark = pytest.mark.cluster

EPOCHS = 4
SCHEDULE = [f"schedule.{k}={v}" for k, v in {**TINY_SCHEDULE, "epochs": EPOCHS, "train_subset": 4096}.items()]
"""Tiny models, 4 epochs of 64 steps (a few seconds each); the kill lands inside a model because its process
is held stopped between its checkpoint and the kill (`Held`)."""


def launcher_files(since: float, pattern: str) -> list[Path]:
    """submitit's job files written since `since` in the private launcher folder (docs/shared-sweeps.md)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "designspace" / "launcher"
    return [p for p in root.glob(f"*/*/{pattern}") if p.stat().st_mtime >= since - 1]


def slurm_args(partition: str, name: str, shards: int) -> list[str]:
    """The README's submitit_slurm overrides, sized for the one-node test cluster."""
    return [f"shard=range(0,{shards})", f"num_shards={shards}", "hydra/launcher=submitit_slurm",
            f"hydra.launcher.partition={partition}", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10",
            "hydra.launcher.max_num_timeout=2", f"hydra.launcher.array_parallelism={shards}",
            f"hydra.launcher.name={name}"]


def running_task(name: str, index: int) -> dict | None:
    """The running array task `index` of this job name (submitit submits a single job, index N/A, for one shard)."""
    wanted = {str(index), "N/A"} if index == 0 else {str(index)}
    return next((t for t in squeue(name) if t["index"] in wanted and t["state"] == "RUNNING"), None)


@contextlib.contextmanager
def one_task_job(slurm, sweep: SweepDir, tmp_path: Path) -> Iterator[tuple]:
    """The sweep trained as one SLURM task, started and left running until a model has checkpointed
    inside it, whose process is then held stopped (`Held`): yields (launcher process, its log, job name,
    the held model and process, its task); the launcher is killed and the process released on the way out."""
    name = f"ds-test-{uuid.uuid4().hex[:8]}"
    argv = cli("-m", f"sweep_dir={sweep.root}", *SCHEDULE, "checkpoint_every_s=0",
               *slurm_args(slurm.partition, name, 1))
    log = tmp_path / "launcher.log"
    with launched(argv, log) as proc, holding() as held:
        h = wait_until("a model to checkpoint inside the task", lambda: hold_mid_model(sweep), 240, log, proc)
        held.append(h)
        yield proc, log, name, h, task_of(h, name)


def task_of(held: Held, name: str) -> dict:
    """The running task of this job that trains the held model (the job named in its claim)."""
    task = next((t for t in squeue(name) if t["task"] == held.job and t["state"] == "RUNNING"), None)
    assert task is not None, f"the claim of {held.model} names job {held.job}, not a running task of {squeue(name)}"
    return task


def test_job_array_survives_requeue_and_scancel_with_one_record_per_model(slurm, tmp_path: Path) -> None:
    sweep = sample_sweep(tmp_path / "sweep", 6)
    shards = 3
    order = list(sweep.read_samples()["model_id"])
    shard_of = {model_id: j % shards for j, model_id in enumerate(order)}  # shard i owns rows j % N == i
    name = f"ds-test-{uuid.uuid4().hex[:8]}"
    argv = cli("-m", f"sweep_dir={sweep.root}", *TINY_SWEEP_SCHEDULE, "checkpoint_every_s=0",
               *slurm_args(slurm.partition, name, shards))
    log = tmp_path / "launcher.log"
    with launched(argv, log) as proc, holding() as held:
        # 1. preemption: requeue the array task of a shard while its model is between epochs
        held.append(wait_until("a model to checkpoint inside a running task", lambda: hold_mid_model(sweep), 240,
                               log, proc))
        requeued_model, requeued = held[0].model, task_of(held[0], name)
        scontrol("requeue", requeued["task"])
        # SLURM kills it (SIGTERM, which submitit ignores, then SIGKILL after KillWait) and holds it ~120 s
        # (Reason=BeginTime) before it may start again: let it start now
        held[0].wait_gone(60)
        wait_until("the requeued task to wait for its BeginTime", lambda: release_requeued(name), 60, log, proc)

        # 2. a lost task: scancel another shard's running task inside its model
        skip = {m for m, s in shard_of.items() if s == shard_of[requeued_model]}
        held.append(wait_until("a model of another shard to checkpoint", lambda: hold_mid_model(sweep, skip), 240,
                               log, proc))
        cancelled_model, cancelled = held[1].model, task_of(held[1], name)
        scancel(cancelled["task"])
        held[1].wait_gone(60)
        text = finish(proc, log, 300)
    assert proc.returncode != 0, "the launcher succeeded although a task was cancelled:\n" + tail(log)
    assert "CANCELLED" in text, tail(log)  # submitit: the task has no result, state CANCELLED
    wait_until("the other tasks to finish", lambda: not squeue(name), 300, poll=1.0)

    assert "REQUEUED" in sacct_states(requeued["task"])  # the first run, before the requeue
    before = read_records(sweep)
    by_model = {r["model_id"]: r for r in before.values()}
    assert requeued_model in by_model, "the requeued task did not finish its model after it restarted"
    assert by_model[requeued_model]["resumed_from_epoch"] >= 1  # from its checkpoint, not from scratch
    assert cancelled_model not in by_model

    # 3. the same command again finishes the cancelled shard, resuming its model; nothing is trained twice
    rerun_log = tmp_path / "rerun.log"
    rerun = launch(argv, rerun_log)
    text = finish(rerun, rerun_log, 300)
    assert rerun.returncode == 0, text[-4000:]
    after = assert_one_record_per_model(sweep, epochs=TINY_SWEEP_EPOCHS)
    assert after[cancelled_model]["resumed_from_epoch"] >= 1
    for record in before.values():
        assert after[record["model_id"]] == record  # finished models were not retrained


def test_reproduce_train_stage_as_a_job_array(slurm, tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    base = ["experiment=smoke", f"out={out}", f"dataset.root={BUNDLED_FASHION_MNIST}", "progress=false",
            "threads=1"]
    python = cli()[0]
    sample_log = tmp_path / "sample.log"
    sample = launch([python, "-m", "designspace.reproduce", *base, "stage=sample"], sample_log)
    finish(sample, sample_log, 300)
    assert sample.returncode == 0, tail(sample_log)

    name = f"ds-test-{uuid.uuid4().hex[:8]}"
    started = time.time()
    train_log = tmp_path / "train.log"
    train = launch([python, "-m", "designspace.reproduce", "-m", *base, "stage=train",
                    f"hydra.sweep.dir={out}/logs/train-multirun", *slurm_args(slurm.partition, name, 2)], train_log)
    sweeps = [SweepDir(p.parent) for p in sorted(out.glob("**/samples.parquet"))]
    assert len(sweeps) >= 7  # 2 spaces, the zoo, and 2 x 2 fidelity sweeps
    try:  # requeue shard 0 once it has recorded a model: the restarted task finishes the rest
        wait_until("a first record", lambda: any(read_records(s) for s in sweeps) and running_task(name, 0),
                   300, train_log, train)
        task = running_task(name, 0)
        if task is not None:
            scontrol("requeue", task["task"])
            wait_until("the requeued task to wait for its BeginTime", lambda: release_requeued(name), 60, train_log,
                       train)
        text = finish(train, train_log, 600)
    finally:
        if train.poll() is None:
            train.kill()
    assert train.returncode == 0, text[-4000:]
    for sweep in sweeps:
        assert_one_record_per_model(sweep)
    assert len(launcher_files(started, "*_result.pkl")) >= 2  # submitit's files: in the private launcher folder
    assert not list(out.glob("**/.submitit"))  # never in the shared run directory (issue 19)

    analyze_log = tmp_path / "analyze.log"
    analyze = launch([python, "-m", "designspace.reproduce", *base, "stage=analyze"], analyze_log)
    finish(analyze, analyze_log, 600)
    assert analyze.returncode == 0, tail(analyze_log)
    assert (out / "report" / "REPORT.md").is_file()


def test_timeout_signal_checkpoints_requeues_and_resumes(slurm, tmp_path: Path) -> None:
    """What SLURM does `signal_delay_s` before a job's time limit (USR2), sent now with `scancel --signal`:
    submitit calls the Hydra launcher's checkpoint, requeues the task (max_num_timeout) and exits; the task
    starts again by itself and resumes its model from the epoch checkpoint."""
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:3])
    started = time.time()
    with one_task_job(slurm, sweep, tmp_path) as (proc, log, name, held, task):
        res = run_cmd(["scancel", "--signal=USR2", task["task"]])
        assert res.returncode == 0 and "error" not in res.stderr, res.stderr
        held.release()  # the signal is delivered as it runs again, inside the model
        wait_until("submitit to requeue the task", lambda: release_requeued(name), 120, log, proc)
        text = finish(proc, log, 400)
    assert proc.returncode == 0, text[-4000:]
    assert "REQUEUED" in sacct_states(task["task"])
    job_log = "\n".join(p.read_text() for p in launcher_files(started, "*_log.*"))
    assert "this job is timed-out" in job_log and "Exiting gracefully after preemption/timeout" in job_log
    records = assert_one_record_per_model(sweep, epochs=EPOCHS)
    assert records[held.model]["resumed_from_epoch"] >= 1


def test_requeued_task_on_another_node_finishes_its_model(slurm, tmp_path: Path) -> None:
    """A requeued task that SLURM restarts on another node. One node cannot do that, so the claim left by the
    killed process is rewritten to name another host (what it would hold had the task run there first)."""
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:2])
    with one_task_job(slurm, sweep, tmp_path) as (proc, log, name, held, task):
        scontrol("requeue", task["task"])
        held.wait_gone(60)
        wait_until("the requeued task to be held", lambda: any(t["reason"] == "BeginTime" for t in squeue(name)),
                   60, log, proc)
        claim = sweep.root / "claims" / f"{held.model}.claim"
        info = json.loads(claim.read_text())
        claim.write_text(json.dumps({**info, "host": "another-node"}))  # its heartbeat is fresh: the mtime is now
        assert release_requeued(name)
        finish(proc, log, 300)
    assert proc.returncode == 0, tail(log)
    records = assert_one_record_per_model(sweep, epochs=EPOCHS)  # the requeued run took its own claim over
    assert records[held.model]["resumed_from_epoch"] >= 1
