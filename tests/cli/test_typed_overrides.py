"""Overrides of the schedule, dataset, budget and space groups and of the run options are type-checked by Hydra
(structured configs): a bad value or an added key is one line naming the key, exit status 2; so is one in a space
file; the shipped configs compose unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from designspace.cli._structured import register
from designspace.configs import CONFIG_DIR

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("typed")
    proc = subprocess.run([sys.executable, "-m", "designspace.sample", "space=anynetx_a", "n=1", "budget=fmnist_tiny",
                           "sweep_dir=s", "progress=false"], cwd=root, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.mark.parametrize(("args", "named"), [
    (("designspace.train", "sweep_dir=s", "schedule.lr=abc"), "schedule.lr=abc: not a number"),
    (("designspace.train", "sweep_dir=s", "schedule.epochs=1.5"), "schedule.epochs=1.5: not an integer"),
    (("designspace.train", "sweep_dir=s", "dataset.resolution=big"), "dataset.resolution=big"),
    (("designspace.train", "sweep_dir=s", "schedule.nesterov=maybe"), "schedule.nesterov=maybe"),
    (("designspace.sample", "space=anynetx_a", "n=1", "budget.resolution=abc"), "budget.resolution=abc"),
    (("designspace.reproduce", "schedule.batch_size=x"), "schedule.batch_size=x"),
    (("designspace.train", "sweep_dir=s", "+anything=1"), "+anything=1"),
    (("designspace.train", "sweep_dir=s", "+schedule.anything=1"), "+schedule.anything=1"),
    (("designspace.sample", "space=anynetx_a", "n=1", "++budget.colour=red"), "++budget.colour=red"),
    (("designspace.train", "sweep_dir=s", "schedule.lrr=0.1"), "schedule.lrr: no such key (known: name, epochs,"),
    (("designspace.sample", "space=anynetx_a", "n=1", "space.num_stages=four"),
     "space.num_stages=four: not an integer"),
    (("designspace.sample", "space=anynetx_a", "n=1", "space.constraints.bounds.depth=[1,2]"),
     "space.constraints.bounds.depth: no such key (known: total_depth, flops, params, acts, e_fit,"),
    (("designspace.sample", "space=anynetx_a", "n=1", "space.parameters.w.quantm=8"),
     "space.parameters.w.quantm: no such key (known: dist, low, high, quantum, values)"),
    (("designspace.sample", "space=anynetx_a", "n=1", "space.constraints.shared=b"),
     "space.constraints.shared=b: not a list; write space.constraints.shared=[b]"),
    (("designspace.train", "sweep_dir=s", "breaker=often"), "breaker=often: not an integer"),
    (("designspace.train", "sweep_dir=s", "seed=null"), "seed=null: seed takes a value, not null"),
    (("designspace.compare", "checkpoint_every_s=soon"), "checkpoint_every_s=soon: not a number"),
    (("designspace.reproduce", "retry_failed=maybe"), "retry_failed='maybe' must be true or false"),
])
def test_a_bad_override_is_one_line_naming_the_key(args: tuple[str, ...], named: str, sweep: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=sweep, env=ENV, capture_output=True, text=True,
                          timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert "use +" not in lines[0]  # not Hydra's advice to add the key


def _composed(config: str, overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    register()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config, overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.parametrize("group", ["schedule", "dataset", "budget"])
def test_every_shipped_option_composes_to_its_file_values(group: str) -> None:
    """The typed schema changes no value, so no setup id changes; integers written where a float is meant come
    back as floats (paper_100ep's warmup_epochs: 5, the only one)."""
    config = "sample" if group == "budget" else "train"
    changed = []
    for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
        extra = ["space=anynetx_a"] if config == "sample" else []
        got = _composed(config, [f"{group}={path.stem}", *extra])[group]
        want = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != "defaults"}
        assert {k: got[k] for k in want} == want, path.name
        if json.dumps({k: got[k] for k in want}, sort_keys=True) != json.dumps(want, sort_keys=True):
            changed.append(path.stem)
    assert changed == (["paper_100ep"] if group == "schedule" else [])


def test_good_overrides_keep_their_types() -> None:
    cfg = _composed("train", ["schedule.lr=0.5", "schedule.train_subset=null", "dataset.mean=[0.1]"])
    assert cfg["schedule"]["lr"] == 0.5 and cfg["schedule"]["train_subset"] is None
    assert cfg["dataset"]["mean"] == [0.1] and isinstance(cfg["schedule"]["epochs"], int)


@pytest.mark.parametrize(("text", "named"), [
    ("paramters: {}\n", "space.paramters: no such key (known: name, description, family, num_stages,"),
    ("num_stages: four\n", "space.num_stages=four: not an integer"),
    ("fixed: {se_ratio: high}\n", "space.fixed.se_ratio=high: not a number"),
])
def test_a_bad_key_in_a_space_file_is_one_line_naming_the_file(text: str, named: str, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(f"defaults: [anynetx_a, _self_]\nname: mine\n{text}")
    proc = subprocess.run([sys.executable, "-m", "designspace.sample", f"space={path}", "n=1", "out=t.csv"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert f"{path}: {named}" in lines[0] and "Schema" not in lines[0], lines[0]


def test_run_options_keep_their_types() -> None:
    cfg = _composed("train", ["threads=3", "checkpoint_every_s=0", "limit=null", "breaker=0"])
    assert (cfg["threads"], cfg["checkpoint_every_s"], cfg["limit"], cfg["breaker"]) == (3, 0.0, None, 0)
    assert type(cfg["threads"]) is int and type(cfg["checkpoint_every_s"]) is float
