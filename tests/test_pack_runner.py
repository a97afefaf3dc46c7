"""`train pack=K` through the sweep runner: claims, records and resume as when each model trains alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, cli, make_sweep

from designspace.sweep.results import read_records
from designspace.sweep.runner import run_sweep
from designspace.training.data import load_dataset
from designspace.training.trainer import Schedule, Trainer

SCHEDULE = {**TINY_SCHEDULE, "epochs": 2, "batch_size": 32, "train_subset": 128, "test_subset": 96,
            "eval_batch_size": 64, "precise_bn_samples": 64}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fmnist():
    return load_dataset(bundled_fmnist())


def _essence(record: dict) -> tuple:
    """A record without its timings, host and times."""
    return (record["status"], record["reason"], record["final_error"], record["best_error"], record["trained_id"],
            [(e["epoch"], e["train_loss"], e["train_error"], e["test_error"], e["lr"]) for e in record["epochs"]])


def test_packed_sweep_records_equal_one_model_at_a_time(fmnist, tmp_path: Path) -> None:
    specs = TINY_SPECS[:4]
    sched = Schedule.from_dict(SCHEDULE)
    alone = make_sweep(tmp_path / "alone", specs)
    packed = make_sweep(tmp_path / "packed", specs)
    one = run_sweep(alone, fmnist, sched, seed=3, progress=False, device="cpu")
    many = run_sweep(packed, fmnist, sched, seed=3, progress=False, device="cpu", pack=3)  # packs of 3, then 1
    assert one.ok == many.ok == 4 and many.trained == 4
    a, b = read_records(alone), read_records(packed)
    assert set(a) == set(b) == {s.id for s in specs}
    assert {k: _essence(r) for k, r in a.items()} == {k: _essence(r) for k, r in b.items()}
    assert not list((packed.root / "claims").glob("*.claim")) and not list(packed.checkpoints_dir.glob("*.pt"))
    again = run_sweep(packed, fmnist, sched, seed=3, progress=False, device="cpu", pack=3)
    assert again.already_done == 4 and again.trained == 0


def test_interrupted_pack_resumes_to_the_same_records(fmnist, tmp_path: Path, monkeypatch) -> None:
    """A kill after the first member's checkpoint: no record, no claim left; the rerun resumes that member
    (at epoch 1, beside one starting at 0) and every record equals an uninterrupted run's. A model
    claimed by another live process is left alone."""
    specs = TINY_SPECS[:3]
    sched = Schedule.from_dict(SCHEDULE)
    reference = make_sweep(tmp_path / "reference", specs[:2])
    run_sweep(reference, fmnist, sched, seed=1, progress=False, device="cpu")  # one model at a time
    sweep = make_sweep(tmp_path / "sweep", specs)
    (sweep.root / "claims").mkdir()
    (sweep.root / "claims" / f"{specs[2].id}.claim").write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "token": "elsewhere"}))
    save, calls = Trainer.save, []

    def save_then_stop(self, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        save(self, path)

    monkeypatch.setattr(Trainer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, fmnist, sched, seed=1, progress=False, device="cpu", pack=3, checkpoint_every_s=0, limit=3)
    monkeypatch.setattr(Trainer, "save", save)
    assert read_records(sweep) == {}
    assert [p.stem for p in (sweep.root / "claims").glob("*.claim")] == [specs[2].id]
    assert [p.stem for p in sweep.checkpoints_dir.glob("*.pt")] == [specs[0].id]
    summary = run_sweep(sweep, fmnist, sched, seed=1, progress=False, device="cpu", pack=3, limit=3)
    assert summary.ok == 2 and summary.held_elsewhere == 1
    records, expected = read_records(sweep), read_records(reference)
    assert set(records) == set(expected)
    assert records[specs[0].id]["resumed_from_epoch"] == 1 and records[specs[1].id]["resumed_from_epoch"] is None
    assert {k: _essence(r) for k, r in records.items()} == {k: _essence(r) for k, r in expected.items()}


def test_pack_user_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "sweep", TINY_SPECS[:1])
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    procs = {value: subprocess.Popen(cli(f"sweep_dir={sweep.root}", f"pack={value}"), env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for value in ("0", "abc")}
    for value, proc in procs.items():
        text = proc.communicate(timeout=300)[0]
        assert proc.returncode == 2, text
        assert f"pack={value!r}" in text or f"pack='{value}'" in text or f"pack={value}" in text
        assert len(text.strip().splitlines()) == 1, text
    assert not sweep.results_dir.exists()
    with pytest.raises(ValueError, match="pack=0"):
        run_sweep(sweep, {"name": "x"}, Schedule.from_dict(SCHEDULE), pack=0)
