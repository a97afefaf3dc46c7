"""The results stage: a sweep directory (layout), its result records and `load` (results), the training
setup each record belongs to (setups), the run options (options), claims (claims), training a sweep:
shards, packs and resume (runner), and a sweep as pycls config files (pycls_export).

    from designspace.sweep import RunOptions, SweepDir, load, run_sweep
"""

from typing import Any

from designspace.sweep.layout import SweepDir, SweepNotWritable
from designspace.sweep.options import RunOptions
from designspace.sweep.results import load, read_records

__all__ = ["RunOptions", "SweepDir", "SweepNotWritable", "load", "read_records", "run_sweep"]


def __getattr__(name: str) -> Any:
    if name == "run_sweep":  # imported on first use: the runner needs torch, which `sample` never loads
        from designspace.sweep.runner import run_sweep

        return run_sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
