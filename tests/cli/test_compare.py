"""`python -m designspace.compare`: two sweeps trained alternately until decided, as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from designspace.studies.decide import random_order
from designspace.sweep.results import read_records
from tests.helpers.train import QUICK, TINY_SPECS, make_sweep, run_compare


@pytest.mark.slow
def test_compare_trains_alternately_in_a_random_order_and_resumes(tmp_path: Path) -> None:
    a, b = make_sweep(tmp_path / "a", TINY_SPECS[:3]), make_sweep(tmp_path / "b", TINY_SPECS[3:])
    out = tmp_path / "out"
    res = run_compare(f"sweep_dirs=[{a.root},{b.root}]", "max_models=2", f"out={out}", *QUICK)
    assert res.returncode == 0, res.stderr[-2000:]
    # two pairs cannot decide at alpha 0.05: it stops at the cap, and says so
    said = [line for line in res.stdout.splitlines() if not line.startswith("[")]  # the command's lines, not logs
    assert said[0] == "a vs b undecided (after 2 pair(s) of 2 at most)"
    # one line per model trained (its result), none of the run's own (sweep, data, pack, shard finished)
    logs = [line for line in (res.stdout + res.stderr).splitlines() if "designspace.sweep.runner" in line]
    assert len(logs) == 4 and all(" ok: error " in line for line in logs)
    for sweep in (a, b):  # the first two of each sweep's random order, and nothing else
        assert set(read_records(sweep)) == set(random_order(sweep, 0)[:2])
    looks = [line for line in res.stderr.splitlines() if line.startswith("compare: ")]
    assert [line.split(";")[0] for line in looks] == [f"compare: a {i}, b {i} trained" for i in range(3)]
    summary = json.loads((out / "compare.json").read_text())
    history = pd.read_csv(out / "compare.csv")
    assert summary["decision"] == "undecided" and summary["pairs"] == 2 and list(history["n"]) == [1, 2]
    assert (out / "compare.png").stat().st_size > 10_000
    # the pairs recomputed from the records give the same wealth
    errs = {s: [read_records(sweep)[m]["final_error"] for m in random_order(sweep, 0)[:2]]
            for s, sweep in (("a", a), ("b", b))}
    from designspace.analysis.sequential import compare as seq

    assert seq(errs["a"], errs["b"]).wealth_b == summary["wealth_b"]
    stamps = {p.name: p.stat().st_mtime_ns for s in (a, b) for p in s.results_dir.iterdir()}
    again = run_compare(f"sweep_dirs=[{a.root},{b.root}]", "max_models=2", f"out={out}", *QUICK)
    def said(r: subprocess.CompletedProcess) -> list[str]:  # the command's own lines, not the logs
        return [line for line in r.stdout.splitlines() if not line.startswith("[")]

    assert again.returncode == 0 and said(again)[:3] == said(res)[:3] and "to train" not in again.stdout.replace(
        "0 to train", "")
    assert {p.name: p.stat().st_mtime_ns for s in (a, b) for p in s.results_dir.iterdir()} == stamps


def test_bad_input_is_refused_naming_it(tmp_path: Path) -> None:
    import pytest

    from designspace.studies.compare import CompareOptions, check_sweeps
    from designspace.util.usage import UserError

    a, b = make_sweep(tmp_path / "a", TINY_SPECS[:3]), make_sweep(tmp_path / "b", TINY_SPECS[3:])
    other = make_sweep(tmp_path / "other", TINY_SPECS[3:])
    other.write_samples(other.read_samples(), other.read_config_text() + "budget: {name: 400mf}\n")
    pinned = make_sweep(tmp_path / "pinned", TINY_SPECS[3:])
    from designspace.sweep import setups

    info = {"name": "fashion_mnist", "resolution": 28, "num_classes": 10, "train_size": 100, "test_size": 10}
    setups.pin(a, setups.make_setup(info, {"name": "t", "lr": 0.1}, 0))
    setups.pin(pinned, setups.make_setup(info, {"name": "t", "lr": 0.2}, 0))
    sweeps = {
        "exactly two": ([a.root], 1), "holds only 3": ([a.root, b.root], 4), "different budgets": ([b.root, other.root], 1),
        "different training setups": ([a.root, pinned.root], 2), "twice": ([a.root, a.root], 1),
        "not a sweep directory": ([a.root, tmp_path / "nothing"], 1),
    }
    for expected, (paths, n) in sweeps.items():
        with pytest.raises(UserError, match=expected):
            check_sweeps(paths, n)
    for kwargs, expected in (({"max_models": 0}, "max_models=0"), ({"max_models": 2, "margin": -0.5}, "margin=-0.5"),
                             ({"max_models": 2, "alpha": 1.0}, "alpha=1.0"), ({"max_models": True}, "max_models")):
        with pytest.raises(UserError, match=expected):
            CompareOptions(**kwargs)


@pytest.mark.slow
def test_the_command_says_it_in_one_line_and_exits_2(tmp_path: Path) -> None:
    a = make_sweep(tmp_path / "a", TINY_SPECS[:3])
    for args, expected in (([f"sweep_dirs=[{a.root}]"], "exactly two"),
                           ([f"sweep_dirs=[{a.root},{a.root}]", "margin=-1"], "margin=-1")):
        res = run_compare(*args)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and expected in lines[0], res.stderr[-1500:]
    assert not a.results_dir.exists() or not list(a.results_dir.iterdir())


@pytest.mark.parametrize("options", [("shard=1", "num_shards=2"), ("num_shards=2",), ("limit=3",)])
def test_the_options_that_pick_models_keep_their_defaults(options: tuple[str, ...], tmp_path: Path) -> None:
    """compare takes every run option, but the comparison picks the models it trains: shard, num_shards and limit
    are refused with the reason before anything is trained."""
    a, b = make_sweep(tmp_path / "a", TINY_SPECS[:3]), make_sweep(tmp_path / "b", TINY_SPECS[3:])
    res = run_compare(f"sweep_dirs=[{a.root},{b.root}]", "max_models=2", f"out={tmp_path / 'out'}", *options)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-1500:]
    assert f"{options[0]}: compare picks the models it trains, so shard, num_shards, limit keep their " in lines[0]
    assert not a.results_dir.exists() or not list(a.results_dir.iterdir())
