"""A sweep whose models bring their own lr and weight decay: each trains with its own values (in packs too), its
record says which, the pinned setup is everything else, and a row that does not match its id or makes an invalid
schedule never trains; setups of sweeps without sampled keys are as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from designspace.net.complexity import complexity
from designspace.net.spec import NetSpec
from designspace.space.hparams import model_id
from designspace.sweep import setups
from designspace.sweep.layout import SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.results import load, read_records
from designspace.sweep.runner import run_sweep
from designspace.sweep.setups import SetupMismatch
from designspace.training.schedule import Schedule
from designspace.util.usage import UserError
from tests.helpers.train import QUICK, TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, run_cli

SCHEDULE = {**TINY_SCHEDULE, "train_subset": 512, "test_subset": 200, "precise_bn_samples": 0}
"""8 steps, no warm-up: the first step's lr is the model's own lr exactly."""
VALUES = [{"lr": 0.05, "weight_decay": 1e-4}, {"lr": 0.2, "weight_decay": 1e-5}, {"lr": 0.1, "weight_decay": 5e-5}]
SPECS = [TINY_SPECS[0], TINY_SPECS[0], TINY_SPECS[1]]  # one network at two learning rates: two models

pytestmark = pytest.mark.usefixtures("one_thread")


def hparam_sweep(root: Path, specs: list[NetSpec], values: list[dict[str, float]]) -> SweepDir:
    """A samples table as `sample ... hparams.lr=... hparams.weight_decay=...` writes it, with these values."""
    rows = []
    for spec, hp in zip(specs, values):
        cx = complexity(spec, 224)
        rows.append({**spec.to_row(), "model_id": model_id(spec.id, hp), "flops": cx.flops, "params": cx.params,
                     "acts": cx.acts, **hp})
    sweep = SweepDir(root)
    sweep.write_samples(pd.DataFrame(rows), "space: test\nhparams:\n  lr: [0.05, 0.8]\n")
    return sweep


def _options(**kwargs) -> RunOptions:
    return RunOptions(**{"progress": False, "device": "cpu", "threads": 1, **kwargs})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SweepDir:
    sweep = hparam_sweep(tmp_path_factory.mktemp("hp") / "s", SPECS, VALUES)
    assert run_sweep(sweep, bundled_fmnist(), Schedule.from_dict(SCHEDULE), _options(pack=3)).ok == 3
    return sweep


def test_each_model_trains_with_its_own_values_and_says_so(trained: SweepDir) -> None:
    records = read_records(trained)
    samples = trained.read_samples()
    assert sorted(records) == sorted(samples["model_id"]) and len(set(samples["model_id"])) == 3
    for _, row in samples.iterrows():
        rec = records[row["model_id"]]
        own = {"lr": row["lr"], "weight_decay": row["weight_decay"]}
        assert rec["hparams"] == own and {k: rec["schedule"][k] for k in own} == own
        assert rec["epochs"][0]["lr"] == own["lr"]  # cosine at 0, no warm-up: the model's lr itself
        assert rec["spec"] == NetSpec.from_row(row).to_dict() and rec["pack"] == 3


def test_the_pinned_setup_is_everything_but_the_sampled_keys(trained: SweepDir) -> None:
    pinned = json.loads(trained.setup_path.read_text())["setup"]
    assert pinned["sampled"] == ["lr", "weight_decay"]
    full = Schedule.from_dict(SCHEDULE).to_dict()
    assert pinned["schedule"] == {k: v for k, v in full.items() if k not in ("lr", "weight_decay")}
    assert {r["setup_id"] for r in read_records(trained).values()} == {setups.setup_id(pinned)}
    table = load(trained)
    assert table.attrs["setup_id"] == setups.setup_id(pinned) and "lr and weight_decay sampled" in table.attrs["setup"]
    assert table["lr"].tolist() == [v["lr"] for v in VALUES] and (table["status"] == "ok").all()


def test_another_lr_in_the_schedule_is_the_same_setup_another_batch_size_is_not(trained: SweepDir,
                                                                                tmp_path: Path) -> None:
    copy = SweepDir(shutil.copytree(trained.root, tmp_path / "copy"))
    summary = run_sweep(copy, bundled_fmnist(), Schedule.from_dict({**SCHEDULE, "lr": 0.3, "weight_decay": 0.0}),
                        _options())
    assert summary.already_done == 3 and summary.trained == 0
    with pytest.raises(SetupMismatch, match="batch_size"):
        run_sweep(copy, bundled_fmnist(), Schedule.from_dict({**SCHEDULE, "batch_size": 32}), _options())


def test_a_row_with_an_invalid_value_stops_the_run_before_any_write(tmp_path: Path) -> None:
    sweep = hparam_sweep(tmp_path / "s", TINY_SPECS[:2], [{"lr": 0.1}, {"lr": 0.1, "momentum": 1.5}])
    with pytest.raises(UserError, match=r"samples\.parquet, row 1: its sampled lr, momentum make an invalid schedule"):
        run_sweep(sweep, bundled_fmnist(), Schedule.from_dict(SCHEDULE), _options())
    assert sorted(p.name for p in sweep.root.iterdir()) == ["config.yaml", "samples.parquet"]


def test_a_row_whose_values_were_changed_without_its_id_is_skipped(tmp_path: Path, caplog) -> None:
    sweep = hparam_sweep(tmp_path / "s", TINY_SPECS[:2], [{"lr": 0.1}, {"lr": 0.1}])
    frame = sweep.read_samples()
    frame.loc[1, "lr"] = 0.4  # edited by hand: the id no longer says what would be trained
    sweep.write_samples(frame, "space: test\n")
    summary = run_sweep(sweep, bundled_fmnist(), Schedule.from_dict(SCHEDULE), _options())
    assert summary.bad_rows == 1 and summary.ok == 1 and list(read_records(sweep)) == [frame["model_id"][0]]
    assert f"is not the id of the row's model ({model_id(TINY_SPECS[1].id, {'lr': 0.4})})" in caplog.text


def test_setups_without_sampled_keys_are_written_as_before() -> None:
    data = {"name": "fashion_mnist", "resolution": 28}
    plain = setups.make_setup(data, SCHEDULE, 0)
    assert set(plain) == {"dataset", "schedule", "seed"} and plain == setups.make_setup(data, SCHEDULE, 0, sampled=())
    assert plain["schedule"] == Schedule.from_dict(SCHEDULE).to_dict()
    record = {"dataset": data, "schedule": SCHEDULE, "seed": 0, "device": "cpu"}
    assert setups.record_setup(record) == plain
    assert setups.record_setup({**record, "hparams": "not a mapping"}) == plain  # a hostile record: no keys dropped


@pytest.mark.slow
def test_packed_records_equal_one_model_at_a_time(trained: SweepDir, tmp_path: Path) -> None:
    alone = hparam_sweep(tmp_path / "alone", SPECS, VALUES)
    assert run_sweep(alone, bundled_fmnist(), Schedule.from_dict(SCHEDULE), _options(pack=1)).ok == 3

    def essence(rec: dict) -> tuple:
        return (rec["final_error"], rec["hparams"], [(e["train_loss"], e["test_error"], e["lr"]) for e in rec["epochs"]])

    packed = read_records(trained)
    assert {k: essence(r) for k, r in read_records(alone).items()} == {k: essence(r) for k, r in packed.items()}


@pytest.mark.slow
def test_sample_and_train_from_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers.train import REPO

    sweep = tmp_path / "cli"
    sampled = subprocess.run([sys.executable, "-m", "designspace.sample", "space=regnet", "n=3", "budget=fmnist_tiny",
                              f"sweep_dir={sweep}", "hparams.lr=[0.05,0.8]", "hparams.weight_decay=[1e-5,1e-3]",
                              "progress=false"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert sampled.returncode == 0, sampled.stderr
    proc = run_cli(f"sweep_dir={sweep}", *QUICK, "schedule.train_subset=512", "schedule.test_subset=200", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sampled per model (the samples table): lr, weight_decay" in proc.stdout + proc.stderr
    table = load(sweep)
    records = read_records(sweep)
    assert (table["status"] == "ok").all() and len(records) == 3
    assert all(rec["schedule"]["lr"] == row["lr"] for (_, row), rec in
               zip(table.iterrows(), (records[m] for m in table["model_id"])))
