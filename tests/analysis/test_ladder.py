"""Claim-level fidelity (analysis.ladder): verdicts on synthetic populations whose effect persists, shrinks,
reverses or is absent as the budget grows; bootstrap intervals against a simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace.analysis.ladder import (
    convergence_table,
    headline_verdict,
    ladder_verdict,
    median_difference,
    models_to_resolve,
    spearman_effect,
)


def population(rng: np.random.Generator, center: float, n: int, sd: float = 1.0) -> np.ndarray:
    return rng.normal(center, sd, n)


def verdict_for(gap_proxy: float, gap_long: float, n_proxy: int = 30, n_long: int = 30, sd: float = 1.0,
                seed: int = 0, kind: str = "improves") -> str:
    """The ladder verdict for space b better than space a by `gap` points (median errors) at each budget."""
    rng = np.random.default_rng(seed)
    proxy = median_difference(population(rng, 40 + gap_proxy, n_proxy, sd), population(rng, 40, n_proxy, sd))
    long = median_difference(population(rng, 12 + gap_long, n_long, sd), population(rng, 12, n_long, sd))
    return ladder_verdict(proxy, long, kind)[0]


def test_an_effect_that_persists_holds() -> None:
    assert verdict_for(3.0, 3.0) == "holds"
    assert headline_verdict("holds") == "reproduced"


def test_an_effect_that_shrinks_but_stays_is_marked_smaller() -> None:
    assert verdict_for(10.0, 2.0, sd=0.8) == "holds, smaller"


def test_an_effect_that_vanishes_is_a_proxy_effect() -> None:
    assert verdict_for(10.0, 0.0, n_long=20, sd=1.0) == "shrinks"
    assert headline_verdict("shrinks") == "inconclusive"


def test_an_effect_that_reverses() -> None:
    assert verdict_for(5.0, -3.0) == "reverses"
    assert headline_verdict("reverses") == "not reproduced"


def test_the_null_stays_not_shown() -> None:
    """No effect at either budget: never 'holds'; with a point estimate against the claim, 'not shown'."""
    outcomes = {verdict_for(0.0, 0.0, seed=s) for s in range(20)}
    assert outcomes <= {"not shown", "too few models to tell"}
    assert "not shown" in outcomes


def test_an_effect_that_appears_only_with_training() -> None:
    assert verdict_for(0.0, 3.0) == "appears"


def test_too_few_models_at_the_long_rung() -> None:
    verdict = verdict_for(5.0, 5.0, n_long=3)
    assert verdict == "too few models to tell"


def test_a_small_effect_in_the_claimed_direction_says_how_many_models_would_tell() -> None:
    rng = np.random.default_rng(3)
    proxy = median_difference(population(rng, 41.0, 30), population(rng, 40.0, 30))
    long = median_difference(population(rng, 12.4, 10), population(rng, 12.0, 10))
    verdict, text = ladder_verdict(proxy, long)
    need = models_to_resolve(long)
    if verdict == "too few models to tell":
        assert need is not None and f"~{need} models" in text
    else:
        assert verdict in {"not shown", "holds", "appears"}


def test_models_to_resolve_follows_the_square_root_law() -> None:
    from designspace.analysis.ladder import Effect

    # half-width 2, point 1, n 10: the half-width must halve, so n grows fourfold
    assert models_to_resolve(Effect(1.0, -1.0, 3.0, 10, 10)) == 40
    assert models_to_resolve(Effect(-1.0, -3.0, 1.0, 10, 10)) is None


def test_no_loss_claims() -> None:
    rng = np.random.default_rng(1)
    same = median_difference(population(rng, 20, 30), population(rng, 20, 30))
    assert ladder_verdict(same, same, "no_loss")[0] == "holds"
    worse = median_difference(population(rng, 25, 30), population(rng, 20, 30))  # b (first) worse by 5
    assert ladder_verdict(same, worse, "no_loss")[0] == "reverses"


def test_median_difference_point_and_ks_distance_against_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = population(rng, 3, 25), population(rng, 0, 17)
    e = median_difference(a, b, draws=500)
    assert e.point == pytest.approx(np.median(a) - np.median(b))
    # scipy's one-sided statistic: alternative='less' tests F_b above F_a with the first argument b
    assert e.ks_d == pytest.approx(stats.ks_2samp(b, a, alternative="greater").statistic)
    assert e.low <= e.point <= e.high and e.ks_low <= e.ks_d + 1e-12


def test_median_difference_interval_covers_the_truth_in_simulation() -> None:
    """Percentile bootstrap of a median difference, n = 30 each from normals: ~95% coverage."""
    rng = np.random.default_rng(11)
    truth, hits, reps = 1.5, 0, 300
    for rep in range(reps):
        e = median_difference(rng.normal(truth, 1, 30), rng.normal(0, 1, 30), draws=1000, seed=rep)
        hits += e.low <= truth <= e.high
    assert 0.90 <= hits / reps <= 0.99


def test_spearman_interval_covers_the_truth_in_simulation() -> None:
    """Bivariate normal with rho 0.6: population Spearman = (6/pi) asin(rho/2); n = 40."""
    rng = np.random.default_rng(12)
    rho = 0.6
    truth = 6 / np.pi * np.arcsin(rho / 2)
    cov = [[1, rho], [rho, 1]]
    hits, reps = 0, 200
    for rep in range(reps):
        x, y = rng.multivariate_normal([0, 0], cov, 40).T
        e = spearman_effect(x, y, draws=1000, seed=rep)
        assert e.point == pytest.approx(stats.spearmanr(x, y).statistic)
        hits += e.low <= truth <= e.high
    assert 0.88 <= hits / reps <= 0.99


def test_convergence_table_pairs_the_same_models() -> None:
    base = pd.DataFrame({"model_id": ["a", "b", "c"], "error": [40.0, 30.0, 50.0]})
    longer = pd.DataFrame({"model_id": ["c", "a", "b"], "error": [20.0, 14.0, 13.0]})
    table = convergence_table({"S": {1: base, 4: longer}}, {1: 100, 4: 400})
    assert list(table["n"]) == [3, 3]
    assert table["median_error"].tolist() == [40.0, 14.0]
    # paired shifts: a -26, b -17, c -30 -> median -26 (an unpaired difference of medians would give -26 too,
    # so check a case where they differ)
    assert table["median_shift"].iloc[1] == -26.0
    longer2 = pd.DataFrame({"model_id": ["a", "b", "c"], "error": [41.0, 10.0, 49.0]})
    t2 = convergence_table({"S": {1: base, 4: longer2}}, {1: 100, 4: 400})
    assert t2["median_shift"].iloc[1] == -1.0  # shifts +1, -20, -1; medians 40 -> 41 would say +1


def test_cheapest_agreeing_rung() -> None:
    from designspace.analysis.ladder import cheapest_agreeing_rung

    rows = [("A vs R", "x1", 15.0, 5, 25), ("A vs R", "x4", 1.5, -0.5, 3.0), ("A vs R", "x16", 1.0, 0.0, 2.0),
            ("C vs E", "x1", 5.0, 2, 8), ("C vs E", "x4", 0.5, -1, 2), ("C vs E", "x16", 0.0, -0.9, 1.4)]
    table = pd.DataFrame(rows, columns=["claim", "rung", "effect", "low", "high"])
    assert cheapest_agreeing_rung(table, ["x1", "x4", "x16"]) == "x4"
    table.loc[4, "effect"] = 1.6  # x4 now outside the one-epoch interval of C vs E
    assert cheapest_agreeing_rung(table, ["x1", "x4", "x16"]) == "x16"
