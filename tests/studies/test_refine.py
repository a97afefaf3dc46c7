"""designspace.refine: written space files have the restricted law; the CLI end to end and its user errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from designspace.analysis.suggest import Candidate, candidates, space_config
from designspace.cli.refine import main
from designspace.space import spaces
from designspace.space.sampler import sample
from designspace.space.schema import Space
from designspace.sweep.layout import SweepDir

BUDGET = "fmnist32_50mf"
COLUMNS = ("total_depth", "w1", "w4", "params", "flops")


def _write(tmp: Path, cand: Candidate, space: Space) -> Path:
    path = tmp / "restricted.yaml"
    path.write_text(yaml.safe_dump(space_config(cand, space, space.name, "restricted")))
    return path


def _same_law(kept: pd.DataFrame, fresh: pd.DataFrame) -> float:
    """Smallest p over two-sample KS tests of COLUMNS and a chi-square test of g (compare with 0.01 / 6)."""
    ps = [stats.ks_2samp(kept[c], fresh[c]).pvalue for c in COLUMNS]
    gs = sorted(set(kept["g"]) | set(fresh["g"]))
    table = np.array([[np.sum(kept["g"] == g), np.sum(fresh["g"] == g)] for g in gs])
    ps.append(stats.chi2_contingency(table)[1])
    return min(ps)


@pytest.fixture(scope="module")
def pop() -> pd.DataFrame:
    return sample("anynetx_c", 3000, seed=21, budget=BUDGET)


def test_space_file_has_the_restricted_law(pop: pd.DataFrame, tmp_path: Path) -> None:
    space = spaces.load("anynetx_c")
    by_label = {c.label(): c for c in candidates(pop, space)}
    depth = next(c for label, c in by_label.items() if label.startswith("total_depth <= "))
    g = by_label["g in {1, 2, 4, 8}"]
    cand = Candidate((*depth.parts, *g.parts), depth.mask & g.mask)
    kept = pop[cand.mask]
    fresh = sample(_write(tmp_path, cand, space), 600, seed=5, budget=BUDGET)
    assert 300 < len(kept) < 2700
    assert _same_law(kept, fresh) > 0.01 / 6  # Bonferroni over the six tests
    assert _same_law(pop, fresh) < 1e-4  # the test can tell the whole space from the restricted one
    assert fresh["total_depth"].max() <= depth.parts[0].high and set(fresh["g"]) <= {1, 2, 4, 8}


def test_non_increasing_space_file(pop: pd.DataFrame, tmp_path: Path) -> None:
    space = spaces.load("anynetx_c")
    cand = next(c for c in candidates(pop, space) if c.label() == "d_(i+1) <= d_i")
    fresh = sample(_write(tmp_path, cand, space), 300, seed=7, budget=BUDGET)
    assert (np.diff(fresh[["d1", "d2", "d3", "d4"]].to_numpy(), axis=1) <= 0).all()
    assert _same_law(pop[cand.mask], fresh) > 0.01 / 6


# --- the CLI ------------------------------------------------------------------------------------------------
def _trained_sweep(root: Path, n: int = 200, seed: int = 3) -> Path:
    frame = sample("anynetx_b", n, seed=seed, budget=BUDGET)
    sweep = SweepDir(root)
    sweep.write_samples(frame, yaml.safe_dump({"space": "anynetx_b", "budget": BUDGET, "n": n, "seed": seed}))
    rng = np.random.default_rng(seed)
    err = np.clip(40 + 3 * rng.standard_normal(n) - 6 * (frame["b"].to_numpy() == 1), 0, 100).round(2)
    sweep.results_dir.mkdir()
    for mid, e, (_, row) in zip(frame["model_id"], err, frame.iterrows()):
        spec = {"depths": [int(row[f"d{i}"]) for i in range(1, 5)]}
        rec = {"model_id": mid, "status": "ok", "spec": spec, "trained_spec": spec, "trained_id": mid,
               "complexity": {"flops": int(row.flops), "params": int(row.params), "acts": int(row.acts),
                              "resolution": 32},
               "dataset": {"name": "fashion_mnist", "resolution": 32, "channels": 1},
               "schedule": {"name": "fmnist_cpu"}, "seed": 0, "epochs": [], "final_error": float(e),
               "best_error": float(e)}
        sweep.result_path(mid).write_text(json.dumps(rec))
    return root


@pytest.mark.slow
def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = _trained_sweep(tmp_path / "sweep")
    out = tmp_path / "out"
    assert main([f"sweep_dirs=[{sweep}]", f"out={out}", "top=3", "fits=false"]) == 0
    report = (out / "anynetx_b" / "report.md").read_text()
    assert "hypothesis" in report.lower() and "python -m designspace.sample space=" in report
    files = sorted((out / "anynetx_b" / "spaces").glob("*.yaml"))
    assert len(files) == 3
    first = spaces.load(out / "anynetx_b" / "spaces" / "anynetx_b_r1.yaml")
    assert first.parameters["b"].values.tolist() == [1]  # the planted rule, first
    top = pd.read_csv(out / "anynetx_b" / "data" / "top.csv")
    assert top["size"].iat[0] == first.cardinality() and top["verdict"].iat[0].startswith("supported")
    assert top["verdict"].iat[0] in capsys.readouterr().out  # the console says what the report says
    assert (out / "anynetx_b" / "figures" / "edf_top.png").is_file()


@pytest.mark.parametrize("make, args, words", [
    (None, ["sweep_dirs=[{tmp}/missing]"], "does not exist"),
    ("untrained", ["sweep_dirs=[{tmp}/untrained]"], "models trained"),
    ("untrained", ["sweep_dirs=[{tmp}/untrained]", "colour=red"], "colour"),
])
def test_cli_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture, make: str | None, args: list,
                         words: str) -> None:
    if make:
        frame = sample("anynetx_b", 20, seed=0, budget=BUDGET)
        SweepDir(tmp_path / make).write_samples(frame, yaml.safe_dump({"space": "anynetx_b", "budget": BUDGET}))
    with pytest.raises(SystemExit) as exc:
        main([a.format(tmp=tmp_path) for a in args] + [f"out={tmp_path}/out"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err


def test_a_sweep_with_sampled_lr_gets_its_good_range_and_the_range_to_sample_next(tmp_path: Path,
                                                                                  capsys: pytest.CaptureFixture) -> None:
    from designspace.space.hparams import parse_laws

    n, laws = 120, {"lr": [0.05, 0.8], "weight_decay": [1e-5, 1e-3]}
    frame = sample("regnet", n, seed=4, budget=BUDGET, hparams=laws)
    sweep = SweepDir(tmp_path / "sweep")
    sweep.write_samples(frame, yaml.safe_dump({"space": "regnet", "budget": BUDGET, "hparams": laws}))
    rng = np.random.default_rng(4)
    err = (30 + 4 * np.log(frame["lr"].to_numpy() / 0.2) ** 2 + 0.5 * rng.standard_normal(n)).round(2)
    sweep.results_dir.mkdir()
    for e, (_, row) in zip(err, frame.iterrows()):
        hp = {"lr": float(row["lr"]), "weight_decay": float(row["weight_decay"])}
        rec = {"model_id": row["model_id"], "status": "ok", "spec": {}, "trained_spec": {}, "hparams": hp,
               "complexity": {"flops": int(row.flops), "params": int(row.params), "acts": int(row.acts),
                              "resolution": 32},
               "dataset": {"name": "fashion_mnist", "resolution": 32}, "schedule": {"name": "fmnist_cpu", **hp},
               "seed": 0, "epochs": [], "final_error": float(e), "best_error": float(e)}
        sweep.result_path(row["model_id"]).write_text(json.dumps(rec))
    out = tmp_path / "out"
    assert main([f"sweep_dirs=[{sweep.root}]", f"out={out}", "top=1", "sizes=false"]) == 0
    ranges = pd.read_csv(out / "regnet" / "data" / "hparam_ranges.csv").set_index("param")
    assert ranges.loc["lr", "low"] < 0.2 < ranges.loc["lr", "high"] < 0.5
    nxt = yaml.safe_load(ranges.loc["lr", "next_range"])
    assert nxt[0] <= ranges.loc["lr", "low"] and nxt[1] >= ranges.loc["lr", "high"]
    assert parse_laws({"lr": nxt})[0].low == nxt[0]  # what `sample hparams.lr=[...]` takes
    said = capsys.readouterr().out
    assert f"hparams.lr=[{nxt[0]:g},{nxt[1]:g}]" in said and "hparams.lr_wd" not in said
    report = (out / "regnet" / "report.md").read_text()
    assert "## Training hyperparameters" in report and f"hparams.lr=[{nxt[0]:g},{nxt[1]:g}]" in report
    space_file = next(line for line in report.splitlines() if "space=" in line and "regnet_r1.yaml" in line)
    assert "hparams.lr=[0.05,0.8] hparams.weight_decay=[1e-05,0.001]" in space_file  # the sweep's own laws
    scored = pd.read_csv(out / "regnet" / "data" / "hparam_range_hypotheses.csv")
    assert scored["significant"].iat[0] and (out / "regnet" / "figures" / "hparams.png").is_file()
