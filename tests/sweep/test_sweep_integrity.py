"""A sweep's data can be trusted: permissions, damaged records and tables, duplicated sweeps, growing a sweep."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from designspace.analysis.collect import load_sweeps
from designspace.sweep.layout import DAMAGED_DIR, SamplesError, SweepDir
from designspace.sweep.results import damaged_count, load, read_records
from designspace.sweep.runner import _done_ids
from designspace.util.atomic import atomic_write_text
from tests.helpers.train import REPO, make_sweep


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_files_get_the_umask_permissions(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "f.txt", "x")
        with open(tmp_path / "plain.txt", "w") as f:  # what `open` gives, the reference
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~mask


def _record(sweep: SweepDir, model_id: str, error: float = 30.0) -> dict:
    """A minimal valid record, the shape `results.build_record` writes (validated on read)."""
    samples = sweep.read_samples().set_index("model_id")
    row = samples.loc[model_id]
    return {"version": 1, "model_id": model_id, "status": "ok", "final_error": error, "best_error": error,
            "epochs": [{"epoch": 1, "test_error": error}], "spec": {}, "trained_spec": {},
            "complexity": {"flops": int(row["flops"]), "params": int(row["params"]), "acts": int(row["acts"]),
                           "resolution": 28},
            "dataset": {"name": "fashion_mnist"}, "schedule": {"name": "t"}, "seed": 0}


def _write_valid_record(sweep: SweepDir, model_id: str, error: float = 30.0) -> Path:
    from designspace.sweep.results import read_record

    path = sweep.result_path(model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_record(sweep, model_id, error)))
    assert read_record(path)["model_id"] == model_id  # the reader accepts the fixture
    return path


def test_a_truncated_record_is_set_aside_and_its_model_trains_again(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s")
    ids = list(sweep.read_samples()["model_id"])
    good = _write_valid_record(sweep, ids[0])
    bad = _write_valid_record(sweep, ids[1])
    text = bad.read_text()
    bad.write_text(text[: len(text) // 2])  # truncated mid-file
    with pytest.warns(UserWarning, match=f"{ids[1]}.json.*moved to"):
        done = _done_ids(read_records(sweep), retry_failed=False)
    assert done == {ids[0]} and good.is_file() and not bad.exists()
    (kept,) = (sweep.results_dir / DAMAGED_DIR).glob(f"{ids[1]}.*.json")  # under a fresh name: never replaced
    assert kept.read_text() == text[: len(text) // 2]  # kept, byte for byte
    assert damaged_count(sweep) == 1
    frame = load(sweep)
    assert frame.attrs["damaged_records"] == 1
    assert dict(zip(frame["model_id"], frame["status"]))[ids[1]] == "pending"


def test_a_damaged_record_on_a_read_only_directory_is_skipped(tmp_path: Path, monkeypatch) -> None:
    sweep = make_sweep(tmp_path / "s")
    ids = list(sweep.read_samples()["model_id"])
    bad = _write_valid_record(sweep, ids[0])
    bad.write_text("{")

    def read_only(*_args: object) -> None:  # what a read-only mount answers (root ignores chmod, so simulate it)
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: None)
    with pytest.warns(UserWarning, match="cannot move it aside: Read-only file system"):
        assert read_records(sweep) == {}
    assert bad.read_text() == "{"


@pytest.mark.slow
def test_a_damaged_samples_table_names_the_file(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s")
    data = sweep.samples_path.read_bytes()
    sweep.samples_path.write_bytes(data[: len(data) // 3])
    with pytest.raises(SamplesError, match=r"samples.parquet is damaged.*overwrite=true"):
        sweep.read_samples()
    res = subprocess.run([sys.executable, "-m", "designspace.train", f"sweep_dir={sweep.root}", "progress=false"],
                         capture_output=True, text=True, cwd=REPO, check=False, timeout=300)
    assert res.returncode != 0 and "samples.parquet is damaged" in res.stderr and "Traceback" not in res.stderr


def test_the_same_sweep_twice_is_refused(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s")
    with pytest.raises(ValueError, match="given twice"):
        load_sweeps([sweep.root, tmp_path / "s" / ".." / "s"])


def _sample(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "designspace.sample", "space=anynetx_c", "budget=fmnist_tiny",
                           "progress=false", *args], capture_output=True, text=True, cwd=REPO, check=False, timeout=300)


@pytest.mark.slow
def test_growing_a_sweep_keeps_its_models_and_results(tmp_path: Path) -> None:
    root = tmp_path / "grow"
    assert _sample("n=4", f"sweep_dir={root}").returncode == 0
    sweep = SweepDir(root)
    first = sweep.read_samples()
    record = _write_valid_record(sweep, first["model_id"].iat[0])
    before = record.read_bytes()
    res = _sample("n=6", f"sweep_dir={root}")
    assert res.returncode == 0 and "grown from 4 to 6" in res.stdout, res.stderr
    grown = sweep.read_samples()
    assert len(grown) == 6 and grown.head(4).equals(first) and record.read_bytes() == before
    other = _sample("n=6", "seed=1", f"sweep_dir={root}")
    assert other.returncode != 0 and "different samples" in other.stderr
    assert _sample("n=3", "seed=1", f"sweep_dir={root}", "overwrite=true").returncode == 0
    superseded = list((sweep.results_dir / "superseded").glob(f"{record.stem}.*.json"))  # a fresh name: never replaced
    assert not record.exists() and [p.read_bytes() for p in superseded] == [before]
    assert len(pd.read_parquet(sweep.samples_path)) == 3
