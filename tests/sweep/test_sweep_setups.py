"""Results count for the setup they were trained with; read-only sweeps are used without a write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from designspace.sweep import setups
from designspace.sweep.layout import SweepDir, SweepNotWritable
from designspace.sweep.options import RunOptions
from designspace.sweep.results import load, read_records
from designspace.sweep.runner import run_sweep
from designspace.sweep.setups import SetupMismatch
from designspace.training.schedule import Schedule
from tests.helpers.train import REPO, TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep, run_cli

QUICK = {**TINY_SCHEDULE, "train_subset": 512, "test_subset": 200, "precise_bn_samples": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SweepDir:
    """Three tiny models trained on the bundled Fashion-MNIST with QUICK; a fourth left untrained."""
    sweep = make_sweep(tmp_path_factory.mktemp("setups") / "s", TINY_SPECS[:4])
    summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False, limit=3))
    assert summary.trained == 3
    return sweep


def _copy(sweep: SweepDir, dst: Path) -> SweepDir:
    shutil.copytree(sweep.root, dst)
    return SweepDir(dst)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root (directories too) with its size and mtime: any write changes it."""
    out = {str(root): (0, root.stat().st_mtime_ns)}
    for p in root.rglob("*"):
        st = p.stat()
        out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def test_the_setup_id_ignores_paths_and_fills_schedule_defaults() -> None:
    info = {"name": "fashion_mnist", "root": "/a", "resolution": 28, "channels": 1, "num_classes": 10,
            "stem_stride": 1, "train_size": 60000, "test_size": 10000}
    a = setups.make_setup(info, {"name": "s", "lr": 0.1}, 0)
    b = setups.make_setup({**info, "root": "/elsewhere"}, Schedule(name="s", lr=0.1).to_dict(), 0)
    assert setups.setup_id(a) == setups.setup_id(b)  # same data elsewhere, same schedule written in full
    for other in (setups.make_setup(info, {"name": "s", "lr": 0.2}, 0), setups.make_setup(info, {"name": "s"}, 1),
                  setups.make_setup({**info, "train_size": 1000}, {"name": "s", "lr": 0.1}, 0),
                  setups.make_setup({**info, "resolution": 32}, {"name": "s", "lr": 0.1}, 0)):
        assert setups.setup_id(other) != setups.setup_id(a)


def test_records_carry_their_setup_id(trained: SweepDir) -> None:
    records = read_records(trained)
    ids = {r["setup_id"] for r in records.values()}
    assert len(records) == 3 and len(ids) == 1
    rec = next(iter(records.values()))
    assert ids == {setups.setup_id(setups.make_setup(rec["dataset"], QUICK, 0))}
    assert load(trained).attrs["setup_id"] == ids.pop()


@pytest.mark.parametrize("change", ["schedule", "seed", "dataset"])
def test_another_setup_is_refused_and_nothing_is_written(trained: SweepDir, tmp_path: Path, change: str) -> None:
    sweep = _copy(trained, tmp_path / "s")
    before = _snapshot(sweep.root)
    dataset, schedule, seed = bundled_fmnist(), dict(QUICK), 0
    if change == "schedule":
        schedule["lr"] = 0.05
    elif change == "seed":
        seed = 1
    else:
        dataset["resolution"] = 32
    with pytest.raises(SetupMismatch, match="already holds records trained with another setup") as err:
        run_sweep(sweep, dataset, schedule, RunOptions(seed=seed, threads=1, progress=False))
    assert "3 records" in str(err.value) and "new sweep directory" in str(err.value)
    assert _snapshot(sweep.root) == before


def test_other_image_counts_are_refused_once_the_data_is_read(trained: SweepDir, tmp_path: Path) -> None:
    sweep = _copy(trained, tmp_path / "s")
    for path in sweep.results_dir.glob("*.json"):  # as if trained on the full 60k/10k set
        rec = json.loads(path.read_text())
        rec["dataset"]["train_size"] = 60000
        path.write_text(json.dumps(rec))
    with pytest.raises(SetupMismatch, match="60000 train"):
        run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
    assert len(read_records(sweep)) == 3


@pytest.mark.slow
def test_the_train_cli_refuses_another_schedule_in_one_line(trained: SweepDir, tmp_path: Path) -> None:
    sweep = _copy(trained, tmp_path / "s")
    proc = run_cli(f"sweep_dir={sweep.root}", "schedule=fmnist_tiny")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "another setup" in lines[0] and "Traceback" not in proc.stderr
    assert len(read_records(sweep)) == 3


def _mixed(trained: SweepDir, tmp_path: Path) -> SweepDir:
    """The trained sweep plus the fourth model's record under another schedule (as an old version allowed)."""
    sweep = _copy(trained, tmp_path / "mixed")
    rec = json.loads(next(sweep.results_dir.glob("*.json")).read_text())
    fourth = sweep.read_samples()["model_id"].iat[3]
    rec.update(model_id=fourth, schedule={**rec["schedule"], "name": "other", "lr": 0.3})
    sweep.result_path(fourth).write_text(json.dumps(rec))
    return sweep


