"""Following sweeps while they train: re-render a report whenever their records change (`analyze watch=true`).

The sweeps are read as `load` reads them while `train` workers write: a record is published whole (a hard link
of a complete file), so a model is either untrained or recorded, never half. Each look compares the sweeps'
record files (names, sizes, modification times) with the last look's; on a change the whole report is written
again (each file atomically, so a reader never sees half a report.md or report.html) and one line says what
changed. Re-rendering everything is what this does: the report's tables share one `Analysis` of the whole table,
and a partial update was not measured to be worth its complexity here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.analysis.sequential import compare
from designspace.sweep import results
from designspace.sweep.layout import SweepDir


def fingerprint(sweeps: Sequence[SweepDir]) -> tuple:
    """What a look compares: each sweep's record files with their sizes and mtimes, and its samples table's."""
    out = []
    for sweep in sweeps:
        files = []
        for path in sweep.record_files():
            try:
                st = path.stat()
            except FileNotFoundError:  # set aside or superseded between listing and stat
                continue
            files.append((path.name, st.st_size, st.st_mtime_ns))
        try:
            samples = sweep.samples_path.stat().st_mtime_ns
        except FileNotFoundError:
            samples = None
        out.append((str(sweep.root), samples, tuple(sorted(files))))
    return tuple(out)


@dataclass(frozen=True)
class Progress:
    """Per sweep: models sampled, models with a record, the median error of the ok ones (NaN if none), and the
    errors in the order the models finished (for the sequential comparison of two sweeps)."""

    name: str
    sampled: int
    recorded: int
    median: float
    by_finish: np.ndarray


def progress(sweep: SweepDir, name: str) -> Progress:
    frame = results.load(sweep)
    rows, _ = resolve_errors(frame)
    if "finished_at" in rows and len(rows):
        rows = rows.sort_values("finished_at", kind="stable")
    errors = rows[ERROR].to_numpy(float)
    ok = frame[frame["status"] == "ok"]["error"].to_numpy(float) if "status" in frame else np.array([])
    recorded = int(frame["status"].isin(results.STATUSES).sum()) if "status" in frame else 0  # not 'pending'
    return Progress(name, len(frame), recorded, float(np.median(ok)) if ok.size else float("nan"), errors)


def update_line(states: Sequence[Progress], alpha: float = 0.05) -> str:
    """One line: trained/sampled and the median error per sweep, and for two sweeps the sequential state."""
    parts = [f"{s.name} {s.recorded}/{s.sampled}" + (f" median {s.median:.2f}%" if np.isfinite(s.median) else "")
             for s in states]
    line = "; ".join(parts)
    if len(states) == 2:
        res = compare(states[0].by_finish, states[1].by_finish, alpha=alpha)
        verdict = res.text((states[0].name, states[1].name)).split(":")[0]
        line += f"; {verdict} after {res.n} pairs"
        if res.n:
            line += f" [{res.low:+.2f}, {res.high:+.2f}]"
    return line


def watch(sweeps: Sequence[SweepDir], names: Sequence[str], render: Callable[[], Any], interval: float,
          say: Callable[[str], None], sleep: Callable[[float], None] = time.sleep) -> int:
    """Render, then render again after every change of the sweeps' records, until every sampled model has a
    record; returns how many times it rendered. Ctrl-C ends it between looks (KeyboardInterrupt propagates to the
    command, which exits cleanly; the last report written stays whole)."""
    last, renders = None, 0
    while True:
        now = fingerprint(sweeps)
        if now != last:
            render()
            renders += 1
            states = [progress(s, n) for s, n in zip(sweeps, names)]
            say(update_line(states))
            last = now
            if all(s.recorded >= s.sampled for s in states):
                return renders
        sleep(interval)


def report_files_whole(out: Path) -> bool:
    """Whether report.md and report.html exist with content (what a reader of a watched report sees)."""
    return all((out / f).is_file() and (out / f).stat().st_size > 0 for f in ("report.md", "report.html"))
