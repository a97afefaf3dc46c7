"""The sampler: every row meets its space and budget (recounted through the foundation API),
tables are reproducible, and bad requests fail clearly."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from designspace.cli.sample import run
from designspace.configs import CONFIG_DIR
from designspace.net.blocks.bottleneck import make_compatible
from designspace.net.complexity import complexity
from designspace.net.regnet import regnet_spec
from designspace.net.spec import NetSpec
from designspace.space import budgets, spaces
from designspace.space.budgets import BudgetError, load_budget
from designspace.space.sampler import SamplingError, accepted, columns, draw, sample, spec_of
from designspace.space.schema import Space, SpaceError
from designspace.sweep.layout import SweepDir

ROOT = Path(__file__).resolve().parents[2]


def check_rows(frame: pd.DataFrame, space: Space, budget: budgets.Budget) -> None:
    """Every row: structure, constraints and budget, recomputed one network at a time."""
    S = space.num_stages
    assert list(frame.columns) == columns(space)
    assert frame["model_id"].is_unique
    for _, row in frame.iterrows():
        spec = spec_of(row)
        assert row["model_id"] == spec.id
        net = list(spec.to_row())
        start = list(frame.columns).index("d1")
        assert list(frame.columns[start:start + len(net)]) == net
        cx = complexity(spec, budget.resolution)
        assert (row["flops"], row["params"], row["acts"]) == (cx.flops, cx.params, cx.acts)
        assert row["total_depth"] == spec.total_depth
        for metric in ("flops", "params", "acts"):
            lo, hi = budget.band(metric)
            assert (lo is None or cx.as_dict()[metric] >= lo) and (hi is None or cx.as_dict()[metric] <= hi)
            if metric in space.bounds:
                lo, hi = space.bounds[metric]
                assert (lo is None or cx.as_dict()[metric] >= lo) and (hi is None or cx.as_dict()[metric] <= hi)
        lo, hi = space.bounds.get("total_depth", (None, None))
        assert (lo is None or spec.total_depth >= lo) and (hi is None or spec.total_depth <= hi)
        F = budget.regime if budget.regime is not None else cx.flops / 1e9
        for metric, rule in space.scaled_max.items():
            assert cx.as_dict()[metric] < rule.base + rule.coef * F ** rule.power
        assert (spec.se_ratio, spec.stem_width) == (space.se_ratio, space.stem_width)
        assert (spec.stem_stride, spec.num_classes, spec.in_channels) == (
            budget.stem_stride, budget.num_classes, budget.in_channels)
        if space.family == "regnet":
            raw = {k: row[k] for k in ("depth", "w0", "wa", "wm", "b", "g")}
            for k, grid in space.parameters.items():
                assert raw[k] in grid.values
            regen = regnet_spec(int(raw["depth"]), int(raw["w0"]), float(raw["wa"]), float(raw["wm"]),
                                int(raw["g"]), float(raw["b"]), space.se_ratio, stem_stride=budget.stem_stride,
                                num_classes=budget.num_classes, in_channels=budget.in_channels)
            assert regen == spec and spec.num_stages == S
            continue
        raw = {k: [row[f"raw_{k}{i}"] for i in range(1, S + 1)] if f"raw_{k}1" in row else [row[k]] * S
               for k in "dwbg"}
        for k in "dwbg":
            assert all(v in space.parameters[k].values for v in raw[k])
        widths, ratios, groups = make_compatible(raw["w"], raw["b"], raw["g"])
        assert (spec.depths, spec.widths, spec.bottleneck_ratios, spec.group_widths) == (
            tuple(raw["d"]), widths, ratios, groups)
        for k in space.shared:
            assert len(set(raw[k])) == 1
        final = {"d": spec.depths, "w": spec.widths}
        for k in space.non_decreasing:
            assert all(a <= b for a, b in zip(final[k], final[k][1:]))


@pytest.mark.parametrize("name", spaces.TABLE1)
def test_every_row_meets_its_space_and_the_400mf_budget(name):
    space, budget = spaces.load(name), load_budget("400mf")
    frame = sample(name, 120, seed=3, budget="400mf")
    assert len(frame) == 120
    assert frame["flops"].between(360e6, 400e6).all()
    check_rows(frame, space, budget)


@pytest.mark.parametrize("name,budget", [
    ("anynetx_e", "fmnist_tiny"), ("regnety", "fmnist_tiny"), ("anynetx_a", "cifar_400mf"),
    ("regnetx", "cifar_1.6gf"), ("anynetx_d", "1.6gf"), ("regnet", "none"),
    ("anynetx_b", {"name": "400mf", "resolution": 32, "stem_stride": 1, "num_classes": 10,
                   "flops": [20e6, 30e6], "params": [None, 1e6]}),
])
def test_other_budgets_and_overrides(name, budget):
    b = load_budget(budget)
    frame = sample(name, 40, seed=1, budget=budget)
    check_rows(frame, spaces.load(name), b)
    if isinstance(budget, dict):
        assert (frame["stem_stride"] == 1).all() and (frame["num_classes"] == 10).all()
        assert frame["params"].le(1e6).all() and frame["flops"].between(20e6, 30e6).all()


def test_a_user_space_written_as_yaml(tmp_path):
    """The issue's example: AnyNetX_E with b = 1 and 12 <= total depth <= 28, no code."""
    path = tmp_path / "e_b1.yaml"
    path.write_text("defaults: [anynetx_e, _self_]\nname: e_b1\nparameters:\n  b: {values: [1]}\n"
                    "constraints:\n  bounds: {total_depth: [12, 28]}\n")
    space = spaces.load(path)
    frame = sample(path, 80, seed=2)
    check_rows(frame, space, load_budget("400mf"))
    assert (frame["b1"] == 1).all() and frame["total_depth"].between(12, 28).all()
    e = spaces.load("anynetx_e")
    assert 0 < space.cardinality() < e.cardinality() / 3


