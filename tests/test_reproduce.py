"""The reproduction pipeline end to end (the `smoke` experiment), its resumption and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from designspace.studies.reproduce import Experiment, ExperimentError, plan


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
    assert "## Proxy fidelity" in report
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


def test_smoke_measures_fidelity_on_the_same_models(smoke_run):
    from designspace.training.trainer import Schedule

    for space in ("anynetx_a-fmnist_tiny", "regnetx-fmnist_tiny"):
        base = pd.read_parquet(smoke_run / "sweeps" / space / "samples.parquet")
        for kind in ("seed", "long"):
            sub = smoke_run / "fidelity" / kind / space
            assert list(pd.read_parquet(sub / "samples.parquet")["model_id"]) == list(base["model_id"][:3])
            records = [json.loads(p.read_text()) for p in (sub / "results").glob("*.json")]
            assert len(records) == 3
            sched = Schedule.from_dict(records[0]["schedule"])
            assert (records[0]["seed"], sched.epochs) == ((1, 1) if kind == "seed" else (0, 2))
    fid = pd.read_csv(smoke_run / "report" / "fidelity.csv")
    assert list(fid["space"]) == ["AnyNetX_A", "RegNetX", "all"]
    assert {"n", "seed_kendall", "seed_spearman", "seed_mad", "long_kendall", "long_spearman"} <= set(fid.columns)
    assert list(fid["n"]) == [3, 3, 6]
    # The seed-noise column recomputed from the records themselves.
    from scipy import stats

    def errors(path):
        return {r["model_id"]: r["final_error"] for r in
                (json.loads(p.read_text()) for p in (path / "results").glob("*.json"))}

    a = errors(smoke_run / "sweeps" / "anynetx_a-fmnist_tiny")
    s = errors(smoke_run / "fidelity" / "seed" / "anynetx_a-fmnist_tiny")
    ids = sorted(s)
    x, y = [a[i] for i in ids], [s[i] for i in ids]
    expected = stats.kendalltau(x, y).statistic
    got = fid.iloc[0]["seed_kendall"]
    assert (pd.isna(got) and pd.isna(expected)) or got == pytest.approx(expected)


def test_power_table_of_the_progression():
    import numpy as np

    from designspace.analysis.power import ks_critical
    from designspace.studies.reproduce_report import power_table

    rng = np.random.default_rng(0)

    def space(mean: float, n: int) -> pd.DataFrame:
        return pd.DataFrame({"error": rng.normal(mean, 3, n), "status": "ok"})

    frames = {"anynetx_c": space(35, 40), "anynetx_d": space(30, 30), "anynetx_e": space(30, 50)}
    table = power_table(frames, 0.05).set_index("comparison")
    assert list(table.index) == ["AnyNetX_D vs AnyNetX_C", "AnyNetX_E vs AnyNetX_D"]
    d_vs_c = table.loc["AnyNetX_D vs AnyNetX_C"]
    assert (d_vs_c["n_a"], d_vs_c["n_b"]) == (40, 30)
    assert d_vs_c["d_detectable"] == pytest.approx(ks_critical(30, 40, 0.05, "greater"))
    assert d_vs_c["d_observed"] > 0.4 and d_vs_c["power"] > 0.9  # a 5-point shift at sd 3 is plain
    assert table.loc["AnyNetX_E vs AnyNetX_D", "power"] < 0.5  # no shift: power near alpha


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
        if exp.fidelity:
            for kind in ("seed", "long"):
                assert len([j for j in jobs if j.kind == kind]) == len(exp.spaces) * len(exp.budgets), path


def test_fidelity_config_is_validated():
    base = {"name": "x", "spaces": ["anynetx_a"], "budgets": ["400mf"], "n": 5}
    with pytest.raises(ExperimentError, match="fidelity.models=6 exceeds"):
        Experiment.from_config({**base, "fidelity": {"models": 6}})
    with pytest.raises(ExperimentError, match="unknown key"):
        Experiment.from_config({**base, "fidelity": {"model": 2}})
    with pytest.raises(ExperimentError, match="long_factor=1"):
        Experiment.from_config({**base, "fidelity": {"models": 2, "long_factor": 1}})


def test_fidelity_gate_spares_findings_judged_without_training():
    from designspace.analysis import findings as fd
    from designspace.studies.reproduce_report import gate_by_fidelity

    low = pd.DataFrame([{"space": "all", "n": 30, "long_kendall": 0.3}])
    size = fd.smaller_space({"A": 10**18, "R": 10**8}, "A", "R")
    trained = fd.Finding("D improves on C", "reproduced", "KS ...")
    gated = gate_by_fidelity([size, trained], low, 4)
    assert gated[0] == size
    assert gated[1].verdict == "inconclusive" and "statistics alone say: reproduced" in gated[1].evidence


def test_the_sizes_table_reads_the_recorded_space_not_todays_yaml(tmp_path: Path) -> None:
    from designspace.space import spaces
    from designspace.studies.reproduce import _composed_space
    from designspace.studies.reproduce_report import recorded_space, sizes_table
    from designspace.sweep.layout import SweepDir

    recorded = _composed_space("anynetx_a")
    recorded["parameters"]["w"]["high"] = 512  # the YAML as it was when this sweep was sampled
    sweep = SweepDir(tmp_path / "s")
    sweep.root.mkdir()
    sweep.config_path.write_text(OmegaConf.to_yaml({"space": "anynetx_a", "space_config": recorded}))
    table = sizes_table(["anynetx_a"], {"anynetx_a": recorded_space(sweep)})
    assert int(table["exact"].iat[0]) == (16 * 64 * 3 * 6) ** 4  # w in 8..512 step 8: 64 values, not 128
    assert int(table["exact"].iat[0]) != spaces.load("anynetx_a").cardinality()
    assert "today's YAML" in sizes_table(["anynetx_a"], {"anynetx_a": None})["note"].iat[0]