def test_analysis_never_mixes_setups(trained: SweepDir, tmp_path: Path) -> None:
    sweep = _mixed(trained, tmp_path)
    with pytest.raises(SetupMismatch, match="2 training setups"):
        load(sweep)
    quick = load(sweep, setup=QUICK["name"])
    assert (quick["status"] != "pending").sum() == 3
    other = load(sweep, setup="other")
    assert (other["status"] != "pending").sum() == 1
    sid = other.attrs["setup_id"]
    assert (load(sweep, setup=sid[:5])["status"] != "pending").sum() == 1  # an id prefix works too
    with pytest.raises(SetupMismatch, match="matches no setup"):
        load(sweep, setup="nope")
    with pytest.raises(SetupMismatch):  # and training refuses it as it is
        run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))


@pytest.mark.slow
def test_the_analyze_cli_refuses_a_mixed_sweep_or_takes_the_named_setup(trained: SweepDir, tmp_path: Path) -> None:
    sweep = _mixed(trained, tmp_path)
    cmd = [sys.executable, "-m", "designspace.analyze", f"sweep_dirs=[{sweep.root}]", "formats=[png]", "draws=200"]
    proc = subprocess.run([*cmd, f"out={tmp_path / 'r1'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "2 training setups" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([*cmd, f"out={tmp_path / 'r2'}", f"setup={QUICK['name']}"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "r2" / "report.md").read_text()
    summary = pd.read_csv(tmp_path / "r2" / "data" / "summary.csv").iloc[0]
    assert f"schedule {QUICK['name']}" in report
    assert (summary["models"], summary["ok"]) == (4, 3)  # the 4th model's record: the other setup


# --- read-only sweeps --------------------------------------------------------------------------------------
def _read_only_copy(trained: SweepDir) -> Path:
    """A copy of the sweep that this process (root or not) cannot write: run as `nobody` when root."""
    base = Path(tempfile.mkdtemp(prefix="ro-sweep-"))
    os.chmod(base, 0o755)
    dst = base / "s"
    shutil.copytree(trained.root, dst)
    for p in [dst, *dst.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    return dst


def _as_reader(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run `cmd` so that permission bits bind it: as root, without the capabilities that bypass them
    (util-linux's setpriv), the way a read-only mount or another user's files refuse writes."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without util-linux's setpriv: permission bits cannot be enforced")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", *cmd]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_read_only_sweep_is_trained_and_analysed_with_no_write(trained: SweepDir, tmp_path: Path) -> None:
    ro = _read_only_copy(trained)
    try:
        done = SweepDir(ro)
        # Finish it first (all 4 models) in a writable copy, then make that read-only.
        full = _copy(trained, tmp_path / "full")
        run_sweep(full, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
        shutil.rmtree(ro)
        shutil.copytree(full.root, ro)
        for p in [ro, *ro.rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        before = _snapshot(done.root)
        schedule = [f"schedule.{k}={'null' if v is None else v}" for k, v in QUICK.items()]
        train = _as_reader([sys.executable, "-m", "designspace.train", f"sweep_dir={ro}", "progress=false",
                            f"dataset.root={bundled_fmnist()['root']}", *schedule])
        assert train.returncode == 0 and "Traceback" not in train.stderr, train.stderr
        out = Path(tempfile.mkdtemp(prefix="ro-report-"))
        os.chmod(out, 0o777)
        analyze = _as_reader([sys.executable, "-m", "designspace.analyze", f"sweep_dirs=[{ro}]", f"out={out / 'r'}",
                              "formats=[png]", "draws=200"])
        assert analyze.returncode == 0 and (out / "r" / "report.md").is_file(), analyze.stderr
        assert _snapshot(done.root) == before  # not one file or folder touched
        args = ["space=anynetx_c", "budget=fmnist_tiny", "n=5", "progress=false"]
        sampled = ro.parent / "sampled"
        subprocess.run([sys.executable, "-m", "designspace.sample", *args, f"sweep_dir={sampled}"], cwd=REPO,
                       check=True, capture_output=True, timeout=300)
        for p in [sampled, *sampled.rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        before = _snapshot(sampled)
        again = _as_reader([sys.executable, "-m", "designspace.sample", *args, f"sweep_dir={sampled}"])
        assert again.returncode == 0 and "left unchanged" in again.stdout, again.stderr
        assert _snapshot(sampled) == before
    finally:
        shutil.rmtree(ro.parent, ignore_errors=True)


def test_training_a_read_only_sweep_says_which_folder_in_one_line(trained: SweepDir) -> None:
    ro = _read_only_copy(trained)  # one model still untrained
    try:
        schedule = [f"schedule.{k}={'null' if v is None else v}" for k, v in QUICK.items()]
        proc = _as_reader([sys.executable, "-m", "designspace.train", f"sweep_dir={ro}", "progress=false",
                           f"dataset.root={bundled_fmnist()['root']}", *schedule])
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert f"cannot write in {ro}" in lines[0] and "1 model(s)" in lines[0]
    finally:
        shutil.rmtree(ro.parent, ignore_errors=True)


def test_require_writable_tries_for_real(tmp_path: Path, monkeypatch) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    assert sweep.require_writable("x") is sweep

    def refuse(*_a, **_k):  # what a read-only mount answers, whatever the permission bits say
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(SweepNotWritable, match="Read-only file system"):
        sweep.require_writable("1 model to train")