def test_same_seed_same_table_and_longer_tables_extend_shorter_ones():
    a = sample("anynetx_d", 150, seed=7)
    b = sample("anynetx_d", 150, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert a.to_parquet(index=False) == b.to_parquet(index=False)  # bit for bit, files included
    assert not a["model_id"].equals(sample("anynetx_d", 150, seed=8)["model_id"])
    pd.testing.assert_frame_equal(sample("anynetx_d", 60, seed=7), a.head(60))
    small = draw("anynetx_d", 150, seed=7, max_batch=1000).frame  # batching does not matter
    pd.testing.assert_frame_equal(small, a)
    r1 = sample("regnet", 40, seed=7, budget="fmnist_tiny")
    r2 = draw("regnet", 40, seed=7, budget="fmnist_tiny", max_batch=4096).frame
    pd.testing.assert_frame_equal(r1, r2)


def test_sample_keeps_the_first_distinct_networks_of_the_accepted_stream():
    """fmnist_50mf in RegNetX holds few networks, so repeats occur and must be dropped in order."""
    result = draw("regnetx", 150, seed=0, budget="fmnist_50mf")
    stream = accepted("regnetx", result.stats["draws"], seed=0, budget="fmnist_50mf")
    assert len(stream) == result.stats["accepted"] and result.stats["duplicates"] > 0
    first = stream.drop_duplicates("model_id").head(150).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, result.frame)


@pytest.mark.slow
def test_unreachable_budgets_stop_with_the_count_and_the_rate():
    with pytest.raises(SamplingError, match=r"found 0 of 10 in 300,000 draws .*acceptance rate 0%") as err:
        sample("anynetx_c", 10, budget={"name": "400mf", "flops": [1, 2]}, max_draws=300_000)
    assert "budget 400mf: flops 1-2 flops at 224px" in str(err.value)
    with pytest.raises(SamplingError, match=r"found \d+ of 5000 in [\d,]+ draws") as err:
        sample("regnet", 5000, budget="400mf", max_draws=200_000)  # stops once 5000 is out of reach
    assert "acceptance rate 0.1" in str(err.value) and "need about" in str(err.value)
    # hopeless long before max_draws: stops after about 1M of the default 20M draws
    with pytest.raises(SamplingError, match=r"(?s)found 0 of 500 in 1,0[\d,]+ draws .*max_draws=20,000,000"):
        sample("anynetx_a", 500, budget={"name": "400mf", "flops": [1e15, None]})


