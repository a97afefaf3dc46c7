"""Figures saved in forked child processes while the report draws the next one.

Saving a figure (its PNG and PDF: layout, rasterising, font subsetting) is ~60% of a figure's time, and a
report's figures are independent, so on a machine with cores to spare each save runs in a child process made by
`fork` (the figure is inherited, nothing is pickled) while the parent goes on. `workers` children at most run at
once; 0, or a platform without `fork`, saves in the calling process. A child that fails ends with a non-zero
status and its traceback on stderr; `join` then raises. Children end with `os._exit` (multiprocessing's fork
start), so the parent's atexit handlers (a notebook's temporary demo sweeps) never run in them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from designspace.util.forking import fork_context, usable_cores

__all__ = ["BackgroundSaver", "default_workers"]


def default_workers(cores: int | None = None) -> int:
    """Children beside the parent: one per spare core, at most 2 (measured on 2 cores: experiments/bench_analysis.py,
    the 6 x 500 report with 0 and 1 children)."""
    return max(0, min(2, (cores if cores is not None else usable_cores()) - 1))


class BackgroundSaver:
    """Runs `fn(*args)` in a forked child, at most `workers` at once (see the module docstring)."""

    def __init__(self, workers: int | None = None) -> None:
        workers = default_workers() if workers is None else workers
        self.ctx = fork_context() if workers > 0 else None
        self.workers = workers if self.ctx is not None else 0
        self.running: list[tuple[Any, str]] = []

    def submit(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) (`what` names it in an error), here when there are no workers."""
        if self.ctx is None:
            fn(*args)
            return
        while len(self.running) >= self.workers:
            self._wait(self.running.pop(0))
        child = self.ctx.Process(target=fn, args=args, daemon=True)
        child.start()
        self.running.append((child, what))

    def join(self) -> None:
        """Wait for every child; raise if one failed."""
        running, self.running = self.running, []
        failed = [what for child, what in running if not self._ok(child)]
        if failed:
            raise RuntimeError(f"saving {', '.join(failed)} failed in a child process (its traceback is above)")

    def _wait(self, item: tuple[Any, str]) -> None:
        child, what = item
        if not self._ok(child):
            self.join()
            raise RuntimeError(f"saving {what} failed in a child process (its traceback is above)")

    @staticmethod
    def _ok(child: Any) -> bool:
        child.join()
        return child.exitcode == 0
