"""Small things a user hit: a typo in reproduce's run options, analyze's default title, describe on a table
without model ids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


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


@pytest.mark.slow
def test_help_lists_every_key_with_its_type_and_installed_paths() -> None:
    import re

    from designspace.configs import CONFIG_DIR

    res = run("designspace.train", "--help")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert any(re.match(r"\s+schedule\.lr=\S+\s+float\b", line) for line in lines)
    assert any(re.match(r"\s+dataset\.root=null\s+str\|null", line) for line in lines)
    assert any(re.match(r"\s+checkpoint_every_s=60.0\s+float\|null\s", line) for line in lines)
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


@pytest.mark.slow
def test_a_tour_model_exports_on_the_imagenet_stem_and_pycls_builds_it(tmp_path: Path) -> None:
    """A Fashion-MNIST model (1 channel, stem stride 1, 10 classes) goes to pycls and timm on their ImageNet stem,
    saying so; pycls's own complexity of the exported config is ours for that stem. pycls is installed by
    `make setup` (--no-deps); where it is not, the pycls half is skipped."""
    import dataclasses

    import pytest
    import yaml

    from designspace.net.complexity import complexity
    from designspace.space.sampler import spec_of
    from designspace.sweep.layout import SweepDir

    sweep = tmp_path / "tour"
    assert run("designspace.sample", "space=anynetx_c", "n=3", "budget=fmnist_tiny", f"sweep_dir={sweep}",
               "progress=false").returncode == 0
    row = SweepDir(sweep).read_samples().iloc[0]
    spec = spec_of(row)
    assert (spec.in_channels, spec.stem_stride, spec.num_classes) == (1, 1, 10)
    target = dataclasses.replace(spec, in_channels=3, stem_stride=2, num_classes=1000)
    for lib in ("timm", "pycls"):
        res = run("designspace.describe", f"sweep_dir={sweep}", f"model_id={row['model_id']}", f"export={lib}")
        assert res.returncode == 0, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "ImageNet stem" in res.stderr
    form = yaml.safe_load(res.stdout)
    assert form["MODEL"]["NUM_CLASSES"] == 1000 and form["ANYNET"]["STEM_TYPE"] == "simple_stem_in"
    anynet = pytest.importorskip("pycls.models.anynet", reason="pycls is not installed (make setup installs it)")
    a = form["ANYNET"]
    cx = anynet.AnyNet.complexity({"h": 224, "w": 224, "flops": 0, "params": 0, "acts": 0},
                                  stem_type=a["STEM_TYPE"], stem_w=a["STEM_W"], block_type=a["BLOCK_TYPE"],
                                  ds=a["DEPTHS"], ws=a["WIDTHS"], ss=a["STRIDES"], bms=a["BOT_MULS"],
                                  gws=a["GROUP_WS"], se_r=a["SE_R"] if a["SE_ON"] else None, nc=1000)
    ours = complexity(target, 224)
    assert (cx["flops"], cx["params"], cx["acts"]) == (ours.flops, ours.params, ours.acts)
    # set fields are honoured, not ignored
    res = run("designspace.describe", f"sweep_dir={sweep}", f"model_id={row['model_id']}", "stem_stride=2",
              "in_channels=3")
    assert res.returncode == 0 and "224x224" in res.stdout.splitlines()[0]
