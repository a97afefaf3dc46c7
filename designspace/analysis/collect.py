"""Reading sweep directories into one table for analysis (a `space` label per sweep).

Each sweep is read with `designspace.sweep.results.load` (the samples joined with the training records:
status, error, best_error, ...) and labelled with its space and budget from DIR/config.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from designspace.sweep.layout import SweepDir
from designspace.util.names import one_line

__all__ = ["damaged_records", "load_sweep", "load_sweeps", "sweep_info"]


def sweep_info(sweep_dir: str | os.PathLike) -> dict[str, Any]:
    """Space and budget names (and the budget's flops band) from DIR/config.yaml, where present."""
    cfg = SweepDir(sweep_dir).read_config()  # {} when missing or unreadable: that only costs the names
    info: dict[str, Any] = {"space": None, "budget": None, "flops_band": None, "regime_gf": None}
    for key in ("space", "budget"):
        value = cfg.get(key)
        name = value.get("name") if isinstance(value, dict) else value if isinstance(value, str) else None
        # someone else's config may hold control characters and line breaks: one line everywhere it is shown
        info[key] = one_line(str(name)) if name is not None else None
    budget = cfg.get("budget")
    if isinstance(budget, dict) and isinstance(budget.get("flops"), list):
        info["flops_band"] = budget["flops"]
    if isinstance(budget, dict) and isinstance(budget.get("regime_gf"), (int, float)):
        info["regime_gf"] = float(budget["regime_gf"])
    return info


def damaged_records(sweep_dirs: Sequence[str | os.PathLike]) -> dict[str, int]:
    """Folder of damaged records set aside -> how many, for each of `sweep_dirs` that has any (their models count
    as not trained)."""
    out = {}
    for d in dict.fromkeys(str(d) for d in sweep_dirs):
        sweep = SweepDir(d)
        if sweep.root.is_dir() and (n := sweep.damaged_count()):
            out[str(sweep.damaged_dir)] = n
    return out


def load_sweep(sweep_dir: str | os.PathLike, name: str | None = None, setup: str | None = None) -> pd.DataFrame:
    """One sweep's models joined with their results (of one training setup, see `results.load`),
    plus columns space, budget, sweep_dir and setup (the setup id; None while nothing is trained)."""
    from designspace.sweep import results

    sweep = SweepDir(sweep_dir).require()
    loaded = results.load(sweep, setup=setup)
    frame = loaded.copy()
    frame.attrs = dict(loaded.attrs)
    frame["setup"] = loaded.attrs.get("setup_id")
    frame["setup_desc"] = loaded.attrs.get("setup")
    info = sweep_info(sweep.root)
    frame["space"] = name or info["space"] or sweep.root.name
    frame["space_name"] = info["space"]  # the design space itself (labels may add the budget)
    frame["budget"] = info["budget"]
    frame["regime_gf"] = info["regime_gf"]  # as recorded when the sweep was sampled
    frame["sweep_dir"] = str(sweep.root)
    return frame


def load_sweeps(sweep_dirs: Sequence[str | os.PathLike], names: Sequence[str] | None = None,
                setup: str | None = None) -> pd.DataFrame:
    """Several sweeps in one table, `space` labels made unique (space@budget, then the folder name)."""
    if not sweep_dirs:
        raise ValueError("no sweep directories given")
    if names is not None and len(names) != len(sweep_dirs):
        raise ValueError(f"{len(names)} names for {len(sweep_dirs)} sweep directories")
    seen: dict[Path, str] = {}
    for d in sweep_dirs:
        key = Path(d).resolve()
        if key in seen:
            raise ValueError(f"sweep directory {d} is given twice (as {seen[key]} too): every model would count twice")
        seen[key] = str(d)
    frames = [load_sweep(d, names[i] if names else None, setup) for i, d in enumerate(sweep_dirs)]
    if names is None:
        labels = [f["space"].iat[0] if len(f) else Path(d).name for f, d in zip(frames, sweep_dirs)]
        if len(set(labels)) < len(labels):
            labels = [f"{lab}@{f['budget'].iat[0]}" if len(f) and f["budget"].iat[0] else lab
                      for lab, f in zip(labels, frames)]
        if len(set(labels)) < len(labels):
            labels = [f"{lab} ({Path(d).name})" for lab, d in zip(labels, sweep_dirs)]
        for f, lab in zip(frames, labels):
            f["space"] = lab
    return pd.concat(frames, ignore_index=True, sort=False)
