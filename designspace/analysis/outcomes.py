"""Which models enter an error statistic, and with what error: the diverged/failed policy.

Status of a row (the `status` column of `designspace.sweep.results.load`):
- 'ok': trained; its `error` (final top-1 test error, percent) is used. An 'ok' row without a
  finite error is counted as failed.
- 'diverged' / 'failed': trained without a usable result. Policy 'penalize' (the default) keeps
  them with error = `penalty` (100%, the error of a model that never predicts right); policy 'drop'
  leaves them out. Either way their number is reported (figure legends, report tables).
- anything else ('pending', missing): not trained yet; never part of an error statistic, counted
  as untrained.
A table without a `status` column counts rows with a finite error as 'ok' and the rest as untrained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Policy = Literal["penalize", "drop"]
POLICIES = ("penalize", "drop")
PENALTY = 100.0
ERROR = "err"
"""Column that `resolve_errors` adds: the error each kept model enters the statistics with."""
OUTCOME = "outcome"


@dataclass(frozen=True)
class Counts:
    """How the models of one table were used."""

    total: int
    ok: int
    diverged: int
    failed: int
    untrained: int
    used: int
    policy: str
    penalty: float

    @property
    def bad(self) -> int:
        return self.diverged + self.failed

    def note(self) -> str:
        """Short legend text, e.g. '2 diverged/failed at 100%' (empty if nothing to say)."""
        parts = []
        if self.bad:
            how = f"at {self.penalty:g}%" if self.policy == "penalize" else "dropped"
            parts.append(f"{self.bad} diverged/failed {how}")
        if self.untrained:
            parts.append(f"{self.untrained} untrained")
        return ", ".join(parts)


def resolve_errors(
    frame: pd.DataFrame, policy: Policy = "penalize", penalty: float = PENALTY, error_col: str = "error"
) -> tuple[pd.DataFrame, Counts]:
    """The rows that enter error statistics, with their analysis error in column 'err'.

    Returns (rows, counts): rows keep all columns plus 'err' and 'outcome' ('ok' | 'diverged' |
    'failed'); counts say how many models had each outcome and how many were used.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy={policy!r} must be one of {POLICIES}")
    if not np.isfinite(penalty):
        raise ValueError(f"penalty={penalty!r} must be finite")
    n = len(frame)
    error = (frame[error_col].to_numpy(dtype=np.float64, na_value=np.nan) if error_col in frame
             else np.full(n, np.nan))
    finite = np.isfinite(error)
    if "status" in frame:
        status = frame["status"].astype("object").to_numpy()
        ok = (status == "ok") & finite
        diverged = status == "diverged"
        failed = (status == "failed") | ((status == "ok") & ~finite)
    else:
        ok, diverged, failed = finite, np.zeros(n, bool), np.zeros(n, bool)
    untrained = ~(ok | diverged | failed)
    keep = ok | ((diverged | failed) if policy == "penalize" else np.zeros(n, bool))
    rows = frame.loc[keep].copy()
    rows[ERROR] = np.where(ok, error, penalty)[keep]
    rows[OUTCOME] = np.where(ok, "ok", np.where(diverged, "diverged", "failed"))[keep]
    counts = Counts(n, int(ok.sum()), int(diverged.sum()), int(failed.sum()), int(untrained.sum()),
                    int(keep.sum()), policy, float(penalty))
    return rows, counts
