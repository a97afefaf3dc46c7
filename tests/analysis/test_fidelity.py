"""fidelity.csv (per-model diagnostics): rank correlations, their intervals and differences against
hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace.analysis.fidelity import COLUMNS, fidelity_table, kendall_tau_b, rank_agreement


def _t(ids: list[str], errors: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"model_id": ids, "error": errors})


def test_fidelity_rows_by_hand() -> None:
    ids = ["m1", "m2", "m3", "m4"]
    base = _t(ids, [10.0, 20.0, 30.0, 40.0])
    seed = _t(ids, [11.0, 31.0, 19.0, 42.0])  # one swapped pair: 5 concordant, 1 discordant
    long = _t(ids[::-1], [36.0, 26.0, 16.0, 6.0])  # in another order; the same ranking as base, 4 points lower
    table = fidelity_table({"A": {"x1": base, "seed": seed, "x4": long}})
    assert list(table.columns) == list(COLUMNS) and list(table["against"]) == ["seed", "x4"]
    s, lg = table.iloc[0], table.iloc[1]
    assert s["n"] == 4 and s["kendall"] == pytest.approx((5 - 1) / 6)
    assert s["spearman"] == pytest.approx(1 - 6 * (0 + 1 + 1 + 0) / (4 * 15))  # 0.8
    assert s["mad"] == pytest.approx(np.median([1, 11, 11, 2]))
    assert lg["kendall"] == 1.0 and lg["spearman"] == 1.0
    assert lg["mad"] == 4.0 and lg["median_shift"] == -4.0
    assert lg["kendall_low"] == lg["kendall_high"] == 1.0  # every resample of a perfect ranking is perfect


def test_pooled_row_and_missing_models() -> None:
    a_ids, b_ids = ["a1", "a2", "a3"], ["b1", "b2", "b3"]
    a = _t(a_ids, [10.0, 20.0, 30.0])
    b = _t(b_ids, [40.0, 50.0, 60.0])
    a_long = _t(a_ids[:2], [12.0, 19.0])  # a3 never finished its long run: only pairs count
    b_long = _t(b_ids, [45.0, 44.0, 70.0])
    table = fidelity_table({"A": {"x1": a, "x4": a_long}, "B": {"x1": b, "x4": b_long}})
    assert list(table["space"]) == ["A", "B", "all"]
    assert table.iloc[0]["n"] == 2 and np.isnan(table.iloc[0]["kendall"])  # 2 pairs: no rank statistic
    pooled = table.iloc[2]
    # pooled pairs (10,12) (20,19) (40,45) (50,44) (60,70): 9 concordant, 1 discordant of 10
    assert pooled["n"] == 5 and pooled["kendall"] == pytest.approx(0.8)


def test_tau_b_against_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 5, 12).astype(float), rng.integers(0, 5, 12).astype(float)
        assert kendall_tau_b(x, y)[0] == pytest.approx(stats.kendalltau(x, y).statistic)


def test_kendall_interval_covers_the_truth_in_simulation() -> None:
    """Bivariate normal, rho 0.7: population tau = (2/pi) asin(rho); n = 30; ~95% coverage."""
    rng = np.random.default_rng(4)
    rho, hits, reps = 0.7, 0, 150
    truth = 2 / np.pi * np.arcsin(rho)
    for rep in range(reps):
        x, y = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], 30).T
        row = rank_agreement(x, y, draws=800, seed=rep)
        hits += row["kendall_low"] <= truth <= row["kendall_high"]
    assert 0.87 <= hits / reps <= 0.99
