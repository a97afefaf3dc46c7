"""Figures drawn and saved in forked children (`reporting.background`): the same files, pixel for pixel, as drawn in
the report's own process; the next starts when any child ends; a child's failure is the report's error."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from designspace.reporting import plots
from designspace.reporting.background import ForkedTasks, default_workers
from designspace.reporting.report import ReportSettings, write_report
from designspace.util.forking import fork_context
from tests.helpers.reports import regimes_frame

pytestmark = pytest.mark.skipif(fork_context() is None, reason="no fork on this platform: figures are saved inline")


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_children_save_the_same_report(tmp_path: Path) -> None:
    settings, frame = ReportSettings(draws=100, bins=2, formats=("png",)), regimes_frame(10)
    inline, forked = tmp_path / "inline", tmp_path / "forked"
    write_report(frame, inline, settings, workers=0)
    write_report(frame, forked, settings, workers=2)
    a, b = _files(inline), _files(forked)
    assert a.keys() == b.keys() and sum(k.endswith(".png") for k in a) >= 5
    for name in a:
        if name.endswith(".png"):
            x, y = (np.asarray(Image.open(p).convert("RGB")) for p in (a[name], b[name]))
            assert x.shape == y.shape and np.array_equal(x, y), name
        elif name.endswith((".csv", ".md")):
            assert a[name].read_bytes() == b[name].read_bytes(), name


@pytest.mark.parametrize("error, expected", [(OSError(28, "No space left on device"), OSError),
                                             (ZeroDivisionError("a bug"), RuntimeError)])
def test_a_child_that_fails_fails_the_report(tmp_path: Path, monkeypatch, error, expected) -> None:
    """A full disk is the child's own one-line error (issue 36), naming the figure; a bug stays a bug."""
    def broken(fig, stem, formats=("png", "pdf")):
        if Path(stem).name == "complexity":
            raise error
        return []

    monkeypatch.setattr(plots, "save", broken)
    with pytest.raises(expected, match="figures/complexity") as raised:
        write_report(regimes_frame(12), tmp_path / "r", ReportSettings(draws=100, bins=2), workers=1)
    assert type(raised.value) is expected


def test_without_workers_the_caller_saves(tmp_path: Path) -> None:
    done = []
    tasks = ForkedTasks(0)
    tasks.submit("x", done.append, 1)
    tasks.join()
    assert done == [1] and default_workers(1) == 0 and default_workers(2) == 2 and default_workers(64) == 8


def _wait_for(marker: Path) -> None:
    """A long figure: it ends only once `marker` exists (made by a figure submitted after it)."""
    for _ in range(600):
        if marker.exists():
            return
        time.sleep(0.05)
    raise SystemExit(1)


def test_the_next_starts_when_any_child_ends(tmp_path: Path) -> None:
    # two workers, a long first task and two short ones: the third must start while the first still runs (it
    # waits for the third's file), i.e. it waits for whichever child ends, not for the oldest
    marker = tmp_path / "third-ran"
    ended = []
    tasks = ForkedTasks(2, on_done=ended.append)
    tasks.submit("long", _wait_for, marker)
    tasks.submit("short", time.sleep, 0.01)
    tasks.submit("third", marker.touch)
    tasks.join()
    assert marker.exists() and sorted(ended) == ["long", "short", "third"]
