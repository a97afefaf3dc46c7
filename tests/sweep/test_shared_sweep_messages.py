"""Messages (issue 19, items 4 and 12): user errors have their own class and are one line with exit status 2; a
library's ValueError is a bug with its traceback; config values of the wrong type or range are refused before
anything is trained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from designspace.sweep.options import RunOptions
from designspace.sweep.runner import run_sweep
from designspace.training.data import DatasetConfig
from designspace.training.schedule import Schedule
from tests.helpers.train import REPO, TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep

QUICK = {**TINY_SCHEDULE, "train_subset": 256, "test_subset": 100, "precise_bn_samples": 0}
BAD_SCHEDULE = {"batch_size": 1e3, "epochs": 2.5, "train_subset": 0, "lr": float("inf"), "test_subset": -1,
                "momentum": "0.9", "nesterov": "no"}
BAD_DATASET = {"workers": -1, "stem_stride": 0, "num_classes": 0, "resolution": 28.5, "flip": "no"}


def _raise(kind: str) -> None:
    if kind == "LinAlgError":
        np.linalg.inv(np.zeros((2, 2)))
    elif kind == "MergeError":
        pd.DataFrame({"k": [1, 1]}).merge(pd.DataFrame({"k": [1, 1]}), on="k", validate="one_to_one")
    elif kind == "JSONDecodeError":
        json.loads("{broken")
    raise AssertionError("did not raise")


@pytest.mark.parametrize("kind", ["LinAlgError", "MergeError", "JSONDecodeError"])
def test_a_library_value_error_is_a_bug_not_a_user_error(kind: str) -> None:
    from designspace.util.usage import is_user_error

    with pytest.raises(ValueError) as info:
        _raise(kind)
    assert type(info.value).__name__ == kind and not is_user_error(info.value)


def test_user_errors_have_their_own_class() -> None:
    from designspace.sweep.layout import SamplesError, SweepNotWritable
    from designspace.sweep.setups import SetupMismatch
    from designspace.util.usage import UserError, is_user_error

    for cls in (SamplesError, SweepNotWritable, SetupMismatch):
        assert issubclass(cls, UserError)
    assert is_user_error(UserError("bad value")) and is_user_error(FileNotFoundError("no such file"))
    with pytest.raises(ValueError) as info:
        Schedule.from_dict({"epochs": 0})
    assert isinstance(info.value, UserError)


def test_a_library_value_error_in_a_command_keeps_its_traceback(tmp_path: Path) -> None:
    script = ("import numpy as np\nfrom designspace.cli import _hydra\n"
              "_hydra.run('spaces', 'prog', lambda cfg: np.linalg.inv(np.zeros((2, 2))))\n")
    proc = subprocess.run([sys.executable, "-c", script, f"hydra.run.dir={tmp_path}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "LinAlgError" in proc.stderr, proc.stderr


@pytest.mark.parametrize("key", list(BAD_SCHEDULE))
def test_schedule_values_of_the_wrong_type_or_range_are_refused(key: str) -> None:
    from designspace.util.usage import UserError

    with pytest.raises(UserError, match=rf"schedule 'custom': .*{key}="):
        Schedule.from_dict({key: BAD_SCHEDULE[key]})


@pytest.mark.parametrize("key", list(BAD_DATASET))
def test_dataset_values_of_the_wrong_type_or_range_are_refused(key: str) -> None:
    from designspace.util.usage import UserError

    cfg = {**bundled_fmnist(), key: BAD_DATASET[key]}
    with pytest.raises(UserError, match=rf"dataset 'fashion_mnist': .*{key}="):
        DatasetConfig.from_dict(cfg)


@pytest.mark.parametrize("key", ["batch_size", "epochs", "train_subset", "lr", "workers", "stem_stride"])
def test_a_bad_config_value_trains_nothing_and_records_nothing(tmp_path: Path, key: str) -> None:
    """Before the fix each of these made every model of the shard `failed` within seconds."""
    from designspace.util.usage import UserError

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    schedule, dataset = dict(QUICK), bundled_fmnist()
    if key in BAD_SCHEDULE:
        schedule[key] = BAD_SCHEDULE[key]
    else:
        dataset[key] = BAD_DATASET[key]
    with pytest.raises(UserError, match=key):
        run_sweep(sweep, dataset, schedule, RunOptions(threads=1, progress=False))
    assert sweep.result_ids() == set()


def test_num_classes_zero_is_not_read_as_ten() -> None:
    from designspace.training.data import load_dataset
    from designspace.util.usage import UserError

    with pytest.raises(UserError, match="num_classes=0"):
        load_dataset({**bundled_fmnist(), "num_classes": 0})


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "designspace.train", f"dataset.root={bundled_fmnist()['root']}",
                           "threads=1", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, expect", [(("retry_failed=no",), "retry_failed='no' must be true or false"),
                                          (("schedule.batch_size=1e3",), "schedule.batch_size=1000.0: not an integer"),
                                          (("claim_timeout_s=0",), "claim_timeout_s=0")])
@pytest.mark.slow
def test_bad_train_options_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], expect: str) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    proc = _cli(f"sweep_dir={sweep.root}", "progress=false", *args)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and expect in lines[0], proc.stderr
    assert sweep.result_ids() == set()
