"""Verdicts follow the statistics: known-shifted and identical error distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from designspace.analysis import findings as fd
from designspace.net.regnet import regnet_spec
from designspace.net.spec import NetSpec

RNG = np.random.default_rng(0)
BASE = RNG.normal(40, 5, 200)


def test_identical_spaces_cost_nothing():
    other = np.random.default_rng(1).normal(40, 5, 200)
    assert fd.no_loss("A", BASE, "B", other).verdict == "reproduced"


def test_a_clearly_worse_restriction_is_not_free():
    worse = np.random.default_rng(2).normal(46, 5, 200)
    f = fd.no_loss("A", BASE, "B", worse)
    assert f.verdict == "not reproduced" and "significantly worse" in f.evidence


def test_improvement_needs_significance_and_direction():
    better = np.random.default_rng(3).normal(35, 5, 200)
    assert fd.improves("C", BASE, "D", better).verdict == "reproduced"
    assert fd.improves("D", better, "C", BASE).verdict == "not reproduced"
    same = np.random.default_rng(4).normal(40, 5, 200)
    f = fd.improves("C", BASE, "D", same)
    assert f.verdict == "not reproduced" and "no significant improvement" in f.evidence


def test_too_few_models_is_inconclusive():
    assert fd.improves("C", BASE[:3], "D", BASE[:3]).verdict == "inconclusive"


def test_size_claim_uses_orders_of_magnitude():
    f = fd.smaller_space({"A": 10**18, "R": 3 * 10**8}, "A", "R")
    assert f.verdict == "reproduced" and "9.5 orders" in f.evidence
    assert fd.smaller_space({"A": 10**12, "R": 10**8}, "A", "R").verdict == "not reproduced"


def test_best_value_tests():
    x = np.repeat([1.0, 2.0, 4.0], 40)
    err = np.where(x == 1, 30.0, 50.0) + np.random.default_rng(5).normal(0, 1, x.size)
    assert fd.best_value("B", x, err, "b = 1", "eq:1").verdict == "reproduced"
    assert fd.best_value("B", x, err, "b > 1", "gt:1").verdict == "not reproduced"
    depth = np.linspace(5, 40, 120)
    err_d = np.abs(depth - 20) + np.random.default_rng(6).normal(0, 0.1, depth.size)
    assert fd.best_value("E", depth, err_d, "~20", "near:20").verdict == "reproduced"
    assert fd.best_value("E", depth, err_d, "~35", "near:35").verdict == "not reproduced"


def test_width_rule_detects_a_real_correlation():
    """Errors that grow with distance from the generator: e_fit should correlate with error."""
    rng = np.random.default_rng(7)
    specs, errs = [], []
    for _ in range(40):
        exact = regnet_spec(int(rng.integers(8, 16)), 24, float(rng.uniform(20, 40)), 2.5, 8)
        noise = rng.integers(0, 4)
        widths = [w + 8 * noise * (i % 2) for i, w in enumerate(exact.widths)]
        specs.append(NetSpec(exact.depths, widths, exact.bottleneck_ratios, exact.group_widths))
        errs.append(30 + 5 * noise + rng.normal(0, 0.5))
    frame = pd.DataFrame([s.to_row() for s in specs])
    finding, line = fd.width_rule("E", frame, np.array(errs))
    assert finding.verdict == "reproduced", finding.evidence
    assert line["rho"] > 0.5


def _regime_frame(n_per: int, w0_by_regime: list[int], depth_by_regime: list[int]) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(8)
    for budget, w0, depth in zip(["fmnist_50mf", "fmnist_100mf", "fmnist_200mf"], w0_by_regime, depth_by_regime):
        for i in range(n_per):
            good = i < n_per // 4  # the best quarter carries the regime's values
            rows.append({"budget": budget, "status": "ok", "error": (20 if good else 50) + rng.normal(0, 1),
                         "w0": w0 if good else int(rng.choice([8, 16, 24, 32])), "wa": 10.0, "g": 8,
                         "wm": 2.5 + rng.normal(0, 0.1), "total_depth": depth + int(rng.integers(-1, 2))})
    return pd.DataFrame(rows)


def test_regime_trends_follow_the_data():
    from designspace.analysis.study_tables import regime_findings

    budgets = ["fmnist_50mf", "fmnist_100mf", "fmnist_200mf"]
    found = {f.claim: f for f in regime_findings(_regime_frame(40, [8, 24, 64], [20, 20, 20]), budgets, 0.05)}
    assert found["w0 of the best models grows with flops"].verdict == "reproduced"
    assert found["depth of the best models is stable across regimes"].verdict == "reproduced"  # n = 30 >= 20
    found = {f.claim: f for f in regime_findings(_regime_frame(40, [64, 24, 8], [10, 20, 30]), budgets, 0.05)}
    assert found["w0 of the best models grows with flops"].verdict == "not reproduced"
    assert found["depth of the best models is stable across regimes"].verdict == "not reproduced"
    few = {f.claim: f for f in regime_findings(_regime_frame(12, [8, 24, 64], [20, 20, 20]), budgets, 0.05)}
    assert few["depth of the best models is stable across regimes"].verdict == "inconclusive"
