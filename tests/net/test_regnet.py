"""The quantized linear generator against an independent from-the-formula implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from designspace.net.regnet import regnet_spec, regnet_widths, regnet_widths_batch


def formula_widths(d: int, w0: int, wa: float, wm: float, q: int = 8) -> list[int]:
    """Design-spec section 4 written with Python's math and round (half-to-even)."""
    out = []
    for j in range(d):
        k = round(math.log((w0 + wa * j) / w0) / math.log(wm))
        out.append(q * round(w0 * wm**k / q))
    return out


params = st.tuples(
    st.integers(1, 63), st.integers(1, 31).map(lambda x: 8 * x),
    st.floats(0, 255, allow_nan=False), st.floats(1.05, 3.5, allow_nan=False),
)


@settings(max_examples=300, deadline=None)
@given(params)
def test_block_widths_match_the_formula(p):
    d, w0, wa, wm = p
    gen = regnet_widths(d, w0, wa, wm)
    assert list(gen.block_widths) == formula_widths(d, w0, wa, wm)
    # stages are the runs of equal widths
    rebuilt = [w for w, n in zip(gen.stage_widths, gen.stage_depths) for _ in range(n)]
    assert rebuilt == list(gen.block_widths)
    assert all(a != b for a, b in zip(gen.stage_widths, gen.stage_widths[1:]))


@settings(max_examples=50, deadline=None)
@given(st.lists(params, min_size=1, max_size=20))
def test_batch_agrees_with_single(ps):
    d, w0, wa, wm = (np.array(x) for x in zip(*ps))
    batch = regnet_widths_batch(d, w0, wa, wm)
    for i, p in enumerate(ps):
        gen = regnet_widths(*p)
        s = gen.num_stages
        assert batch.num_stages[i] == s
        assert tuple(batch.stage_widths[i, :s]) == gen.stage_widths
        assert tuple(batch.stage_depths[i, :s]) == gen.stage_depths
        assert not batch.stage_widths[i, s:].any()
        assert batch.num_exponents[i] == len(set(gen.exponents))
        assert bool(batch.skips_exponent[i]) == gen.skips_exponent


def test_linear_rule_without_quantization_steps():
    # wa = 0: every block has width w0, one stage
    gen = regnet_widths(10, 48, 0.0, 2.5)
    assert gen.stage_widths == (48,) and gen.stage_depths == (10,)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"depth": 0}, "depth"),
        ({"depth": 2.5}, "depth"),
        ({"w0": 20}, "w0"),
        ({"w0": -8}, "w0"),
        ({"wa": -1.0}, "wa"),
        ({"wm": 1.0}, "wm"),
        ({"wm": 0.5}, "wm"),
        ({"group_width": 0}, "group_width"),
        ({"bottleneck_ratio": 0}, "bottleneck_ratio"),
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs, name):
    args = {"depth": 13, "w0": 24, "wa": 36.44, "wm": 2.49, "group_width": 8} | kwargs
    with pytest.raises(ValueError, match=rf"\b{name}="):
        regnet_spec(**args)


def test_spec_applies_compatibility_to_every_stage():
    spec = regnet_spec(22, 24, 24.48, 2.54, 16)  # RegNetX-400MF: raw first stage 24 -> 32
    assert regnet_widths(22, 24, 24.48, 2.54).stage_widths[0] == 24
    assert spec.widths[0] == 32
    assert all(w % g == 0 for w, g in zip(spec.widths, spec.group_widths))
