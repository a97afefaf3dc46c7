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

__all__ = ["DEMO_SCHEDULE", "demo_sweeps"]

DEMO_SCHEDULE = {"name": "demo_micro", "train_subset": 4096, "batch_size": 64, "warmup_epochs": 0.1,
                 "test_subset": 500, "eval_batch_size": 500, "precise_bn_samples": 512}
"""The changes to `configs/schedule/fmnist_tiny.yaml` that make the micro schedule."""


def demo_sweeps(spaces: Sequence[str], n: int, root: str | os.PathLike | None = None, seed: int = 0,
                budget: str = "fmnist_tiny") -> list[str]:
    """Sample and train `n` models per space into `root/<space>/` (a new temporary folder by default); a sweep
    already there is resumed, not redone. Returns the sweep directories, for `analysis.load_sweeps`."""
    import logging

    import yaml

    from designspace.configs import CONFIG_DIR, read_yaml
    from designspace.space.sampler import sample
    from designspace.sweep import SweepDir
    from designspace.sweep.runner import run_sweep

    logging.getLogger("designspace").setLevel(logging.WARNING)
    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="designspace_demo_"))
    dataset = read_yaml(CONFIG_DIR / "dataset" / "fashion_mnist.yaml")
    schedule = {**read_yaml(CONFIG_DIR / "schedule" / "fmnist_tiny.yaml"), **DEMO_SCHEDULE}
    dirs = []
    for space in spaces:
        sweep = SweepDir(base / space)
        if not sweep.exists():
            config = {"space": {"name": space}, "budget": {"name": budget}, "n": n, "seed": seed}
            sweep.write_samples(sample(space, n, seed, budget, progress=False), yaml.safe_dump(config))
        run_sweep(sweep, dataset, schedule, threads=1, progress=False, checkpoint_every_s=None)
        dirs.append(str(sweep.root))
    return dirs
