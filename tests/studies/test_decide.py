"""Training until decided: the rounds of `studies.decide` on simulated errors (no training), and its orders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from designspace.analysis.decisions import Comparison, Plan
from designspace.studies import decide
from designspace.studies.decide import Arm, random_order, run_until_decided


class FakeSweeps:
    """Arms whose 'training' draws an error from a given law and remembers it, in place of records."""

    def __init__(self, laws: dict[str, callable], cap: int) -> None:
        self.rng = np.random.default_rng(0)
        self.laws = laws
        self.errors: dict[str, dict[str, float]] = {name: {} for name in laws}
        self.calls: list[tuple[str, int, bool]] = []
        self.arms = [Arm(name, None, tuple(f"{name}{i}" for i in range(cap))) for name in laws]  # type: ignore[arg-type]

    def train(self, arm: Arm, ids: list[str], wait: bool) -> None:
        self.calls.append((arm.name, len(ids), wait))
        if wait:
            return
        for model_id in ids:
            self.errors[arm.name].setdefault(model_id, float(self.laws[arm.name](self.rng)))

    def trained(self, arm: Arm) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for model_id in arm.order:
            if model_id not in self.errors[arm.name]:
                break
            out.append(self.errors[arm.name][model_id])
        return np.asarray(out), np.full(len(out), 60.0)  # a minute a model


@pytest.fixture
def fake(monkeypatch):
    def make(laws, cap):
        sweeps = FakeSweeps(laws, cap)
        monkeypatch.setattr(decide, "trained", sweeps.trained)
        return sweeps
    return make


def test_a_clear_gap_stops_early_and_a_tie_stops_on_its_forecast_or_cap(fake):
    sweeps = fake({"a": lambda r: r.normal(15, 0.5), "b": lambda r: r.normal(12, 0.5),
                   "c": lambda r: r.normal(12, 0.5)}, cap=60)
    plan = Plan(start=4, step=2, cap=60)
    looks = []
    res = run_until_decided(sweeps.arms, [Comparison("a", "b"), Comparison("b", "c")], plan, sweeps.train,
                            lambda r, t: looks.append(dict(t)))
    gap, tie = res[Comparison("a", "b")], res[Comparison("b", "c")]
    assert gap.result.decision == "b" and gap.stop == "decided" and gap.pairs < 20
    # a tie without a margin cannot decide: it goes on until its forecast gives up (from 20 pairs) or the cap
    assert tie.result.decision == "undecided" and tie.stop in ("forecast", "cap") and tie.pairs >= 20
    assert tie.forecast.futile or tie.pairs == 60
    trained = {k: len(v) for k, v in sweeps.errors.items()}
    assert trained["a"] == gap.pairs + (gap.pairs % 2)  # a stops with its comparison (rounds of 2)
    assert trained["b"] == trained["c"] == tie.pairs
    assert looks[0] == {"a": 0, "b": 0, "c": 0} and looks[1] == {"a": 4, "b": 4, "c": 4}
    # every round serves every arm without waiting first, then waits
    waits = [w for _, _, w in sweeps.calls]
    assert waits[:6] == [False, False, False, True, True, True]


def test_one_comparison_at_a_time_cheapest_forecast_first(fake):
    """After the first models, each round serves only the going comparison whose forecast decision is cheapest:
    the clear gap (a vs b) is finished before the small one (c vs d) gets more than its start."""
    sweeps = fake({"a": lambda r: r.normal(14, 0.5), "b": lambda r: r.normal(12, 0.5),
                   "c": lambda r: r.normal(12.5, 1.2), "d": lambda r: r.normal(12, 1.2)}, cap=40)
    looks = []
    res = run_until_decided(sweeps.arms, [Comparison("a", "b"), Comparison("c", "d")], Plan(start=6, step=2, cap=40),
                            sweeps.train, lambda r, t: looks.append(dict(t)))
    gap = res[Comparison("a", "b")]
    assert gap.stop == "decided"
    before = [t for t in looks if t["a"] < gap.pairs + gap.pairs % 2 and t["a"] >= 6]
    assert all(t["c"] == 6 for t in before)  # c vs d waited while a vs b was cheaper


def test_the_budget_stops_the_added_models(fake):
    """A budget of 10 model-minutes (the fake's models cost a minute): after the first 4 per arm, the rounds stop
    once 10 added models are spent (a round started before may finish past it), each stop saying so."""
    sweeps = fake({"a": lambda r: r.normal(12.3, 1.0), "b": lambda r: r.normal(12, 1.0)}, cap=60)
    res = run_until_decided(sweeps.arms, [Comparison("a", "b")], Plan(start=4, step=2, cap=60, budget_s=600),
                            sweeps.train)
    s = res[Comparison("a", "b")]
    added = sum(len(v) - 4 for v in sweeps.errors.values())
    assert s.stop == "budget" and 10 <= added <= 12 and "budget" in s.why


def test_equivalence_with_a_margin_stops(fake):
    sweeps = fake({"a": lambda r: r.normal(12, 0.2), "b": lambda r: r.normal(12, 0.2)}, cap=200)
    res = run_until_decided(sweeps.arms, [Comparison("a", "b", margin=0.5)], Plan(2, 2, 200), sweeps.train)
    assert res[Comparison("a", "b", 0.5)].result.decision == "equivalent"
    assert len(sweeps.errors["a"]) < 200


def test_random_order_is_fixed_by_the_seed_not_by_results(tmp_path):
    from designspace.sweep.layout import SweepDir

    sweep = SweepDir(tmp_path / "s")
    sweep.root.mkdir()
    ids = [f"{i:012x}" for i in range(20)]
    pd.DataFrame({"model_id": ids}).to_parquet(sweep.samples_path)
    first, again, other = random_order(sweep, 0), random_order(sweep, 0), random_order(sweep, 1)
    assert first == again and sorted(first) == ids and first != other and list(first) != ids
    # a uniform order: over seeds, each model is first about equally often
    firsts = pd.Series([random_order(sweep, s)[0] for s in range(2000)]).value_counts()
    assert len(firsts) == 20 and firsts.max() < 2000 / 20 * 1.6


def test_a_comparison_naming_no_arm_or_too_few_models(fake):
    sweeps = fake({"a": lambda r: 1.0, "b": lambda r: 2.0}, cap=5)
    with pytest.raises(ValueError, match="no arm"):
        run_until_decided(sweeps.arms, [Comparison("a", "z")], Plan(2, 1, 5), sweeps.train)
    with pytest.raises(ValueError, match="fewer than the cap"):
        run_until_decided(sweeps.arms, [Comparison("a", "b")], Plan(2, 1, 6), sweeps.train)
