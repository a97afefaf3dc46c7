"""The forecast of the pairs a comparison still needs: calibrated against what the test then does."""

from __future__ import annotations

import numpy as np

from designspace.analysis.forecast import MIN_PAIRS, forecast
from designspace.analysis.sequential import decision_times


def test_no_forecast_from_a_handful_of_pairs():
    f = forecast([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], limit=60)
    assert not f.available and not f.futile and f"before {MIN_PAIRS} pairs" in f.text()


def test_the_same_pairs_give_the_same_forecast():
    rng = np.random.default_rng(0)
    a, b = rng.normal(12.5, 1.0, 12), rng.normal(12, 1.0, 12)
    assert forecast(a, b, limit=60) == forecast(a.copy(), b.copy(), limit=60)


def test_a_clear_gap_needs_few_more_pairs_and_a_tie_without_margin_is_futile():
    rng = np.random.default_rng(1)
    gap = forecast(rng.normal(14, 0.6, 6), rng.normal(12, 0.6, 6), limit=60, seconds_per_pair=120.0)
    assert gap.outcome == "b" and gap.more_median <= 6 and gap.p_decided > 0.9
    assert gap.core_hours() == gap.more_median * 120 / 3600
    tie = forecast(rng.normal(12, 1.0, 40), rng.normal(12, 1.0, 40) + 0.0, limit=60)
    assert tie.p_decided < 0.5


def test_the_decided_share_is_calibrated():
    """Forecast at 16 pairs whether a 0.6-point difference (paired sd 1.25) is decided by 60; over 60 runs the mean
    forecast probability is within 0.2 of how often the test then decided."""
    rng = np.random.default_rng(2)
    forecasts, outcomes = [], []
    for _ in range(60):
        d = rng.normal(0.6, 1.25, 60)
        forecasts.append(forecast(d[:16], np.zeros(16), limit=60).p_decided)
        first, _ = decision_times(d[None], after=16)
        outcomes.append(first[0] > 0)
    assert abs(np.mean(forecasts) - np.mean(outcomes)) <= 0.2
