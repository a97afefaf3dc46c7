"""The sequential comparison: error rates under continuous monitoring, by simulation, for any distribution, and the
pairs each test spends (the clipped test weighs each difference; the sign test counts wins)."""

from __future__ import annotations

import numpy as np
import pytest

from designspace.analysis.betting import clipped_log_wealth, sign_wealth
from designspace.analysis.sequential import compare, confidence_sequence, decision_times, fixed_n_sign_test

ALPHA = 0.05


def _limit(runs: int, alpha: float = ALPHA) -> float:
    """alpha plus three simulation standard errors."""
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)


NULLS = {
    "normal": lambda rng, shape: rng.normal(12, 0.75, shape),
    "lognormal (skewed)": lambda rng, shape: rng.lognormal(2.5, 0.8, shape),
    "cauchy (heavy tails)": lambda rng, shape: 12 + rng.standard_cauchy(shape),
    "errors on 0.05 steps (ties)": lambda rng, shape: np.round(rng.normal(12, 0.3, shape) / 0.05) * 0.05,
}


def _null_pairs(name: str, rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """a and b under "b is no better": one law for both, or (heteroscedastic) both centred on 12 with spreads 0.3
    and 1.7."""
    if name == "heteroscedastic (sd 0.3 vs 1.7)":
        return rng.normal(12, 0.3, shape), rng.normal(12, 1.7, shape)
    return NULLS[name](rng, shape), NULLS[name](rng, shape)


@pytest.mark.parametrize("test", ["clipped", "sign"])
@pytest.mark.parametrize("name", [*NULLS, "heteroscedastic (sd 0.3 vs 1.7)"])
def test_null_sequences_monitored_after_every_pair_rarely_decide(name, test):
    """a and b under the null, looked at after each of 300 pairs: "a" or "b" in at most alpha of runs."""
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    runs, pairs = 2000, 300
    a, b = _null_pairs(name, rng, (runs, pairs))
    if test == "sign":
        up, down = (np.log(w) for w in sign_wealth(a - b, np.array([0.0])))
    else:  # the same wealth compare() reads at 0, all runs at once
        up, down = clipped_log_wealth(a - b, np.array([0.0]))
    decided = ((up[..., 0] >= np.log(2 / ALPHA)) | (down[..., 0] >= np.log(2 / ALPHA))).any(axis=1)
    assert decided.mean() <= _limit(runs)


def test_a_one_sided_null_shifted_towards_a_keeps_the_bet_on_b_valid():
    """b worse by a little (d shifted below 0, skewed): the bet that b is better wins in at most alpha/2 of runs."""
    rng = np.random.default_rng(3)
    runs, pairs = 2000, 300
    d = rng.lognormal(0.0, 1.0, (runs, pairs)) - rng.lognormal(0.0, 1.0, (runs, pairs)) - 0.05
    up, _ = clipped_log_wealth(d, np.array([0.0]))
    assert (up[..., 0] >= np.log(2 / ALPHA)).any(axis=1).mean() <= ALPHA / 2 + 3 * np.sqrt(ALPHA / 2 / runs)


def test_the_vectorised_decisions_are_compares():
    """decision_times on many runs decides as compare() does on each (pairs and decision), margin included."""
    rng = np.random.default_rng(11)
    d = rng.normal(0.3, 1.0, (12, 80))
    for test in ("clipped", "sign"):
        first, decision = decision_times(d, margin=0.6, test=test)
        for row, t, what in zip(d, first, decision):
            res = compare(row, np.zeros_like(row), margin=0.6, test=test)
            assert (res.decision, res.n if res.decided else 0) == (what, t)


def test_compare_itself_on_null_sequences():
    rng = np.random.default_rng(5)
    runs = 150
    decided = sum(compare(rng.exponential(1, 80), rng.exponential(1, 80)).decision in ("a", "b") for _ in range(runs))
    assert decided / runs <= _limit(runs)


@pytest.mark.parametrize("name", ["lognormal (skewed)", "errors on 0.05 steps (ties)"])
def test_the_sign_interval_covers_the_median_at_all_times(name):
    """Monitored after every pair, the sign test's running interval excludes the true median of the differences in
    at most alpha of runs - also for a skewed law and for one with atoms (ties)."""
    rng = np.random.default_rng(9)
    runs, misses = 300, 0
    for _ in range(runs):
        d = NULLS[name](rng, 200) - NULLS[name](rng, 200) + 0.7 if name.startswith("errors") else \
            rng.lognormal(0.0, 1.0, 200) + 0.3  # median 1.3
        true = 0.7 if name.startswith("errors") else 1.3
        low, high, _, _ = confidence_sequence(d, test="sign")
        misses += bool(((low > true) | (high < true)).any())
    assert misses / runs <= _limit(runs)


def test_the_clipped_interval_covers_the_centre_at_all_times():
    """For a symmetric law (heavy tails, on 0.05 steps) the clipped test's running interval excludes its centre in
    at most alpha of runs, looked at after every pair: the interval excludes theta at some look exactly when a bet at
    theta reached 2/alpha then (the wealth is monotone in the shift), read for 2,000 runs at once."""
    rng = np.random.default_rng(12)
    runs, pairs, centre = 2000, 150, 0.7
    d = np.round((centre + rng.standard_t(3, (runs, pairs))) / 0.05) * 0.05  # symmetric about 0.7 on the 0.05 grid
    up, down = clipped_log_wealth(d, np.array([centre]))
    missed = ((up[..., 0] >= np.log(2 / ALPHA)) | (down[..., 0] >= np.log(2 / ALPHA))).any(axis=1)
    assert missed.mean() <= _limit(runs)
    for row, miss in zip(d[:20], missed[:20]):  # and the interval compare() reports says the same
        low, high, _, _ = confidence_sequence(row)
        assert bool(((low > centre) | (high < centre)).any()) == bool(miss)


def test_the_clipped_interval_is_the_set_no_bet_rejects():
    """Each look's interval (before the running intersection) against a dense grid of shifts: its ends are within
    the grid's step of the first and last kept shift, rounded outwards (never narrower)."""
    from designspace.analysis import sequential as seq
    from designspace.analysis.betting import clip_levels

    rng = np.random.default_rng(13)
    for _ in range(3):
        d = rng.normal(0.4, 1.3, 60)
        low, high, _, _ = seq._clipped_sequence(d, ALPHA)
        grid = np.linspace(-6, 6, 12001)
        up, down = clipped_log_wealth(d, grid, clip_levels(d))
        kept = (up < np.log(2 / ALPHA)) & (down < np.log(2 / ALPHA))
        for t in (5, 20, 59):
            inside = grid[kept[t]]
            assert low[t] <= inside.min() <= low[t] + 0.002 if np.isfinite(low[t]) else kept[t][0]  # -inf: unbounded
            assert high[t] - 0.002 <= inside.max() <= high[t] if np.isfinite(high[t]) else kept[t][-1]
        assert np.isfinite(low[59]) and np.isfinite(high[59])  # 60 pairs bound it on both sides


def _pairs_spent(d: np.ndarray, test: str) -> np.ndarray:
    first, _ = decision_times(d, test=test)
    return np.where(first > 0, first, d.shape[1])


@pytest.mark.slow
def test_the_clipped_test_meets_its_targets_at_half_a_point():
    """The issue's targets (paired sd 1.25, a 0.5-point difference, 1,000 runs of up to 300 pairs): a mean of at most
    65 pairs to a decision, at most 80 when 5% of the pairs hold a diverged model (80 points off, either side);
    the sign test needs ~1.4x more."""
    rng = np.random.default_rng(21)
    d = rng.normal(0.5, 1.25, (1000, 300))
    diverged = rng.random(d.shape) < 0.05
    d_div = np.where(diverged, np.where(rng.random(d.shape) < 0.5, 80.0, -80.0), d)
    clipped, sign = _pairs_spent(d, "clipped").mean(), _pairs_spent(d, "sign").mean()
    assert clipped <= 65 and clipped * 1.25 <= sign
    assert _pairs_spent(d_div, "clipped").mean() <= 80


def test_a_diverged_model_is_one_vote():
    """Ten near-ties and one pair whose b model diverged (error 95): the clipped test does not decide for a on the
    strength of one 80-point difference, where a bet on the raw mean would."""
    rng = np.random.default_rng(1)
    a = 12 + rng.normal(0, 0.3, 12)
    b = 12 + rng.normal(0, 0.3, 12)
    b[5] = 95.0
    res = compare(a, b)
    assert res.decision == "undecided" and res.wealth_a < 2


def test_a_clear_gap_is_decided_in_few_models():
    """P(b better) = 0.85 (as A vs RegNet, one epoch): decided for b in most runs, in about the pairs a fixed-n
    sign test needs for 80% power."""
    from scipy.stats import norm

    rng = np.random.default_rng(2)
    shift = norm.ppf(0.85) * np.sqrt(2) * 0.75  # a - b ~ N(shift, 2 * 0.75^2)
    d = rng.normal(13.0 + shift, 0.75, (400, 200)) - rng.normal(13.0, 0.75, (400, 200))
    fixed = fixed_n_sign_test(0.85)
    for test in ("clipped", "sign"):  # what compare() decides on each row (test_the_vectorised_decisions_are_compares)
        first, decision = decision_times(d, test=test)
        assert (decision == "b").mean() >= 0.95
        assert np.median(np.where(first > 0, first, 200)) <= 1.3 * fixed  # sign: 15 against 15; clipped: fewer


@pytest.mark.parametrize("test", ["clipped", "sign"])
def test_the_direction_and_the_stop(test):
    rng = np.random.default_rng(4)
    a, b = rng.normal(10, 0.5, 100), rng.normal(14, 0.5, 100)
    res = compare(a, b, test=test)
    assert res.decision == "a" and res.decided and res.n < 100 and res.test == test
    assert res.high < 0  # the location of a - b is negative: a's errors are lower
    assert res.text(("x", "y")).startswith("x is better than y: ")
    assert len(res.history) == res.n and res.history["wealth_a"].iat[-1] >= 2 / ALPHA
    # the decision is taken at the first pair that reaches 2/alpha: more data later does not change it
    assert compare(a[: res.n], b[: res.n], test=test).n == res.n


def test_equivalence_needs_a_margin_and_holds_its_rate():
    rng = np.random.default_rng(8)
    a, b = rng.normal(12, 0.3, 400), rng.normal(12, 0.3, 400)
    assert compare(a, b).decision == "undecided"
    res = compare(a, b, margin=0.5)
    assert res.decision == "equivalent" and res.low >= -0.5 and res.high <= 0.5
    assert res.certified_margin == max(-res.low, res.high) <= 0.5
    # a true difference of twice the margin is called equivalent in at most alpha of runs (as compare() decides
    # each row: test_the_vectorised_decisions_are_compares)
    runs = 2000
    _, decision = decision_times(rng.normal(13, 0.5, (runs, 200)) - rng.normal(12, 0.5, (runs, 200)), margin=0.5)
    assert (decision == "equivalent").mean() <= _limit(runs)


def test_fixed_n_sign_test_power_by_simulation():
    rng = np.random.default_rng(1)
    n = fixed_n_sign_test(0.76)
    from scipy.stats import binom

    k = int(binom.isf(ALPHA / 2, n, 0.5)) + 1
    wins = rng.binomial(n, 0.76, 20_000)
    assert np.mean(wins >= k) >= 0.8 - 0.01
    assert binom.sf(k - 1, n, 0.5) <= ALPHA / 2


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        compare([1.0], [2.0], alpha=1.5)
    with pytest.raises(ValueError, match="margin"):
        compare([1.0], [2.0], margin=-1)
    with pytest.raises(ValueError, match="finite"):
        compare([1.0, np.nan], [2.0, 3.0])
    with pytest.raises(ValueError, match="test"):
        compare([1.0], [2.0], test="mean")
    res = compare([], [1.0, 2.0])
    assert (res.decision, res.n, res.available) == ("undecided", 0, 0)
