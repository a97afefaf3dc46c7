"""Result records, the samples x results DataFrame, and the per-model claims that keep shards apart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from designspace.net.complexity import complexity
from designspace.sweep.claims import try_claim
from designspace.sweep.options import RunOptions
from designspace.sweep.results import (
    ResultsError,
    build_record,
    load,
    load_curves,
    read_record,
    validate_record,
    write_record,
)
from designspace.sweep.runner import run_sweep, shard_rows
from designspace.training.trainer import TrainOutcome
from designspace.util import procs
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, fail_training, make_sweep

DATA_INFO = {"name": "fashion_mnist", "root": "/data", "resolution": 28, "channels": 1, "num_classes": 10,
             "stem_stride": 1, "train_size": 100, "test_size": 50}


def _outcome(errors: list[float], status: str = "ok") -> TrainOutcome:
    epochs = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "train_error": 50.0 - i, "test_error": e,
               "lr": 0.1, "seconds": 1.5} for i, e in enumerate(errors)]
    return TrainOutcome(status=status, epochs=epochs, final_error=errors[-1] if status == "ok" else None,
                        best_error=min(errors), wall_time_s=3.0, device="cpu", threads=2,
                        reason=None if status == "ok" else "non-finite training loss")


def _record(spec, errors=(40.0, 30.0), status="ok", failure=None):
    trained = spec.replace(num_classes=10, in_channels=1, stem_stride=1)
    kwargs = {"outcome": _outcome(list(errors), status)} if failure is None else {"failure": failure}
    return build_record(spec.id, spec, trained, DATA_INFO, TINY_SCHEDULE, 0, started_at="t0", **kwargs)


def test_record_contents(tmp_path: Path) -> None:
    spec = TINY_SPECS[0]
    record = _record(spec)
    trained = spec.replace(num_classes=10, in_channels=1, stem_stride=1)
    cx = complexity(trained, 28)
    assert record["complexity"] == {"flops": cx.flops, "params": cx.params, "acts": cx.acts, "resolution": 28}
    assert record["model_id"] == spec.id and record["trained_id"] == trained.id != spec.id
    assert record["spec"] == spec.to_dict() and record["trained_spec"]["in_channels"] == 1
    assert (record["final_error"], record["best_error"], record["status"]) == (30.0, 30.0, "ok")
    for key in ("dataset", "schedule", "seed", "epochs", "wall_time_s", "device", "torch_version", "host",
                "started_at", "finished_at", "reason"):
        assert key in record
    sweep = make_sweep(tmp_path / "s", [spec])
    path = write_record(sweep, record)
    assert path == sweep.result_path(spec.id)
    assert json.loads(path.read_text()) == json.loads(json.dumps(record))
    assert read_record(path)["epochs"][1]["test_error"] == 30.0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_failed_and_diverged_records() -> None:
    failed = _record(TINY_SPECS[0], failure="out of memory: CUDA out of memory")
    assert failed["status"] == "failed" and failed["final_error"] is None and failed["epochs"] == []
    assert failed["reason"].startswith("out of memory")
    diverged = _record(TINY_SPECS[0], errors=(60.0,), status="diverged")
    assert diverged["status"] == "diverged" and diverged["final_error"] is None and diverged["best_error"] == 60.0


def test_malformed_records_are_rejected(tmp_path: Path) -> None:
    record = _record(TINY_SPECS[0])
    with pytest.raises(ResultsError, match="status 'done'"):
        validate_record({**record, "status": "done"})
    with pytest.raises(ResultsError, match="final_error=130"):
        validate_record({**record, "final_error": 130})
    with pytest.raises(ResultsError, match="missing key"):
        validate_record({k: v for k, v in record.items() if k != "epochs"})
    bad = tmp_path / "results" / "abc.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="abc.json"):
        read_record(bad)
    bad.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match="holds model_id"):
        read_record(bad)


def test_results_round_trip_into_the_dataframe(tmp_path: Path) -> None:
    specs = TINY_SPECS[:4]
    sweep = make_sweep(tmp_path / "s", specs)
    write_record(sweep, _record(specs[0], errors=(41.0, 22.5)))
    write_record(sweep, _record(specs[1], errors=(70.0,), status="diverged"))
    write_record(sweep, _record(specs[3], failure="RuntimeError: boom"))
    stray = TINY_SPECS[5]
    write_record(sweep, _record(stray))
    with pytest.warns(UserWarning, match="not in the samples"):
        table = load(sweep.root)
    assert table["model_id"].tolist() == [s.id for s in specs]  # sample order, stray record ignored
    assert table["status"].tolist() == ["ok", "diverged", "pending", "failed"]
    assert table["error"].iloc[0] == 22.5 and table["error"].iloc[1:].isna().all()
    assert table["best_error"].iloc[0] == 22.5 and table["best_error"].iloc[1] == 70.0
    assert table["flops"].iloc[0] == complexity(specs[0], 224).flops  # the samples' own columns survive
    trained = specs[0].replace(num_classes=10, in_channels=1, stem_stride=1)
    assert table["trained_flops"].iloc[0] == complexity(trained, 28).flops
    assert table["reason"].iloc[3] == "RuntimeError: boom" and table["epochs_done"].iloc[0] == 2
    with pytest.warns(UserWarning):
        done = load(sweep, completed_only=True)
    assert len(done) == 3 and "pending" not in set(done["status"])
    curves = load_curves(sweep)
    mine = curves[curves["model_id"] == specs[0].id]
    assert mine["test_error"].tolist() == [41.0, 22.5] and mine["epoch"].tolist() == [1, 2]


def test_shards_are_disjoint_and_cover_the_table(tmp_path: Path) -> None:
    table = load(make_sweep(tmp_path / "s").root)
    parts = [shard_rows(table, i, 4)["model_id"].tolist() for i in range(4)]
    assert sorted(sum(parts, [])) == sorted(table["model_id"])
    assert parts[1] == table["model_id"].tolist()[1::4]
    with pytest.raises(ValueError, match=r"shard=4 must be .* \[0, num_shards=4\)"):
        shard_rows(table, 4, 4)


def test_claims_are_exclusive_and_released(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s")
    m1, m2 = "a" * 12, "b" * 12
    claim = try_claim(sweep, m1)
    assert claim is not None and try_claim(sweep, m1) is None
    assert try_claim(sweep, m2) is not None
    info = json.loads(claim.path.read_text())
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    claim.release()
    assert not claim.path.exists() and try_claim(sweep, m1) is not None


def test_stale_claims_are_taken_over(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s")
    folder = sweep.root / "claims"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    here = procs.machine()  # host, boot id and pid namespace: pids of this identity are checked here
    dead, alive, remote, old = "d" * 12, "a" * 12, "e" * 12, "0" * 12
    (folder / f"{dead}.claim").write_text(json.dumps({"pid": dead_pid, **here, "token": "x"}))
    (folder / f"{alive}.claim").write_text(json.dumps({"pid": os.getppid(), **here, "token": "y"}))
    (folder / f"{remote}.claim").write_text(json.dumps({"pid": 1, "host": "elsewhere", "token": "z"}))
    (folder / f"{old}.claim").write_text(json.dumps({"pid": 1, "host": "elsewhere", "token": "w"}))
    hour_ago = time.time() - 3600
    os.utime(folder / f"{old}.claim", (hour_ago, hour_ago))
    assert try_claim(sweep, dead) is not None  # its process is gone
    assert try_claim(sweep, alive) is None  # a live process on this host
    assert try_claim(sweep, remote) is None  # another host, fresh heartbeat
    taken = try_claim(sweep, old, timeout_s=600)  # another host, heartbeat an hour old
    assert taken is not None and json.loads(taken.path.read_text())["pid"] == os.getpid()
    assert not list(folder.glob("*.takeover"))


def test_heartbeat_refreshes_the_claim(tmp_path: Path) -> None:
    claim = try_claim(make_sweep(tmp_path / "s"), "c" * 12)
    old = time.time() - 100
    os.utime(claim.path, (old, old))
    claim.heartbeat(force=True)
    assert np.isclose(claim.path.stat().st_mtime, time.time(), atol=5)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


QUICKEST = {**TINY_SCHEDULE, "train_subset": 512, "test_subset": 200, "precise_bn_samples": 0}


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path: Path, monkeypatch, restore_threads) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:3])
    bad = TINY_SPECS[1].id
    oom = {"on": True}
    fail_training(monkeypatch, lambda mid: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
                  if mid == bad and oom["on"] else None)
    summary = run_sweep(sweep, bundled_fmnist(), QUICKEST, RunOptions(threads=1, progress=False))
    assert (summary.trained, summary.ok, summary.failed) == (3, 2, 1)
    record = read_record(sweep.result_path(bad))
    assert record["status"] == "failed" and record["reason"].startswith("out of memory: OutOfMemoryError")
    assert record["complexity"]["resolution"] == 28 and record["epochs"] == []
    oom["on"] = False
    assert run_sweep(sweep, bundled_fmnist(), QUICKEST, RunOptions(threads=1, progress=False)).trained == 0
    retry = run_sweep(sweep, bundled_fmnist(), QUICKEST, RunOptions(threads=1, progress=False, retry_failed=True))
    assert (retry.already_done, retry.trained, retry.ok) == (2, 1, 1)
    assert read_record(sweep.result_path(bad))["status"] == "ok"


def test_a_diverging_model_is_recorded_as_diverged(tmp_path: Path, restore_threads) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    summary = run_sweep(sweep, bundled_fmnist(), {**QUICKEST, "name": "absurd", "lr": 1e6}, RunOptions(threads=1, progress=False))
    assert summary.diverged == 1
    table = load(sweep)
    assert table["status"].tolist() == ["diverged"] and np.isnan(table["error"].iloc[0])
    assert "non-finite training loss" in table["reason"].iloc[0]


def test_an_interrupt_records_nothing_and_releases_the_claim(tmp_path: Path, monkeypatch, restore_threads) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])

    fail_training(monkeypatch, lambda mid: KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, bundled_fmnist(), QUICKEST, RunOptions(threads=1, progress=False))
    assert sweep.result_ids() == set() and not list((sweep.root / "claims").glob("*"))


def test_checkpoints_left_behind_by_finished_models_are_removed(tmp_path: Path) -> None:
    specs = TINY_SPECS[:2]
    sweep = make_sweep(tmp_path / "s", specs)
    for spec in specs:
        write_record(sweep, _record(spec))
    sweep.checkpoints_dir.mkdir()
    stale, retrain = sweep.checkpoint_path(specs[0].id), sweep.checkpoint_path(specs[1].id)
    stale.write_bytes(b"x")
    retrain.write_bytes(b"x")
    old = time.time() - 60
    os.utime(stale, (old, old))  # written before the record: the model finished, cleanup was cut short
    os.utime(retrain, (time.time() + 5, time.time() + 5))  # newer than the record: a retrain under way
    nowhere = {"name": DATA_INFO["name"], "resolution": DATA_INFO["resolution"], "format": "idx",
               "root": str(tmp_path / "none")}  # the records' setup, but no data there
    summary = run_sweep(sweep, nowhere, TINY_SCHEDULE, RunOptions(progress=False))
    assert summary.already_done == 2 and summary.trained == 0  # nothing to train: the data is not even read
    assert not stale.exists() and retrain.exists()
