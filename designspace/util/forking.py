"""Forked worker processes for CPU-bound NumPy and matplotlib work: the usable cores and the `fork` context
(children inherit the parent's memory, so nothing large is pickled), or None where `fork` does not exist."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

__all__ = ["fork_context", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a SLURM allocation, taskset), else all."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fork_context() -> Any | None:
    """multiprocessing's `fork` context, or None on a platform without it."""
    return multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
