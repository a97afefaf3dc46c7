"""Statistics of designspace.analysis against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace import analysis as an
from designspace.analysis.outcomes import resolve_errors
from tests.helpers import synthetic


# --- EDF ---------------------------------------------------------------------------------------------
def test_edf_of_known_sample_uses_strict_less_than():
    f = an.edf([3.0, 1.0, 2.0, 2.0])
    np.testing.assert_array_equal(f.errors, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(f.mass, [0.25, 0.75, 1.0])
    # F(e) = #{e_i < e} / n: a tie at e is not counted at e, fully counted just above it
    np.testing.assert_allclose(f([0.5, 1.0, 2.0, 2.0 + 1e-9, 3.0, 3.5]), [0, 0, 0.25, 0.75, 0.75, 1.0])


def test_edf_ties_and_weights():
    f = an.edf([5.0, 5.0, 5.0])
    np.testing.assert_array_equal(f.errors, [5.0])
    np.testing.assert_allclose(f.mass, [1.0])
    g = an.edf([1.0, 2.0, 2.0, 4.0], weights=[1, 1, 2, 4])  # normalized to 1/8, 1/8, 2/8, 4/8
    np.testing.assert_allclose(g.mass, [1 / 8, 4 / 8, 1.0])
    np.testing.assert_allclose(g([2.0, 3.0]), [1 / 8, 4 / 8])


def test_edf_rejects_bad_input():
    with pytest.raises(ValueError, match="not finite"):
        an.edf([1.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        an.edf([])
    with pytest.raises(ValueError, match=">= 0"):
        an.edf([1.0, 2.0], weights=[1.0, -1.0])


# --- normalized EDF weights ------------------------------------------------------------------------------
def test_complexity_weights_make_a_skewed_histogram_uniform():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 1, 5), rng.uniform(1, 2, 50), rng.uniform(2, 3, 500)])
    w = an.complexity_weights(values, bins=3)
    hist, _ = np.histogram(values, bins=3, weights=w)
    np.testing.assert_allclose(hist, [1 / 3] * 3)
    counts, edges = np.histogram(values, bins=3)
    idx = np.clip(np.digitize(values, edges) - 1, 0, 2)
    np.testing.assert_allclose(w, 1 / (3 * counts[idx]))  # the closed form 1 / (k m_j)


def test_complexity_weights_empty_bin_is_an_error_naming_the_range():
    values = np.array([0.0, 0.1, 0.2, 0.9, 1.0])  # bins of width 0.25: [0.25, 0.5) and [0.5, 0.75) empty
    with pytest.raises(an.EmptyBinError, match=r"2 of 4 .*\[0\.25, 0\.5\).*\[0\.5, 0\.75\)"):
        an.complexity_weights(values, bins=4)
    w = an.complexity_weights(values, bins=4, empty="merge")
    assert np.isclose(w.sum(), 1.0)
    # the empty bins join the first bin, which then carries 3/4 of the mass over its 3 models
    np.testing.assert_allclose(w, [0.25, 0.25, 0.25, 0.125, 0.125])


def test_complexity_weights_explicit_range():
    w = an.complexity_weights([1.0, 1.5, 3.0, 3.5], bins=2, range=(0.0, 4.0))
    np.testing.assert_allclose(w, [0.25] * 4)
    with pytest.raises(ValueError, match="outside the range"):
        an.complexity_weights([1.0, 5.0], bins=2, range=(0.0, 4.0))


# --- KS ----------------------------------------------------------------------------------------------------
def test_ks_identical_and_shifted_samples():
    a = np.arange(10.0)
    assert an.ks_distance(a, a) == 0.0
    assert an.ks_distance(a, a + 100) == 1.0
    assert an.ks_distance(a, a + 2.5) == pytest.approx(0.3)  # closed form: ceil(shift) / n
    res = an.ks_test(a, a)
    assert res.statistic == 0.0 and res.pvalue == pytest.approx(1.0)


def test_ks_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = np.round(rng.normal(0, 1, rng.integers(5, 60)), 1)  # many ties
        b = np.round(rng.normal(0.3, 1.2, rng.integers(5, 60)), 1)
        assert an.ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_weighted_ks_equals_ks_of_replicated_samples():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 15), rng.normal(0.5, 1, 12)
    ca, cb = rng.integers(1, 5, a.size), rng.integers(1, 5, b.size)
    expected = stats.ks_2samp(np.repeat(a, ca), np.repeat(b, cb)).statistic
    assert an.ks_distance(a, b, ca, cb) == pytest.approx(expected, abs=1e-12)


# --- bootstrap ------------------------------------------------------------------------------------------------
def _exact_best_rank_quantiles(n: int, m: int, qs: list[float]) -> list[int]:
    """Quantiles of the rank of the best of m draws from n, from P(rank <= r) = 1 - ((n-r-1)/n)^m."""
    cdf = 1 - ((n - np.arange(n) - 1) / n) ** m
    return [int(np.searchsorted(cdf, q)) for q in qs]


def test_bootstrap_best_matches_the_exact_law_of_the_best_rank():
    n = 200
    errors = np.random.default_rng(3).permutation(n).astype(float)
    x = errors.copy()  # x = the model's error rank
    res = an.bootstrap_best(x, errors, frac=0.05, draws=10_000, seed=0)
    lo, med, hi = _exact_best_rank_quantiles(n, 10, [0.025, 0.5, 0.975])
    assert abs(res.median - med) <= 1
    assert abs(res.low - lo) <= 1
    assert abs(res.high - hi) <= 2
    np.testing.assert_allclose(an.best_rank_distribution(n, 10).sum(), 1.0)


def test_bootstrap_best_finds_a_known_best_value():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 500)
    errors = 20 + 3 * np.abs(x - 6.0) + rng.normal(0, 0.2, x.size)
    res = an.bootstrap_best(x, errors)
    assert res.low <= 6.0 <= res.high
    assert abs(res.median - 6.0) < 0.3
    both = an.bootstrap_best(np.stack([x, -x], axis=1), errors)  # columns share the draws
    np.testing.assert_allclose(both.median, [res.median, -res.median])
    assert res.samples.shape == (10_000,)


def test_bootstrap_best_validates():
    with pytest.raises(ValueError, match="finite"):
        an.bootstrap_best([1, 2], [1.0, np.nan])
    with pytest.raises(ValueError, match="shape"):
        an.bootstrap_best([1, 2, 3], [1.0, 2.0])


# --- random search efficiency ---------------------------------------------------------------------------------
def test_random_search_efficiency_against_monte_carlo():
    rng = np.random.default_rng(5)
    errors = np.round(rng.gamma(3, 2, 60) + 20, 1)
    ks = np.array([1, 2, 4, 8, 16])
    exact = an.random_search_efficiency(errors, ks)
    draws = rng.choice(errors, size=(100_000, 16))
    mc = np.array([draws[:, :k].min(axis=1).mean() for k in ks])
    np.testing.assert_allclose(exact, mc, atol=0.05)
    assert exact[0] == pytest.approx(errors.mean())
    assert an.random_search_efficiency(errors, [10_000])[0] == pytest.approx(errors.min(), abs=1e-9)
    q = an.random_search_quantiles(errors, ks, (0.5,))
    mc_med = np.array([np.median(draws[:, :k].min(axis=1)) for k in ks])
    np.testing.assert_allclose(q[:, 0], mc_med, atol=0.11)


def test_weighted_random_search_efficiency_against_monte_carlo():
    rng = np.random.default_rng(6)
    errors, w = rng.uniform(10, 20, 30), rng.uniform(0, 1, 30)
    draws = rng.choice(errors, size=(200_000, 4), p=w / w.sum())
    np.testing.assert_allclose(an.random_search_efficiency(errors, [4], w), draws.min(axis=1).mean(), atol=0.02)


def test_random_search_is_supported_up_to_half_the_models():
    """k <= n/2 (at least 1) is supported; the table marks larger k extrapolated and carries each space's n."""
    assert [an.supported_k(n) for n in (1, 2, 20, 25)] == [1, 1, 10, 12.5]
    frame = pd.DataFrame({"space": ["a"] * 20 + ["b"] * 3, "error": np.arange(23.0) + 10, "status": "ok"})
    rs = an.random_search_table(frame, [1, 2, 8, 10, 16]).set_index(["space", "k"])
    assert rs.loc["a", "extrapolated"].tolist() == [False, False, False, False, True]
    assert rs.loc["b", "extrapolated"].tolist() == [False, True, True, True, True]
    assert rs.loc["a", "n"].eq(20).all() and rs.loc["b", "n"].eq(3).all()


