"""The quantized-linear fits (e_fit) and the pooled width line, checked by regenerating widths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from designspace.analysis import (
    block_widths_of,
    exact_regnet_params,
    fit_regnet,
    fit_regnet_many,
    fit_width_line,
    regnet_efit,
)
from designspace.net import zoo
from designspace.net.regnet import regnet_widths
from tests.helpers import synthetic


def _mean_log_ratio(w_hat, w) -> float:
    return float(np.mean(np.abs(np.log(np.asarray(w_hat, float)) - np.log(np.asarray(w, float)))))


def test_generated_regnets_are_recognised_exactly():
    rng = np.random.default_rng(0)
    for _ in range(200):
        d, w0 = int(rng.integers(1, 64)), int(8 * rng.integers(1, 32))
        wa, wm = float(rng.uniform(0, 256)), float(rng.uniform(1.5, 3.0))
        widths = regnet_widths(d, w0, wa, wm).block_widths
        fit = fit_regnet(widths)
        assert fit.exact and fit.e_fit == 0.0, (d, w0, wa, wm)
        assert fit.w0 == widths[0]
        # the witness regenerates the widths exactly through the generator itself
        assert regnet_widths(d, fit.w0, fit.wa, fit.wm).block_widths == widths
        assert 1.5 <= fit.wm <= 3.0 and fit.wa >= 0


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_models(name):
    e = zoo.entry(name)
    widths = regnet_widths(e.depth, e.w0, e.wa, e.wm).block_widths  # before compatibility
    assert fit_regnet(widths, depth=e.depth).e_fit == 0.0
    after = fit_regnet(zoo.get(name))  # after compatibility rounding: small, maybe positive
    assert 0.0 <= after.e_fit < 0.1
    assert after.e_fit == pytest.approx(_mean_log_ratio(regnet_widths(after.depth, after.w0, after.wa, after.wm)
                                                        .block_widths, zoo.get(name).block_widths))


def test_random_anynetx_a_models_do_not_fit_exactly():
    frame = synthetic.anynet_rows(np.random.default_rng(1), 25)
    fits = fit_regnet_many(frame)
    assert (fits["e_fit"] > 0).all() and not fits["exact"].any()
    for (_, row), (_, fit) in zip(frame.iterrows(), fits.iterrows()):
        w = block_widths_of(row)
        w_hat = regnet_widths(w.size, int(fit["w0"]), fit["wa"], fit["wm"]).block_widths
        assert fit["e_fit"] == pytest.approx(_mean_log_ratio(w_hat, w))  # the reported e_fit is the fit's


def _brute_force(w: np.ndarray) -> float:
    """Independent grid search: every w0 (multiple of 8), 60 wm, 150 wa/w0 values."""
    j = np.arange(w.size)
    best = np.inf
    wm = np.geomspace(1.5, 3.0, 60)[:, None, None]
    c = np.r_[0, np.geomspace(1e-3, 50, 150)][None, :, None]
    k = np.round(np.log1p(c * j) / np.log(wm))
    for w0 in range(8, int(2 * w.max()) + 8, 8):
        w_hat = 8 * np.round(w0 * wm**k / 8)
        best = min(best, float(np.abs(np.log(w_hat) - np.log(w)).mean(axis=-1).min()))
    return best


@pytest.mark.slow
def test_search_is_close_to_a_brute_force_grid():
    rng = np.random.default_rng(2)
    for _ in range(3):
        d, w = np.sort(rng.integers(1, 17, 4)), np.sort(8 * rng.integers(1, 129, 4))
        profile = np.repeat(w, d)
        fit = fit_regnet(profile)
        assert not fit.exact
        assert fit.e_fit <= _brute_force(profile) + 0.03
        # never worse than the constant fit at the geometric mean width
        w0 = 8 * max(1, round(np.exp(np.log(profile).mean()) / 8))
        assert fit.e_fit <= _mean_log_ratio(np.full(profile.size, w0), profile) + 1e-12


def test_not_exact_when_not_quantized_or_decreasing():
    assert exact_regnet_params([16, 16, 40, 44]) is None  # 44 is not a multiple of 8
    assert exact_regnet_params([64, 32, 32]) is None  # decreasing
    assert fit_regnet([64, 32, 32]).e_fit > 0


def test_inputs_and_validation():
    spec = zoo.get("RegNetX-200MF")
    row = pd.Series(spec.to_row())
    assert fit_regnet(spec) == fit_regnet(row) == fit_regnet(list(spec.block_widths))
    with pytest.raises(ValueError, match="depth"):
        fit_regnet([8, 16], depth=3)
    with pytest.raises(ValueError, match="wm_range"):
        fit_regnet([8, 16], wm_range=(1.0, 2.0))
    assert regnet_efit([24, 56], 2, 24, 36.44, 2.49) == 0.0


def test_wm_range_is_respected():
    widths = regnet_widths(20, 48, 30.0, 1.3).block_widths  # wm outside the default range
    inside = fit_regnet(widths, wm_range=(1.2, 1.4))
    assert inside.exact and 1.2 <= inside.wm <= 1.4
    assert regnet_widths(20, inside.w0, inside.wa, inside.wm).block_widths == widths
    outside = fit_regnet(widths)
    assert 1.5 <= outside.wm <= 3.0


# --- the pooled line -------------------------------------------------------------------------------------
def test_line_fit_recovers_the_papers_rule():
    profiles = [[48 * (j + 1) for j in range(d)] for d in (21, 15, 9)]
    line = fit_width_line(profiles)
    assert line.w0 == pytest.approx(48) and line.wa == pytest.approx(48)
    assert line.rmse == pytest.approx(0, abs=1e-9) and line.mean_log_ratio == pytest.approx(0, abs=1e-12)
    assert (line.n_models, line.n_blocks) == (3, 45)
    rel = fit_width_line(profiles, relative=True)
    assert rel.w0 == pytest.approx(48) and rel.wa == pytest.approx(48)


def test_line_fit_is_least_squares():
    rng = np.random.default_rng(3)
    profiles = [48 * (np.arange(d) + 1) + rng.normal(0, 5, d) for d in (10, 20)]
    j = np.r_[np.arange(10), np.arange(20)]
    w = np.concatenate(profiles)
    slope, intercept = np.polyfit(j, w, 1)
    line = fit_width_line(profiles)
    assert line.wa == pytest.approx(slope) and line.w0 == pytest.approx(intercept)
    assert line.rmse == pytest.approx(np.sqrt(np.mean((intercept + slope * j - w) ** 2)))
    frame = pd.DataFrame([{"d1": 2, "d2": 1, "w1": 48, "w2": 96, "num_stages": 2}])
    from_frame = fit_width_line(frame)  # block widths 48, 48, 96 at j = 0, 1, 2
    assert from_frame.wa == pytest.approx(24) and from_frame.w0 == pytest.approx(40)
    with pytest.raises(ValueError):
        fit_width_line([[64]])


SPACES = ("anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnetx")


def _batched_equals_one_by_one(n: int, workers: int) -> None:
    """The vectorised, pooled fit of a whole table gives every model exactly what `fit_regnet` gives it alone."""
    from designspace.net.widthfit import fit_regnet
    from designspace.space.sampler import sample

    for space in SPACES:
        frame = sample(space, n, 0, "400mf", progress=False)
        many = fit_regnet_many(frame, workers=workers)
        alone = pd.DataFrame([vars(fit_regnet(row)) for _, row in frame.iterrows()], index=frame.index)
        pd.testing.assert_frame_equal(many, alone[many.columns], check_dtype=False, rtol=0, atol=0)


def test_the_vectorised_fit_is_the_per_model_fit() -> None:
    _batched_equals_one_by_one(40, workers=1)


@pytest.mark.slow
def test_the_vectorised_pooled_fit_is_the_per_model_fit_on_500_models_of_each_space() -> None:
    _batched_equals_one_by_one(500, workers=2)
