"""The Jonckheere-Terpstra test of the ordered chain, against brute force, closed forms and simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from designspace.analysis.ordered import jonckheere, jt_statistic, mann_whitney_law


def brute_j(groups):
    """J by its definition: every pair of values from an earlier and a later group, ties one half."""
    total = 0.0
    for i, x in enumerate(groups):
        for y in groups[i + 1:]:
            for u in x:
                for v in y:
                    total += 1.0 if u > v else 0.5 if u == v else 0.0
    return total


def brute_law(groups):
    """J over every assignment of the pooled values to the groups' positions (all permutations)."""
    values = np.concatenate([np.asarray(g, float) for g in groups])
    cuts = np.cumsum([len(g) for g in groups])[:-1]
    return np.array([brute_j(np.split(values[list(p)], cuts)) for p in itertools.permutations(range(values.size))])


def test_statistic_matches_its_definition_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        groups = [rng.integers(0, 6, rng.integers(1, 6)).astype(float) for _ in range(rng.integers(2, 5))]
        assert jt_statistic(groups) == brute_j(groups)


def test_exact_p_equals_enumeration():
    groups = [[3.1, 0.2, 5.5], [1.7, 0.9], [0.1, 0.4]]
    law = brute_law(groups)
    j = jt_statistic(groups)
    res = jonckheere(groups, method="exact")
    assert res.method == "exact"
    assert res.p == pytest.approx(np.mean(law >= j - 1e-9), abs=1e-12)
    # and the null moments are the closed forms of design-spec 6c
    assert res.mean == pytest.approx(law.mean()) and res.var == pytest.approx(law.var())


def test_mann_whitney_law_is_the_count_of_orderings():
    m, n = 3, 4
    counts = np.zeros(m * n + 1)
    for pos in itertools.combinations(range(m + n), m):  # positions of the first sample among the ranks
        u = sum(sum(1 for q in range(m + n) if q not in pos and q < p) for p in pos)
        counts[u] += 1
    assert mann_whitney_law(m, n) == pytest.approx(counts / counts.sum())


def test_permutation_p_with_ties_agrees_with_enumeration():
    groups = [[2.0, 2.0, 3.0], [1.0, 2.0], [1.0, 1.0]]
    law = brute_law(groups)
    expected = np.mean(law >= jt_statistic(groups) - 1e-9)
    res = jonckheere(groups, draws=40_000, seed=3)
    assert res.method == "permutation"
    se = np.sqrt(expected * (1 - expected) / 40_000)
    assert abs(res.p - expected) < 4 * se + 1 / 40_000


def test_type_one_error_on_simulated_nulls():
    rng = np.random.default_rng(7)
    runs, alpha = 600, 0.05
    rejections = sum(jonckheere([rng.normal(size=8) for _ in range(6)]).p < alpha for _ in range(runs))
    assert rejections / runs <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)


def test_power_on_a_simulated_chain():
    """Six spaces of 10 models whose medians fall by 0.3 sd per step (1.5 sd from first to last, the size of the
    one-epoch fmnist_cpu chain): the chain is detected far more often than any single adjacent pair."""
    rng = np.random.default_rng(11)
    runs = 300
    chain = pair = 0
    for _ in range(runs):
        groups = [rng.normal(-0.3 * i, 1.0, 10) for i in range(6)]
        chain += jonckheere(groups).p < 0.05
        pair += jonckheere(groups[2:4]).p < 0.05
    assert chain / runs >= 0.9 and pair / runs <= 0.4


def test_the_order_matters():
    groups = [np.arange(5) + 10.0, np.arange(5) + 5.0, np.arange(5) + 0.0]
    assert jonckheere(groups).p < 0.001
    assert jonckheere(groups[::-1]).p > 0.99


def test_bad_input():
    with pytest.raises(ValueError, match="two groups"):
        jonckheere([[1.0, 2.0]])
    with pytest.raises(ValueError, match="at least one value"):
        jonckheere([[1.0], []])
    with pytest.raises(ValueError, match="finite"):
        jonckheere([[1.0], [np.nan]])
    with pytest.raises(ValueError, match="ties"):
        jonckheere([[1.0, 2.0], [2.0]], method="exact")
