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

from designspace.studies.experiment import Experiment, ExperimentError
from designspace.studies.reproduce import plan


def reproduce(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "designspace.reproduce", *args, "progress=false", "threads=1"],  # one thread: the suite runs on two processes
                          capture_output=True, text=True, env=env, check=False, timeout=900)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    res = reproduce("experiment=smoke", f"out={out}", "pack=3")  # packs of 3: the whole study runs on them
    assert res.returncode == 0, res.stderr[-3000:]
    return out


@pytest.mark.slow
def test_smoke_writes_every_record_and_the_report(smoke_run):
    sweeps = sorted((smoke_run / "sweeps").iterdir()) + sorted((smoke_run / "zoo").iterdir())
    assert [p.name for p in sweeps] == ["anynetx_e-fmnist_tiny", "regnet-fmnist_tiny", "fmnist_tiny"]
    for sweep in sweeps:
        samples = pd.read_parquet(sweep / "samples.parquet")
        records = {p.stem: json.loads(p.read_text()) for p in (sweep / "results").glob("*.json")}
        assert set(records) == set(samples["model_id"])
        assert all(r["status"] in ("ok", "diverged", "failed") for r in records.values())
        assert max(r["pack"] for r in records.values()) > 1  # trained in packs, each with a record of its own
    report = (smoke_run / "report" / "REPORT.md").read_text()
    assert "## The paper's findings at this scale" in report and "## Proxy model zoo" in report
    assert "## Does it survive longer training? (the budget ladder)" in report
    findings = pd.read_csv(smoke_run / "report" / "findings.csv")
    assert set(findings["verdict"]) <= {"reproduced", "not reproduced", "inconclusive"}
    assert {"proxy_verdict", "longer_training", "longer_training_evidence"} <= set(findings.columns)
    from designspace.analysis.ladder import HEADLINE

    trained = findings[findings["longer_training"] != "not affected (a count)"]
    assert len(trained) and all(HEADLINE[v] == h for v, h in zip(trained["longer_training"], trained["verdict"]))
    zoo = pd.read_csv(smoke_run / "report" / "proxy_zoo.csv")
    zoo_samples = pd.read_parquet(smoke_run / "zoo" / "fmnist_tiny" / "samples.parquet")
    # the picked model is the lowest-error candidate, and its flops lie within the tolerance
    errors = {p.stem: json.loads(p.read_text())["final_error"] for p in (smoke_run / "zoo/fmnist_tiny/results").glob("*.json")}
    assert zoo["model_id"].iat[0] == min(errors, key=errors.get)
    assert zoo_samples["flops"].between(5e6 * 0.95, 5e6 * 1.05).all()
    assert (smoke_run / "report" / "analysis" / "report.md").is_file()
    assert (smoke_run / "report" / "edf_progression.png").stat().st_size > 10_000


