"""One report rendered once per test session: every figure as the report saves it, and every call of a
statistic made while it was computed (for the tests of layout, honesty and compute-once)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import numpy as np
import pandas as pd

from tests.helpers import synthetic

SPACES = ("anynetx_e", "regnetx")
REGIMES = (1.0, 3.0)


def regimes_frame(n: int = 40) -> pd.DataFrame:
    """Two design spaces, each sampled at two flop regimes (one sweep per regime), labelled space@budget;
    a few diverged and failed models, and one outlier far beyond the bulk."""
    parts = []
    for k, scale in enumerate(REGIMES):
        f = synthetic.frame(seed=10 + k, n=n, spaces=SPACES)
        for col in ("flops", "params", "acts"):
            f[col] = (f[col] * scale).astype("int64")
        f["space_name"] = f["space"]
        f["space"] = f["space"] + f"@b{k}"
        parts.append(f)
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[[0, 5], "status"] = "diverged"
    frame.loc[7, "status"] = "failed"
    frame.loc[9, "error"] = 85.0
    return frame


def _key(*arrays: Any, **params: Any) -> str:
    h = hashlib.sha1()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    h.update(repr(sorted(params.items())).encode())
    return h.hexdigest()


@dataclass
class Rendered:
    figures: dict[str, Any]
    out: Path
    calls: dict[str, list[str]] = field(default_factory=dict)
    analyses: int = 0


@cache
def rendered(draws: int = 200) -> Rendered:
    """The report of `regimes_frame` (bins=4): its figures (stem -> Figure; only edf.png is written), its
    folder (CSVs, report.md) and the calls of each statistic (a key of its inputs per call)."""
    import pytest

    from designspace import analysis as an
    from designspace.analysis import _tables
    from designspace.reporting import plots
    from designspace.reporting.report import ReportSettings, write_report

    result = Rendered({}, Path(mkdtemp(prefix="report-regimes-")),
                      {"bootstrap": [], "resolve": [], "random_search": [], "ks": [], "edf": []})
    mp = pytest.MonkeyPatch()

    def count(name: str, fn: Any, key: Any) -> None:
        def counted(*a: Any, **k: Any) -> Any:
            result.calls[name].append(key(*a, **k))
            return fn(*a, **k)
        mp.setattr(_tables, fn.__name__, counted)

    count("bootstrap", _tables.bootstrap_best, lambda x, e, *a, **k: _key(x, e, a=a, k=k))
    count("resolve", _tables.resolve_errors, lambda rows, *a, **k: _key(rows.index.to_numpy(), a=a, k=k))
    count("random_search", _tables.random_search_efficiency, lambda e, ks=None, *a, **k: _key(e, ks=str(ks)))
    count("ks", _tables.ks_test, lambda x, y, *a, **k: _key(x, y))
    count("edf", _tables.edf, lambda e, w=None: _key(e, *(() if w is None else (w,))))
    init = an.Analysis.__init__

    def counted_init(self: Any, *a: Any, **k: Any) -> None:
        result.analyses += 1
        init(self, *a, **k)

    mp.setattr(an.Analysis, "__init__", counted_init)
    save = plots.save

    def capture(fig: Any, stem: Any, formats: Any = ("png", "pdf")) -> list[Path]:
        result.figures[Path(stem).name] = fig
        return save(fig, stem, formats) if Path(stem).name == "edf" else []  # one PNG is enough

    mp.setattr(plots, "save", capture)
    try:
        write_report(regimes_frame(), result.out, ReportSettings(draws=draws, formats=("png",), bins=4),
                     workers=0)  # saved here, where `capture` sees each figure (children are tested apart)
    finally:
        mp.undo()
    return result