def test_bad_budget_files_name_the_file_and_the_key(tmp_path):
    text = (CONFIG_DIR / "budget" / "400mf.yaml").read_text()
    cases = [("flops: [360_000_000, 400_000_000]", "flops: [lots, 400_000_000]", "flops[0]: must be a number"),
             ("resolution: 224", "resolution: 22.5", "resolution: must be a whole number"),
             ("in_channels: 3", "in_channels: 3\nchannels: 1", "channels: unknown key"),
             ("name: 400mf", "name: null", "name: is required")]
    for old, new, words in cases:
        path = tmp_path / "b.yaml"
        path.write_text(text.replace(old, new))
        with pytest.raises(BudgetError) as err:
            load_budget(path)
        assert str(err.value).startswith(f"{path}: ") and words in str(err.value), str(err.value)


def test_bad_requests_fail_before_sampling():
    with pytest.raises(SpaceError, match="unknown space 'anynetx_q'"):
        sample("anynetx_q", 5)
    with pytest.raises(BudgetError, match="unknown budget '401mf'"):
        sample("anynetx_a", 5, budget="401mf")
    with pytest.raises(BudgetError, match=r"<dict>: resolutoin: unknown key"):
        sample("anynetx_a", 5, budget={"name": "x", "resolutoin": 3})
    with pytest.raises(BudgetError, match=r"400mf\.yaml with overrides \['flops'\]: flops: low=5 is greater"):
        sample("anynetx_a", 5, budget={"name": "400mf", "flops": [5, 1]})
    with pytest.raises(BudgetError, match=r"resolution: must be a whole number >= 1, got 'big'"):
        load_budget({"name": "400mf", "resolution": "big"})
    with pytest.raises(ValueError, match="n=0 must be"):
        sample("anynetx_a", 0)
    with pytest.raises(ValueError, match="seed=-1 must be"):
        sample("anynetx_a", 5, seed=-1)


def test_every_budget_file_loads():
    names = budgets.names()
    for regime in ("200mf", "400mf", "600mf", "800mf", "1.6gf", "3.2gf", "4.0gf", "6.4gf", "8.0gf", "12gf",
                   "16gf", "32gf"):
        b = load_budget(regime)
        assert b.flops[0] == pytest.approx(0.9 * b.flops[1]) and (b.resolution, b.stem_stride) == (224, 2)
        for proxy, res, ratio in (("cifar", 32, (32 / 112) ** 2), ("fmnist", 28, 1 / 16)):
            if f"{proxy}_{regime}" in names:
                p = load_budget(f"{proxy}_{regime}")
                assert (p.resolution, p.stem_stride, p.num_classes) == (res, 1, 10)
                assert p.flops == (round(b.flops[0] * ratio), round(b.flops[1] * ratio))
                assert p.regime == b.regime
    assert load_budget("none").flops == (None, None) and load_budget(None).name == "none"
    assert {"fmnist_tiny", "cifar_1.6gf", "fmnist_1.6gf"} <= set(names)
    assert load_budget("fmnist_tiny").in_channels == 1


def test_spec_of_round_trips_through_parquet_and_csv(tmp_path):
    frame = sample("regnety", 20, seed=5)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    for back in (pd.read_csv(tmp_path / "t.csv"), pd.read_parquet(tmp_path / "t.parquet")):
        assert [spec_of(r).id for _, r in back.iterrows()] == frame["model_id"].tolist()
    assert isinstance(spec_of(frame.iloc[0].to_dict()), NetSpec)


# --- Hydra config and CLI ------------------------------------------------------------------------
def _compose(overrides: list[str]):
    from designspace.cli._structured import register

    register(("space", "budget"))  # what `python -m designspace.sample` registers before composing
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="sample", overrides=overrides)


