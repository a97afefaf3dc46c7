"""The 24 published models against the reference table (../shared/reference/regnet_zoo.csv)."""

from __future__ import annotations

import pytest

from designspace.net import zoo
from designspace.net.complexity import complexity, complexity_many
from designspace.net.regnet import regnet_widths
from tests.helpers.paths import DATA, SHARED_ZOO, ints, read_zoo_reference

REFERENCE = read_zoo_reference()


def test_bundled_reference_is_the_shared_one():
    if not SHARED_ZOO.is_file():
        pytest.skip(f"{SHARED_ZOO} not present beside the checkout")
    assert (DATA / "regnet_zoo.csv").read_bytes() == SHARED_ZOO.read_bytes()


def test_zoo_has_exactly_the_reference_models():
    assert len(REFERENCE) == 24
    assert zoo.names() == [r["name"] for r in REFERENCE]


@pytest.mark.parametrize("row", REFERENCE, ids=lambda r: r["name"])
def test_generator_parameters_match(row):
    e = zoo.entry(row["name"])
    assert (e.depth, e.w0, e.wa, e.wm, e.group_width) == (
        int(row["depth"]), int(row["w0"]), float(row["wa"]), float(row["wm"]), int(row["group_width"])
    )
    assert e.se_ratio == float(row["se_ratio"])


@pytest.mark.parametrize("row", REFERENCE, ids=lambda r: r["name"])
def test_structure_and_complexity_exact(row):
    spec = zoo.get(row["name"])
    assert spec.depths == ints(row["stage_depths"])
    assert spec.widths == ints(row["stage_widths"])
    assert spec.group_widths == ints(row["stage_group_widths"])
    assert spec.bottleneck_ratios == (1.0,) * 4
    assert spec.se_ratio == float(row["se_ratio"])
    assert sum(spec.depths) == int(row["depth"])
    cx = complexity(spec)
    assert (cx.flops, cx.params, cx.acts) == (int(row["flops"]), int(row["params"]), int(row["acts"]))


def test_vectorized_counter_matches_reference_for_all_24():
    cx = complexity_many([zoo.get(r["name"]) for r in REFERENCE])
    assert cx.flops.tolist() == [int(r["flops"]) for r in REFERENCE]
    assert cx.params.tolist() == [int(r["params"]) for r in REFERENCE]
    assert cx.acts.tolist() == [int(r["acts"]) for r in REFERENCE]


@pytest.mark.parametrize("name", ["RegNetX-400MF", "RegNetX-1.6GF", "RegNetY-800MF"])
def test_half_to_even_cases_called_out_in_the_spec(name):
    """The generator's raw last-stage width before compatibility is what the spec names."""
    row = next(r for r in REFERENCE if r["name"] == name)
    e = zoo.entry(name)
    gen = regnet_widths(e.depth, e.w0, e.wa, e.wm)
    assert gen.num_stages == 4
    assert gen.stage_depths == ints(row["stage_depths"])
    assert zoo.get(name).widths == ints(row["stage_widths"])


def test_regnetx_8gf_shows_the_group_clamp():
    assert zoo.get("RegNetX-8.0GF").group_widths == (80, 120, 120, 120)


def test_lookup_is_forgiving_about_case_and_unknown_names_are_clear():
    assert zoo.get("regnetx_200mf") == zoo.get("RegNetX-200MF")
    with pytest.raises(KeyError, match="unknown zoo model 'RegNetZ-1GF'"):
        zoo.get("RegNetZ-1GF")


def test_netspec_fields_pass_through():
    spec = zoo.get("RegNetX-200MF", num_classes=10, stem_stride=1)
    assert (spec.num_classes, spec.stem_stride) == (10, 1)
