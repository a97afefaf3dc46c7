"""The reproduction pipeline end to end (the `smoke` experiment), its resumption and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from designspace.reproduce import Experiment, ExperimentError, plan


def reproduce(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "designspace.reproduce", *args, "progress=false", "threads=2"],
                          capture_output=True, text=True, env=env, check=False, timeout=900)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    res = reproduce("experiment=smoke", f"out={out}")
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_smoke_writes_every_record_and_the_report(smoke_run):
    sweeps = sorted((smoke_run / "sweeps").iterdir()) + sorted((smoke_run / "zoo").iterdir())
    assert [p.name for p in sweeps] == ["anynetx_a-fmnist_tiny", "regnetx-fmnist_tiny", "fmnist_tiny"]
    for sweep in sweeps:
        samples = pd.read_parquet(sweep / "samples.parquet")
        records = {p.stem: json.loads(p.read_text()) for p in (sweep / "results").glob("*.json")}
        assert set(records) == set(samples["model_id"])
        assert all(r["status"] in ("ok", "diverged", "failed") for r in records.values())
    report = (smoke_run / "report" / "REPORT.md").read_text()
    assert "## The paper's findings at this scale" in report and "## Proxy model zoo" in report
    findings = pd.read_csv(smoke_run / "report" / "findings.csv")
    assert set(findings["verdict"]) <= {"reproduced", "not reproduced", "inconclusive"}
    zoo = pd.read_csv(smoke_run / "report" / "proxy_zoo.csv")
    zoo_samples = pd.read_parquet(smoke_run / "zoo" / "fmnist_tiny" / "samples.parquet")
    # the picked model is the lowest-error candidate, and its flops lie within the tolerance
    errors = {p.stem: json.loads(p.read_text())["final_error"] for p in (smoke_run / "zoo/fmnist_tiny/results").glob("*.json")}
    assert zoo["model_id"].iat[0] == min(errors, key=errors.get)
    assert zoo_samples["flops"].between(5e6 * 0.95, 5e6 * 1.05).all()
    assert (smoke_run / "report" / "analysis" / "report.md").is_file()
    assert (smoke_run / "report" / "edf_progression.png").stat().st_size > 10_000


def test_rerun_trains_only_what_is_missing(smoke_run):
    results = sorted((smoke_run / "sweeps" / "regnetx-fmnist_tiny" / "results").glob("*.json"))
    removed = results[0]
    before = {p: p.stat().st_mtime_ns for p in results[1:]}
    removed.unlink()
    res = reproduce("experiment=smoke", f"out={smoke_run}", "stage=train")
    assert res.returncode == 0, res.stderr[-3000:]
    assert removed.is_file()
    assert {p: p.stat().st_mtime_ns for p in results[1:]} == before


def test_bad_experiments_fail_naming_the_key(tmp_path):
    with pytest.raises(ExperimentError, match="unknown key"):
        Experiment.from_config({"name": "x", "spaces": ["anynetx_a"], "budgets": ["400mf"], "n": 3, "nn": 1})
    with pytest.raises(ExperimentError, match="experiment.n"):
        Experiment.from_config({"name": "x", "spaces": ["anynetx_a"], "budgets": ["400mf"], "n": 0})
    with pytest.raises(ValueError, match="nospace"):
        Experiment.from_config({"name": "x", "spaces": ["nospace"], "budgets": ["400mf"], "n": 3})
    res = reproduce("experiment=smoke", f"out={tmp_path}", "stage=nope")
    assert res.returncode != 0 and "stage='nope'" in res.stderr


def test_every_shipped_experiment_plans(tmp_path):
    from omegaconf import OmegaConf

    for path in sorted(Path("experiments/experiment").glob("*.yaml")):
        exp = Experiment.from_config(OmegaConf.to_container(OmegaConf.load(path).experiment))
        jobs = plan(exp, tmp_path)
        assert len([j for j in jobs if j.kind == "space"]) == len(exp.spaces) * len(exp.budgets), path
