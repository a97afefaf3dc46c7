"""`python -m designspace.train` as a user runs it: real processes, real kills, real submitit jobs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from designspace.sweep.options import RunOptions
from designspace.sweep.results import load, read_records
from designspace.sweep.runner import run_sweep
from designspace.training.data import DatasetConfig
from designspace.training.schedule import Schedule
from tests.helpers.train import (
    QUICK,
    REPO,
    TINY_SCHEDULE,
    TINY_SPECS,
    bundled_fmnist,
    cli,
    make_sweep,
    run_cli,
)

TWO_EPOCHS = [*QUICK, "schedule.epochs=2"]


def _env() -> dict[str, str]:
    return {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1"}


def _curves(record: dict) -> list[tuple]:
    return [(e["epoch"], e["train_loss"], e["test_error"]) for e in record["epochs"]]


@pytest.mark.slow
def test_cli_trains_the_sweep_then_has_nothing_left(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:3])
    first = run_cli(f"sweep_dir={sweep.root}", *QUICK)
    assert first.returncode == 0, first.stderr
    records = read_records(sweep)
    assert set(records) == {s.id for s in TINY_SPECS[:3]}
    for record in records.values():
        assert record["status"] == "ok" and record["final_error"] < 75  # 2k images: already far below chance
        assert record["dataset"]["root"] == str(Path(bundled_fmnist()["root"]))
        assert {key: record["schedule"][key] for key in TINY_SCHEDULE} == TINY_SCHEDULE
    assert not list(sweep.checkpoints_dir.glob("*.pt"))
    assert list((sweep.root / "logs" / "train").glob("*/train.log"))  # Hydra's logs live in the sweep
    stamps = {p.name: p.stat().st_mtime_ns for p in sweep.results_dir.iterdir()}
    again = run_cli(f"sweep_dir={sweep.root}", *QUICK)
    assert again.returncode == 0 and "3 already done, 0 to train" in again.stdout + again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in sweep.results_dir.iterdir()} == stamps


def test_cli_errors_are_clear_and_write_nothing(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:1])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cases = {
        "no_sweep_dir": [],
        "no_dataset": [f"sweep_dir={sweep.root}", f"dataset.root={tmp_path / 'no-data'}"],
    }
    procs = {name: subprocess.Popen(cli(*args), cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for name, args in cases.items()}
    out = {name: (p.communicate(timeout=120)[0], p.returncode) for name, p in procs.items()}
    text, code = out["no_sweep_dir"]
    assert code == 2 and "sweep_dir is required" in text
    text, code = out["no_dataset"]
    assert code == 2 and str(tmp_path / "no-data") in text and "dataset.root" in text
    assert list(cwd.iterdir()) == []  # no outputs/ or logs in the user's folder
    assert not sweep.results_dir.exists()  # the missing dataset stopped it before any training


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from designspace.cli.train import run
    from designspace.util.usage import UsageError

    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:1])
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        with pytest.raises(ConfigCompositionException, match="num_shard"):
            compose("train", overrides=[f"sweep_dir={sweep.root}", "num_shard=2"])
        with pytest.raises(ConfigCompositionException, match="lrr"):
            compose("train", overrides=[f"sweep_dir={sweep.root}", "schedule.lrr=2"])
        cfg = compose("train", overrides=[f"sweep_dir={tmp_path / 'nothing-here'}"])
        with pytest.raises(UsageError, match="is not a sweep directory.*designspace.sample"):
            run(cfg)
        cfg = compose("train", overrides=[f"sweep_dir={sweep.root}", "shard=2", "num_shards=2"])
        with pytest.raises(UsageError, match=r"shard=2 must be in \[0, num_shards=2\)"):
            run(cfg)
        names = {p.stem for p in (REPO / "configs" / "schedule").glob("*.yaml")}
        for name in names:  # every schedule and dataset config composes and validates
            cfg = compose("train", overrides=[f"schedule={name}"])
            assert Schedule.from_dict(OmegaConf.to_container(cfg.schedule)).name == name
        for name in ("fashion_mnist", "cifar10", "imagefolder", "imagenet"):
            cfg = compose("train", overrides=[f"dataset={name}"])
            assert DatasetConfig.from_dict(OmegaConf.to_container(cfg.dataset)).name == name
    assert not (tmp_path / "nothing-here").exists()


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before the kill: {proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run to reach the kill point")
        time.sleep(0.01)


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cli(*args), cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _mid_model(sweep, done: int):
    """True once `done` models are recorded and another one has checkpointed its first epoch."""
    return lambda: (len(sweep.result_ids()) >= done
                    and bool({p.stem for p in sweep.checkpoints_dir.glob("*.pt")} - sweep.result_ids()))


@pytest.mark.slow
def test_sigterm_then_kill_9_then_resume_records_every_model_exactly_once(tmp_path: Path) -> None:
    specs = TINY_SPECS[:5]
    sweep = make_sweep(tmp_path / "sweep", specs)
    args = [f"sweep_dir={sweep.root}", *TWO_EPOCHS, "checkpoint_every_s=0"]

    # 1. SIGTERM inside a model: a clean stop, its claim released, no record for it
    proc = _start(args)
    _wait_for(_mid_model(sweep, 1), 120, proc)
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143, text
    assert "stopped by SIGTERM" in text
    assert all(r["status"] == "ok" for r in read_records(sweep).values())
    assert not list((sweep.root / "claims").glob("*.claim"))

    # 2. kill -9 inside a later model: whatever is on disk is whole, its claim is left behind
    proc = _start(args)
    done = len(sweep.result_ids())
    _wait_for(_mid_model(sweep, done + 1), 120, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    interrupted = {p.stem for p in sweep.checkpoints_dir.glob("*.pt")} - sweep.result_ids()
    assert interrupted  # killed inside a model, after its first epoch's checkpoint
    before = read_records(sweep)  # every record present is whole
    assert done + 1 <= len(before) < len(specs)
    assert list((sweep.root / "claims").glob("*.claim"))

    # 3. run again: it takes over the dead claim, resumes the model from its checkpoint, finishes the rest
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = read_records(sweep)
    assert sorted(p.name for p in sweep.results_dir.iterdir()) == sorted(f"{s.id}.json" for s in specs)
    for model_id, record in before.items():
        assert after[model_id] == record  # finished models were not retrained
    resumed_ids = {m for m, r in after.items() if r["resumed_from_epoch"] == 1}
    assert len(resumed_ids) == 2 and interrupted <= resumed_ids  # the SIGTERMed one and the killed one
    assert all(r["status"] == "ok" and len(r["epochs"]) == 2 for r in after.values())
    assert not list(sweep.checkpoints_dir.glob("*.pt")) and not list((sweep.root / "claims").glob("*"))


@pytest.mark.slow
def test_submitit_local_shards_give_the_same_records_as_one_process(tmp_path: Path) -> None:
    sharded = make_sweep(tmp_path / "sharded", TINY_SPECS[:4])
    single = make_sweep(tmp_path / "single", TINY_SPECS[:4])
    cache = tmp_path / "cache"  # the launcher's private folder (docs/shared-sweeps.md): never in the sweep
    proc = subprocess.Popen(
        cli("-m", f"sweep_dir={sharded.root}", *QUICK, "shard=range(0,2)", "num_shards=2",
            "hydra/launcher=submitit_local"),
        cwd=REPO, env={**_env(), "XDG_CACHE_HOME": str(cache)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    before = torch.get_num_threads()
    try:  # the one-process reference, in this process while the shards run
        run_sweep(single, bundled_fmnist(), TINY_SCHEDULE, RunOptions(threads=1, progress=False))
    finally:
        torch.set_num_threads(before)
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, text
    jobs = list((cache / "designspace" / "launcher").glob("train-*/*/*_result.pkl"))
    assert len(jobs) == 2, jobs  # two submitit jobs, one per shard, both finished
    assert not list(sharded.root.rglob("*.pkl"))  # no job pickle in the shared sweep
    a, b = read_records(sharded), read_records(single)
    assert sorted(a) == sorted(b) == sorted(s.id for s in TINY_SPECS[:4])
    for model_id in a:
        assert a[model_id]["final_error"] == b[model_id]["final_error"]
        assert _curves(a[model_id]) == _curves(b[model_id])
    table = load(sharded)
    assert (table["status"] == "ok").all()


@pytest.mark.slow
def test_overlapping_runs_never_train_a_model_twice(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:4])
    proc = subprocess.Popen(cli(f"sweep_dir={sweep.root}", *QUICK), cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    before = torch.get_num_threads()
    try:  # the same shard, in this process, at the same time
        here = run_sweep(sweep, bundled_fmnist(), TINY_SCHEDULE, RunOptions(threads=1, progress=False))
    finally:
        torch.set_num_threads(before)
    text = proc.communicate(timeout=180)[0]
    assert proc.returncode == 0, text
    line = next(s for s in text.splitlines() if "finished:" in s)  # '4 models, 2 done before, 1 trained (...'
    there = int(re.search(r"(\d+) trained \(", line).group(1))
    assert here.trained + there == 4  # between them, each model was trained once
    assert sorted(read_records(sweep)) == sorted(s.id for s in TINY_SPECS[:4])
