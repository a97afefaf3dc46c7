"""Twins (designspace.space.twins): every twin is a model of the later space inside the budget band, counted
exactly, named after its source; models that meet the restriction are their own twins; the re-fit touches only
twins outside the band and picks the in-band multiplier nearest the source's flops. Each property is checked
against an independent computation (the restriction redone here, NetSpec and `complexity` per row, the RegNet
generator per row, a brute-force grid of multipliers), never against the module's own output."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from designspace.net.blocks.bottleneck import make_compatible
from designspace.net.complexity import complexity
from designspace.net.regnet import regnet_widths
from designspace.net.spec import NetSpec
from designspace.space import spaces
from designspace.space.budgets import load_budget
from designspace.space.sampler import columns, draw
from designspace.space.schema import Space
from designspace.space.twins import HOW, NO_FIT, RANGES, TwinTable, twins

STEPS = [("anynetx_a", "anynetx_b"), ("anynetx_b", "anynetx_c"), ("anynetx_c", "anynetx_d"),
         ("anynetx_d", "anynetx_e"), ("anynetx_e", "regnet")]
BUDGETS = ["fmnist32_50mf", "400mf"]


@cache
def source(space: str, n: int, budget: str, seed: int = 0) -> pd.DataFrame:
    return draw(space, n, seed, budget).frame


@cache
def twin_table(earlier: str, later: str, n: int, budget: str) -> TwinTable:
    return twins(source(earlier, n, budget), earlier, later, budget)


def raw_of(row: pd.Series, space: Space) -> dict[str, list]:
    """Per-stage raw values of an AnyNet row (shared ones repeated)."""
    S = space.num_stages
    return {k: [row[f"raw_{k}{i}"] for i in range(1, S + 1)] if f"raw_{k}1" in row else [row[k]] * S
            for k in "dwbg"}


def spec_key(spec: NetSpec) -> tuple:
    return spec.depths, spec.widths, spec.bottleneck_ratios, spec.group_widths


def projection(row: pd.Series, earlier: Space, later: Space) -> NetSpec:
    """The restriction redone here: shared in `later` only -> stage 1's raw value; ordered in `later` only ->
    the raw values sorted; compatibility re-applied."""
    raw = raw_of(row, earlier)
    for k in "dwbg":
        if later.is_shared(k) and not earlier.is_shared(k):
            raw[k] = [raw[k][0]] * len(raw[k])
        if k in later.non_decreasing and k not in earlier.non_decreasing:
            raw[k] = sorted(raw[k])
    widths, ratios, groups = make_compatible(raw["w"], raw["b"], raw["g"])
    return NetSpec(tuple(raw["d"]), widths, ratios, groups, stem_stride=int(row["stem_stride"]),
                   num_classes=int(row["num_classes"]), in_channels=int(row["in_channels"]))


def in_band(value: int, band: tuple) -> bool:
    return (band[0] is None or value >= band[0]) and (band[1] is None or value <= band[1])


def check_twins(table: TwinTable, frame: pd.DataFrame, later: str, budget_name: str) -> None:
    """Every twin row meets the later space and the band, recounted one network at a time."""
    late, budget = spaces.load(later), load_budget(budget_name)
    twins_, skipped = table.frame, table.skipped
    assert list(twins_.columns) == [*columns(late), "twin_of"]
    ids = frame["model_id"].tolist()
    # every source model is either twinned or skipped, once, in the source's order
    assert sorted(twins_["twin_of"].tolist() + skipped["model_id"].tolist()) == sorted(ids)
    assert not set(twins_["twin_of"]) & set(skipped["model_id"])
    assert twins_["twin_of"].tolist() == [m for m in ids if m not in set(skipped["model_id"])]
    assert skipped["model_id"].tolist() == [m for m in ids if m in set(skipped["model_id"])]
    assert set(skipped["reason"]) <= {NO_FIT, RANGES} | {r for r in skipped["reason"] if r.startswith("RegNet fit")}
    assert list(table.refit["twin_of"]) == list(twins_["twin_of"]) and set(table.refit["how"]) <= set(HOW)
    by_id = frame.set_index("model_id")
    S = late.num_stages
    for (_, row), (_, info) in zip(twins_.iterrows(), table.refit.iterrows()):
        spec = NetSpec.from_row(row)
        assert row["model_id"] == spec.id
        cx = complexity(spec, budget.resolution)
        assert (row["flops"], row["params"], row["acts"], row["total_depth"]) == (
            cx.flops, cx.params, cx.acts, spec.total_depth)
        for metric in ("flops", "params", "acts"):
            assert in_band(cx.as_dict()[metric], budget.band(metric))
        assert (spec.se_ratio, spec.stem_width, spec.stem_stride, spec.num_classes, spec.in_channels) == (
            late.se_ratio, late.stem_width, budget.stem_stride, budget.num_classes, budget.in_channels)
        src = NetSpec.from_row(by_id.loc[row["twin_of"]])
        assert info["source_flops"] == complexity(src.replace(
            stem_stride=budget.stem_stride, num_classes=budget.num_classes, in_channels=budget.in_channels),
            budget.resolution).flops
        assert bool(info["identical"]) == (spec_key(spec) == spec_key(src))
        if late.family == "regnet":
            raw = {k: row[k] for k in ("depth", "w0", "wa", "wm", "b", "g")}
            gen = regnet_widths(int(raw["depth"]), int(raw["w0"]), float(raw["wa"]), float(raw["wm"]))
            assert gen.num_stages == S and not gen.skips_exponent and len(set(gen.exponents)) == S
            widths, ratios, groups = make_compatible(gen.stage_widths, [raw["b"]] * S, [raw["g"]] * S)
            assert spec_key(spec) == (gen.stage_depths, widths, ratios, groups)
            assert raw["w0"] % 8 == 0 and 8 <= raw["w0"] <= 248 and 1 <= raw["depth"] <= 63
            assert abs(raw["wa"] * 10 - round(raw["wa"] * 10)) < 1e-9 and 0.1 - 1e-12 <= raw["wa"] <= 255.9 + 1e-9
            assert abs(raw["wm"] * 1000 - round(raw["wm"] * 1000)) < 1e-6 and 1.5 - 1e-12 <= raw["wm"] <= 3 + 1e-12
            assert raw["b"] in (1, 2, 4) and raw["g"] in (1, 2, 4, 8, 16, 32)
            continue
        raw = raw_of(row, late)
        for k in "dwbg":
            assert all(v in late.parameters[k].values for v in raw[k]), (k, raw[k])
        for k in late.shared:
            assert len(set(raw[k])) == 1
        widths, ratios, groups = make_compatible(raw["w"], raw["b"], raw["g"])
        assert spec_key(spec) == (tuple(raw["d"]), widths, ratios, groups)
        final = {"d": spec.depths, "w": spec.widths}
        for k in late.non_decreasing:
            assert all(a <= b for a, b in zip(final[k], final[k][1:]))


# --- every step, both budgets ---------------------------------------------------------------------------------
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("earlier,later", STEPS[:4])
def test_anynet_twins_meet_the_later_space_and_the_band(earlier, later, budget):
    table = twin_table(earlier, later, 100, budget)
    check_twins(table, source(earlier, 100, budget), later, budget)
    assert len(table.skipped) <= 0.1 * 100


@pytest.mark.parametrize("budget", BUDGETS)
def test_regnet_twins_are_generated_in_the_band(budget):
    table = twin_table("anynetx_e", "regnet", 60, budget)
    check_twins(table, source("anynetx_e", 60, budget), "regnet", budget)


@pytest.mark.slow
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("earlier,later", STEPS)
def test_thousands_of_twins(earlier, later, budget):
    n = 1000 if later == "regnet" else 2000
    table = twins(source(earlier, n, budget, seed=11), earlier, later, budget)
    check_twins(table, source(earlier, n, budget, seed=11), later, budget)
    assert len(table.skipped) <= 0.05 * n


# --- the restriction and the re-fit -----------------------------------------------------------------------
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("earlier,later", STEPS[:4])
def test_refit_only_where_the_projection_leaves_the_band(earlier, later, budget):
    """The projection redone here: in the band -> the twin is the projection, 'unchanged'; else re-fitted."""
    early, late, bud = spaces.load(earlier), spaces.load(later), load_budget(budget)
    frame = source(earlier, 100, budget)
    table = twin_table(earlier, later, 100, budget)
    twin_of = dict(zip(table.frame["twin_of"], table.frame.index))
    for _, row in frame.iterrows():
        proj = projection(row, early, late)
        fits = in_band(complexity(proj, bud.resolution).flops, bud.flops)
        ordered = all(all(a <= b for a, b in zip(x, x[1:])) for k, x in (("d", proj.depths), ("w", proj.widths))
                      if k in late.non_decreasing)
        src = NetSpec.from_row(row)
        if fits and ordered:
            i = twin_of[row["model_id"]]
            twin = NetSpec.from_row(table.frame.loc[i])
            assert spec_key(twin) in (spec_key(proj), spec_key(src))  # the model itself when it already meets it
            assert table.refit.loc[i, "how"] == "unchanged" and table.refit.loc[i, "multiplier"] == 1.0
        elif row["model_id"] in twin_of:
            assert table.refit.loc[twin_of[row["model_id"]], "how"] != "unchanged"


def _multiplier_outcomes(proj: NetSpec, raw_b: list, raw_g: list, budget) -> list[tuple[float, int, tuple]]:
    """(s, flops, key) for a fine grid of s in [1/8, 8]: widths 8 * round(s * w / 8) within [8, 1024], compatibility."""
    seen, out = set(), []
    for s in np.geomspace(0.125, 8, 4001):
        w = [int(min(1024, max(8, 8 * round(s * x / 8)))) for x in proj.widths]
        if tuple(w) in seen:
            continue
        seen.add(tuple(w))
        widths, ratios, groups = make_compatible(w, raw_b, raw_g)
        spec = proj.replace(widths=widths, bottleneck_ratios=ratios, group_widths=groups)
        out.append((float(s), complexity(spec, budget.resolution).flops, spec_key(spec)))
    return out


@pytest.mark.parametrize("earlier,later", [STEPS[0], STEPS[3]])
def test_the_multiplier_is_the_in_band_one_nearest_the_source_flops(earlier, later):
    """Brute force over a fine grid of multipliers: none in the band is nearer the source's flops than the twin
    of a 'multiplier' re-fit; none is in the band at all for a 'steps' re-fit."""
    budget = "fmnist32_50mf"
    early, late, bud = spaces.load(earlier), spaces.load(later), load_budget(budget)
    frame = source(earlier, 100, budget).set_index("model_id")
    table = twin_table(earlier, later, 100, budget)
    lo, hi = bud.flops
    checked = {"multiplier": 0, "steps": 0}
    for i, info in table.refit.iterrows():
        if info["how"] not in checked or checked[info["how"]] >= 6:
            continue
        checked[info["how"]] += 1
        row = frame.loc[info["twin_of"]]
        proj = projection(row, early, late)
        raw = raw_of(row, early)
        raw_b = [raw["b"][0]] * 4 if late.is_shared("b") else raw["b"]
        raw_g = [raw["g"][0]] * 4 if late.is_shared("g") else raw["g"]
        ordered = [o for o in _multiplier_outcomes(proj, raw_b, raw_g, bud)
                   if all(all(a <= b for a, b in zip(o[2][j], o[2][j][1:])) for j, k in ((0, "d"), (1, "w"))
                          if k in late.non_decreasing)]
        inside = [o for o in ordered if lo <= o[1] <= hi]
        twin_flops = table.frame.loc[i, "flops"]
        if info["how"] == "multiplier":
            assert inside and min(abs(o[1] - info["source_flops"]) for o in inside) >= abs(
                twin_flops - info["source_flops"])
        else:
            assert not inside and info["steps"] >= 1
    assert checked["multiplier"] and checked["steps"]


# --- identity: a model that already meets the restriction --------------------------------------------------
@pytest.mark.parametrize("earlier,later,meets", [
    ("anynetx_a", "anynetx_b", lambda r: len({r[f"raw_b{i}"] for i in range(1, 5)}) == 1),
    ("anynetx_b", "anynetx_c", lambda r: len({r[f"raw_g{i}"] for i in range(1, 5)}) == 1),
    ("anynetx_c", "anynetx_d", lambda r: all(r[f"w{i}"] <= r[f"w{i + 1}"] for i in range(1, 4))),
    ("anynetx_d", "anynetx_e", lambda r: all(r[f"d{i}"] <= r[f"d{i + 1}"] for i in range(1, 4))),
])
def test_a_model_that_meets_the_restriction_is_its_own_twin(earlier, later, meets):
    frame = source(earlier, 1000, "fmnist32_50mf", seed=3)
    already = frame[frame.apply(meets, axis=1)]
    assert len(already) >= 5
    table = twins(already, earlier, later, "fmnist32_50mf")
    assert table.skipped.empty
    assert table.frame["model_id"].tolist() == already["model_id"].tolist() == table.frame["twin_of"].tolist()
    assert table.refit["identical"].all() and (table.refit["how"] == "unchanged").all()


def test_a_space_is_its_own_restriction():
    frame = source("anynetx_c", 100, "400mf")
    table = twins(frame, "anynetx_c", "anynetx_c", "400mf")
    pd.testing.assert_frame_equal(table.frame.drop(columns="twin_of"), frame)


def test_an_anynet_model_that_is_a_regnet_is_its_own_twin():
    """RegNets written as AnyNetX_E rows (raw widths the generator's, ordered depths of at most 16 blocks)."""
    budget = "fmnist32_50mf"
    regnets = source("regnet", 400, budget, seed=5)
    depths = regnets[[f"d{i}" for i in range(1, 5)]].to_numpy()
    rows = regnets[(np.diff(depths, axis=1) >= 0).all(axis=1) & (depths <= 16).all(axis=1)].copy()
    gen = np.array([regnet_widths(int(r.depth), r.w0, r.wa, r.wm).stage_widths for r in rows.itertuples()])
    for i in range(4):
        rows[f"raw_d{i + 1}"], rows[f"raw_w{i + 1}"] = rows[f"d{i + 1}"], gen[:, i]
    rows = rows[columns(spaces.load("anynetx_e"))]
    assert len(rows) >= 20
    table = twins(rows, "anynetx_e", "regnet", budget)
    assert table.skipped.empty and table.refit["identical"].all()
    assert table.frame["model_id"].tolist() == rows["model_id"].tolist()


def test_the_free_fit_alone_skips_what_the_constrained_fit_twins():
    frame = source("anynetx_e", 60, "fmnist32_50mf")
    full = twin_table("anynetx_e", "regnet", 60, "fmnist32_50mf")
    free = twins(frame, "anynetx_e", "regnet", "fmnist32_50mf", constrained_fit=False)
    assert (free.refit["fit"] == "free").all() and (full.refit["fit"] == "constrained").any()
    by_full = dict(zip(full.frame["twin_of"], full.frame["model_id"]))
    fit_of = dict(zip(full.refit["twin_of"], full.refit["fit"]))
    assert all(by_full[src] == twin and fit_of[src] == "free" for src, twin in zip(free.frame["twin_of"],
                                                                                  free.frame["model_id"]))
    reasons = dict(zip(free.skipped["model_id"], free.skipped["reason"]))
    assert all(reasons[src].startswith("RegNet fit gives") or reasons[src] == "RegNet fit skips an exponent"
               for src, fit in fit_of.items() if fit == "constrained")


# --- skipped, never replaced; refused pairs ----------------------------------------------------------------
def test_a_model_without_an_in_band_twin_is_skipped_not_replaced():
    narrow = {"name": "fmnist32_50mf", "flops": [3_900_000, 3_900_400]}
    frame = source("anynetx_c", 100, "fmnist32_50mf")
    table = twins(frame, "anynetx_c", "anynetx_d", narrow)
    assert len(table.skipped) > 60 and set(table.skipped["reason"]) == {NO_FIT}
    assert len(table.frame) + len(table.skipped) == len(frame)
    assert table.frame["flops"].between(3_900_000, 3_900_400).all()
    shares = table.shares()
    assert shares["skipped"] == pytest.approx(len(table.skipped) / len(frame))


def test_values_outside_the_later_ranges_are_skipped():
    frame = source("regnet", 100, "fmnist32_50mf")
    table = twins(frame, "regnet", "regnetx", "fmnist32_50mf")
    outside = (frame["b"] != 1) | (frame["depth"] > 40) | (frame["wm"] < 2)
    assert table.skipped["model_id"].tolist() == frame.loc[outside, "model_id"].tolist()
    assert set(table.skipped["reason"]) == {RANGES}
    check_twins(table, frame, "regnetx", "fmnist32_50mf")


@pytest.mark.parametrize("earlier,later", [("anynetx_b", "anynetx_a"), ("anynetx_e", "anynetx_d"),
                                           ("regnet", "anynetx_e"), ("anynetx_e", "regnety"),
                                           ("regnetx", "regnet")])
def test_a_pair_that_is_no_restriction_is_refused(earlier, later):
    with pytest.raises(ValueError, match=f"'{later}' is not a restriction of '{earlier}'"):
        twins(source(earlier, 5, "400mf"), earlier, later, "400mf")


def test_a_table_of_another_space_is_refused():
    with pytest.raises(ValueError, match="raw_b1"):
        twins(source("anynetx_b", 5, "400mf"), "anynetx_a", "anynetx_b", "400mf")


@pytest.mark.slow
def test_twins_counted_by_torch():
    """A few twins built and traced: torch's flop counter agrees with the table."""
    from tests.helpers.models import traced_counts

    for earlier, later in STEPS:
        row = twin_table(earlier, later, 60 if later == "regnet" else 100, "fmnist32_50mf").frame.iloc[0]
        assert traced_counts(NetSpec.from_row(row), 32) == (row["flops"], row["params"], row["acts"])
