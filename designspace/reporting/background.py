"""A report's figures drawn and saved in forked child processes, as many at once as there are cores.

A figure (its layout, tick and legend checks, PNG and PDF: rasterising, font subsetting) takes 0.5-2 s and the
report's figures are independent once its tables are computed, so each is drawn and saved in a child made by
`fork`: it inherits the computed tables and the drawing function, nothing is pickled. `workers` children run
at once, the next starting as soon as any ends; 0, or a platform without `fork`, draws in the calling process.
A child that fails ends with a non-zero status and its traceback on stderr; `join` then raises - the child's own
error when it is a user error (a full disk: `cannot write ...: No space left on device`, one line, no traceback),
else a RuntimeError. Children end with
`os._exit` (multiprocessing's fork start), so the parent's atexit handlers (a notebook's temporary demo sweeps)
never run in them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from designspace.util.forking import fork_context, usable_cores
from designspace.util.usage import is_user_error

__all__ = ["ForkedTasks", "default_workers"]

MAX_WORKERS = 8
"""A report has ~17 figures; more children than that would only wait."""


def default_workers(cores: int | None = None) -> int:
    """One child per usable core (the parent only plans and waits), none on one core (a child there is overhead).

    Measured on this project's 2-core machine, the 6 x 500 report end to end in one run each, same hour: 1 child
    23.7 s, 2 children 15.2 s, 3 16.8 s, 4 15.5 s (figures drawn in the parent: ~28 s); README, "Analysis at the
    paper's scale", has the benchmark (experiments/bench_analysis.py --report)."""
    cores = cores if cores is not None else usable_cores()
    return 0 if cores < 2 else min(MAX_WORKERS, cores)


class ForkedTasks:
    """Runs `fn(*args)` in a forked child, at most `workers` at once (see the module docstring); `on_done(what)`
    is called here as each ends well."""

    def __init__(self, workers: int | None = None, on_done: Callable[[str], Any] | None = None) -> None:
        workers = default_workers() if workers is None else workers
        self.ctx = fork_context() if workers > 0 else None
        self.workers = workers if self.ctx is not None else 0
        self.on_done = on_done or (lambda what: None)
        self.running: list[tuple[Any, str, Any]] = []

    def submit(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) (`what` names it in an error), here when there are no workers."""
        if self.ctx is None:
            fn(*args)
            self.on_done(what)
            return
        while len(self.running) >= self.workers:
            self._reap(block=True)
        reader, writer = self.ctx.Pipe(duplex=False)
        child = self.ctx.Process(target=_run, args=(writer, fn, *args), daemon=True)
        child.start()
        writer.close()
        self.running.append((child, what, reader))

    def join(self) -> None:
        """Wait for every child; raise if one failed."""
        while self.running:
            self._reap(block=True)

    def _reap(self, block: bool) -> None:
        """Collect the children that have ended (waiting for one when `block`); raise on the first that failed,
        after waiting for the others (no child is left running behind an error)."""
        ended = wait([child.sentinel for child, _, _ in self.running], timeout=None if block else 0)
        for item in [item for item in self.running if item[0].sentinel in ended]:
            child, what, reader = item
            self.running.remove(item)
            child.join()
            error = _sent(reader) if child.exitcode != 0 else None
            reader.close()
            if child.exitcode != 0:
                for other, _, other_reader in self.running:
                    other.join()
                    other_reader.close()
                self.running = []
                if isinstance(error, OSError) and error.errno is not None and error.filename is None:
                    raise OSError(error.errno, error.strerror, what)  # name at least the task: `figures/edf`
                if isinstance(error, BaseException):
                    raise error
                raise RuntimeError(f"drawing or saving {what} failed in a child process (its traceback is above)")
            self.on_done(what)


def _sent(reader: Any) -> Any:
    """What a failed child sent (its user error), or None when it sent nothing (a bug: its traceback is on stderr)."""
    try:
        return reader.recv() if reader.poll() else None
    except Exception:  # nothing sent (EOF), or an error that does not unpickle here
        return None


def _run(conn: Any, fn: Callable[..., Any], *args: Any) -> None:
    """A child's task: `fn(*args)`; a user error (a full disk, a folder that cannot be written) is sent to the
    parent, which raises it as its own one-line error, and the child ends with status 1 and no traceback."""
    try:
        fn(*args)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        try:
            conn.send(exc)
        except Exception:  # an error that does not pickle: the parent says the child failed
            raise exc from None
        sys.exit(1)
    finally:
        conn.close()
