"""A model claimed by a process on another node is not lost: the shard waits, and takes the claim over
once it goes stale or once it is known to be left by an earlier run of the same SLURM job."""

from __future__ import annotations

import json
import time
from pathlib import Path

from designspace.sweep.claims import try_claim
from designspace.sweep.layout import CLAIMS_DIR
from designspace.sweep.options import RunOptions
from designspace.sweep.results import read_records
from designspace.sweep.runner import run_sweep
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep

QUICK = {**TINY_SCHEDULE, "train_subset": 256, "test_subset": 100, "precise_bn_samples": 0}


def _foreign_claim(sweep, model_id: str, **extra) -> Path:
    """A fresh claim held by a process on another host (its pid cannot be checked from here)."""
    path = sweep.root / CLAIMS_DIR / f"{model_id}.claim"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"pid": 12345, "pid_start": "1", "host": "another-node", "token": "t",
                                "claimed_at": "x", **extra}))
    return path


def test_a_model_held_by_a_dead_process_elsewhere_is_trained_once_its_claim_goes_stale(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    held = sweep.read_samples()["model_id"].iat[1]
    _foreign_claim(sweep, held)
    t0 = time.monotonic()
    summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False, claim_timeout_s=2.0))
    assert set(read_records(sweep)) == set(sweep.read_samples()["model_id"])  # before the fix: 1 of 2
    assert summary.trained == 2 and summary.held_elsewhere == 0
    assert time.monotonic() - t0 >= 2.0  # it waited for the claim to go stale, it did not steal a live one


def test_a_claim_from_an_earlier_run_of_the_same_slurm_job_is_stale_at_once(tmp_path: Path, monkeypatch) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    mid = sweep.read_samples()["model_id"].iat[0]
    _foreign_claim(sweep, mid, job={"id": "77_3", "restart": 0})
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert try_claim(sweep, mid, timeout_s=600) is None  # the same run: a live claim, left alone
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert try_claim(sweep, mid, timeout_s=600) is None  # another task's claim: left alone
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    claim = try_claim(sweep, mid, timeout_s=600)  # this task, requeued: its old claim is taken over
    assert claim is not None
    assert json.loads(claim.path.read_text())["job"] == {"id": "77_3", "restart": 1}
