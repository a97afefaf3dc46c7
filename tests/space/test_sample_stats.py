"""The sampled law is the base distribution conditioned on the constraints and the budget.

Checks against independent computations: the reference draw formula re-implemented literally,
exact enumeration of small spaces, and brute-force rejection (plain independent draws +
foundation compatibility/complexity/generator + filter). Seeds are fixed, so the tests are
deterministic; the threshold 1e-3 is on p-values of chi-square and KS tests.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace.net.blocks.bottleneck import make_compatible_arrays
from designspace.net.complexity import complexity_arrays
from designspace.net.regnet import regnet_widths_batch
from designspace.space import distributions as dist
from designspace.space import spaces
from designspace.space.sampler import accepted

ALPHA = 1e-3


def literal_log_uniform(rng: np.random.Generator, low: float, high: float, q: float, size: int) -> np.ndarray:
    """The reference draw, q * ceil(exp(U(ln(low - min(q, low/2)), ln(high))) / q), as multiples of q."""
    x = np.exp(rng.uniform(np.log(low - min(q, low / 2)), np.log(high), size))
    return np.ceil(x / q).astype(np.int64)


def merge_small(expected: np.ndarray, observed: np.ndarray, least: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Merge cells (in order) until every merged cell expects at least `least` counts."""
    exp_out, obs_out, e, o = [], [], 0.0, 0
    for ei, oi in zip(expected, observed):
        e, o = e + ei, o + oi
        if e >= least:
            exp_out.append(e)
            obs_out.append(o)
            e, o = 0.0, 0
    if e or o:
        exp_out[-1] += e
        obs_out[-1] += o
    return np.array(exp_out), np.array(obs_out)


def gof_pvalue(observed: np.ndarray, probs: np.ndarray) -> float:
    exp, obs = merge_small(probs * observed.sum(), observed)
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def two_sample_pvalue(a: np.ndarray, b: np.ndarray, bins: int = 20) -> float:
    """Chi-square homogeneity test of two samples of values (quantile bins of the pooled sample)."""
    pooled = np.concatenate([a, b])
    uniq = np.unique(pooled)
    edges = uniq if len(uniq) <= bins else np.unique(np.quantile(pooled, np.linspace(0, 1, bins + 1)))
    ca = np.histogram(a, np.append(edges, np.inf))[0]
    cb = np.histogram(b, np.append(edges, np.inf))[0]
    keep = (ca + cb) > 0
    return stats.chi2_contingency(np.stack([ca[keep], cb[keep]])).pvalue


