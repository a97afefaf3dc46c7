"""The commands on files a hostile collaborator planted (issue 36), as a user runs them: a report is written with
one warning line per damaged file, or the command stops with one line and exit status 2 - never a traceback, a
hang, memory without bound, a file written outside the sweep, or forged content in the report or on the terminal."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.hostile import ALIAS_BOMB, NESTED_JSON, named_sweep, plant_fifo
from tests.helpers.html import problems
from tests.helpers.train import REPO, TINY_SPECS, make_sweep, run_cli

HOSTILE_NAME = '=HYPERLINK("http://evil")$^$\n# Verdict: reproduced\r\u2028![t](//host/x.png) ' + "x" * 300
"""Every shape of issue 36 at once: a formula, mathtext, line breaks forging a heading, a fetch from another host,
and 300 characters."""


def _bounded_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))  # a read without end fails, not the machine


def _command(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_bounded_memory)


@pytest.mark.slow
def test_analyze_a_sweep_no_file_in_it_can_stop(tmp_path: Path) -> None:
    hostile = named_sweep(tmp_path / "a", HOSTILE_NAME)
    records = hostile.record_files()
    records[0].write_text(NESTED_JSON)
    records[1].unlink()
    plant_fifo(records[1])
    records[2].unlink()
    os.symlink("/dev/zero", records[2])
    bomb = named_sweep(tmp_path / "b", "fine")
    bomb.write_samples(bomb.read_samples(), ALIAS_BOMB)  # the table's embedded copy and config.yaml
    out = tmp_path / "r"
    res = _command("designspace.analyze", f"sweep_dirs=[{hostile.root},{bomb.root}]", f"out={out}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    for path, why in ((records[0], "nested 1000 levels deep"), (records[1], "a FIFO"), (records[2], "a character "
                                                                                                      "device"),
                      (bomb.samples_path, "aliases expand")):
        assert any(str(path) in line and why in line for line in res.stderr.splitlines()), (path, res.stderr[-3000:])
    page = (out / "report.html").read_text()
    assert problems(page) == [] and page.count("<h1") == 1 and "Verdict: reproduced" in page
    assert "//host" not in "".join(part.split('"', 1)[0] for part in page.split('src="')[1:])
    assert all(len(p.name) < 200 for p in (out / "figures").iterdir()) and len(list((out / "figures").iterdir())) > 4
    summary = pd.read_csv(out / "data" / "summary.csv")
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in summary["space"])
    assert not any(line.lstrip().startswith("# Verdict") for line in res.stdout.splitlines())


@pytest.mark.slow
def test_analyze_a_malformed_nds_file_is_one_line_naming_it(tmp_path: Path) -> None:
    nds = tmp_path / "nds"
    nds.mkdir()
    (nds / "ResNeXt-A.json").write_text(json.dumps([{"net": {"ds": 5, "ws": [16]}, "min_test_top1": 10}]))
    res = _command("designspace.analyze", f"nds.dir={nds}", f"out={tmp_path / 'r'}", timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.count("\n") == 1 and str(nds / "ResNeXt-A.json") in res.stderr and "not NDS data" in res.stderr


@pytest.mark.slow
def test_train_on_a_setup_nested_a_thousand_levels_deep_is_one_line(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    sweep.setup_path.write_text('{"setup": ' + NESTED_JSON + "}")
    res = run_cli(f"sweep_dir={sweep.root}")
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and f"{sweep.setup_path} is damaged (JSON nested" in res.stderr


@pytest.mark.slow
def test_sample_never_follows_a_link_planted_as_its_lock(tmp_path: Path) -> None:
    sweep = tmp_path / "s"
    sweep.mkdir()
    outside = tmp_path / "created-for-the-planter"
    os.symlink(outside, sweep / ".sample.lock")
    res = _command("designspace.sample", "space=anynetx_c", "n=5", "budget=fmnist_tiny", f"sweep_dir={sweep}",
                   "progress=false", timeout=120)
    assert res.returncode == 2 and "is a symbolic link" in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not outside.exists()


def test_hydra_logs_go_only_where_no_one_else_can_write(tmp_path: Path, monkeypatch) -> None:
    """Hydra opens its log files following links: a sweep (or its logs/) that others can write gets no logs, which
    go to the private folder instead; the user's own sweep keeps them."""
    import tempfile

    from designspace.cli.train import log_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    (tmp_path / "tmp").mkdir()
    private = tmp_path / "tmp" / f"designspace-logs-{os.getuid()}" / "train"
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    os.chmod(sweep.root, 0o755)
    assert log_dir(str(sweep.root), "train") == str(sweep.root.resolve() / "logs" / "train")
    os.chmod(sweep.root, 0o775)  # a shared sweep: a group member could plant logs/train/<time>/train.log -> anywhere
    assert log_dir(str(sweep.root), "train") == str(private)
    os.chmod(sweep.root, 0o755)
    os.rename(sweep.logs_dir, tmp_path / "old-logs")
    os.symlink(tmp_path / "elsewhere", sweep.logs_dir)  # logs/ itself a link
    assert log_dir(str(sweep.root), "train") == str(private) and not (tmp_path / "elsewhere").exists()
