"""The good range of a sampled training hyperparameter: the best-model bootstrap against the exact law of the best
model's rank, the verdict on a reference value, and narrower ranges scored with scipy's one-sided KS and Holm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace.analysis.hparams import (
    PRODUCT,
    good_ranges,
    range_hypotheses,
    sampling_range,
    varying_hparams,
    with_product,
)
from designspace.analysis.outcomes import ERROR, resolve_errors


def _sweep(n: int = 80, seed: int = 0, space: str = "RegNet") -> pd.DataFrame:
    """n models with lr and weight decay log-uniform; error lowest near lr 0.2, weight decay without effect."""
    rng = np.random.default_rng(seed)
    lr = np.exp(rng.uniform(math.log(0.05), math.log(0.8), n))
    wd = np.exp(rng.uniform(math.log(1e-5), math.log(1e-3), n))
    err = 25 + 6 * np.log(lr / 0.2) ** 2 + rng.normal(0, 0.3, n)
    return pd.DataFrame({"model_id": [f"{i:012x}" for i in range(n)], "lr": lr, "weight_decay": wd, "error": err,
                         "status": "ok", "space": space})


def _exact_quantile(values: np.ndarray, errors: np.ndarray, frac: float, q: float) -> float:
    """The q-quantile of the best model's value when m = round(frac n) models are drawn with replacement: the best
    has error rank r with probability ((n - r)/n)^m - ((n - r - 1)/n)^m."""
    n = values.size
    m = max(1, round(frac * n))
    r = np.arange(n)
    p = ((n - r) / n) ** m - ((n - r - 1) / n) ** m
    x = values[np.argsort(errors, kind="stable")]
    order = np.argsort(x, kind="stable")
    cdf = np.cumsum(p[order])
    return float(x[order][np.searchsorted(cdf, q)])


def test_the_good_range_is_the_best_models_law_on_a_log_scale() -> None:
    frame = _sweep()
    ranges = good_ranges(frame).set_index("param")
    assert list(ranges.index) == ["lr", "weight_decay", PRODUCT] and ranges["log_scale"].all()
    for key in ("lr", "weight_decay"):
        x, e = frame[key].to_numpy(), frame["error"].to_numpy()
        for col, (a, b) in (("low", (0.015, 0.035)), ("median", (0.45, 0.55)), ("high", (0.965, 0.985))):
            assert _exact_quantile(x, e, 0.25, a) <= ranges.loc[key, col] <= _exact_quantile(x, e, 0.25, b), (key, col)
    assert 0.12 < ranges.loc["lr", "median"] < 0.33 and ranges.loc["lr", "high"] < 0.6  # the planted optimum, 0.2
    assert (ranges["n"] == 80).all() and (ranges["per_draw"] == 20).all()


def test_the_reference_is_judged_inside_below_or_above() -> None:
    ranges = good_ranges(_sweep(), reference={"lr": 0.2, "weight_decay": 5e-5}).set_index("param")
    assert ranges.loc["lr", "verdict"] == "inside" and ranges.loc[PRODUCT, "reference"] == pytest.approx(1e-5)
    low = good_ranges(_sweep(), ["lr"], reference={"lr": 0.051})
    high = good_ranges(_sweep(), ["lr"], reference={"lr": 0.79})
    assert low["verdict"].tolist() == ["below"] and high["verdict"].tolist() == ["above"]
    assert good_ranges(_sweep(), ["lr"])["verdict"].tolist() == [""]


def test_spaces_apart_and_too_few_models_skipped() -> None:
    frame = pd.concat([_sweep(80, 1, "A"), _sweep(20, 2, "B")], ignore_index=True)
    ranges = good_ranges(frame)
    assert set(ranges["space"]) == {"A"} and ranges.attrs["too_few"] == {"B": 20}


def test_varying_keys_and_the_product() -> None:
    frame = _sweep(10)
    assert varying_hparams(frame) == ["lr", "weight_decay", PRODUCT]
    assert varying_hparams(frame.assign(weight_decay=5e-5)) == ["lr"]
    assert varying_hparams(frame.drop(columns=["lr", "weight_decay"])) == []
    assert np.allclose(with_product(frame)[PRODUCT], frame["lr"] * frame["weight_decay"])


def test_narrower_ranges_are_scored_with_one_sided_ks_and_holm() -> None:
    used, _ = resolve_errors(_sweep(120, 3))
    scored = range_hypotheses(used, "lr", min_kept=5)
    best = scored.iloc[0]
    assert (math.isnan(best["low"]) or best["low"] <= 0.2) and best["high"] >= 0.2
    lr, err = used["lr"].to_numpy(), used[ERROR].to_numpy()
    for _, row in scored.head(5).iterrows():
        kept = (np.isnan(row["low"]) | (lr >= row["low"])) & (np.isnan(row["high"]) | (lr <= row["high"]))
        d = stats.ks_2samp(err[kept], err[~kept], alternative="greater").statistic  # sup(F_kept - F_rest)
        assert row["D_rest"] == pytest.approx(d) and row["n_kept"] == kept.sum()
    tested = scored[scored["tested"]].sort_values("p_value", kind="stable")
    p, m = tested["p_value"].to_numpy(), len(tested)
    holm = np.minimum(1, np.maximum.accumulate([(m - i) * p[i] for i in range(m)]))
    assert np.allclose(tested["p_holm"].to_numpy(), holm)
    assert best["significant"]


def test_no_ranges_for_too_few_models_or_one_value() -> None:
    used, _ = resolve_errors(_sweep(6))
    assert range_hypotheses(used, "lr").empty
    used, _ = resolve_errors(_sweep(40).assign(lr=0.1))
    assert range_hypotheses(used, "lr").empty


@pytest.mark.parametrize("low, high, expected", [
    (0.1234, 0.4567, (0.12, 0.46)), (1.234e-5, 9.87e-4, (1.2e-5, 9.9e-4)), (0.2, 0.5, (0.2, 0.5)),
])
def test_the_next_range_is_widened_to_two_digits(low: float, high: float, expected: tuple[float, float]) -> None:
    got = sampling_range(low, high)
    assert got == pytest.approx(expected) and got[0] <= low and got[1] >= high