def test_hydra_overrides_reach_the_sampler(tmp_path):
    cfg = _compose(["space=anynetx_c", "n=30", "seed=4", "budget=400mf", "budget.resolution=32", "budget.stem_stride=1",
                    "budget.flops=[2.0e7,3.0e7]", f"out={tmp_path / 't.parquet'}", "progress=false"])
    text = run(cfg, "anynetx_c", ())
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert len(frame) == 30 and frame["flops"].between(2e7, 3e7).all() and (frame["stem_stride"] == 1).all()
    assert f"wrote {tmp_path / 't.parquet'}" in text and "acceptance rate" in text
    pd.testing.assert_frame_equal(frame, sample("anynetx_c", 30, 4, load_budget(
        {"name": "400mf", "resolution": 32, "stem_stride": 1, "flops": [2e7, 3e7]})))


def test_hydra_rejects_misspelled_keys_and_unknown_options():
    with pytest.raises(ConfigCompositionException, match="seeed"):
        _compose(["space=anynetx_c", "seeed=1"])
    with pytest.raises(ConfigCompositionException, match="flop"):
        _compose(["space=anynetx_c", "budget.flop=[1,2]"])
    with pytest.raises(Exception, match="space/anynetx_q"):
        _compose(["space=anynetx_q"])
    cfg = _compose(["space=anynetx_c", "space.parameters.w.low=0", "out=x.csv"])
    with pytest.raises(SpaceError, match=r"anynetx_c\.yaml \(command-line override 'space\.parameters\.w\.low=0'\): "
                                          r"parameters\.w\.low: a log_uniform range needs low > 0"):
        run(cfg, "anynetx_c", ("space=anynetx_c", "space.parameters.w.low=0"))
    with pytest.raises(ValueError, match=r"out=x\.txt: the file must end in \.parquet or \.csv"):
        run(_compose(["space=anynetx_c", "out=x.txt"]), "anynetx_c", ())


def test_cli_end_to_end(tmp_path):
    """One real run: sweep directory, CSV, summary, no torch import, no Hydra output folders."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-X", "importtime", "-m", "designspace.sample", "space=anynetx_c", "n=500",
           "sweep_dir=sw", "out=t.csv"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {ln.split("|")[-1].strip().split(".")[0] for ln in proc.stderr.splitlines() if "import time:" in ln}
    assert "torch" not in imported and "pandas" in imported
    out = proc.stdout
    assert "500 models from anynetx_c" in out and "acceptance rate" in out and "median" in out
    assert out.strip().splitlines()[-1] == "sw"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sw", "t.csv"]
    sweep = SweepDir(tmp_path / "sw")
    frame = sweep.read_samples()
    assert len(frame) == 500 and frame["model_id"].is_unique
    assert pd.read_csv(tmp_path / "t.csv")["model_id"].tolist() == frame["model_id"].tolist()
    config = sweep.read_config_text()
    assert "name: anynetx_c" in config and "name: 400mf" in config and "seed: 0" in config
    pd.testing.assert_frame_equal(frame, sample("anynetx_c", 500, 0, "400mf"))
    again = subprocess.run([sys.executable, "-m", "designspace.sample", "space=anynetx_c", "n=50", "sweep_dir=sw"],
                           cwd=tmp_path, capture_output=True, text=True,
                           env=env, check=False, timeout=120)
    assert again.returncode != 0 and "already holds different samples" in again.stderr


def test_default_sweep_dir_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = run(_compose(["space=regnetx", "n=20", "seed=2", "budget=fmnist_tiny", "progress=false"]), "regnetx", ())
    assert text.splitlines()[-1] == "sweeps/regnetx-fmnist_tiny-n20-s2"
    assert SweepDir("sweeps/regnetx-fmnist_tiny-n20-s2").exists()
    assert math.isclose(len(SweepDir("sweeps/regnetx-fmnist_tiny-n20-s2").read_samples()), 20)
    assert np.all(SweepDir("sweeps/regnetx-fmnist_tiny-n20-s2").read_samples()["in_channels"] == 1)
