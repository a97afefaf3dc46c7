"""A record is published once: a worker stalled inside its publish cannot replace the record of the worker that
took its model over (issue: shared sweeps, round two)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from designspace.sweep.results import RecordExists, read_records, write_record
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep


def _record(model_id: str, error: float) -> dict:
    spec = TINY_SPECS[0].to_dict()
    return {"model_id": model_id, "status": "ok", "spec": spec, "trained_spec": spec,
            "complexity": {"flops": 1, "params": 1, "acts": 1, "resolution": 28}, "dataset": {"name": "x"},
            "schedule": {"name": "t"}, "seed": 0, "epochs": [], "final_error": error, "best_error": error}


def test_a_late_publish_never_replaces_an_existing_record(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    model_id = TINY_SPECS[0].id

    def stall() -> None:  # A has passed its claim check; B publishes during A's window
        write_record(sweep, _record(model_id, 11.0))

    with pytest.raises(RecordExists):
        write_record(sweep, _record(model_id, 99.0), check=stall)
    assert read_records(sweep)[model_id]["final_error"] == 11.0
    assert not [p for p in sweep.results_dir.iterdir() if p.name.startswith(".")]  # no temp file left


DRIVER = textwrap.dedent("""
    import json, os, sys, time
    from designspace.sweep.options import RunOptions
    from designspace.sweep.runner import run_sweep
    sweep, data, schedule, stall, marker = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), \\
        float(sys.argv[4]), sys.argv[5]
    if stall > 0:  # the publish of this worker's record hangs (a hung NFS mount) after its claim check passed
        real = os.link
        def slow_link(src, dst, *a, **k):
            if "/results/" in str(dst):
                open(marker, "w").close()
                time.sleep(stall)
            return real(src, dst, *a, **k)
        os.link = slow_link
    summary = run_sweep(sweep, data, schedule, RunOptions(claim_timeout_s=2.0, threads=1, progress=False,
                                                         checkpoint_every_s=None))
    print(json.dumps(summary.as_dict()))
""")


@pytest.mark.slow
def test_a_stalled_worker_does_not_overwrite_the_new_holder(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    marker = tmp_path / "stalled"
    data = json.dumps({**bundled_fmnist(), "root": str(bundled_fmnist()["root"])})
    schedule = json.dumps(TINY_SCHEDULE)
    argv = [sys.executable, "-c", DRIVER, str(sweep.root), data, schedule]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    a = subprocess.Popen([*argv, "15", str(marker)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and a.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), a.communicate()[1][-2000:]
    time.sleep(3.0)  # past A's claim timeout (2 s): A is stale, B takes the model over
    b = subprocess.run([*argv, "0", str(marker)], env=env, capture_output=True, text=True, timeout=120)
    assert b.returncode == 0, b.stderr[-2000:]
    record_b = json.loads(sweep.result_path(TINY_SPECS[0].id).read_text())
    out_a, err_a = a.communicate(timeout=120)
    assert a.returncode == 0, err_a[-2000:]
    assert json.loads(out_a.splitlines()[-1])["lost_claims"] == 1 and "dropped" in err_a
    assert json.loads(sweep.result_path(TINY_SPECS[0].id).read_text()) == record_b  # B's record stands
