"""Fault injection: every kind of file a sweep holds, truncated at random offsets; train + analyze recover
and nothing already finished is lost."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from train_helpers import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep

from designspace.analysis.collect import load_sweeps
from designspace.net.spec import NetSpec
from designspace.reporting.report import ReportSettings, write_report
from designspace.sweep.layout import SamplesError, SweepDir
from designspace.sweep.results import DAMAGED_DIR, read_records
from designspace.sweep.runner import CLAIMS_DIR, run_sweep
from designspace.training.data import load_dataset
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, adapt_spec

QUICK = {**TINY_SCHEDULE, "train_subset": 512, "test_subset": 200, "precise_bn_samples": 0}
KINDS = ("samples", "config", "record", "claim", "checkpoint")
OFFSETS_PER_KIND = 2


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> SweepDir:
    """Six models: four trained, a fifth with a checkpoint, a sixth claimed by a process that died."""
    sweep = make_sweep(tmp_path_factory.mktemp("faults") / "s", TINY_SPECS[:6])
    run_sweep(sweep, bundled_fmnist(), QUICK, threads=1, progress=False, limit=4)
    ids = list(sweep.read_samples()["model_id"])
    data = load_dataset(bundled_fmnist())
    fifth = NetSpec.from_row(sweep.read_samples().iloc[4])
    sweep.checkpoints_dir.mkdir(exist_ok=True)
    Trainer(adapt_spec(fifth, data), data, Schedule.from_dict(QUICK), device="cpu").save(sweep.checkpoint_path(ids[4]))
    claim = sweep.root / CLAIMS_DIR / f"{ids[5]}.claim"
    claim.parent.mkdir(exist_ok=True)
    claim.write_text('{"pid": 999999, "pid_start": "1", "host": "elsewhere", "token": "t", "claimed_at": "x"}')
    old = time.time() - 3600  # its heartbeat stopped an hour ago
    os.utime(claim, (old, old))
    return sweep


def _target(sweep: SweepDir, kind: str) -> Path:
    ids = list(sweep.read_samples()["model_id"])
    return {"samples": sweep.samples_path, "config": sweep.config_path, "record": sweep.result_path(ids[1]),
            "claim": sweep.root / CLAIMS_DIR / f"{ids[5]}.claim", "checkpoint": sweep.checkpoint_path(ids[4])}[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_truncating_any_file_loses_nothing_finished(base: SweepDir, tmp_path: Path, kind: str) -> None:
    finished = {mid: base.result_path(mid).read_bytes() for mid in read_records(base)}
    rows = base.read_samples()
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    size = _target(base, kind).stat().st_size
    for trial, offset in enumerate(sorted({0, *rng.integers(1, size, OFFSETS_PER_KIND - 1).tolist()})):
        sweep = SweepDir(tmp_path / f"t{trial}")
        shutil.copytree(base.root, sweep.root)
        target = _target(sweep, kind)
        with open(target, "r+b") as f:
            f.truncate(offset)
        if kind == "claim":
            os.utime(target, (time.time() - 3600,) * 2)  # truncated long ago, by a process since gone

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if kind == "samples":
                with pytest.raises(SamplesError, match="samples.parquet is damaged"):
                    run_sweep(sweep, bundled_fmnist(), QUICK, threads=1, progress=False)
                # the message's remedy: rewrite the same table (as `sample ... overwrite=true` does)
                sweep.write_samples(rows, sweep.read_config_text() or "space: test\n")
            summary = run_sweep(sweep, bundled_fmnist(), QUICK, threads=1, progress=False)

        records = read_records(sweep)
        assert set(records) == set(rows["model_id"]), f"{kind} @ {offset}: models without a record"
        kept = {mid: sweep.result_path(mid).read_bytes() for mid in finished}
        damaged = sorted((sweep.results_dir / DAMAGED_DIR).glob("*.json"))
        if kind == "record":
            mid = target.stem
            assert [p.name for p in damaged] == [target.name] and damaged[0].stat().st_size == offset
            assert any(mid in str(w.message) for w in caught)  # the warning names it
            assert summary.trained == 3  # the damaged one, the checkpointed one, the claimed one
            assert {m: b for m, b in kept.items() if m != mid} == {m: b for m, b in finished.items() if m != mid}
        else:
            assert kept == finished and not damaged
            assert summary.trained == 2
        assert not list((sweep.root / CLAIMS_DIR).glob("*.claim")) and not list(sweep.checkpoints_dir.glob("*.pt"))

        frame = load_sweeps([sweep.root])
        assert (frame["status"] == "ok").sum() == len(rows)
        assert frame.attrs["damaged_records"] == (1 if kind == "record" else 0)
        if trial == 0:
            md = write_report(frame, tmp_path / f"report{trial}", ReportSettings(draws=100, formats=("png",), bins=2))
            text = md.read_text()
            summary = pd.read_csv(md.parent / "data" / "summary.csv").iloc[0]
            assert (summary["models"], summary["ok"]) == (6, 6)
            assert ("Damaged result records set aside" in text) == (kind == "record")
