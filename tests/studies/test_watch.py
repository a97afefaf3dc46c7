"""`analyze watch=true`: the report follows a sweep while it trains, and ends by itself when it is done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from designspace.studies.watch import progress, update_line, watch
from designspace.sweep.results import write_record
from tests.helpers.train import BUNDLED_FASHION_MNIST, QUICK, TINY_SPECS, make_sweep


def _record(spec, error: float) -> dict:
    d = spec.to_dict()
    return {"model_id": spec.id, "status": "ok", "spec": d, "trained_spec": d,
            "complexity": {"flops": 1, "params": 1, "acts": 1, "resolution": 28}, "dataset": {"name": "x"},
            "schedule": {"name": "t"}, "seed": 0, "epochs": [], "final_error": error, "best_error": error}


def test_watch_renders_on_each_change_and_stops_when_all_are_trained(tmp_path: Path) -> None:
    a, b = make_sweep(tmp_path / "a", TINY_SPECS[:2]), make_sweep(tmp_path / "b", TINY_SPECS[2:4])
    pending = [(a, TINY_SPECS[0], 30.0), (b, TINY_SPECS[2], 20.0), (a, TINY_SPECS[1], 32.0), (b, TINY_SPECS[3], 22.0)]
    renders, lines, looks = [], [], []

    def sleep(_: float) -> None:  # between looks a worker records one model, every other look nothing
        looks.append(1)
        if len(looks) % 2 and pending:
            sweep, spec, err = pending.pop(0)
            write_record(sweep, _record(spec, err))

    n = watch([a, b], ["a", "b"], lambda: renders.append(1), 0.01, lines.append, sleep)
    assert n == len(renders) == 5  # the first look, then one per record
    assert lines[0].startswith("a 0/2; b 0/2") and lines[-1].startswith("a 2/2 median 31.00%; b 2/2 median 21.00%")
    assert "a vs b undecided after 2 pairs" in lines[-1]


def test_update_line_of_two_sweeps_carries_the_sequential_state(tmp_path: Path) -> None:
    a = make_sweep(tmp_path / "a", TINY_SPECS[:3])
    for spec, err in zip(TINY_SPECS[:3], (30.0, 31.0, 29.0)):
        write_record(a, _record(spec, err))
    state = progress(a, "a")
    assert (state.sampled, state.recorded, state.median) == (3, 3, 30.0)
    assert update_line([state]) == "a 3/3 median 30.00%"


@pytest.mark.slow
def test_watch_beside_a_real_train(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:3])
    out = tmp_path / "report"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen([sys.executable, "-m", "designspace.analyze", f"sweep_dirs=[{sweep.root}]", f"out={out}",
                                "watch=true", "interval=0.5", "formats=[png]", "draws=200"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "report.md").exists() and time.time() < deadline and watcher.poll() is None:
        time.sleep(0.2)  # the first render, of an untrained sweep
    train = subprocess.run([sys.executable, "-m", "designspace.train", f"sweep_dir={sweep.root}",
                            f"dataset.root={BUNDLED_FASHION_MNIST}", "threads=1", "progress=false", *QUICK],
                           env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    stdout, stderr = watcher.communicate(timeout=300)
    assert watcher.returncode == 0, stderr[-2000:]
    updates = [line.split(" ", 1)[1] for line in stdout.splitlines() if "/3" in line]  # after the time of day
    assert len(updates) >= 2 and updates[0] == "test 0/3" and updates[-1].startswith("test 3/3 median")
    assert stdout.strip().splitlines()[-1].startswith("every model is trained")
    assert "| 3 |" in (out / "report.md").read_text() or "3/3" in stdout
