"""`sample` publishes samples and config as one unit: any failure or kill leaves the old pair or the new."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from designspace.space.sampler import sample
from designspace.sweep import layout
from designspace.sweep.layout import SweepDir


def _sample(sweep_dir: Path, space: str, n: int, seed: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "designspace.sample", f"space={space}", f"n={n}", f"seed={seed}",
                           "budget=fmnist_tiny", f"sweep_dir={sweep_dir}", "progress=false", *extra],
                          capture_output=True, text=True, timeout=300)


def test_a_failed_config_write_leaves_the_new_pair_readable_and_a_rerun_repairs_it(tmp_path, monkeypatch):
    sweep = SweepDir(tmp_path / "s")
    old, new = sample("anynetx_c", 5, 0, "fmnist_tiny", progress=False), sample("anynetx_d", 6, 5, "fmnist_tiny",
                                                                                progress=False)
    sweep.write_samples(old, "space: anynetx_c\nn: 5\n")
    real = layout.atomic_write_text

    def disk_full(path, text, check=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(layout, "atomic_write_text", disk_full)  # the table is published, then config.yaml fails
    with pytest.raises(OSError):
        sweep.store_samples(new, "space: anynetx_d\nn: 6\n", overwrite=True)
    assert sweep.config_path.read_text() == "space: anynetx_c\nn: 5\n"  # the stale copy on disk...
    assert sweep.read_config() == {"space": "anynetx_d", "n": 6}  # ...is never what the sweep says
    assert sweep.read_samples().equals(new) and not sweep.config_in_step()
    monkeypatch.setattr(layout, "atomic_write_text", real)
    said = sweep.store_samples(new, "space: anynetx_d\nn: 6\n", overwrite=False)
    assert "made whole" in said and sweep.config_path.read_text() == "space: anynetx_d\nn: 6\n"
    assert sweep.config_in_step()


def test_a_failed_table_write_leaves_the_old_pair(tmp_path, monkeypatch):
    sweep = SweepDir(tmp_path / "s")
    old, new = sample("anynetx_c", 5, 0, "fmnist_tiny", progress=False), sample("anynetx_d", 6, 5, "fmnist_tiny",
                                                                                progress=False)
    sweep.write_samples(old, "space: anynetx_c\nn: 5\n")

    def disk_full(path, write, check=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(layout, "atomic_write", disk_full)
    with pytest.raises(OSError):
        sweep.store_samples(new, "space: anynetx_d\nn: 6\n", overwrite=True)
    assert sweep.read_samples().equals(old) and sweep.read_config() == {"space": "anynetx_c", "n": 5}
    assert sweep.config_path.read_text() == "space: anynetx_c\nn: 5\n"


@pytest.mark.slow
def test_the_command_after_a_cut_publish(tmp_path):
    """The issue's sequence on the command line: the second sample's config.yaml never landed (as after a kill
    between the renames); analyze-side readers follow the table, and rerunning the second command repairs."""
    d = tmp_path / "s"
    assert _sample(d, "anynetx_c", 5, 0).returncode == 0
    first = (d / "config.yaml").read_text()
    assert _sample(d, "anynetx_d", 6, 5, "overwrite=true").returncode == 0
    (d / "config.yaml").write_text(first)  # the state a kill between the two renames leaves
    from designspace.analysis.collect import sweep_info

    assert sweep_info(d)["space"] == "anynetx_d" and len(SweepDir(d).read_samples()) == 6
    again = _sample(d, "anynetx_d", 6, 5)
    assert again.returncode == 0, again.stderr
    assert "anynetx_d" in (d / "config.yaml").read_text() and SweepDir(d).config_in_step()


def test_repeated_rows_count_once_everywhere(tmp_path):
    import pandas as pd

    from designspace.sweep.results import load

    sweep = SweepDir(tmp_path / "s")
    frame = sample("anynetx_c", 8, 0, "fmnist_tiny", progress=False)
    sweep.write_samples(frame, "space: anynetx_c\n")
    pd.concat([frame, frame.iloc[:3]], ignore_index=True).to_parquet(sweep.samples_path)  # rows appended again
    with pytest.warns(UserWarning, match="3 row"):
        assert len(sweep.read_samples()) == 8
    with pytest.warns(UserWarning, match="counted once"):
        assert len(load(sweep)) == 8