def counts_of(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(grid, values)
    assert np.array_equal(grid[idx], values)
    return np.bincount(idx, minlength=len(grid))


# --- the base distributions ----------------------------------------------------------------------
@pytest.mark.parametrize("low,high,q", [(1, 16, 1), (8, 1024, 8), (8, 248, 8), (0.1, 255.9, 0.1), (1.5, 3.0, 0.001)])
def test_grid_pmf_and_inverse_cdf_match_the_reference_formula(low, high, q):
    grid = dist.log_uniform(low, high, q)
    rng = np.random.default_rng(11)
    units = literal_log_uniform(rng, low, high, q, 300_000)
    first = round(low / q)
    observed = np.bincount(units - first, minlength=grid.size)
    assert len(observed) == grid.size and units.min() >= first
    assert gof_pvalue(observed, grid.pmf) > ALPHA
    ours = grid.index(rng.random(300_000))
    assert gof_pvalue(np.bincount(ours, minlength=grid.size), grid.pmf) > ALPHA
    assert np.allclose(grid.values, (first + np.arange(grid.size)) * q, rtol=0, atol=1e-12)
    # exact values on the decimal grid: 0.1 * 37 prints as 3.7
    assert [repr(float(v)) for v in grid.values[:3]] == [repr(float(f"{(first + i) * q:.6f}")) for i in range(3)]


def test_restricting_a_range_is_conditioning():
    """RegNetX's wm >= 2 and d <= 40 written as narrower ranges: same law as conditioning RegNet's."""
    wide, narrow = dist.log_uniform(1.5, 3.0, 0.001), dist.log_uniform(2.0, 3.0, 0.001)
    cond = wide.pmf[wide.values >= 2.0]
    assert np.allclose(cond / cond.sum(), narrow.pmf, rtol=1e-12, atol=0)
    d_wide, d_narrow = dist.uniform(1, 63), dist.uniform(1, 40)
    assert np.allclose(d_wide.pmf[:40] / d_wide.pmf[:40].sum(), d_narrow.pmf)


def test_anynetx_a_draws_independent_stages_from_the_base_pmfs():
    frame = accepted("anynetx_a", 20_000, seed=21, budget="none")
    assert len(frame) == 20_000
    p = spaces.load("anynetx_a").parameters
    for k in "dwbg":
        for i in range(1, 5):
            col = frame[f"raw_{k}{i}"].to_numpy()
            assert gof_pvalue(counts_of(col, p[k].values), p[k].pmf) > ALPHA, (k, i)
    table = pd.crosstab(frame["raw_d1"], frame["raw_d2"]).to_numpy()
    assert stats.chi2_contingency(table).pvalue > ALPHA  # stages are independent


# --- ordered widths: exact against enumeration, and not the raw-order law --------------------------
ORDERED = """
name: ordered_small
family: anynet
num_stages: 3
parameters:
  d: {dist: choice, values: [1]}
  w: {dist: log_uniform, low: 8, high: 64, quantum: 8}
  b: {dist: choice, values: [1, 2, 4]}
  g: {dist: choice, values: [1, 4, 16]}
constraints:
  shared: [b, g]
  non_decreasing: [w]
"""


def test_ordered_widths_are_exactly_the_base_law_conditioned_on_the_final_order(tmp_path):
    path = tmp_path / "ordered_small.yaml"
    path.write_text(ORDERED)
    sp = spaces.load(path)
    w, b, g = (sp.parameters[k] for k in "wbg")
    # exact law over raw (b, g, w1, w2, w3) by enumeration, base pmfs written out independently
    pw = np.empty(8)
    pw[0], pw[1:] = np.log(8 / 4), np.log(w.values[1:] / (w.values[1:] - 8.0))
    pw /= pw.sum()
    idx = np.array(list(itertools.product(range(3), range(3), range(8), range(8), range(8))))
    raw = w.values[idx[:, 2:]]
    bb, gg = b.values[idx[:, :1]].repeat(3, 1), g.values[idx[:, 1:2]].repeat(3, 1)
    final, _, _ = make_compatible_arrays(raw, bb, gg)
    weight = pw[idx[:, 2]] * pw[idx[:, 3]] * pw[idx[:, 4]] / 9
    p_final = weight * (np.diff(final, axis=1) >= 0).all(1)
    p_raw = weight * (np.diff(raw, axis=1) >= 0).all(1)
    p_final, p_raw = p_final / p_final.sum(), p_raw / p_raw.sum()
    cells = [(bb[i, 0], gg[i, 0], *raw[i]) for i in range(len(idx))]

    frame = accepted(path, 30_000, seed=5, budget="none")
    assert len(frame) == 30_000  # every ordered candidate is valid: no rejection needed
    index = {cell: i for i, cell in enumerate(cells)}
    keys = zip(frame["b"], frame["g"], frame["raw_w1"], frame["raw_w2"], frame["raw_w3"])
    observed = np.bincount([index[k] for k in keys], minlength=len(cells))
    support = p_final > 0
    assert observed[~support].sum() == 0
    assert gof_pvalue(observed[support], p_final[support]) > ALPHA
    # Power: conditioning on the raw order instead (raw widths by messages, b and g from their base
    # law) is a different law - it never gives the >100 rows seen above outside its support, and its
    # (b, g) marginal is uniform while the exact one is tilted by P(final order | b, g).
    assert 0.5 * np.abs(p_final - p_raw).sum() > 0.03
    assert observed[support & (p_raw == 0)].sum() > 100
    bg = idx[:, 0] * 3 + idx[:, 1]
    observed_bg = np.bincount(bg, weights=observed, minlength=9)
    assert gof_pvalue(observed_bg, np.bincount(bg, weights=p_final, minlength=9)) > ALPHA
    assert gof_pvalue(observed_bg, np.bincount(bg, weights=p_raw, minlength=9)) < 1e-6


def test_anynetx_e_depths_are_the_ordered_law():
    frame = accepted("anynetx_e", 20_000, seed=8, budget="none")
    d = spaces.load("anynetx_e").parameters["d"]
    tuples = [t for t in itertools.product(range(16), repeat=4) if t[0] <= t[1] <= t[2] <= t[3]]
    probs = np.array([np.prod(d.pmf[list(t)]) for t in tuples])
    index = {tuple(d.values[list(t)]): i for i, t in enumerate(tuples)}
    observed = np.bincount([index[t] for t in frame[["d1", "d2", "d3", "d4"]].itertuples(index=False)],
                           minlength=len(tuples))
    order = np.argsort(probs)
    assert gof_pvalue(observed[order], probs[order] / probs.sum()) > ALPHA
    assert (np.diff(frame[["w1", "w2", "w3", "w4"]].to_numpy(), axis=1) >= 0).all()


def brute_force_anynet(rng: np.random.Generator, m: int, shared_bg: bool) -> dict[str, np.ndarray]:
    """Plain independent draws of AnyNetX (literal reference formula) and their compatible networks."""
    d = literal_log_uniform(rng, 1, 16, 1, (m, 4))
    w = literal_log_uniform(rng, 8, 1024, 8, (m, 4)) * 8
    cols = 1 if shared_bg else 4
    b = np.array([1, 2, 4])[rng.integers(0, 3, (m, cols))].repeat(4 // cols, 1)
    g = np.array([1, 2, 4, 8, 16, 32])[rng.integers(0, 6, (m, cols))].repeat(4 // cols, 1)
    wf, bf, gf = make_compatible_arrays(w, b, g)
    return {"d": d, "w_raw": w, "b": b, "g": g, "w": wf, "bf": bf, "gf": gf}


def test_anynetx_d_matches_brute_force_rejection():
    ours = accepted("anynetx_d", 20_000, seed=3, budget="none")
    bf = brute_force_anynet(np.random.default_rng(4), 400_000, shared_bg=True)
    keep = (np.diff(bf["w"], axis=1) >= 0).all(1)
    assert keep.sum() > 15_000
    pairs = [
        (ours["b"] * 100 + ours["g"], (bf["b"][:, 0] * 100 + bf["g"][:, 0])[keep]),
        (ours["raw_w1"], bf["w_raw"][keep, 0]), (ours["raw_w4"], bf["w_raw"][keep, 3]),
        (ours["w2"], bf["w"][keep, 1]), (ours["d3"], bf["d"][keep, 2]),
    ]
    for a, b in pairs:
        assert two_sample_pvalue(np.asarray(a), np.asarray(b)) > ALPHA


def test_budget_conditioning_matches_brute_force_rejection():
    ours = accepted("anynetx_c", 300_000, seed=6, budget="400mf")
    bf = brute_force_anynet(np.random.default_rng(7), 300_000, shared_bg=True)
    cx = complexity_arrays(bf["d"], bf["w"], bf["bf"], bf["gf"], resolution=224)
    keep = (cx.flops >= 360e6) & (cx.flops <= 400e6)
    assert len(ours) > 3_000 and keep.sum() > 3_000
    assert abs(len(ours) / 300_000 - keep.mean()) < 5 * np.sqrt(keep.mean() / 300_000)
    for a, b in [(ours["b"], bf["b"][keep, 0]), (ours["g"], bf["g"][keep, 0]), (ours["d1"], bf["d"][keep, 0]),
                 (ours["raw_w4"], bf["w_raw"][keep, 3])]:
        assert two_sample_pvalue(np.asarray(a), np.asarray(b)) > ALPHA
    assert stats.ks_2samp(ours["params"], cx.params[keep]).pvalue > ALPHA
    assert stats.ks_2samp(ours["flops"], cx.flops[keep]).pvalue > ALPHA


def test_regnet_matches_brute_force_rejection_through_the_generator():
    """Plain draws -> foundation generator (every block) -> 4 stages, no skipped exponent."""
    m = 150_000
    rng = np.random.default_rng(9)
    depth = rng.integers(1, 64, m)
    w0 = literal_log_uniform(rng, 8, 248, 8, m) * 8
    wa = literal_log_uniform(rng, 0.1, 255.9, 0.1, m) / 10
    wm = literal_log_uniform(rng, 1.5, 3.0, 0.001, m) / 1000
    b = np.array([1, 2, 4])[rng.integers(0, 3, m)]
    g = np.array([1, 2, 4, 8, 16, 32])[rng.integers(0, 6, m)]
    gen = regnet_widths_batch(depth, w0, wa, wm)
    keep = (gen.num_stages == 4) & (gen.num_exponents == 4) & ~gen.skips_exponent
    ours = accepted("regnet", m, seed=10, budget="none")
    assert abs(len(ours) / m - keep.mean()) < 5 * np.sqrt(keep.mean() / m)
    for col, ref in (("depth", depth), ("w0", w0), ("wa", wa), ("wm", wm), ("b", b), ("g", g)):
        assert two_sample_pvalue(ours[col].to_numpy(), ref[keep]) > ALPHA, col
    assert two_sample_pvalue(ours["d1"].to_numpy(), gen.stage_depths[keep, 0]) > ALPHA
    final, _, _ = make_compatible_arrays(gen.stage_widths[keep, :4], b[keep, None], g[keep, None])
    assert two_sample_pvalue(ours["w4"].to_numpy(), final[:, 3]) > ALPHA
