"""`power.spearman_power` against a simulation: bivariate normal pairs whose Spearman correlation is rho
(Pearson r = 2 sin(pi rho / 6)), tested one-sided with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from designspace.analysis.power import spearman_power


@pytest.mark.parametrize("n", [8, 25])
def test_power_matches_a_simulation(n: int) -> None:
    rng = np.random.default_rng(n)
    rho, runs = 0.5, 1500
    r = 2 * math.sin(math.pi * rho / 6)
    cov = [[1, r], [r, 1]]
    hits = 0
    for _ in range(runs):
        x, y = rng.multivariate_normal([0, 0], cov, size=n).T
        hits += stats.spearmanr(x, y, alternative="greater").pvalue < 0.05
    simulated = hits / runs
    assert abs(spearman_power(n, rho) - simulated) < 0.06, (spearman_power(n, rho), simulated)


def test_power_grows_with_n_and_vanishes_at_rho_zero() -> None:
    assert spearman_power(6) < spearman_power(25) < spearman_power(60) and spearman_power(3) == 0.0
    assert abs(spearman_power(50, rho=1e-9) - 0.05) < 1e-3
