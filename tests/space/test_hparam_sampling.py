"""Training hyperparameters sampled with the design: pycls's laws (checked against their closed forms), streams
that do not depend on each other or on n, model ids that tell one network at two learning rates apart, tables
without sampled keys exactly as before, and the sample command's keys and errors."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from scipy import stats

from designspace.cli.sample import run
from designspace.configs import CONFIG_DIR
from designspace.space import spaces
from designspace.space.hparams import (
    HPARAM_KEYS,
    HparamLaw,
    draw_hparams,
    model_id,
    parse_laws,
    row_hparams,
    row_model_id,
)
from designspace.space.sampler import columns, draw, sample, spec_of
from designspace.sweep.layout import SweepDir
from designspace.training.pack import STREAM_KEYS
from designspace.training.schedule import Schedule
from designspace.util.usage import UserError

ROOT = Path(__file__).resolve().parents[2]
BUDGET = "fmnist_tiny"


# --- the laws, against closed forms ---------------------------------------------------------------------
def test_log_uniform_is_uniform_in_log_between_the_bounds() -> None:
    x = HparamLaw("lr", 0.05, 0.8).draw(np.random.default_rng(1).random(20_000))
    assert x.min() >= 0.05 and x.max() <= 0.8
    u = (np.log(x) - math.log(0.05)) / (math.log(0.8) - math.log(0.05))
    assert stats.kstest(u, "uniform").pvalue > 0.01


def test_quantized_log_uniform_has_pycls_pmf() -> None:
    """pycls: q * ceil(exp(U(ln(lo - min(q, lo/2)), ln hi)) / q); so value v > lo has mass ln(v) - ln(v - q) and lo
    has ln(lo) - ln(lo - min(q, lo/2)), all over ln(hi) - ln(lo - min(q, lo/2))."""
    lo, hi, q = 0.1, 0.5, 0.1
    x = HparamLaw("lr", lo, hi, quantum=q).draw(np.random.default_rng(2).random(200_000))
    grid = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert set(np.unique(x)) == set(grid)  # exact decimal values, as pycls's Decimal quantize gives
    start = lo - min(q, lo / 2)
    mass = [math.log(lo) - math.log(start)] + [math.log(v) - math.log(v - q) for v in grid[1:]]
    expected = np.array(mass) / (math.log(hi) - math.log(start))
    observed = np.array([np.sum(x == v) for v in grid])
    assert stats.chisquare(observed, expected * x.size).pvalue > 0.01


def test_quantized_uniform_is_uniform_on_the_grid() -> None:
    x = HparamLaw("momentum", 0.8, 0.95, law="uniform", quantum=0.05).draw(np.random.default_rng(3).random(40_000))
    grid = [0.8, 0.85, 0.9, 0.95]
    assert set(np.unique(x)) == set(grid)
    assert stats.chisquare([np.sum(x == v) for v in grid]).pvalue > 0.01
    plain = HparamLaw("momentum", 0.8, 0.95, law="uniform").draw(np.random.default_rng(4).random(20_000))
    assert stats.kstest((plain - 0.8) / 0.15, "uniform").pvalue > 0.01


def test_each_key_has_its_own_stream_and_longer_draws_extend_shorter_ones() -> None:
    lr, wd = HparamLaw("lr", 0.05, 0.8), HparamLaw("weight_decay", 1e-5, 1e-3)
    both, alone = draw_hparams([lr, wd], 50, seed=7), draw_hparams([lr], 50, seed=7)
    assert np.array_equal(both["lr"], alone["lr"])  # sampling wd too leaves lr's values as they were
    assert np.array_equal(draw_hparams([lr, wd], 80, seed=7)["weight_decay"][:50], both["weight_decay"])
    assert not np.array_equal(draw_hparams([lr], 50, seed=8)["lr"], alone["lr"])


@pytest.mark.parametrize("config, words", [
    ({"lr": [0.8, 0.05]}, "low <= high"),
    ({"lr": [0.0, 0.8]}, "needs low > 0"),
    ({"lr": [0.05]}, "[low, high]"),
    ({"lr": {"range": [0.05, 0.8], "quantum": 0.03}}, "multiples of quantum"),
    ({"lr": {"range": [0.05, 0.8], "law": "normal"}}, "law='normal'"),
    ({"lr": {"range": [0.05, 0.8], "step": 0.01}}, "unknown key(s) ['step']"),
    ({"batch_size": [32, 256]}, "batch_size not a schedule key"),
])
def test_bad_laws_are_user_errors_naming_the_key(config: dict, words: str) -> None:
    with pytest.raises(UserError) as exc:
        parse_laws(config)
    assert words in str(exc.value) and "hparams" in str(exc.value)


def test_every_sampled_key_is_a_float_of_the_schedule_a_pack_may_vary() -> None:
    floats = {f.name for f in Schedule.__dataclass_fields__.values() if f.type in ("float", float)}
    assert set(HPARAM_KEYS) <= floats and not set(HPARAM_KEYS) & set(STREAM_KEYS)


# --- tables and ids ---------------------------------------------------------------------------------------------
def test_a_table_without_sampled_keys_is_exactly_as_before() -> None:
    plain = sample("regnet", 30, seed=3, budget=BUDGET)
    for empty in (None, {}, {"lr": None, "weight_decay": None}):
        pd.testing.assert_frame_equal(draw("regnet", 30, 3, BUDGET, hparams=empty).frame, plain)
    assert list(plain.columns) == columns(spaces.load("regnet"))
    assert [spec_of(r).id for _, r in plain.iterrows()] == plain["model_id"].tolist()


def test_sampled_keys_follow_the_design_and_make_the_model_id() -> None:
    plain = sample("regnet", 30, seed=3, budget=BUDGET)
    laws = {"lr": [0.05, 0.8], "weight_decay": [1e-5, 1e-3]}
    frame = sample("regnet", 30, seed=3, budget=BUDGET, hparams=laws)
    assert list(frame.columns) == [*plain.columns, "lr", "weight_decay"]
    pd.testing.assert_frame_equal(frame[list(plain.columns[1:])], plain[list(plain.columns[1:])])  # same designs
    assert frame["lr"].between(0.05, 0.8).all() and frame["weight_decay"].between(1e-5, 1e-3).all()
    for (_, row), net_id in zip(frame.iterrows(), plain["model_id"]):
        canonical = json.dumps({"hparams": {"lr": row["lr"], "weight_decay": row["weight_decay"]}, "net": net_id},
                               sort_keys=True, separators=(",", ":"))
        assert row["model_id"] == hashlib.sha1(canonical.encode()).hexdigest()[:12] == row_model_id(row)
    assert frame["model_id"].is_unique and not set(frame["model_id"]) & set(plain["model_id"])
    longer = sample("regnet", 45, seed=3, budget=BUDGET, hparams=laws)
    pd.testing.assert_frame_equal(longer.head(30), frame)  # a sweep grows with its results kept


def test_one_network_at_two_learning_rates_is_two_models() -> None:
    net = "7954af6736da"
    assert model_id(net, {}) == net
    a, b = model_id(net, {"lr": 0.1}), model_id(net, {"lr": 0.2})
    assert a != b and net not in (a, b)
    assert a == "8a1693029cc9"  # pinned: stored records are keyed by it
    assert model_id(net, {"lr": 0.1, "weight_decay": 5e-5}) == model_id(net, {"weight_decay": 5e-5, "lr": 0.1})


def test_row_values_skip_nan_and_refuse_text() -> None:
    assert row_hparams(pd.Series({"lr": 0.1, "weight_decay": float("nan"), "d1": 1})) == {"lr": 0.1}
    with pytest.raises(ValueError, match="lr='fast'"):
        row_hparams({"lr": "fast"})


# --- the command ------------------------------------------------------------------------------------------------
def _compose(overrides: list[str]):
    from designspace.cli._structured import register

    register()  # the schemas sample.yaml's defaults name, as the command registers them
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="sample", overrides=overrides)


def test_the_command_samples_the_keys_and_keeps_the_config_of_sweeps_without(tmp_path: Path) -> None:
    cfg = _compose(["space=regnet", "n=12", f"budget={BUDGET}", f"sweep_dir={tmp_path / 'hp'}", "progress=false",
                    "hparams.lr=[0.05,0.8]", "hparams.weight_decay={range:[1e-5,1e-3],quantum:1e-6}"])
    text = run(cfg, "regnet", ())
    assert "sampled with each model: lr log-uniform in [0.05, 0.8]" in text and "weight_decay" in text
    sweep = SweepDir(tmp_path / "hp")
    frame = sweep.read_samples()
    expected = sample("regnet", 12, 0, BUDGET, hparams={"lr": [0.05, 0.8],
                                                        "weight_decay": {"range": [1e-5, 1e-3], "quantum": 1e-6}})
    pd.testing.assert_frame_equal(frame, expected)
    wd = frame["weight_decay"].to_numpy()
    assert np.allclose(np.round(wd / 1e-6) * 1e-6, wd, rtol=0, atol=1e-15)
    assert sweep.read_config()["hparams"] == {"lr": [0.05, 0.8],
                                              "weight_decay": {"range": [1e-5, 1e-3], "quantum": 1e-6}}
    run(_compose(["space=regnet", "n=12", f"budget={BUDGET}", f"sweep_dir={tmp_path / 'plain'}", "progress=false"]),
        "regnet", ())
    assert "hparams" not in SweepDir(tmp_path / "plain").read_config_text()


@pytest.mark.parametrize("override, words", [
    ("hparams.momentum={range:[0.5,1.5],law:uniform}", "hparams.momentum: 1.5 is not a valid momentum"),
    ("hparams.lr=[0.8,0.05]", "low <= high"),
    ("hparams.batch_size=[32,64]", "hparams.batch_size"),
])
def test_bad_keys_are_one_line_and_exit_2(tmp_path: Path, override: str, words: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "designspace.sample", "space=regnet", "n=5", f"budget={BUDGET}",
                           "sweep_dir=sw", override], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("law", [HparamLaw("lr", 0.05, 0.8), HparamLaw("momentum", 0.8, 0.95, "uniform", 0.05),
                                 HparamLaw("weight_decay", 1e-5, 1e-3, quantum=1e-6)])
def test_a_law_written_as_an_override_reads_back_the_same(law: HparamLaw) -> None:
    from omegaconf import OmegaConf

    cfg = _compose(["space=regnet", law.override()])
    assert parse_laws(OmegaConf.to_container(cfg.hparams)) == (law,)
