"""Small things a user hit: a typo in reproduce's run options, analyze's default title, describe on a table
without model ids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300)


def test_reproduce_checks_run_options_before_sampling(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = run("designspace.reproduce", "experiment=smoke", f"out={out}", "checkpoint_every_s=60s", "progress=false")
    assert res.returncode == 2 and "checkpoint_every_s" in res.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_the_default_report_title_has_no_comment_in_it() -> None:
    from hydra import compose, initialize_config_dir

    from designspace.configs import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("analyze", overrides=["sweep_dirs=[x]"])
    assert cfg.title == "Design-space analysis"


def test_describe_a_table_without_model_ids(tmp_path: Path) -> None:
    from designspace.sweep.layout import SweepDir

    SweepDir(tmp_path / "s").write_samples(pd.DataFrame({"d1": [1]}), "space: x\n")
    res = run("designspace.describe", f"sweep_dir={tmp_path / 's'}", "model_id=abc")
    assert res.returncode == 2 and "no model_id column" in res.stderr and "Traceback" not in res.stderr


def test_help_lists_every_key_with_its_type_and_installed_paths() -> None:
    import re

    from designspace.configs import CONFIG_DIR

    res = run("designspace.train", "--help")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert any(re.match(r"\s+schedule\.lr=\S+\s+float\b", line) for line in lines)
    assert any(re.match(r"\s+dataset\.root=null\s+str\|null", line) for line in lines)
    assert any(re.match(r"\s+checkpoint_every_s=60\s+float\|null\s", line) for line in lines)
    assert any(re.match(r"\s+pack=1\s+int\s", line) for line in lines)
    assert f"{CONFIG_DIR}/train.yaml" in res.stdout and " configs/train.yaml" not in res.stdout
    sample = run("designspace.sample", "--help").stdout
    assert re.search(r"\s+budget\.flops=\S+\s+list", sample) or "budget." in sample


def test_notebooks_are_written_from_the_package(tmp_path: Path) -> None:
    from designspace.cli.notebooks import shipped

    dest = tmp_path / "nb"
    first = run("designspace.notebooks", f"dest={dest}")
    assert first.returncode == 0, first.stderr
    names = sorted(p.name for p in shipped())
    assert names == ["edf_comparison.ipynb", "width_rule.ipynb"]
    assert sorted(p.name for p in dest.iterdir()) == names
    assert all((dest / p.name).read_bytes() == p.read_bytes() for p in shipped())
    (dest / names[0]).write_text("mine")
    again = run("designspace.notebooks", f"dest={dest}")
    assert again.returncode == 2 and "overwrite=true" in again.stderr and (dest / names[0]).read_text() == "mine"
    assert run("designspace.notebooks", f"dest={dest}", "overwrite=true").returncode == 0
    assert (dest / names[0]).read_bytes() == shipped()[0].read_bytes()
