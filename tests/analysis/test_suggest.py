"""designspace.analysis.suggest: statistics against scipy/numpy, planted rules found first, null false positives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace.analysis.suggest import candidates, holm, score_masks, suggest
from designspace.space import spaces
from designspace.space.sampler import sample

BUDGET = "fmnist32_50mf"


@pytest.fixture(scope="module")
def pop_b() -> pd.DataFrame:
    return sample("anynetx_b", 500, seed=11, budget=BUDGET)


@pytest.fixture(scope="module")
def pop_c() -> pd.DataFrame:
    return sample("anynetx_c", 500, seed=12, budget=BUDGET)


def _errors(base: pd.DataFrame, rule: np.ndarray, seed: int, effect: float = 6.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    err = 40 + 3 * rng.standard_normal(len(base)) - effect * rule
    return base.assign(status="ok", error=np.round(err / 0.05) * 0.05)  # quantized like real test errors


# --- statistics against independent computations -------------------------------------------------------
def test_score_masks_matches_scipy_and_numpy() -> None:
    rng = np.random.default_rng(0)
    err = np.round(rng.normal(30, 4, 120), 1)  # ties
    masks = rng.random((25, 120)) < rng.uniform(0.1, 0.9, (25, 1))
    out = score_masks(err, masks, min_kept=5)
    for i, m in enumerate(masks):
        kept, rest = err[m], err[~m]
        assert out["n_kept"].iat[i] == m.sum()
        assert out["median_kept"].iat[i] == pytest.approx(np.median(kept))
        assert out["median_rest"].iat[i] == pytest.approx(np.median(rest))
        assert out["q25_kept"].iat[i] == pytest.approx(np.quantile(kept, 0.25))
        assert out["D_rest"].iat[i] == pytest.approx(stats.ks_2samp(kept, rest, alternative="greater").statistic)
        assert out["D"].iat[i] == pytest.approx(stats.ks_2samp(kept, err, alternative="greater").statistic)


def test_untested_when_too_few() -> None:
    err = np.arange(20, dtype=float)
    masks = np.zeros((2, 20), bool)
    masks[0, :3] = True
    masks[1, :10] = True
    out = score_masks(err, masks, min_kept=5)
    assert not out["tested"].iat[0] and np.isnan(out["p_value"].iat[0])
    assert out["tested"].iat[1] and out["p_value"].iat[1] < 0.01


def test_holm_against_loop() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(30) ** 3
    m = 50
    order = np.argsort(p)
    expect, running = np.empty(30), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        expect[i] = running
    np.testing.assert_allclose(holm(p, m), expect)


def test_p_value_calibrated_under_null() -> None:
    """Kept vs rest with no effect: P(p < 0.05) must not exceed 0.05 (simulation, 4000 draws)."""
    rng = np.random.default_rng(2)
    err = np.round(rng.normal(30, 4, (4000, 150)), 1)
    mask = np.zeros(150, bool)
    mask[:20] = True
    p = np.array([score_masks(e, mask[None], 5)["p_value"].iat[0] for e in err[:4000:8]])
    assert (p < 0.05).mean() <= 0.06


# --- planted rules ------------------------------------------------------------------------------------------
def test_planted_b_equals_1_first(pop_b: pd.DataFrame) -> None:
    table = _errors(pop_b, pop_b["b"].to_numpy() == 1, seed=3)
    out = suggest(table, "anynetx_b", fits=False)
    assert out["label"].iat[0] == "b = 1"
    assert out["significant"].iat[0]


def test_planted_non_decreasing_widths_first(pop_c: pd.DataFrame) -> None:
    w = pop_c[["w1", "w2", "w3", "w4"]].to_numpy()
    rule = (np.diff(w, axis=1) >= 0).all(axis=1)
    out = suggest(_errors(pop_c, rule, seed=4), "anynetx_c", fits=False)
    assert out["label"].iat[0] == "w_(i+1) >= w_i"
    assert out["significant"].iat[0]


def test_planted_depth_band_first(pop_c: pd.DataFrame) -> None:
    td = pop_c["total_depth"].to_numpy()
    rule = (td >= 14) & (td <= 24)
    out = suggest(_errors(pop_c, rule, seed=5), "anynetx_c", fits=True)
    top = out.attrs["candidates"][0]
    assert [r.param for r in top.parts] == ["total_depth"]
    jaccard = (top.mask & rule).sum() / (top.mask | rule).sum()
    assert jaccard >= 0.8
    assert out["significant"].iat[0]


def test_no_rule_false_positive_rate(pop_c: pd.DataFrame) -> None:
    """Errors independent of the architecture: the top suggestion is significant (Holm, 0.05) in <= 5%."""
    base = pop_c.iloc[:200].reset_index(drop=True)
    hits = 0
    runs = 60
    for seed in range(runs):
        out = suggest(_errors(base, np.zeros(len(base)), seed=100 + seed), "anynetx_c", fits=False, pair_pool=25)
        hits += bool(out["significant"].iat[0])
    assert hits / runs <= 0.05


# --- candidates --------------------------------------------------------------------------------------------
def test_candidate_masks_follow_their_rules(pop_c: pd.DataFrame) -> None:
    space = spaces.load("anynetx_c")
    cands = {c.label(): c for c in candidates(pop_c, space)}
    g = pop_c["g"].to_numpy()
    assert (cands["g in {8, 16, 32}"].mask == np.isin(g, [8, 16, 32])).all()
    d = pop_c[["d1", "d2", "d3", "d4"]].to_numpy()
    assert (cands["d_(i+1) <= d_i"].mask == (np.diff(d, axis=1) <= 0).all(axis=1)).all()
    raw_w = pop_c[[f"raw_w{i}" for i in range(1, 5)]].to_numpy()
    ranges = [c for c in cands.values() if c.parts[0].param == "w" and c.parts[0].kind == "range"]
    assert ranges
    for c in ranges:
        r = c.parts[0]
        lo, hi = r.low or 8, r.high or 1024
        assert (c.mask == ((raw_w >= lo) & (raw_w <= hi)).all(axis=1)).all()
