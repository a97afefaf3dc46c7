"""Fault injection: every kind of file a sweep holds, truncated at random offsets; train + analyze recover
and nothing already finished is lost. Errors of the run (data, disk, device, config), injected: the run stops
with one line, and no model is recorded as failed for them."""

from __future__ import annotations

import errno
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from designspace.analysis.collect import load_sweeps
from designspace.net.spec import NetSpec
from designspace.reporting.report import ReportSettings, write_report
from designspace.sweep.layout import CLAIMS_DIR, DAMAGED_DIR, SamplesError, SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.results import read_records
from designspace.sweep.runner import run_sweep
from designspace.training.data import DatasetError, load_dataset
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, adapt_spec
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, fail_training, make_sweep

QUICK = {**TINY_SCHEDULE, "train_subset": 512, "test_subset": 200, "precise_bn_samples": 0}
KINDS = ("samples", "config", "record", "claim", "checkpoint")
OFFSETS_PER_KIND = 2


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> SweepDir:
    """Six models: four trained, a fifth with a checkpoint, a sixth claimed by a process that died."""
    sweep = make_sweep(tmp_path_factory.mktemp("faults") / "s", TINY_SPECS[:6])
    run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False, limit=4))
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


@pytest.mark.slow
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
                    run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
                # the message's remedy: rewrite the same table (as `sample ... overwrite=true` does)
                sweep.write_samples(rows, sweep.read_config_text() or "space: test\n")
            summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))

        records = read_records(sweep)
        assert set(records) == set(rows["model_id"]), f"{kind} @ {offset}: models without a record"
        kept = {mid: sweep.result_path(mid).read_bytes() for mid in finished}
        damaged = sorted((sweep.results_dir / DAMAGED_DIR).glob("*.json"))
        if kind == "record":
            mid = target.stem
            # set aside under a fresh name (<id>.<utc time>.<random>.json: never over another damaged file)
            assert len(damaged) == 1 and damaged[0].name.startswith(f"{mid}.") and damaged[0].stat().st_size == offset
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


# --- failures of the run, injected: they stop the run with one line and leave no record (issue 19, item 4) -------

RUN_ERRORS = {
    "truncated JPEG": lambda: OSError("image file is truncated (12 bytes not processed)"),
    "decompression bomb": lambda: _pil().DecompressionBombError("Image size (1000000000 pixels) exceeds limit of "
                                                                "178956970 pixels, could be decompression bomb DOS"),
    "full /dev/shm": lambda: RuntimeError("unable to write to file </torch_123_456_0>: No space left on device (28)"),
    "DataLoader out of shm": lambda: RuntimeError(
        "DataLoader worker (pid 4242) is killed by signal: Bus error. It is possible that dataloader's workers are "
        "out of shared memory. Please try to raise your shared memory limit."),
    "broken CUDA context": lambda: RuntimeError("CUDA error: an illegal memory access was encountered"),
    "ENOSPC": lambda: OSError(errno.ENOSPC, "No space left on device", "checkpoints/x.pt"),
    "EIO": lambda: OSError(errno.EIO, "Input/output error", "data/train-images"),
    "dataset": lambda: DatasetError("fashion_mnist: labels span [0, 11] but num_classes=10"),
}
RUN_KIND = {"truncated JPEG": "data", "decompression bomb": "data", "full /dev/shm": "disk",
            "DataLoader out of shm": "disk", "broken CUDA context": "device", "ENOSPC": "disk", "EIO": "disk",
            "dataset": "data"}


def _pil():
    from PIL import Image

    return Image


def _assert_stopped_with_nothing_recorded(sweep: SweepDir, run, kind: str, kept: dict[Path, bytes]) -> None:
    from designspace.sweep.failures import RunStopped

    with pytest.raises(RunStopped, match=rf"^stopped: a {kind} error while training [0-9a-f]{{12}}: ") as info:
        run()
    assert "\n" not in str(info.value)
    assert sweep.result_ids() == set()  # no model counts as failed (at 100% error) for the run's fault
    assert {p: p.read_bytes() for p in kept} == kept  # checkpoints kept for the next run
    assert not list((sweep.root / CLAIMS_DIR).glob("*"))


@pytest.mark.parametrize("error", list(RUN_ERRORS))
def test_a_run_level_error_stops_the_run_and_records_nothing(tmp_path: Path, monkeypatch, error: str) -> None:

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:3])
    ids = list(sweep.read_samples()["model_id"])
    sweep.checkpoints_dir.mkdir()
    ckpt = sweep.checkpoint_path(ids[0])
    ckpt.write_bytes(b"epochs of work")

    fail_training(monkeypatch, lambda mid: RUN_ERRORS[error]())
    _assert_stopped_with_nothing_recorded(
        sweep, lambda: run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False)), RUN_KIND[error],
        {ckpt: b"epochs of work"})


def test_enospc_while_checkpointing_stops_the_run(tmp_path: Path, monkeypatch) -> None:
    from designspace.training import trainer

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])

    def disk_full(path, data, check=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(trainer, "atomic_write_bytes", disk_full)
    _assert_stopped_with_nothing_recorded(
        sweep, lambda: run_sweep(sweep, bundled_fmnist(), {**QUICK, "epochs": 2}, RunOptions(threads=1, progress=False, checkpoint_every_s=0)), "disk", {})


def test_a_truncated_jpeg_in_the_data_stops_the_run(tmp_path: Path) -> None:
    from tests.helpers.train import make_image_folder

    make_image_folder(tmp_path / "images")
    jpeg = sorted((tmp_path / "images" / "train").rglob("*.jpg"))[0]
    jpeg.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 3])
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    data = {"name": "imagefolder", "format": "imagefolder", "root": str(tmp_path / "images"), "resolution": 16,
            "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "workers": 0}
    schedule = {**QUICK, "batch_size": 2, "train_subset": None, "test_subset": None, "eval_batch_size": 2}
    _assert_stopped_with_nothing_recorded(
        sweep, lambda: run_sweep(sweep, data, schedule, RunOptions(threads=1, progress=False)), "data", {})


def test_a_config_the_validators_accept_but_the_data_cannot_serve_stops_the_run(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])  # batch_size larger than the training subset
    _assert_stopped_with_nothing_recorded(
        sweep, lambda: run_sweep(sweep, bundled_fmnist(), {**QUICK, "batch_size": 1024}, RunOptions(threads=1, progress=False)),
        "config", {})


def test_the_breaker_stops_after_identical_failures_and_records_none_of_them(tmp_path: Path, monkeypatch) -> None:
    from designspace.sweep.failures import RunStopped

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:5])
    calls = fail_training(monkeypatch, lambda mid: KeyError("weight"))  # one place, every model: the run's fault
    with pytest.raises(RunStopped, match="3 models in a row"):
        run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False, breaker=3))
    assert len(calls) == 3 and sweep.result_ids() == set() and not list((sweep.root / CLAIMS_DIR).glob("*"))
