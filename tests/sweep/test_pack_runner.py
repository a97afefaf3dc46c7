"""`train pack=K` through the sweep runner: one fenced claim, checkpoint and record per member, and records
equal to those of each model trained alone; a lost claim, a model's failure and a failure of the run inside
a pack are handled as when the model trains alone."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from designspace.sweep.claims import try_claim
from designspace.sweep.failures import RunStopped
from designspace.sweep.hooks import ClaimHooks
from designspace.sweep.options import RunOptions
from designspace.sweep.results import read_records, write_record
from designspace.sweep.runner import run_sweep
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer
from designspace.util.usage import UserError
from tests.helpers.train import QUICK, TINY_SCHEDULE, TINY_SPECS, cli, fail_training, make_sweep

SCHEDULE = {**TINY_SCHEDULE, "epochs": 2, "batch_size": 32, "train_subset": 128, "test_subset": 96,
            "eval_batch_size": 64, "precise_bn_samples": 64}
"""Two epochs of 4 steps: a checkpoint between them, and tiny because the test machine is shared."""


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def alone(fmnist, tmp_path_factory) -> dict:
    """Records of TINY_SPECS[:4] trained one at a time (seed 1): what every packed run must reproduce."""
    sweep = make_sweep(tmp_path_factory.mktemp("alone"), TINY_SPECS[:4])
    summary = run_sweep(sweep, fmnist, Schedule.from_dict(SCHEDULE), RunOptions(seed=1, progress=False, device="cpu", threads=1))
    assert summary.ok == 4
    return read_records(sweep)


def _essence(record: dict) -> tuple:
    """A record without its timings, host, times and pack size."""
    return (record["status"], record["reason"], record["final_error"], record["best_error"], record["trained_id"],
            [(e["epoch"], e["train_loss"], e["train_error"], e["test_error"], e["lr"]) for e in record["epochs"]])


def _claims(sweep) -> list[str]:
    return sorted(p.stem for p in (sweep.root / "claims").glob("*.claim"))


def _run(sweep, fmnist, **kwargs):
    return run_sweep(sweep, fmnist, Schedule.from_dict(SCHEDULE),
                     RunOptions(**{"seed": 1, "progress": False, "device": "cpu", "threads": 1, **kwargs}))


def test_packed_sweep_records_equal_one_model_at_a_time(fmnist, alone, tmp_path: Path) -> None:
    specs = TINY_SPECS[:4]
    packed = make_sweep(tmp_path / "packed", specs)
    summary = _run(packed, fmnist, pack=3)  # a pack of 3, then one of 1
    assert summary.ok == summary.trained == 4
    records = read_records(packed)
    assert {k: _essence(r) for k, r in records.items()} == {k: _essence(r) for k, r in alone.items()}
    assert len({r["final_error"] for r in records.values()}) > 1  # different networks: the check can tell them apart
    assert sorted(r["pack"] for r in records.values()) == [1, 3, 3, 3]
    assert {r["pack"] for r in alone.values()} == {1}
    assert not _claims(packed) and not list(packed.checkpoints_dir.glob("*.pt"))
    again = _run(packed, fmnist, pack=3)
    assert again.already_done == 4 and again.trained == 0


def test_interrupted_pack_resumes_to_the_same_records(fmnist, alone, tmp_path: Path, monkeypatch) -> None:
    """A kill after the first member's checkpoint: no record, no claim of ours left; the rerun resumes that member
    (at epoch 1, beside one starting at 0) and its records equal an uninterrupted run's. A model claimed by
    another live process is left alone, and the pack is filled with the next model instead."""
    specs = TINY_SPECS[:4]
    sweep = make_sweep(tmp_path / "sweep", specs)
    (sweep.root / "claims").mkdir()
    (sweep.root / "claims" / f"{specs[1].id}.claim").write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "token": "elsewhere"}))
    save, calls = Trainer.save, []

    def save_then_stop(self, path, check=None):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        save(self, path, check)

    monkeypatch.setattr(Trainer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _run(sweep, fmnist, pack=2, checkpoint_every_s=0, limit=3)
    monkeypatch.setattr(Trainer, "save", save)
    assert read_records(sweep) == {}
    assert _claims(sweep) == [specs[1].id]
    assert [p.stem for p in sweep.checkpoints_dir.glob("*.pt")] == [specs[0].id]
    summary = _run(sweep, fmnist, pack=2, limit=3)
    assert summary.ok == 2 and summary.held_elsewhere == 1
    records = read_records(sweep)
    assert set(records) == {specs[0].id, specs[2].id}
    assert records[specs[0].id]["resumed_from_epoch"] == 1 and records[specs[2].id]["resumed_from_epoch"] is None
    assert {k: _essence(r) for k, r in records.items()} == {k: _essence(alone[k]) for k in records}


def test_a_member_whose_claim_is_taken_over_writes_nothing_and_the_pack_goes_on(fmnist, alone, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    """Member 1's process is stopped past the timeout after its first epoch, and worker B takes its claim over
    and writes its record: member 1 leaves the pack writing nothing; the other members record as alone."""
    specs = TINY_SPECS[:3]
    sweep = make_sweep(tmp_path / "sweep", specs)
    victim, theirs = specs[1].id, {}
    on_epoch = ClaimHooks.on_epoch

    def stopped_once(self, record):
        if self.model_id == victim and not theirs:
            claim = sweep.root / "claims" / f"{victim}.claim"
            then = claim.stat().st_mtime - 3600
            os.utime(claim, (then, then))
            other = try_claim(sweep, victim, timeout_s=600)  # worker B, once the claim is stale
            assert other is not None
            theirs["record"] = write_record(sweep, {**alone[victim], "host": "worker-b"}).read_bytes()
        on_epoch(self, record)

    monkeypatch.setattr(ClaimHooks, "on_epoch", stopped_once)
    summary = _run(sweep, fmnist, pack=3, checkpoint_every_s=0)
    assert summary.ok == 2 and summary.lost_claims == 1
    assert sweep.result_path(victim).read_bytes() == theirs["record"]
    records = read_records(sweep)
    assert {k: _essence(records[k]) for k in (specs[0].id, specs[2].id)} == \
        {k: _essence(alone[k]) for k in (specs[0].id, specs[2].id)}
    assert not sweep.checkpoint_path(victim).exists()  # no checkpoint written after the claim was lost
    assert _claims(sweep) == [victim]  # B's claim, not released by A


def test_a_disk_error_in_one_member_stops_the_run_with_no_record(fmnist, alone, tmp_path: Path,
                                                                   monkeypatch) -> None:
    """ENOSPC on member 2's checkpoint: the run stops with one line naming it, no member gets a record (not even
    `failed`), the checkpoints already written stay, every claim is released; the rerun resumes and finishes."""
    specs = TINY_SPECS[:3]
    sweep = make_sweep(tmp_path / "sweep", specs)
    save = Trainer.save

    def full_disk_for_one(self, path, check=None):
        if Path(path).stem == specs[2].id:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        save(self, path, check)

    monkeypatch.setattr(Trainer, "save", full_disk_for_one)
    with pytest.raises(RunStopped, match=f"disk error while training {specs[2].id}"):
        _run(sweep, fmnist, pack=3, checkpoint_every_s=0)
    monkeypatch.setattr(Trainer, "save", save)
    assert read_records(sweep) == {} and not _claims(sweep)
    assert sorted(p.stem for p in sweep.checkpoints_dir.glob("*.pt")) == sorted(s.id for s in specs[:2])
    summary = _run(sweep, fmnist, pack=3)
    assert summary.ok == 3
    records = read_records(sweep)
    assert [records[s.id]["resumed_from_epoch"] for s in specs] == [1, 1, None]
    assert {k: _essence(r) for k, r in records.items()} == {k: _essence(alone[k]) for k in records}


def _fail_for(monkeypatch, ids: set[str]) -> None:
    """Make the training step of the models `ids` raise (the same exception at the same place each time)."""
    fail_training(monkeypatch, lambda model_id: RuntimeError("injected failure") if model_id in ids else None)


def test_a_member_that_fails_is_recorded_failed_and_the_others_ok(fmnist, alone, tmp_path: Path,
                                                                    monkeypatch) -> None:
    specs = TINY_SPECS[:3]
    sweep = make_sweep(tmp_path / "sweep", specs)
    _fail_for(monkeypatch, {specs[1].id})
    summary = _run(sweep, fmnist, pack=3)
    assert summary.ok == 2 and summary.failed == 1
    records = read_records(sweep)
    assert records[specs[1].id]["status"] == "failed" and "injected failure" in records[specs[1].id]["reason"]
    assert records[specs[1].id]["pack"] == 3
    assert {k: _essence(records[k]) for k in (specs[0].id, specs[2].id)} == \
        {k: _essence(alone[k]) for k in (specs[0].id, specs[2].id)}
    assert not _claims(sweep)


def test_the_breaker_trips_on_a_pack_without_losing_its_trained_member(fmnist, alone, tmp_path: Path,
                                                                        monkeypatch) -> None:
    """Three members of a pack of four fail the same way: a fault of the run, so none of them gets a `failed`
    record - but the member that trained keeps its `ok` record."""
    specs = TINY_SPECS[:4]
    sweep = make_sweep(tmp_path / "sweep", specs)
    _fail_for(monkeypatch, {s.id for s in specs[:3]})
    with pytest.raises(RunStopped, match="3 models in a row"):
        _run(sweep, fmnist, pack=4)
    records = read_records(sweep)
    assert list(records) == [specs[3].id] and _essence(records[specs[3].id]) == _essence(alone[specs[3].id])
    assert not _claims(sweep)


@pytest.mark.slow
def test_train_pack_from_the_command_line(tmp_path: Path) -> None:
    """`train pack=2` trains and records each model with its pack size; a bad `pack=` or `graphs=` is one line,
    exit 2, nothing written."""
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:2])
    bad = make_sweep(tmp_path / "bad", TINY_SPECS[:1])
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    quick = [q for q in QUICK if not q.startswith(("schedule.train_subset", "schedule.test_subset"))]
    quick += ["schedule.train_subset=256", "schedule.test_subset=100", "schedule.precise_bn_samples=0"]
    runs = {"good": cli(f"sweep_dir={sweep.root}", "pack=2", *quick)}
    runs |= {value: cli(f"sweep_dir={bad.root}", value) for value in ("pack=0", "pack=abc", "graphs=maybe")}
    runs["reproduce pack=0"] = [sys.executable, "-m", "designspace.reproduce", "experiment=smoke",
                                f"out={tmp_path / 'run'}", "pack=0"]
    procs = {k: subprocess.Popen(c, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for k, c in runs.items()}
    out = {k: p.communicate(timeout=300)[0] for k, p in procs.items()}
    assert procs["good"].returncode == 0, out["good"]
    records = read_records(sweep)
    assert len(records) == 2 and {r["pack"] for r in records.values()} == {2}
    for value in ("pack=0", "pack=abc", "graphs=maybe", "reproduce pack=0"):
        assert procs[value].returncode == 2, out[value]
        assert value.split("=")[0].split()[-1] in out[value] and len(out[value].strip().splitlines()) == 1, out[value]
    assert not bad.results_dir.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("options", [{"pack": 0}, {"pack": True}, {"graphs": "yes"}])
def test_pack_options_are_checked_before_anything_runs(tmp_path: Path, options: dict) -> None:
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:1])
    with pytest.raises(UserError, match=next(iter(options))):
        run_sweep(sweep, {"name": "not read"}, Schedule.from_dict(SCHEDULE), RunOptions(**options))
    assert not sweep.results_dir.exists()
