"""The analytic counter: a hand-derived closed form, the vectorized forms, bad input."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from designspace.net.complexity import (
    complexity,
    complexity_arrays,
    complexity_breakdown,
    complexity_frame,
    complexity_many,
    format_count,
)
from designspace.net.spec import NetSpec
from tests.helpers.models import random_spec


def test_one_block_network_by_hand():
    """Stem 3->8 at 32px stride 1, one X block 8->16 (b=2, g=4, stride 2), head to 10."""
    spec = NetSpec([1], [16], [2], [4], stem_width=8, stem_stride=1, num_classes=10)
    # stem: 3x3 conv 3->8 on 32x32, BN(8)
    stem = (9 * 3 * 8 * 32 * 32, 9 * 3 * 8 + 16, 8 * 32 * 32)
    # block: inner 8; a: 1x1 8->8 @32; b: 3x3 groups 2 (4 ch each) stride 2 @16; c: 1x1 8->16 @16;
    # projection 1x1 8->16 stride 2 @16. Each conv followed by BN (2c params).
    a = (8 * 8 * 32 * 32, 8 * 8 + 16, 8 * 32 * 32)
    b = (9 * 4 * 8 * 16 * 16, 9 * 4 * 8 + 16, 8 * 16 * 16)
    c = (8 * 16 * 16 * 16, 8 * 16 + 32, 16 * 16 * 16)
    proj = (8 * 16 * 16 * 16, 8 * 16 + 32, 16 * 16 * 16)
    head = (16 * 10 + 10, 16 * 10 + 10, 10)
    expected = tuple(sum(x) for x in zip(stem, a, b, c, proj, head))
    cx = complexity(spec, 32)
    assert (cx.flops, cx.params, cx.acts) == expected


def test_se_block_by_hand():
    """Add SE 0.25 on the input width 8 -> w_se = 2: two biased 1x1 convs 8->2->8 on a 1x1 map."""
    base = NetSpec([1], [16], [2], [4], stem_width=8, stem_stride=1, num_classes=10)
    se = base.replace(se_ratio=0.25)
    d = (8 * 2 + 2 + 2 * 8 + 8, 8 * 2 + 2 + 2 * 8 + 8, 2 + 8)
    a, b = complexity(se, 32), complexity(base, 32)
    assert (a.flops - b.flops, a.params - b.params, a.acts - b.acts) == d


def test_design_spec_check_value():
    spec = NetSpec([1, 1, 4, 7], [24, 56, 152, 368], [1] * 4, [8] * 4)
    cx = complexity(spec)
    assert (cx.flops, cx.params, cx.acts) == (199_040_872, 2_684_792, 2_164_056)


def test_breakdown_sums_to_total():
    spec = random_spec(random.Random(3))
    parts = complexity_breakdown(spec, 64)
    assert [p[0] for p in parts] == ["stem", *[f"stage{i + 1}" for i in range(spec.num_stages)], "head"]
    total = complexity(spec, 64)
    assert sum(p[1].flops for p in parts) == total.flops
    assert sum(p[1].params for p in parts) == total.params


def test_vectorized_forms_agree_with_scalar_on_mixed_stage_counts():
    rng = random.Random(11)
    specs = [random_spec(rng) for _ in range(200)]
    for res in (32, 97, 224):
        many = complexity_many(specs, res)
        for i, s in enumerate(specs):
            cx = complexity(s, res)
            assert (many.flops[i], many.params[i], many.acts[i]) == (cx.flops, cx.params, cx.acts)


def test_arrays_accept_per_model_scalars():
    specs = [random_spec(random.Random(s)) for s in range(50)]
    specs = [s for s in specs if s.num_stages == 3][:10]
    arr = {f: np.array([getattr(s, f) for s in specs]) for f in ("depths", "widths", "bottleneck_ratios", "group_widths")}
    scal = {f: np.array([getattr(s, f) for s in specs]) for f in ("se_ratio", "stem_width", "stem_stride", "num_classes", "in_channels")}
    cx = complexity_arrays(**arr, **scal, resolution=40)
    assert cx.flops.dtype == np.int64
    assert cx.flops.tolist() == [complexity(s, 40).flops for s in specs]


def test_frame_requires_columns_and_resolution_must_be_positive():
    with pytest.raises(ValueError, match="lacks column"):
        complexity_frame(pd.DataFrame({"d1": [1], "num_stages": [1]}))
    spec = NetSpec([1], [16], [1], [16])
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="resolution"):
            complexity(spec, bad)
    with pytest.raises(ValueError, match="differ in shape"):
        complexity_arrays([[1, 1]], [[8, 8]], [[1]], [[8, 8]])


def test_large_models_do_not_overflow():
    spec = NetSpec([40] * 4, [4096] * 4, [1] * 4, [4096] * 4)
    assert complexity_many([spec]).flops[0] == complexity(spec).flops > 2**40


def test_format_units():
    assert format_count(797_183_328, "flops") == "0.80 GF"
    assert format_count(6_263_168, "params") == "6.26 M"
    assert format_count(24_500_000, "flops") == "24.50 MF"
