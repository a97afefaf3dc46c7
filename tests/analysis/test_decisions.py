"""Which comparison gets the next models, and why each stops (`analysis.decisions`), on simulated errors."""

from __future__ import annotations

import numpy as np

from designspace.analysis.decisions import FUTILITY_AFTER, Comparison, Plan, spent_seconds, standings, targets


def _errors(rng, laws, n):
    return {k: np.array([law(rng) for _ in range(n)]) for k, law in laws.items()}


def test_targets_start_every_arm_then_serve_the_cheapest():
    rng = np.random.default_rng(0)
    plan = Plan(start=4, step=2, cap=30)
    errors = {"a": np.empty(0), "b": np.empty(0), "c": np.empty(0)}
    seconds = {k: np.empty(0) for k in errors}
    comparisons = [Comparison("a", "b"), Comparison("b", "c")]
    assert targets(errors, standings(errors, seconds, comparisons, plan), plan) == {"a": 4, "b": 4, "c": 4}
    # a vs b: a clear gap; b vs c: a small one - a vs b's forecast decision is cheaper, so it alone goes on
    errors = {"a": rng.normal(15, 0.5, 6), "b": rng.normal(12, 0.5, 6), "c": rng.normal(12.2, 0.5, 6)}
    seconds = {k: np.full(6, 60.0) for k in errors}
    st = standings(errors, seconds, comparisons, plan)
    assert st[comparisons[0]].stop is None and st[comparisons[1]].stop is None  # neither decided at 6 pairs
    assert st[comparisons[0]].forecast.more_median < st[comparisons[1]].forecast.more_median
    assert targets(errors, st, plan) == {"a": 8, "b": 8, "c": 4}


def test_stops_cap_forecast_and_budget():
    rng = np.random.default_rng(1)
    same = {"a": rng.normal(12, 1.0, 60), "b": rng.normal(12, 1.0, 60)}
    seconds = {k: np.full(60, 100.0) for k in same}
    c = Comparison("a", "b")  # no margin: a tie can never be decided
    at_cap = standings(same, seconds, [c], Plan(start=10, step=2, cap=40))[c]
    assert at_cap.stop == "cap" and at_cap.pairs == 40 and "cap" in at_cap.why
    # the forecast gives a tie with no margin little chance within 60; it may stop it only from FUTILITY_AFTER pairs
    early = {k: v[: FUTILITY_AFTER - 2] for k, v in same.items()}
    st = standings(early, seconds, [c], Plan(start=10, step=2, cap=60))[c]
    assert st.stop is None
    later = {k: v[:40] for k, v in same.items()}
    st = standings(later, seconds, [c], Plan(start=10, step=2, cap=60))[c]
    assert st.forecast.futile and st.stop == "forecast" and "forecast" in st.why
    # 30 added models a side at 100 s each = 6,000 core-seconds: a budget of 5,000 is spent
    assert spent_seconds({k: v[:40] for k, v in seconds.items()}, 10) == 6000
    # early (8 added a side: 1,600 core-seconds): the budget alone decides whether it goes on
    paid = {k: v[:18] for k, v in seconds.items()}
    assert standings(early, paid, [c], Plan(start=10, step=2, cap=60, budget_s=5000))[c].stop is None
    assert standings(early, paid, [c], Plan(start=10, step=2, cap=60, budget_s=1500))[c].stop == "budget"
    # a decision is a decision, budget or not
    st = standings(later, seconds, [Comparison("a", "b", margin=2.0)], Plan(start=10, step=2, cap=60, budget_s=5000))
    assert next(iter(st.values())).stop == "decided"


def test_seconds_per_pair_and_cost():
    errors = {"a": np.full(8, 12.0), "b": np.full(8, 11.0)}
    seconds = {"a": np.full(8, 50.0), "b": np.array([100.0] * 7 + [np.nan])}
    st = standings(errors, seconds, [Comparison("a", "b")], Plan(start=4, step=2, cap=30))
    s = next(iter(st.values()))
    assert s.seconds_per_pair == 150.0
