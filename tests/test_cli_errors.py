"""One convention for command-line errors: a user error is one line on stderr and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import REPO, TINY_SPECS, make_sweep


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
        "train-threads": (("designspace.train", f"sweep_dir={sweep}", "threads=abc"), "threads='abc'"),
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
