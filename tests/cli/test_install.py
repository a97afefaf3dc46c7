"""A plain (not editable) install runs every command from any directory: configs ship as package data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The package built as a wheel and installed into a folder of its own (dependencies: this venv's)."""
    import shutil

    target = tmp_path_factory.mktemp("site")
    # built from a copy without the checkout's build/ folder, whose stale files setuptools would ship too
    source = tmp_path_factory.mktemp("src") / "designspace"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        "build", ".venv", "*.egg-info", ".git", "runs", "sweeps", "__pycache__", ".pytest_cache"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(source)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, f"{args}: {proc.stderr[-2000:]}"
    return proc


@pytest.mark.slow
def test_a_plain_install_runs_every_command_from_anywhere(installed, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(installed, work, "-c", "import designspace, designspace.configs as c; print(designspace.__file__); "
                 "print(c.CONFIG_DIR)").stdout.split()
    assert all(not p.startswith(str(REPO)) for p in where), where  # the installed copy, not the checkout
    site = Path(installed["PYTHONPATH"])
    assert not (site / "models").exists()  # models/ (exported configs) is not installed as a package
    assert (site / "designspace" / "py.typed").is_file()
    assert any((p / "LICENSE").is_file() or (p / "licenses" / "LICENSE").is_file() for p in site.glob("designspace-*"))
    assert "AnyNet" in _run(installed, work, "-c", "from designspace import build_model, zoo; "
                            "print(type(build_model(zoo.get('RegNetX-200MF'))).__name__)").stdout
    assert _run(installed, work, "-m", "designspace", "--version").stdout.strip() == "designspace 0.1.0"
    assert "RegNetX-200MF" in _run(installed, work, "-m", "designspace.describe", "model=RegNetX-200MF").stdout
    assert "anynetx_c" in _run(installed, work, "-m", "designspace.spaces", "spaces=[anynetx_c]").stdout
    _run(installed, work, "-m", "designspace.sample", "space=anynetx_c", "n=3", "budget=fmnist_tiny",
         "sweep_dir=s", "progress=false")
    _run(installed, work, "-m", "designspace.train", "sweep_dir=s", "threads=1", "progress=false",
         "schedule.train_subset=256", "schedule.test_subset=100", "schedule.precise_bn_samples=0")
    _run(installed, work, "-m", "designspace.analyze", "sweep_dirs=[s]", "out=r", "formats=[png]", "draws=100")
    assert (work / "r" / "report.md").is_file() and len(list((work / "s" / "results").glob("*.json"))) == 3
    listed = _run(installed, work, "-m", "designspace.reproduce", "--help").stdout
    assert "experiment" in listed
    # every guide a message or a --help cites exists where the install put it
    cited = _cited_guides()
    assert cited and all((site / "designspace" / "docs" / name).is_file() for name in cited), cited
    packs = _run(installed, work, "-m", "designspace.train", "--help").stdout
    assert str(site / "designspace" / "docs" / "packs.md") in packs


def _cited_guides() -> set[str]:
    """The docs/*.md the package's code and configs name."""
    import re

    text = "".join(p.read_text() for p in (REPO / "designspace").rglob("*") if p.suffix in (".py", ".yaml"))
    return set(re.findall(r"docs/([\w-]+\.md)", text))
