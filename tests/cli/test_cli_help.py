"""Every command's --help says what it does and names each of its keys with a line of its own; piped into a
reader that leaves at once, nothing is printed on stderr; `python -m designspace` lists the commands;
--version prints the version pyproject.toml declares."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
VERBS = ["sample", "train", "analyze", "describe", "spaces", "reproduce", "refine", "compare", "notebooks"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


def _declared_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert match
    return match.group(1)


@pytest.mark.parametrize("verb", VERBS)
def test_help_names_every_key_with_a_line_and_an_example(verb: str, tmp_path: Path) -> None:
    proc = _run("-m", f"designspace.{verb}", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    text = proc.stdout
    assert f"python -m designspace.{verb}" in text.splitlines()[0]  # what it does, with its usage
    config = yaml.safe_load((REPO / "designspace" / "configs" / f"{verb}.yaml").read_text())
    keys = [k for k in config if k not in ("defaults", "hydra")]
    lines = text.splitlines()
    for key in keys:
        line = next((ln for ln in lines if re.match(rf"  {re.escape(key)}(=|\s|$)", ln)), None)
        assert line is not None, f"{verb} --help does not name {key}"
        described = (line.split(None, 1) + [""])[1].strip()
        assert described or isinstance(config[key], dict), f"{verb} --help: {key} has no description"
    assert "Config groups" not in text or "options:" in text
    assert "_self_" not in text and "powered by hydra" not in text.lower() and "== Config" not in text  # not Hydra's dump


@pytest.mark.parametrize("verb", ["analyze", "describe", "train"])
def test_a_closed_pipe_is_not_a_traceback(verb: str, tmp_path: Path) -> None:
    for args in (["--help"], ["list=true"] if verb == "describe" else ["--help"]):
        proc = subprocess.run(f"{sys.executable} -m designspace.{verb} {' '.join(args)} | true", shell=True,
                              cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
        assert proc.stderr == "", proc.stderr


def test_python_m_designspace_lists_the_commands_and_runs_one(tmp_path: Path) -> None:
    listed = _run("-m", "designspace", cwd=tmp_path)
    assert listed.returncode == 0
    for verb in VERBS:
        assert re.search(rf"^  {verb}\s+\S", listed.stdout, re.M), verb
    described = _run("-m", "designspace", "describe", "model=RegNetX-200MF", cwd=tmp_path)
    assert described.returncode == 0 and "199,040,872 flops" in described.stdout  # RegNetX-200MF, exact
    unknown = _run("-m", "designspace", "smaple", cwd=tmp_path)
    assert unknown.returncode == 2 and "smaple" in unknown.stderr and len(unknown.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [["-m", "designspace", "--version"], ["-m", "designspace.train", "--version"],
                                  ["-m", "designspace.refine", "--version"]])
def test_version(args: list[str], tmp_path: Path) -> None:
    proc = _run(*args, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"designspace {_declared_version()}"


def test_help_shows_what_the_command_line_composes(tmp_path: Path) -> None:
    """reproduce's help lists the chosen experiment's keys and the schedule it really runs (the experiment's
    overrides applied); a key without a default says "required"; refine's --cfg job prints its composed config."""
    from omegaconf import OmegaConf

    fmnist = _run("-m", "designspace.reproduce", "experiment=fmnist_cpu", "--help", cwd=tmp_path).stdout
    exp = OmegaConf.load(REPO / "designspace" / "configs" / "experiment" / "fmnist_cpu.yaml")
    assert f"experiment.n={exp.experiment.n}" in fmnist and "  experiment=fmnist_cpu" in fmnist
    assert re.search(r"^  schedule\.train_subset=4096\s", fmnist, re.M)  # configs/schedule/fmnist_cpu.yaml
    assert re.search(r"^  dataset\.resolution=32\s", fmnist, re.M)  # the 32 px canvas the experiment picks
    smoke = _run("-m", "designspace.reproduce", "--help", cwd=tmp_path).stdout  # the default experiment: smoke
    smoke_file = OmegaConf.load(REPO / "designspace" / "configs" / "experiment" / "smoke.yaml")
    assert re.search(rf"^  schedule\.train_subset={smoke_file.schedule.train_subset}\s", smoke, re.M)
    assert "experiment.name=smoke" in smoke
    analyze = _run("-m", "designspace.analyze", "--help", cwd=tmp_path).stdout
    assert re.search(r"^  out=VALUE \(required\)\s+path\s", analyze, re.M) and "???" not in analyze
    refine = _run("-m", "designspace.refine", "--help", cwd=tmp_path).stdout
    assert "--cfg job" in refine
    job = _run("-m", "designspace.refine", "sweep_dirs=[a]", "out=b", "--cfg", "job", cwd=tmp_path)
    assert job.returncode == 0 and yaml.safe_load(job.stdout)["out"] == "b"


@pytest.mark.parametrize("verb", ["train", "reproduce", "compare"])
def test_every_run_option_is_a_key_with_run_options_default_and_type(verb: str) -> None:
    """The commands that run sweeps take every `RunOptions` field, with the default and type stated there once:
    their primary configs do not repeat a value (reproduce's seed is the experiment's: 0 in its default one)."""
    import dataclasses
    import typing

    from designspace.cli._help import help_text
    from designspace.cli._help_schema import shown, type_name
    from designspace.sweep.options import RunOptions

    text = help_text(verb, None, verb)
    hints = typing.get_type_hints(RunOptions)
    for f in dataclasses.fields(RunOptions):
        assert re.search(rf"^  {f.name}={re.escape(shown(f.default))}\s+{re.escape(type_name(hints[f.name]))}\s+\S",
                         text, re.M), f"{verb} --help: {f.name}"
    config = yaml.safe_load((REPO / "designspace" / "configs" / f"{verb}.yaml").read_text())
    repeated = {k: v for k, v in config.items() if k in {f.name for f in dataclasses.fields(RunOptions)}}
    assert repeated == ({"seed": "${oc.select:experiment.seed,0}"} if verb == "reproduce" else {})


def test_an_experiments_seed_is_reproduces_training_seed_unless_set() -> None:
    from hydra import compose, initialize_config_dir

    from designspace.cli._structured import register
    from designspace.configs import CONFIG_DIR
    from designspace.sweep.from_config import training_setup

    register()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        for overrides, seed in ((["experiment.seed=7"], 7), (["experiment.seed=7", "seed=3"], 3), ([], 0)):
            cfg = compose("reproduce", overrides=overrides)
            assert training_setup(OmegaConf.to_container(cfg, resolve=True))[2].seed == seed