@pytest.mark.slow
def test_smoke_measures_fidelity_on_the_same_models(smoke_run):
    from designspace.training.schedule import Schedule

    for space in ("anynetx_e-fmnist_tiny", "regnet-fmnist_tiny"):
        base = pd.read_parquet(smoke_run / "sweeps" / space / "samples.parquet")
        for kind, expected in (("seed", (1, 512, 1, 256)), ("x2", (0, 1024, 1, 256)), ("x4", (0, 2048, 1, 1024))):
            sub = smoke_run / "fidelity" / kind / space
            n = 4 if kind == "x4" else 3  # the longest rung decides sequentially: 3 first, then one a side to the cap
            assert list(pd.read_parquet(sub / "samples.parquet")["model_id"]) == list(base["model_id"][:n])
            records = [json.loads(p.read_text()) for p in (sub / "results").glob("*.json")]
            assert len(records) == n  # 4 pairs cannot decide a sign test at alpha 0.05 (0.5^4 > 0.025): the cap
            sched = Schedule.from_dict(records[0]["schedule"])
            assert (records[0]["seed"], sched.train_subset, sched.epochs, sched.test_subset) == expected
    fid = pd.read_csv(smoke_run / "report" / "fidelity.csv")
    assert set(fid["space"]) == {"AnyNetX_E", "RegNet", "all"} and set(fid["against"]) == {"x2", "x4", "seed"}
    assert set(fid.loc[fid["space"] == "all", "n"]) == {6}
    # The seed-noise row recomputed from the records themselves.
    from scipy import stats

    def errors(path):
        return {r["model_id"]: r["final_error"] for r in
                (json.loads(p.read_text()) for p in (path / "results").glob("*.json"))}

    a = errors(smoke_run / "sweeps" / "anynetx_e-fmnist_tiny")
    s = errors(smoke_run / "fidelity" / "seed" / "anynetx_e-fmnist_tiny")
    ids = sorted(s)
    x, y = [a[i] for i in ids], [s[i] for i in ids]
    expected = stats.kendalltau(x, y).statistic
    got = fid[(fid["space"] == "AnyNetX_E") & (fid["against"] == "seed")]["kendall"].iat[0]
    assert (pd.isna(got) and pd.isna(expected)) or got == pytest.approx(expected)
    # every fidelity model's error at every rung, and the claim's effect per rung recomputed from them
    models = pd.read_csv(smoke_run / "report" / "fidelity_models.csv")
    assert set(models["rung"]) == {"x1", "x2", "x4"} and len(models) == 3 * 2 + 3 * 2 + 4 * 2
    assert set(models.loc[models["rung"] == "x4", "training_images"]) == {2048}
    ladder = pd.read_csv(smoke_run / "report" / "ladder.csv")
    x4 = ladder[(ladder["comparison"] == "RegNet improves on AnyNetX_E") & (ladder["rung"] == "x4")].iloc[0]
    at = models[models["rung"] == "x4"].groupby("space")["error"].median()
    assert x4["effect"] == pytest.approx(at["AnyNetX_E"] - at["RegNet"])
    assert x4["low"] <= x4["effect"] <= x4["high"] and (x4["n_a"], x4["n_b"]) == (4, 4)
    assert (smoke_run / "report" / "ladder.png").stat().st_size > 10_000
    # the sequential decision at the longest rung, recomputed from the per-model CSV (pairs by order)
    from designspace.analysis.sequential import compare

    decisions = pd.read_csv(smoke_run / "report" / "decisions.csv").set_index("claim")
    row = decisions.loc["RegNet improves on AnyNetX_E"]
    x4m = models[models["rung"] == "x4"].sort_values("order")
    # an 'improves' step decides a direction only (the margin is the no-loss steps'), with the clipped test
    again = compare(x4m[x4m["space"] == "AnyNetX_E"]["error"], x4m[x4m["space"] == "RegNet"]["error"])
    assert (row["decision"], row["pairs to the decision"]) == (again.decision, again.n) == ("undecided", 4)
    assert row["pairs trained"] == 4 and "cap" in row["why it stopped"]
    findings = pd.read_csv(smoke_run / "report" / "findings.csv").set_index("claim")
    assert "sequential test" in findings.loc["RegNet improves on AnyNetX_E", "longer_training_evidence"]
    # the twin rung: each longest-rung AnyNetX_E model beside its RegNet twin, recomputed from the records
    twins = pd.read_csv(smoke_run / "report" / "twins.csv")
    assert list(twins["step"]) == ["RegNet improves on AnyNetX_E"]
    twin_sweep = next((smoke_run / "fidelity" / "x4-twins").iterdir())
    table = pd.read_parquet(twin_sweep / "samples.parquet")
    kept = [m for m in x4m[x4m["space"] == "AnyNetX_E"]["model_id"] if any(m in of.split(";") for of in table["twin_of"])]
    assert int(twins["pairs"].iat[0]) == min(4, len(kept))
    assert int(twins["skipped twins"].iat[0]) == 4 - len(kept) and "equal flops" in (smoke_run / "report" /
                                                                                     "REPORT.md").read_text()


def test_rung_schedules_add_images_then_epochs():
    from designspace.studies.experiment import rung_schedule, training_images
    from designspace.training.schedule import Schedule

    proxy = Schedule.from_dict({"name": "p", "epochs": 1, "batch_size": 64, "lr": 0.2, "train_subset": 4096,
                                "warmup_epochs": 0.1})
    x4, x16 = rung_schedule(proxy, 4, 60_000), rung_schedule(proxy, 16, 60_000)
    assert (x4.train_subset, x4.epochs, x4.warmup_epochs) == (16_384, 1, 0.1)
    assert (x16.train_subset, x16.epochs) == (None, 1)  # capped at one full epoch of the training set
    assert training_images(x16.train_subset, 64, x16.epochs, 60_000) == 937 * 64
    full = Schedule.from_dict({"name": "c", "epochs": 10, "batch_size": 128, "lr": 0.1, "warmup_epochs": 1.0})
    x4 = rung_schedule(full, 4, 50_000)
    assert (x4.train_subset, x4.epochs, x4.warmup_epochs) == (None, 40, 4.0)  # the same share of the budget


