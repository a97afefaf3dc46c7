"""The sequential comparison: error rates under continuous monitoring, by simulation, for any distribution."""

from __future__ import annotations

import numpy as np
import pytest

from designspace.analysis.sequential import compare, confidence_sequence, fixed_n_sign_test, sign_wealth

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


@pytest.mark.parametrize("name", list(NULLS))
def test_null_sequences_monitored_after_every_pair_rarely_decide(name):
    """a and b from one distribution, looked at after each of 300 pairs: "a" or "b" in at most alpha of runs."""
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    runs, pairs = 2000, 300
    a, b = NULLS[name](rng, (runs, pairs)), NULLS[name](rng, (runs, pairs))
    up, down = sign_wealth(a - b, np.array([0.0]))  # the same wealth compare() reads at m = 0, all runs at once
    decided = ((up[..., 0] >= 2 / ALPHA) | (down[..., 0] >= 2 / ALPHA)).any(axis=1)
    assert decided.mean() <= _limit(runs)


def test_compare_itself_on_null_sequences():
    rng = np.random.default_rng(5)
    runs = 300
    decided = sum(compare(rng.exponential(1, 120), rng.exponential(1, 120)).decision in ("a", "b") for _ in range(runs))
    assert decided / runs <= _limit(runs)


@pytest.mark.parametrize("name", ["lognormal (skewed)", "errors on 0.05 steps (ties)"])
def test_the_interval_covers_the_median_at_all_times(name):
    """Monitored after every pair, the running interval excludes the true median of the differences in at most
    alpha of runs - also for a skewed law and for one with atoms (ties)."""
    rng = np.random.default_rng(9)
    runs, misses = 300, 0
    for _ in range(runs):
        d = NULLS[name](rng, 200) - NULLS[name](rng, 200) + 0.7 if name.startswith("errors") else \
            rng.lognormal(0.0, 1.0, 200) + 0.3  # median 1.3
        true = 0.7 if name.startswith("errors") else 1.3
        low, high, _, _ = confidence_sequence(d)
        misses += bool(((low > true) | (high < true)).any())
    assert misses / runs <= _limit(runs)


def test_a_clear_gap_is_decided_in_few_models():
    """P(b better) = 0.85 (as A vs RegNet, one epoch): decided for b in most runs, in about the pairs a fixed-n
    sign test needs for 80% power."""
    from scipy.stats import norm

    rng = np.random.default_rng(2)
    shift = norm.ppf(0.85) * np.sqrt(2) * 0.75  # a - b ~ N(shift, 2 * 0.75^2)
    spent, right = [], 0
    for _ in range(200):
        res = compare(rng.normal(13.0 + shift, 0.75, 200), rng.normal(13.0, 0.75, 200))
        right += res.decision == "b"
        spent.append(res.n)
    fixed = fixed_n_sign_test(0.85)
    assert right / 200 >= 0.95
    assert np.median(spent) <= 1.3 * fixed  # measured: 15 against 15 (experiments/bench_sequential.py)


def test_the_direction_and_the_stop():
    rng = np.random.default_rng(4)
    a, b = rng.normal(10, 0.5, 100), rng.normal(14, 0.5, 100)
    res = compare(a, b)
    assert res.decision == "a" and res.decided and res.n < 100
    assert res.high < 0  # the median of a - b is negative: a's errors are lower
    assert len(res.history) == res.n and res.history["wealth_a"].iat[-1] >= 2 / ALPHA
    # the decision is taken at the first pair that reaches 2/alpha: more data later does not change it
    assert compare(a[: res.n], b[: res.n]).n == res.n


def test_equivalence_needs_a_margin_and_holds_its_rate():
    rng = np.random.default_rng(8)
    a, b = rng.normal(12, 0.3, 400), rng.normal(12, 0.3, 400)
    assert compare(a, b).decision == "undecided"
    res = compare(a, b, margin=0.5)
    assert res.decision == "equivalent" and res.low >= -0.5 and res.high <= 0.5
    # a true median difference of twice the margin is called equivalent in at most alpha of runs
    runs = 300
    wrong = sum(compare(rng.normal(13, 0.5, 200), rng.normal(12, 0.5, 200), margin=0.5).decision == "equivalent"
                for _ in range(runs))
    assert wrong / runs <= _limit(runs)


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
    res = compare([], [1.0, 2.0])
    assert (res.decision, res.n, res.available) == ("undecided", 0, 0)
