"""`designspace.demo_sweeps`: small trained sweeps for the notebooks and a first look, from an installed package.

Each space gets `n` models of the `fmnist_tiny` budget, sampled as `python -m designspace.sample` does and trained
on a micro schedule (`fmnist_tiny`'s proxy settings on 4,096 bundled Fashion-MNIST images: 64 steps of 64, a few
seconds per model on a CPU). Most models end at 27-50% error (chance: 90%): short of converged, but trained, so
the EDFs compare spaces, not noise. It shows the pipeline, not the paper's findings (hundreds of models per
space, trained properly).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from designspace.configs import CONFIG_DIR, read_yaml
from designspace.space.sampler import sample
from designspace.sweep import SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.results import read_records
from designspace.sweep.runner import run_sweep
from designspace.training.data import load_dataset
from designspace.training.trainer import default_threads

__all__ = ["DEMO_SCHEDULE", "demo_sweeps"]

DEMO_SCHEDULE = {"name": "demo_micro", "train_subset": 2048, "batch_size": 64, "warmup_epochs": 0.1,
                 "test_subset": 500, "eval_batch_size": 500, "precise_bn_samples": 512}
"""The changes to `configs/schedule/fmnist_tiny.yaml` that make the micro schedule: 32 steps, ~3 s a model on 2 cores,
so that the EDF notebook's 24 demo models take about a minute and a half (measured: 4,096 images took ~5.5 s a model
and the notebook 3.3 minutes)."""


def demo_sweeps(spaces: Sequence[str], n: int, root: str | os.PathLike | None = None, seed: int = 0,
                budget: str = "fmnist_tiny", progress: bool = True, threads: int | None = None) -> list[str]:
    """Sample and train `n` models per space into `root/<space>/`; a sweep already there is resumed, not redone.
    Returns the sweep directories, for `analysis.load_sweeps`.

    Without `root` the sweeps go to a new temporary folder that is removed when the process (a notebook's
    kernel) exits. `progress`: one bar over every model (tqdm.auto: a widget in a notebook). `threads`: torch
    threads per model (None: the cores of this machine, fewer when it is busy)."""
    import atexit
    import logging
    import shutil

    import yaml
    from tqdm.auto import tqdm

    logging.getLogger("designspace").setLevel(logging.WARNING)
    if root is None:
        base = Path(tempfile.mkdtemp(prefix="designspace_demo_"))
        atexit.register(shutil.rmtree, base, True)  # a notebook leaves nothing behind in /tmp
    else:
        base = Path(root)
    data = load_dataset(read_yaml(CONFIG_DIR / "dataset" / "fashion_mnist.yaml"))  # read once, not once per model
    schedule = {**read_yaml(CONFIG_DIR / "schedule" / "fmnist_tiny.yaml"), **DEMO_SCHEDULE}
    # threads decided once, before any training: the load average would count this process's own last model
    options = RunOptions(threads=threads if threads is not None else default_threads(), progress=False,
                         checkpoint_every_s=None, limit=1)
    dirs = []
    with tqdm(total=n * len(spaces), desc="demo models", unit="model", disable=not progress) as bar:
        for space in spaces:
            sweep = SweepDir(base / space)
            if not sweep.exists():
                config = {"space": {"name": space}, "budget": {"name": budget}, "n": n, "seed": seed}
                sweep.write_samples(sample(space, n, seed, budget, progress=False), yaml.safe_dump(config))
            done = len(read_records(sweep, set_aside=False))
            bar.update(done)
            for _ in range(n - done):  # one model per call: the bar moves with each
                bar.set_postfix_str(space)
                run_sweep(sweep, data, schedule, options)
                bar.update(1)
            dirs.append(str(sweep.root))
    return dirs
