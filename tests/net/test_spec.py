"""NetSpec validation and the App. D compatibility rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from designspace.net.blocks.bottleneck import make_compatible, make_compatible_arrays
from designspace.net.spec import NetSpec

GOOD = {"depths": [1, 2, 4, 7], "widths": [24, 56, 152, 368], "bottleneck_ratios": [1, 1, 1, 1],
        "group_widths": [8, 8, 8, 8]}


def test_valid_spec_normalises_to_tuples():
    s = NetSpec(**GOOD)
    assert s.depths == (1, 2, 4, 7) and s.bottleneck_ratios == (1.0,) * 4
    assert s.num_groups == (3, 7, 19, 46)
    assert s.total_depth == 14 and len(s.block_widths) == 14
    assert s.strides == (2, 2, 2, 2)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"depths": [1, 2, 4]}, "widths"),  # lengths disagree: names the offender
        ({"depths": [1, 0, 4, 7]}, r"depths\[1\]"),
        ({"widths": [24, -56, 152, 368]}, r"widths\[1\]"),
        ({"bottleneck_ratios": [1, 1, 0, 1]}, r"bottleneck_ratios\[2\]"),
        ({"group_widths": [8, 8, 8, 0]}, r"group_widths\[3\]"),
        ({"group_widths": [8, 16, 8, 8]}, r"group_widths\[1\]=16"),  # 56 not divisible by 16
        ({"widths": [24, 56, 152, 370], "bottleneck_ratios": [1, 1, 1, 4]}, r"widths\[3\]=370"),
        ({"depths": [1, 2.5, 4, 7]}, "depths"),
        ({"depths": "1247"}, "depths"),
        ({"se_ratio": -0.25}, "se_ratio"),
        ({"se_ratio": float("nan")}, "se_ratio"),
        ({"stem_width": 0}, "stem_width"),
        ({"stem_stride": 0}, "stem_stride"),
        ({"num_classes": 0}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
        ({"depths": []}, "depths"),
    ],
)
def test_invalid_fields_raise_value_error_naming_them(change, field):
    with pytest.raises(ValueError, match=field):
        NetSpec(**(GOOD | change))


def test_round_trips_and_stable_id():
    s = NetSpec(**GOOD, se_ratio=0.25, num_classes=10)
    assert NetSpec.from_dict(s.to_dict()) == s
    assert NetSpec.from_row(s.to_row()) == s
    assert s.id == NetSpec(**GOOD, se_ratio=0.25, num_classes=10).id
    assert s.id != s.replace(num_classes=100).id
    with pytest.raises(ValueError, match="unknown key"):
        NetSpec.from_dict(s.to_dict() | {"wdith": 3})


def reference_compatible(w: float, b: float, g: int) -> tuple[int, int]:
    """Spec section 3, scalar, with Python's round (half-to-even)."""
    v = max(1, int(w / b))
    g = min(g, v)
    quantum = g if b >= 1 else math.lcm(g, round(1 / b))
    v = max(quantum, round(v / quantum) * quantum)
    return int(v * b), g


@st.composite
def stage_lists(draw):
    n = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, 2048), min_size=n, max_size=n))
    brs = draw(st.lists(st.sampled_from([0.25, 0.5, 1, 2, 4]), min_size=n, max_size=n))
    gws = draw(st.lists(st.sampled_from([1, 2, 3, 4, 8, 16, 24, 32, 64]), min_size=n, max_size=n))
    return widths, brs, gws


@settings(max_examples=400, deadline=None)
@given(stage_lists())
def test_compatible_matches_reference_and_is_divisible(args):
    widths, brs, gws = args
    w2, b2, g2 = make_compatible(widths, brs, gws)
    for w, b, g, wn, gn in zip(widths, brs, gws, w2, g2):
        assert (wn, gn) == reference_compatible(w, b, g)
        inner = wn / b
        assert inner == round(inner) and round(inner) % gn == 0
    assert b2 == tuple(float(b) for b in brs)


@settings(max_examples=300, deadline=None)
@given(stage_lists())
def test_compatible_is_idempotent(args):
    once = make_compatible(*args)
    assert make_compatible(*once) == once


@settings(max_examples=300, deadline=None)
@given(stage_lists())
def test_inner_width_moves_by_at_most_a_third(args):
    widths, brs, gws = args
    w2, _, _ = make_compatible(widths, brs, gws)
    for w, b, wn in zip(widths, brs, w2):
        v = max(1, int(w / b))
        if b >= 1:  # the App. D bound: |v' - v| <= v / 3 for ordinary bottlenecks
            assert abs(wn / b - v) <= v / 3 + 1e-9


def test_known_examples():
    # RegNetX-8.0GF: first stage clamps g to its inner width
    assert make_compatible([80, 240, 720, 1920], [1] * 4, [120] * 4)[2] == (80, 120, 120, 120)
    # half-to-even: 24/16 = 1.5 -> 2, 40/16 = 2.5 -> 2
    assert make_compatible([24, 40], [1, 1], [16, 16])[0] == (32, 32)


def test_arrays_broadcast_and_bad_input_named():
    w, b, g = make_compatible_arrays(np.array([[24, 40]]), 1, 16)
    assert w.tolist() == [[32, 32]] and g.tolist() == [[16, 16]]
    with pytest.raises(ValueError, match="same length"):
        make_compatible([8, 16], [1], [1, 1])
    with pytest.raises(ValueError, match=r"group_widths\[1\]"):
        make_compatible([8, 16], [1, 1], [1, 0])