def test_power_table_of_the_progression():
    import numpy as np

    from designspace.analysis.power import ks_critical
    from designspace.analysis.study_tables import power_table

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


@pytest.mark.slow
def test_rerun_trains_only_what_is_missing(smoke_run):
    results = sorted((smoke_run / "sweeps" / "regnet-fmnist_tiny" / "results").glob("*.json"))
    removed = results[0]
    before = {p: p.stat().st_mtime_ns for p in results[1:]}
    removed.unlink()
    res = reproduce("experiment=smoke", f"out={smoke_run}", "stage=train")
    assert res.returncode == 0, res.stderr[-3000:]
    assert removed.is_file()
    assert {p: p.stat().st_mtime_ns for p in results[1:]} == before


@pytest.mark.slow
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
            rungs = [j for j in jobs if j.kind == "rung"]
            assert len(rungs) == len(exp.fidelity.rungs) * len(exp.spaces) * len(exp.budgets), path
            assert [j.schedule_factor for j in rungs] == sorted(j.schedule_factor for j in rungs)  # shortest first


def test_fidelity_config_is_validated():
    base = {"name": "x", "spaces": ["anynetx_a"], "budgets": ["400mf"], "n": 5}
    with pytest.raises(ExperimentError, match="fidelity.models=6 exceeds"):
        Experiment.from_config({**base, "fidelity": {"models": 6}})
    with pytest.raises(ExperimentError, match="unknown key"):
        Experiment.from_config({**base, "fidelity": {"model": 2}})
    with pytest.raises(ExperimentError, match="rungs="):
        Experiment.from_config({**base, "fidelity": {"models": 2, "rungs": [1]}})
    with pytest.raises(ExperimentError, match="rungs="):
        Experiment.from_config({**base, "fidelity": {"models": 2, "rungs": [16, 4]}})
    with pytest.raises(ExperimentError, match="unknown key"):
        Experiment.from_config({**base, "fidelity": {"models": 2, "long_factor": 4}})


def test_the_headline_follows_the_longest_rung_and_spares_counts():
    """A proxy effect that vanishes at the longest rung is not reproduced; a count is untouched."""
    import numpy as np

    from designspace.analysis import findings as fd
    from designspace.analysis.outcomes import ERROR
    from designspace.analysis.reproduction import Ladder, Rung, judge, progression_claims
    from designspace.analysis.study_tables import progression_findings

    rng = np.random.default_rng(0)

    def frame(gap: float, n: int, base: float) -> pd.DataFrame:
        rows = []
        for key, shift in (("anynetx_c", gap), ("anynetx_d", 0.0)):
            e = rng.normal(base + shift, 0.5, n)
            rows.append(pd.DataFrame({"space_key": key, "model_id": [f"{key}{i}" for i in range(n)], "status": "ok",
                                      "error": e, ERROR: e}))
        return pd.concat(rows, ignore_index=True)

    proxy = frame(8.0, 30, 40.0)
    long = frame(0.0, 12, 12.0)
    claims = progression_claims(["anynetx_c", "anynetx_d"], 0.05)
    found = progression_findings({k: proxy[proxy["space_key"] == k] for k in ("anynetx_c", "anynetx_d")}, 0.05)
    found.append(fd.smaller_space({"A": 10**18, "R": 10**8}, "A", "R"))
    ladder = Ladder([Rung(1, 4096, proxy[proxy["model_id"].str[-1].isin(list("0123456789"))], 0.0),
                     Rung(16, 60_000, long, 0.0)], models=12)
    judged = judge(found, proxy, ladder, claims).findings.set_index("claim")
    comparison = judged.loc["AnyNetX_D improves on AnyNetX_C"]
    assert comparison["proxy_verdict"] == "reproduced"
    assert comparison["longer_training"] in ("shrinks", "not shown") and comparison["verdict"] != "reproduced"
    count = judged.loc["R is ~10 orders of magnitude smaller than A"]
    assert count["verdict"] == "reproduced" and count["longer_training"] == "not affected (a count)"


def test_the_sizes_table_reads_the_recorded_space_not_todays_yaml(tmp_path: Path) -> None:
    from designspace.analysis.study_tables import sizes_table
    from designspace.space import spaces
    from designspace.studies.reproduce import _composed_space
    from designspace.studies.reproduce_study import recorded_space
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