# --- the diverged/failed policy --------------------------------------------------------------------------------
def _status_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "model_id": list("abcdef"),
        "status": ["ok", "ok", "diverged", "failed", "pending", "ok"],
        "error": [10.0, 20.0, np.nan, np.nan, np.nan, np.nan],
    })


def test_resolve_errors_penalize_and_drop():
    rows, c = resolve_errors(_status_frame())
    assert list(rows["model_id"]) == ["a", "b", "c", "d", "f"]  # 'f': ok without an error -> failed
    np.testing.assert_array_equal(rows["err"], [10, 20, 100, 100, 100])
    assert (c.total, c.ok, c.diverged, c.failed, c.untrained, c.used) == (6, 2, 1, 2, 1, 5)
    assert c.note() == "3 diverged/failed at 100%, 1 untrained"
    rows, c = resolve_errors(_status_frame(), policy="drop")
    assert list(rows["model_id"]) == ["a", "b"] and c.used == 2
    assert c.note() == "3 diverged/failed dropped, 1 untrained"
    with pytest.raises(ValueError, match="policy"):
        resolve_errors(_status_frame(), policy="ignore")


# --- per-space tables ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth() -> pd.DataFrame:
    f = synthetic.frame(seed=0, n=40)
    f.loc[[0, 1], "status"] = "diverged"
    f.loc[2, "status"] = "pending"
    return an.add_derived(f)


