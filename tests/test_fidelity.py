"""fidelity.csv on fixture data: rank correlations and differences against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from designspace.analysis.fidelity import COLUMNS, MIN_TAU, fidelity_note, fidelity_table


def _t(ids: list[str], errors: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"model_id": ids, "error": errors})


def test_fidelity_rows_by_hand() -> None:
    ids = ["m1", "m2", "m3", "m4"]
    base = _t(ids, [10.0, 20.0, 30.0, 40.0])
    seed = _t(ids, [11.0, 31.0, 19.0, 42.0])  # one swapped pair: 5 concordant, 1 discordant
    long = _t(ids[::-1], [36.0, 26.0, 16.0, 6.0])  # in another order; the same ranking as base, 4 points lower
    table = fidelity_table({"A": (base, seed, long)})
    row = table.iloc[0]
    assert list(table.columns) == list(COLUMNS) and row["space"] == "A" and row["n"] == 4
    assert row["seed_kendall"] == pytest.approx((5 - 1) / 6)
    assert row["seed_spearman"] == pytest.approx(1 - 6 * (0 + 1 + 1 + 0) / (4 * 15))  # 0.8
    assert row["seed_mad"] == pytest.approx(np.median([1, 11, 11, 2]))
    assert row["long_kendall"] == 1.0 and row["long_spearman"] == 1.0
    assert row["long_mad"] == 4.0 and row["long_median_shift"] == -4.0


def test_pooled_row_and_missing_models() -> None:
    a_ids, b_ids = ["a1", "a2", "a3"], ["b1", "b2", "b3"]
    a = _t(a_ids, [10.0, 20.0, 30.0])
    b = _t(b_ids, [40.0, 50.0, 60.0])
    a_long = _t(a_ids[:2], [12.0, 19.0])  # a3 never finished its long run: only pairs count
    b_long = _t(b_ids, [45.0, 44.0, 70.0])
    table = fidelity_table({"A": (a, None, a_long), "B": (b, None, b_long)})
    assert list(table["space"]) == ["A", "B", "all"]
    assert table.iloc[0]["n"] == 2 and np.isnan(table.iloc[0]["long_kendall"])  # 2 pairs: no rank statistic
    pooled = table.iloc[2]
    # pooled pairs (10,12) (20,19) (40,45) (50,44) (60,70): 9 concordant, 1 discordant of 10
    assert pooled["n"] == 5 and pooled["long_kendall"] == pytest.approx(0.8)
    assert np.isnan(pooled["seed_kendall"])


def test_fidelity_note_gates_on_the_pooled_tau() -> None:
    good = pd.DataFrame([{"space": "all", "n": 48, "long_kendall": 0.72}])
    bad = pd.DataFrame([{"space": "all", "n": 48, "long_kendall": MIN_TAU - 0.1}])
    assert fidelity_note(good)[0] and "0.72" in fidelity_note(good)[1]
    ok, text = fidelity_note(bad, 4)
    assert not ok and "too unfaithful" in text and "4x" in text
