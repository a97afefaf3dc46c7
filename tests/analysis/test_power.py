"""KS power: critical values against the closed form and a null simulation, power against Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from designspace.analysis.power import ks_critical, ks_distances, ks_power, n_for_power


def test_critical_values_are_the_closed_form() -> None:
    # design-spec 6b: n = m = 30 needs D > 0.35, n = m = 100 needs D > 0.19 (two-sided, alpha 0.05).
    assert ks_critical(30, 30) == pytest.approx(0.35, abs=0.005)
    assert ks_critical(100, 100) == pytest.approx(0.19, abs=0.005)
    assert ks_critical(50, 80, 0.05, "greater") == pytest.approx(np.sqrt(-np.log(0.05) / 2) * np.sqrt(130 / 4000))
    with pytest.raises(ValueError, match="alpha"):
        ks_critical(10, 10, 1.5)
    with pytest.raises(ValueError, match="alternative"):
        ks_critical(10, 10, 0.05, "bigger")


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_distances_match_scipy_with_ties(alternative: str) -> None:
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(30, 4, (40, 23)), 0)  # rounded: many ties within and across samples
    b = np.round(rng.normal(31, 4, (40, 31)), 0)
    ours = ks_distances(a, b, alternative)
    ref = [stats.ks_2samp(x, y, alternative=alternative).statistic for x, y in zip(a, b)]
    assert ours == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("n,m", [(50, 50), (30, 60)])
def test_null_rejection_rate_is_about_alpha(n: int, m: int) -> None:
    rng = np.random.default_rng(1)
    d = ks_distances(rng.random((4000, n)), rng.random((4000, m)), "greater")
    rate = np.mean(d > ks_critical(n, m, 0.05, "greater"))
    assert 0.025 < rate <= 0.06  # asymptotic value; on the lattice of small n it is slightly conservative


def test_bootstrap_power_matches_monte_carlo_on_known_distributions() -> None:
    rng = np.random.default_rng(2)
    n = 50
    # Monte Carlo power of 'b better' when b ~ N(28, 3) and a ~ N(30, 3), n = 50 each.
    mc = np.mean(ks_distances(rng.normal(28, 3, (4000, n)), rng.normal(30, 3, (4000, n)), "greater")
                 > ks_critical(n, n, 0.05, "greater"))
    # The bootstrap sees one sample of each; from large samples it must find the same power.
    big_b, big_a = rng.normal(28, 3, 5000), rng.normal(30, 3, 5000)
    boot = np.mean([ks_power(rng.choice(big_b, n), rng.choice(big_a, n), 0.05, "greater", draws=500, seed=s)
                    for s in range(30)])
    assert 0.3 < mc < 0.95
    assert boot == pytest.approx(mc, abs=0.12)


def test_models_needed_grows_as_the_effect_shrinks() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(30, 3, 40)
    big = n_for_power(rng.normal(27, 3, 40), a, 0.05, "greater")
    small = n_for_power(rng.normal(29, 3, 40), a, 0.05, "greater")
    none = n_for_power(rng.normal(30, 3, 40) + 0.0, a, 0.05, "greater", factors=(1, 2))
    assert big is not None and (small is None or small > big)
    assert none is None or none >= 80


def test_median_difference_detectable_against_simulation() -> None:
    """At the detectable difference, a z-test on the medians (bootstrap SE) rejects in ~80% of simulated runs."""
    from designspace.analysis.power import median_difference_detectable

    rng = np.random.default_rng(7)
    n, sd = 40, 1.0
    delta = median_difference_detectable(sd, n, n)
    assert delta == pytest.approx(2.8016 * np.sqrt(np.pi / 2 * 2 / n), rel=1e-3)
    reps, rejects = 400, 0
    for _ in range(reps):
        a, b = rng.normal(delta, sd, n), rng.normal(0, sd, n)
        boots = rng.integers(0, n, (300, n))
        diffs = np.median(a[boots], axis=1) - np.median(b[boots], axis=1)
        rejects += (np.median(a) - np.median(b)) / diffs.std() > 1.96
    assert 0.68 <= rejects / reps <= 0.90