def test_summary_table_numbers(synth):
    table = an.summary_table(synth).set_index("space")
    a = synth[synth["space"] == "anynetx_a"]
    used = np.r_[a["error"].to_numpy()[3:], 100.0, 100.0]
    row = table.loc["anynetx_a"]
    assert (row["models"], row["diverged"], row["untrained"], row["n"]) == (40, 2, 1, 39)
    assert row["min_error"] == pytest.approx(used.min())
    assert row["mean_error"] == pytest.approx(used.mean())


def test_ks_table_against_scipy(synth):
    table = an.ks_table(synth, normalize="flops", bins=4, empty="merge")
    assert len(table) == 3  # every pair of 3 spaces
    r = table.iloc[0]
    ea = resolve_errors(synth[synth["space"] == r["space_a"]])[0]["err"]
    eb = resolve_errors(synth[synth["space"] == r["space_b"]])[0]["err"]
    ref = stats.ks_2samp(ea, eb)
    assert r["D"] == pytest.approx(ref.statistic) and r["p_value"] == pytest.approx(ref.pvalue)
    assert 0 <= r["D_normalized_flops"] <= 1


def test_derived_columns(synth):
    e = synth[synth["space"] == "anynetx_e"]
    np.testing.assert_array_equal(e["total_depth"], e[["d1", "d2", "d3", "d4"]].sum(axis=1))
    x = synth[synth["space"] == "regnetx"]
    assert (x["b"] == 1).all()
    assert x["e_fit"].max() < 0.2 and (synth[synth["space"] == "anynetx_a"]["e_fit"] > 0).all()
    cols = dict(an.param_columns(x))
    assert {"w0", "wa", "wm", "total_depth"} <= set(cols)
    assert "fit_w0" in dict(an.param_columns(e))


def test_best_ranges_and_trends_and_efit_tables(synth):
    ranges = an.best_ranges(synth, ["total_depth"], draws=2000)
    assert set(ranges["space"]) == {"anynetx_a", "anynetx_e", "regnetx"}
    assert (ranges["low"] <= ranges["median"]).all() and (ranges["median"] <= ranges["high"]).all()
    # errors grow with |ln(depth / 20)|: the best models sit near 20 blocks
    assert ranges["median"].between(10, 40).all()
    trends = an.trend_table(synth, ["total_depth", "wm"], draws=2000)
    assert set(trends["param"]) == {"total_depth", "wm"}
    assert set(trends.loc[trends["param"] == "wm", "column"]) == {"wm", "fit_wm"}
    ef = an.efit_table(synth, top=10).set_index("space")
    assert ef.loc["anynetx_a", "exact_share"] == 0.0
    assert ef.loc["regnetx", "median_e_fit"] < ef.loc["anynetx_a", "median_e_fit"]


def test_edf_table_normalized_weights_match_complexity_weights(synth):
    table = an.edf_table(synth, normalize="flops", bins=3, empty="merge")
    one = table[table["space"] == "regnetx"]
    assert one["F"].iloc[-1] == pytest.approx(1.0)
    used = resolve_errors(synth[synth["space"] == "regnetx"])[0]
    rng = (synth["flops"].min(), synth["flops"].max())
    w = an.complexity_weights(used["flops"].to_numpy(float), 3, range=rng, empty="merge")
    first = one["error"].iloc[0]
    assert one["F"].iloc[0] == pytest.approx(w[used["err"].to_numpy() == first].sum())
    rs = an.random_search_table(synth, [1, 4])
    assert rs.loc[(rs["space"] == "regnetx") & (rs["k"] == 1), "expected_min_error"].iloc[0] == pytest.approx(
        used["err"].mean())
