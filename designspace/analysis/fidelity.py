"""Fidelity of a short-schedule proxy, measured on a fixed subset of each space's models.

(a) Seed noise: the subset trained again with another seed; Kendall and Spearman rank correlation of
    the two runs' errors and their median absolute difference (percentage points).
(b) Schedule fidelity: the subset trained with a schedule several times longer; Kendall and Spearman
    of the proxy's errors against the long run's.

`fidelity_table` takes, per space, three tables keyed by `model_id` with an error column (failed or
diverged models already resolved by the outcome policy) and returns one row per space plus a pooled
row ('all') over every space's subset, which is what ranks models across spaces. NAS-Bench-201
reports a Kendall tau of about 0.9 between 12 and 200 epochs; below `MIN_TAU` (0.6) the proxy ranks
something other than the architecture (design-spec 6b).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

MIN_TAU = 0.6
COLUMNS = ("space", "n", "seed_kendall", "seed_spearman", "seed_mad", "long_kendall", "long_spearman",
           "long_mad", "long_median_shift")


def _rank_stats(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan"), float(np.median(np.abs(x - y))) if x.size else float("nan")
    tau = stats.kendalltau(x, y).statistic
    rho = stats.spearmanr(x, y).statistic
    return float(tau), float(rho), float(np.median(np.abs(x - y)))


def _paired(base: pd.DataFrame, other: pd.DataFrame | None, column: str) -> tuple[np.ndarray, np.ndarray]:
    if other is None or len(other) == 0:
        return np.array([]), np.array([])
    joined = base[["model_id", column]].merge(other[["model_id", column]], on="model_id", suffixes=("", "_other"))
    return joined[column].to_numpy(float), joined[f"{column}_other"].to_numpy(float)


def fidelity_table(subsets: Mapping[str, tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]],
                   column: str = "error") -> pd.DataFrame:
    """Per space: (proxy, second seed, long schedule) tables -> the fidelity row; plus the pooled row."""
    rows, pooled = [], {"seed": ([], []), "long": ([], [])}
    for space, (base, seed, long) in subsets.items():
        row: dict[str, object] = {"space": space}
        pairs = {"seed": _paired(base, seed, column), "long": _paired(base, long, column)}
        row["n"] = int(max(len(pairs["seed"][0]), len(pairs["long"][0])))
        for kind, (x, y) in pairs.items():
            tau, rho, mad = _rank_stats(x, y)
            row[f"{kind}_kendall"], row[f"{kind}_spearman"], row[f"{kind}_mad"] = tau, rho, mad
            pooled[kind][0].append(x)
            pooled[kind][1].append(y)
        x, y = pairs["long"]
        row["long_median_shift"] = float(np.median(y - x)) if x.size else float("nan")
        rows.append(row)
    if len(rows) > 1:
        row = {"space": "all"}
        for kind, (xs, ys) in pooled.items():
            x, y = np.concatenate(xs) if xs else np.array([]), np.concatenate(ys) if ys else np.array([])
            row[f"{kind}_kendall"], row[f"{kind}_spearman"], row[f"{kind}_mad"] = _rank_stats(x, y)
            if kind == "long":
                row["long_median_shift"] = float(np.median(y - x)) if x.size else float("nan")
            row["n"] = max(int(row.get("n", 0)), int(x.size))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def fidelity_note(table: pd.DataFrame, factor: int = 4) -> tuple[bool, str]:
    """Whether the proxy's ranking can carry a comparison (pooled long-schedule Kendall tau), and why."""
    if table is None or len(table) == 0:
        return True, "proxy fidelity not measured"
    pooled = table[table["space"] == "all"]
    row = pooled.iloc[0] if len(pooled) else table.iloc[0]
    tau, n = float(row["long_kendall"]), int(row["n"])
    if not np.isfinite(tau):
        return True, "proxy fidelity not measured"
    ok = tau >= MIN_TAU
    text = f"proxy vs {factor}x schedule Kendall tau = {tau:.2f} over n={n} models"
    return ok, text + ("" if ok else f", below {MIN_TAU}: the proxy's ranking is too unfaithful to carry this")
