"""One convention for command-line errors: a user error is one line on stderr and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.train import REPO, TINY_SPECS, make_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("cli") / "s", TINY_SPECS[:2]).root


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["describe-resolution", "train-threads", "train-limit", "analyze-no-out",
                                  "analyze-out-file", "analyze-missing-dir", "sample-bad-n", "describe-model"])
def test_user_errors_are_one_line_and_exit_2(case: str, sweep: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    args, expect = {
        "describe-resolution": (("designspace.describe", "model=RegNetX-200MF", "resolution=-1"), "resolution=-1"),
        "describe-model": (("designspace.describe", "model=RegNetQ"), "RegNetQ"),
        "train-threads": (("designspace.train", f"sweep_dir={sweep}", "threads=abc"), "threads=abc: not an integer"),
        "train-limit": (("designspace.train", f"sweep_dir={sweep}", "limit=-3"), "limit=-3"),
        "analyze-no-out": (("designspace.analyze", f"sweep_dirs=[{sweep}]"), "out=DIR is required"),
        "analyze-out-file": (("designspace.analyze", f"sweep_dirs=[{sweep}]", f"out={afile}"), "is a file"),
        "analyze-missing-dir": (("designspace.analyze", f"sweep_dirs=[{tmp_path / 'nope'}]", f"out={tmp_path / 'r'}"),
                                "not a sweep directory"),
        "sample-bad-n": (("designspace.sample", "space=anynetx_a", "n=-1", f"sweep_dir={tmp_path / 'x'}"), "n="),
    }[case]
    proc = _run(*args)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and expect in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_sample_help_works_without_a_space() -> None:
    proc = _run("designspace.sample", "--help")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "python -m designspace.sample space=" in proc.stdout and "anynetx_c" in proc.stdout


@pytest.mark.parametrize("case", ["unknown-option", "unknown-key", "bad-override", "malformed-file",
                                  "missing-file", "train-unknown-key", "spaces-unknown"])
def test_hydra_errors_are_one_line_and_exit_2(case: str, sweep: Path, tmp_path: Path) -> None:
    """Hydra's own errors (composition, overrides, YAML) follow the same rule as the commands' errors."""
    bad = tmp_path / "my_space.yaml"
    bad.write_text("name: mine\nfamily: anynet\nparameters:\n  d: {dist: log_uniform\n  w: 3\n")
    args, expect = {
        "unknown-option": (("designspace.sample", "space=anynetx_q", "n=2"), "anynetx_a"),  # lists the options
        "unknown-key": (("designspace.sample", "space=anynetx_a", "n=2", "colour=red"), "colour"),
        "bad-override": (("designspace.describe", "model=[RegNetX"), "model=[RegNetX"),
        "malformed-file": (("designspace.sample", f"space={bad}", "n=2"), f"{bad}:5:"),  # file and line
        "missing-file": (("designspace.sample", f"space={tmp_path / 'nope.yaml'}", "n=2"), "no such file"),
        "train-unknown-key": (("designspace.train", f"sweep_dir={sweep}", "epochs=3"), "epochs"),
        "spaces-unknown": (("designspace.spaces", "spaces=[anynetx_q]"), "anynetx_q"),
    }[case]
    proc = _run(*args)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and expect in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_a_space_file_outside_the_config_groups_is_sampled(tmp_path: Path) -> None:
    """`space=PATH.yaml`: a file of your own (here inheriting a built-in space) is composed by Hydra like a group
    option, its `defaults` resolved; the table matches the same space loaded from Python."""
    import pandas as pd

    from designspace.space.sampler import sample

    mine = tmp_path / "narrow.yaml"
    mine.write_text("defaults: [anynetx_c, _self_]\nname: narrow\nconstraints:\n  bounds: {total_depth: [8, 16]}\n")
    out = tmp_path / "t.csv"
    proc = _run("designspace.sample", f"space={mine}", "n=12", "budget=fmnist_tiny", f"out={out}", "progress=false")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert table["total_depth"].between(8, 16).all()
    expected = sample(str(mine), 12, 0, "fmnist_tiny", progress=False)
    assert list(table["model_id"]) == list(expected["model_id"])


@pytest.mark.parametrize("case", ["sweep-dir-file", "out-under-file", "out-unwritable", "list-with-commas",
                                  "misspelt-parent"])
def test_path_and_config_mistakes_name_the_key_and_the_fix(case: str, tmp_path: Path) -> None:
    """Not the raw `[Errno 17]` / `[Errno 2]` text, Hydra's multirun hint or its internal `space/file-...` path:
    one line naming the key (or the file) and what to write instead."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    child = tmp_path / "mine.yaml"
    child.write_text("defaults:\n  - anynetx_f\n  - _self_\nname: mine\n")
    sample = ("designspace.sample", "space=anynetx_a", "n=2", "progress=false")
    args, expect = {
        "sweep-dir-file": ((*sample, f"sweep_dir={afile}"), f"sweep_dir={afile}: {afile} is a file, not a folder"),
        "out-under-file": ((*sample, f"out={afile}/t.parquet"), f"out={afile}/t.parquet: {afile} is a file"),
        "out-unwritable": ((*sample, "out=/proc/t.parquet"), "out=/proc/t.parquet: cannot write /proc"),
        "list-with-commas": (("designspace.analyze", "sweep_dirs=a,b", "out=r"), "sweep_dirs=a,b: a list is written "
                             "in brackets, sweep_dirs=[a,b]"),
        "misspelt-parent": (("designspace.sample", f"space={child}", "n=2", f"out={tmp_path / 't.csv'}"),
                            f"{child}: defaults: no space 'anynetx_f' (a parent is one of the spaces: anynetr_a, "
                            "anynetx_a,"),
    }[case]
    proc = _run(*args)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert not any(bad in lines[0] for bad in ("Errno", "--multirun", "space/file-", "Traceback")), lines[0]
