"""Shared helpers of the training tests: tiny sweeps written the way `designspace.sample` writes them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from designspace.net.complexity import complexity
from designspace.net.spec import NetSpec
from designspace.sweep.layout import SweepDir
from designspace.training.data import BUNDLED_FASHION_MNIST

REPO = Path(__file__).resolve().parents[2]

TINY_SPECS = [
    NetSpec((1, 1, 1, 1), (8, 16, 32, 64), (1, 1, 1, 1), (8, 8, 8, 8), stem_width=8),
    NetSpec((1, 1, 2, 1), (16, 16, 32, 64), (1, 1, 1, 1), (8, 8, 8, 8), stem_width=8),
    NetSpec((1, 1, 1, 1), (8, 16, 32, 64), (1, 1, 1, 1), (4, 4, 4, 4), stem_width=8),
    NetSpec((1, 1, 1, 2), (8, 16, 24, 48), (1, 1, 1, 1), (8, 8, 8, 8), stem_width=8),
    NetSpec((1, 2, 1, 1), (8, 16, 32, 64), (2, 2, 2, 2), (4, 4, 4, 4), stem_width=8),
    NetSpec((2, 1, 1, 1), (8, 16, 32, 64), (1, 1, 1, 1), (2, 2, 2, 2), stem_width=8),
]
"""Networks of well under 1 MF at 28px: each trains a tiny schedule in about a second on 2 cores."""

TINY_SCHEDULE = {
    "name": "test_tiny", "epochs": 1, "batch_size": 64, "lr": 0.1, "warmup_epochs": 0.0, "weight_decay": 5e-5,
    "train_subset": 2048, "test_subset": 500, "eval_batch_size": 500, "precise_bn_samples": 512,
    "zero_init_last_bn": False, "no_wd_bn_bias": False,  # the reference training, whatever fmnist_tiny.yaml sets
}
"""Schedule fields used by the fast tests: 32 steps, about a second per tiny model, ~50% error."""

QUICK = [f"schedule.{key}={value}" for key, value in TINY_SCHEDULE.items()]
"""The same schedule as command-line overrides."""


def make_sweep(root: Path, specs: list[NetSpec] | None = None) -> SweepDir:
    """A sweep directory whose samples table has NetSpec.to_row() columns + model_id + complexity."""
    specs = TINY_SPECS if specs is None else specs
    rows = []
    for spec in specs:
        cx = complexity(spec, 224)
        rows.append({**spec.to_row(), "model_id": spec.id, "flops": cx.flops, "params": cx.params, "acts": cx.acts})
    sweep = SweepDir(root)
    sweep.write_samples(pd.DataFrame(rows), f"space: test\nn: {len(rows)}\n")
    return sweep


def make_image_folder(root: Path) -> None:
    """root/{train,val}/{cat,dog}/: PNGs and JPEGs of several sizes, left half coloured (red/blue), right black."""
    import numpy as np
    from PIL import Image

    colors = {"cat": (255, 0, 0), "dog": (0, 0, 255)}
    for split, n in (("train", 3), ("val", 2)):
        for cls, color in colors.items():
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                arr = np.zeros((40 + 8 * i, 60, 3), dtype=np.uint8)
                arr[:, :30] = color
                Image.fromarray(arr).save(folder / f"{i}.{'png' if i % 2 == 0 else 'jpg'}")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def bundled_fmnist() -> dict:
    """The fashion_mnist dataset config pointed at the bundled subset."""
    import yaml

    cfg = yaml.safe_load((REPO / "configs" / "dataset" / "fashion_mnist.yaml").read_text())
    cfg["root"] = str(BUNDLED_FASHION_MNIST)
    return cfg


def cli(*args: str) -> list[str]:
    """argv of `python -m designspace.train ARGS` with the bundled data and one CPU thread."""
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-")]
    return [sys.executable, "-m", "designspace.train", *flags, f"dataset.root={BUNDLED_FASHION_MNIST}", "threads=1",
            "progress=false", *overrides]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cli(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def fail_training(monkeypatch, raise_for) -> list[str]:
    """Make a model's training raise what `raise_for(model_id)` returns (None: it trains as usual), from its
    first training step inside the trainer, as a real failure would. Returns the sampled ids whose training
    raised, in order. Trainers see the spec adapted to the data, so the sampled id is tagged when the runner
    builds them."""
    from designspace.sweep import runner
    from designspace.training.trainer import Trainer

    build, step, calls = runner.build_trainers, Trainer.train_step, []

    def tagged(specs, *args, **kwargs):
        built = build(specs, *args, **kwargs)
        for spec, trainer in zip(specs, built):
            if isinstance(trainer, Trainer):
                trainer._sampled_id = spec.id
        return built

    def failing(self, *args, **kwargs):
        sampled = getattr(self, "_sampled_id", None)
        exc = raise_for(sampled) if sampled is not None else None
        if exc is not None:
            calls.append(sampled)
            raise exc
        return step(self, *args, **kwargs)

    monkeypatch.setattr(runner, "build_trainers", tagged)
    monkeypatch.setattr(Trainer, "train_step", failing)
    return calls


class StopInEpoch:
    """Trainer hooks that interrupt training (as Ctrl-C would) at step 2 of `epoch`."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        if epoch == self.epoch and step == 2:
            raise KeyboardInterrupt

    def on_epoch(self, record: dict) -> None:
        pass


def run_compare(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m designspace.compare` on the bundled Fashion-MNIST, one thread, no bars, with `args`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "designspace.compare", f"dataset.root={BUNDLED_FASHION_MNIST}", "threads=1",
            "progress=false", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
