"""Per-model fidelity diagnostics of a short-schedule proxy: do the same models rank alike after longer
training (each rung of the budget ladder) or with another seed?

For each space's fidelity subset and each comparison run: Kendall tau-b and Spearman rho of the proxy's
errors against the other run's (same models paired by `model_id`), each with a percentile-bootstrap 95%
interval over the pairs, the median absolute difference and the median shift (percentage points). A
pooled row ('all') pairs every space's subset.

These are diagnostics, not a gate (design-spec 6b): inside a narrow flops band the models of a space differ
by less than seed noise, so tau is low even when the ordering of the spaces holds, and at n = 30 its
standard error is ~0.13. Claims are judged on their own effects (`analysis.ladder`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from designspace.analysis.ladder import _interval, _rowwise_spearman

COLUMNS = ("space", "against", "n", "kendall", "kendall_low", "kendall_high", "spearman", "spearman_low",
           "spearman_high", "mad", "median_shift")
DRAWS = 2000


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair: x, y (draws, n) -> (draws,); NaN where a row is constant."""
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    concordance = (sx * sy).sum(axis=(1, 2)) / 2
    tx, ty = (sx != 0).sum(axis=(1, 2)) / 2, (sy != 0).sum(axis=(1, 2)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((tx > 0) & (ty > 0), concordance / np.sqrt(tx * ty), np.nan)


def rank_agreement(x: np.ndarray, y: np.ndarray, draws: int = DRAWS, seed: int = 0) -> dict[str, float]:
    """Kendall and Spearman of paired errors with bootstrap intervals, the median |difference| and shift."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    row: dict[str, float] = {"n": int(x.size)}
    nan = float("nan")
    row.update(kendall=nan, kendall_low=nan, kendall_high=nan, spearman=nan, spearman_low=nan, spearman_high=nan,
               mad=float(np.median(np.abs(y - x))) if x.size else nan,
               median_shift=float(np.median(y - x)) if x.size else nan)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return row
    idx = np.random.default_rng(seed).integers(0, x.size, (draws, x.size))
    taus = kendall_tau_b(x[idx], y[idx])
    rhos = _rowwise_spearman(x[idx], y[idx])
    row["kendall"] = float(kendall_tau_b(x, y)[0])
    row["kendall_low"], row["kendall_high"] = _interval(taus[np.isfinite(taus)], 0.95)
    row["spearman"] = float(_rowwise_spearman(x, y))
    row["spearman_low"], row["spearman_high"] = _interval(rhos[np.isfinite(rhos)], 0.95)
    return row


def _paired(base: pd.DataFrame, other: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    joined = base[["model_id", column]].merge(other[["model_id", column]], on="model_id", suffixes=("", "_other"))
    return joined[column].to_numpy(float), joined[f"{column}_other"].to_numpy(float)


def fidelity_table(subsets: Mapping[str, Mapping[str, pd.DataFrame]], base: str = "x1",
                   column: str = "error") -> pd.DataFrame:
    """Per space: {run label: table with model_id and error}, the proxy under `base` -> one row per space and
    other run, plus a pooled row ('all') per run when there are several spaces."""
    rows, pooled = [], {}
    for space, runs in subsets.items():
        if base not in runs:
            continue
        for label, other in runs.items():
            if label == base or other is None:
                continue
            x, y = _paired(runs[base], other, column)
            rows.append({"space": space, "against": label, **rank_agreement(x, y)})
            pooled.setdefault(label, []).append((x, y))
    if len(subsets) > 1:
        for label, pairs in pooled.items():
            x, y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
            rows.append({"space": "all", "against": label, **rank_agreement(x, y)})
    return pd.DataFrame(rows, columns=list(COLUMNS))
