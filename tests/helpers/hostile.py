"""What a hostile collaborator plants in a shared sweep (issue 36): JSON nested deeper than any parser recurses,
YAML aliases that expand to gigabytes, FIFOs, links to /dev/zero and outside the sweep, and the records and
sweeps they are planted in."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from designspace.sweep.layout import SweepDir
from designspace.sweep.results import write_record
from tests.helpers.train import TINY_SPECS

NESTED_JSON = "[" * 1000 + "]" * 1000
"""4 KB of JSON nested 1,000 levels deep: `json.loads` raises RecursionError on it."""

ALIAS_BOMB = "a: &a [" + ", ".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n" for prev, name in zip("abcdefgh", "bcdefghi"))
"""About 1 KB of YAML whose aliases expand to 9**9 values (OmegaConf would expand them all)."""


def record(spec_index: int = 0, status: str = "ok", error: float | None = 20.0, **extra) -> dict:
    """A whole record of TINY_SPECS[spec_index], as a worker writes it."""
    spec = TINY_SPECS[spec_index].to_dict()
    error = error if status == "ok" else None
    return {"model_id": TINY_SPECS[spec_index].id, "status": status, "spec": spec, "trained_spec": spec,
            "complexity": {"flops": 1, "params": 1, "acts": 1, "resolution": 28}, "dataset": {"name": "fashion_mnist"},
            "schedule": {"name": "test"}, "seed": 0, "epochs": [], "final_error": error, "best_error": error,
            "reason": None if status == "ok" else "out of memory", **extra}


def named_sweep(root: Path, space: str, n: int = 8) -> SweepDir:
    """A sampled sweep whose config names its space `space` (someone else's name), every model recorded `ok`."""
    from designspace.space.sampler import sample, spec_of

    frame = sample("anynetx_e", n, 0, "fmnist_tiny", progress=False)
    sweep = SweepDir(root)
    quoted = space.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    sweep.write_samples(frame, f'space:\n  name: "{quoted}"\nbudget:\n  name: fmnist_tiny\n')
    rng = np.random.default_rng(0)
    for i, mid in enumerate(frame["model_id"]):
        spec = spec_of(frame.iloc[i]).to_dict()
        error = round(float(rng.uniform(10, 40)), 2)
        write_record(sweep, {**record(), "model_id": mid, "spec": spec, "trained_spec": spec, "final_error": error,
                             "best_error": error})
    return sweep


def plant_fifo(path: Path) -> Path:
    """A FIFO at `path`: reading it waits for a writer for ever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this (main) thread after `seconds`: a read blocked on a FIFO is interrupted (the signal
    handler raises), so a test of a hang fails instead of hanging."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
