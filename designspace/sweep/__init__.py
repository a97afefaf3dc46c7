"""The results stage: a sweep directory (layout), its result records and `load` (results), the training
setup each record belongs to (setups), and claims, shards and resume (runner).

    from designspace.sweep import SweepDir, load
"""

from designspace.sweep.layout import SweepDir, SweepNotWritable
from designspace.sweep.results import load, read_records

__all__ = ["SweepDir", "SweepNotWritable", "load", "read_records"]
