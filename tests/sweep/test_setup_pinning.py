"""The setup is pinned only when a model trains, and a refusal names the keys that differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from designspace.sweep.failures import RunStopped
from designspace.sweep.options import RunOptions
from designspace.sweep.runner import run_sweep
from designspace.sweep.setups import SetupMismatch, differences
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep


def test_a_run_stopped_before_training_pins_nothing(tmp_path: Path, one_thread) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    bad = {**TINY_SCHEDULE, "train_subset": 512, "batch_size": 20000}  # not one step per epoch
    with pytest.raises((RunStopped, ValueError)):
        run_sweep(sweep, bundled_fmnist(), bad, RunOptions(threads=1, progress=False))
    assert not sweep.setup_path.exists() and not list(sweep.results_dir.glob("*.json"))
    summary = run_sweep(sweep, bundled_fmnist(), TINY_SCHEDULE, RunOptions(threads=1, progress=False, limit=1))
    assert summary.ok == 1 and sweep.setup_path.exists()  # the corrected command is not refused


def test_a_refusal_names_the_differing_keys(tmp_path: Path, one_thread) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    run_sweep(sweep, bundled_fmnist(), TINY_SCHEDULE, RunOptions(threads=1, progress=False, limit=1))
    other = {**TINY_SCHEDULE, "batch_size": 32, "lr": 0.05}
    with pytest.raises(SetupMismatch) as info:
        run_sweep(sweep, bundled_fmnist(), other, RunOptions(threads=1, progress=False))
    text = str(info.value)
    assert "schedule.batch_size: 64 there, 32 here" in text and "schedule.lr: 0.1 there, 0.05 here" in text


def test_differences_lists_only_what_differs():
    a = {"dataset": {"name": "x", "train_size": 10}, "schedule": {"lr": 0.1, "epochs": 1}, "seed": 0}
    b = {"dataset": {"name": "x", "train_size": 10}, "schedule": {"lr": 0.2, "epochs": 1}, "seed": 1,
         "precision": "bf16"}
    assert differences(a, b) == ("precision: 'fp32' there, 'bf16' here; schedule.lr: 0.1 there, 0.2 here; "
                                 "seed: 0 there, 1 here")
    assert differences(a, a) == "none"


@pytest.mark.parametrize("option", [{"checkpoint_every_s": "60s"}, {"checkpoint_every_s": -1}, {"threads": 0},
                                    {"limit": "2"}, {"seed": 1.5}, {"claim_timeout_s": "10"}])
def test_a_typo_in_a_run_option_writes_nothing(tmp_path: Path, option) -> None:
    from designspace.util.usage import UserError

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    with pytest.raises(UserError, match=next(iter(option))):
        run_sweep(sweep, bundled_fmnist(), TINY_SCHEDULE, RunOptions(progress=False, **option))
    assert sorted(p.name for p in sweep.root.iterdir()) == ["config.yaml", "samples.parquet"]


def test_the_command_refuses_the_typo(tmp_path: Path) -> None:
    from tests.helpers.train import QUICK, run_cli

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    res = run_cli(f"sweep_dir={sweep.root}", "checkpoint_every_s=60s", "limit=2", *QUICK)
    assert res.returncode == 2 and "checkpoint_every_s" in res.stderr.strip().splitlines()[-1]
    assert not sweep.results_dir.exists() or not list(sweep.results_dir.iterdir())
