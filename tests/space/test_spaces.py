"""Design spaces as YAML: loading, inheritance, validation messages and exact cardinality."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from designspace.configs import CONFIG_DIR
from designspace.net.blocks.bottleneck import make_compatible, make_compatible_arrays
from designspace.net.regnet import regnet_widths_batch
from designspace.net.regnet_stages import has_stages
from designspace.space import spaces
from designspace.space.compose import SPACE_DIR
from designspace.space.schema import SpaceError

A, B, C, D, E = (f"anynetx_{x}" for x in "abcde")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


# --- loading and the A -> E progression -------------------------------------------------------
def test_every_builtin_space_loads_with_the_papers_dimensions():
    dims = {A: 16, B: 13, C: 10, D: 10, E: 10, "regnet": 6, "regnetx": 5, "regnety": 5}
    assert set(dims) <= set(spaces.names())
    for name, dim in dims.items():
        sp = spaces.load(name)
        assert sp.name == name and sp.dims == dim and sp.num_stages == 4
    assert spaces.load("regnety").se_ratio == 0.25 and spaces.load("regnetx").se_ratio == 0.0


def test_spaces_a_to_e_differ_only_by_added_constraints():
    cfgs = [spaces.load(x).config for x in (A, B, C, D, E)]
    added = [("shared", ["b"]), ("shared", ["b", "g"]), ("non_decreasing", ["w"]), ("non_decreasing", ["w", "d"])]
    for prev, cur, (key, value) in zip(cfgs, cfgs[1:], added):
        assert cur["constraints"][key] == value
        strip = [{k: v for k, v in c.items() if k not in ("name", "description", "constraints")} for c in (prev, cur)]
        assert strip[0] == strip[1]
        other = {k: v for k, v in cur["constraints"].items() if k != key}
        assert other == {k: v for k, v in prev["constraints"].items() if k != key}
    for name, parent in zip((B, C, D, E), (A, B, C, D)):
        raw = OmegaConf.load(SPACE_DIR / f"{name}.yaml")
        assert list(raw.defaults) == [parent, "_self_"]


def test_hydra_composes_each_space_like_load():
    from hydra import compose, initialize_config_dir

    from designspace.cli import _structured

    _structured.register()  # the typed schemas `sample` composes with (registered when its module is imported)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for name in spaces.TABLE1:
            cfg = compose(config_name="sample", overrides=[f"space={name}"])
            assert _structured.given(cfg.space) == spaces.load(name).config


def test_load_accepts_paths_dicts_and_objects(tmp_path):
    sp = spaces.load(C)
    assert spaces.load(sp) is sp
    assert spaces.load(SPACE_DIR / f"{C}.yaml").config == sp.config
    assert spaces.load({"defaults": [B], "name": "c2", "constraints": {"shared": ["b", "g"]}}).cardinality() == \
        sp.cardinality()


# --- exact cardinality ---------------------------------------------------------------------------
def test_cardinality_of_a_b_c_closed_forms():
    assert spaces.load(A).cardinality() == (16 * 128 * 3 * 6) ** 4
    assert spaces.load(B).cardinality() == (16 * 128 * 6) ** 4 * 3
    assert spaces.load(C).cardinality() == (16 * 128) ** 4 * 3 * 6


def _h4(counts: list[int]) -> Fraction:
    """Complete homogeneous symmetric polynomial h_4 from power sums (Newton's identities)."""
    p1, p2, p3, p4 = (sum(Fraction(c) ** k for c in counts) for k in (1, 2, 3, 4))
    return (p1 ** 4 + 6 * p1 ** 2 * p2 + 3 * p2 ** 2 + 8 * p1 * p3 + 6 * p4) / 24


def test_cardinality_of_d_and_e_from_symmetric_polynomials():
    # Raw widths per final (compatible) width, per shared (b, g), via the scalar foundation API.
    total = Fraction(0)
    for b in (1, 2, 4):
        for g in (1, 2, 4, 8, 16, 32):
            counts = Counter(make_compatible([w], [b], [g])[0][0] for w in range(8, 1025, 8))
            total += _h4(list(counts.values()))
    assert spaces.load(D).cardinality() == 16 ** 4 * total
    assert spaces.load(E).cardinality() == math.comb(16 + 3, 4) * total
    assert 1.2e13 < spaces.load(D).cardinality() < 1.6e13  # paper: ~1.3e13 ((16*128)^4*18/4!)


SMALL = """
name: small
family: anynet
num_stages: 3
parameters:
  d: {{dist: choice, values: [1, 2, 3]}}
  w: {{dist: log_uniform, low: 8, high: 48, quantum: 8}}
  b: {{dist: choice, values: [1, 2, 4]}}
  g: {{dist: choice, values: [1, 16]}}
constraints:
  shared: {shared}
  non_decreasing: {ordered}
  bounds: {{total_depth: [4, 7]}}
"""


@pytest.mark.parametrize("shared,ordered", [
    ([], ["w", "d"]), (["b"], ["w"]), (["g"], ["w", "d"]), (["b", "g"], ["w"]), (["d"], ["w"]), ([], []),
])
def test_cardinality_matches_brute_force_enumeration(tmp_path, shared, ordered):
    sp = spaces.load(write(tmp_path, "small", SMALL.format(shared=shared, ordered=ordered)))
    S = 3
    grids = {"d": [1, 2, 3], "w": [8, 16, 24, 32, 40, 48], "b": [1, 2, 4], "g": [1, 16]}
    slots = [(k, i) for k in "dwbg" for i in ([0] if k in shared else range(S))]
    idx = np.indices([len(grids[k]) for k, _ in slots]).reshape(len(slots), -1)
    full = {k: np.stack([np.array(grids[k])[idx[slots.index((k, i if k not in shared else 0))]] for i in range(S)],
                        axis=1) for k in "dwbg"}
    w, _, _ = make_compatible_arrays(full["w"], full["b"], full["g"])
    ok = (full["d"].sum(1) >= 4) & (full["d"].sum(1) <= 7)
    if "w" in ordered:
        ok &= (np.diff(w, axis=1) >= 0).all(1)
    if "d" in ordered:
        ok &= (np.diff(full["d"], axis=1) >= 0).all(1)
    assert sp.cardinality() == int(ok.sum())


REGNET_SMALL = """
name: regnet_small
family: regnet
num_stages: {stages}
parameters:
  depth: {{dist: uniform, low: 1, high: 12}}
  w0: {{dist: log_uniform, low: 8, high: 48, quantum: 8}}
  wa: {{dist: log_uniform, low: 0.5, high: 24, quantum: 0.5}}
  wm: {{dist: uniform, low: 1.5, high: 3.0, quantum: 0.05}}
  b: {{dist: choice, values: [1]}}
  g: {{dist: choice, values: [1, 8]}}
constraints:
  bounds: {{total_depth: [null, 11]}}
"""


@pytest.mark.parametrize("stages", [2, 3, 4])
def test_regnet_cardinality_and_stage_test_match_the_generator(tmp_path, stages):
    """Brute force over the whole grid through the foundation generator (ties included: w0=8,
    wa=4, wm=2.25 puts ln(u/w0)/ln(wm) exactly on 0.5 at block 1)."""
    sp = spaces.load(write(tmp_path, "r", REGNET_SMALL.format(stages=stages)))
    p = sp.parameters
    grid = np.array(list(itertools.product(p["depth"].values[:11], p["w0"].values, p["wa"].values,
                                           p["wm"].values)), dtype=object)
    d, w0, wa, wm = (np.array(grid[:, i].tolist()) for i in range(4))
    gen = regnet_widths_batch(d, w0, wa, wm)
    valid = (gen.num_stages == stages) & (gen.num_exponents == stages) & ~gen.skips_exponent
    assert sp.cardinality() == int(valid.sum()) * 2
    assert np.array_equal(has_stages(d, w0, wa, wm, stages, 8), valid)
    assert ((d == 1) & (w0 == 8) & (wa == 4.0) & (wm == 2.25)).any()


def test_regnet_cardinality_counts_on_the_quantized_grid():
    x = spaces.load("regnetx")
    assert spaces.load("regnet").grid_note() == x.grid_note() == "on the quantized grid wa step 0.1, wm step 0.001"
    count = x.cardinality()  # (the full RegNet count takes a few seconds; small grids are brute-forced above)
    assert 0 < count < 40 * 31 * 2559 * 1001 * 6 and count % 6 == 0
    assert spaces.load("regnety").cardinality() == count


def test_table_cli_prints_the_progression():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "designspace.spaces", f"spaces=[{A},{B},{C},{D},{E},regnetx]"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith(("anynetx", "regnet"))}
    assert f"{(16 * 128 * 3 * 6) ** 4:,}" in rows[A] and "1.85e+18" in rows[A]
    cells = rows[E].split()
    assert (cells[-3], cells[-1]) == (f"{spaces.load(E).cardinality():,}", "5.5e+11")  # exact count, paper
    assert cells[-2] == "-"  # AnyNet: distinct networks not counted
    assert "*" in rows["regnetx"] and "wa step 0.1" in out
    bad = subprocess.run([sys.executable, "-m", "designspace.spaces", "spaces=anynetx_z"], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "anynetx_z" in bad.stderr


# --- validation ----------------------------------------------------------------------------------
BASE = OmegaConf.to_yaml(OmegaConf.create(spaces.load(A).config))


@pytest.mark.parametrize("edit,key,words", [
    ({"parameters": {"w": {"low": 2048}}}, "parameters.w.low", "greater than high"),
    ({"parameters": {"w": {"low": 0}}}, "parameters.w.low", "low > 0"),
    ({"parameters": {"w": {"quantum": 24}}}, "parameters.w.quantum", "does not divide"),
    ({"parameters": {"d": {"dist": "uniform", "low": 1, "high": 16, "quantum": 2}}}, "parameters.d.quantum",
     "does not divide"),
    ({"parameters": {"d": {"high": "sixteen"}}}, "parameters.d.high", "must be a number"),
    ({"parameters": {"w": {"quantm": 8}}}, "parameters.w.quantm", "unknown key"),
    ({"parameters": {"g": {"dist": "gaussian"}}}, "parameters.g.dist", "must be one of"),
    ({"parameters": {"g": {"values": [1, 2.5]}}}, "parameters.g", "whole numbers"),
    ({"parameters": {"b": {"values": [1, 1]}}}, "parameters.b.values", "repeated"),
    ({"parameters": {"b": {"values": [0.3]}}}, "parameters.b", "1/b a whole number"),
    ({"constraint": {}}, "constraint", "unknown key"),
    ({"num_stages": 2.5}, "num_stages", "integer"),
    ({"constraints": {"non_decreasing": ["b"]}}, "constraints.non_decreasing", "'b' is not one of"),
    ({"constraints": {"shared": ["x"]}}, "constraints.shared", "'x' is not one of"),
    ({"constraints": {"bounds": {"depth": [1, 2]}}}, "constraints.bounds.depth", "unknown key"),
    ({"constraints": {"bounds": {"total_depth": [20, 10]}}}, "constraints.bounds.total_depth", "greater"),
    ({"fixed": {"se_ratio": -1}}, "fixed.se_ratio", ">= 0"),
])
def test_bad_configs_name_the_file_and_the_key(tmp_path, edit, key, words):
    merged = OmegaConf.merge(OmegaConf.create(BASE), OmegaConf.create(edit))
    path = write(tmp_path, "bad", OmegaConf.to_yaml(merged))
    with pytest.raises(SpaceError) as err:
        spaces.load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {key}:") and words in msg, msg


@pytest.mark.parametrize("edit,key,words", [
    ({"parameters": {"w0": {"low": 12, "quantum": 4}}}, "parameters.w0", "multiples of 8"),
    ({"parameters": {"wm": {"low": 1.0}}}, "parameters.wm", "> 1"),
    ({"constraints": {"shared": ["b"]}}, "constraints.shared", "anynet only"),
    ({"constraints": {"scaled_max": {"params": {"base": 1}}}}, "constraints.scaled_max.params.coef", "required"),
    ({"width_quantum": 0}, "width_quantum", ">= 1"),
])
def test_bad_regnet_configs(tmp_path, edit, key, words):
    path = write(tmp_path, "bad", f"defaults: [regnet, _self_]\n{OmegaConf.to_yaml(OmegaConf.create(edit))}")
    with pytest.raises(SpaceError, match=words) as err:
        spaces.load(path)
    assert f": {key}:" in str(err.value)


def test_errors_point_at_the_file_that_set_the_key(tmp_path):
    write(tmp_path, "parent", BASE.replace("high: 1024", "high: 1020"))  # 1020 is not a multiple of 8
    child = write(tmp_path, "child", "defaults: [parent, _self_]\nname: child\n")
    with pytest.raises(SpaceError, match=r"parent\.yaml: parameters\.w\.quantum: quantum 8 does not divide high=1020"):
        spaces.load(child)
    fixed = write(tmp_path, "fixed", "defaults: [parent, _self_]\nname: fixed\nparameters: {w: {high: 1024}}\n")
    assert spaces.load(fixed).parameters["w"].size == 128


def test_unknown_names_and_cycles_fail_clearly(tmp_path):
    with pytest.raises(SpaceError, match="unknown space 'anynetx_z'.*anynetx_a, anynetx_b"):
        spaces.load("anynetx_z")
    with pytest.raises(SpaceError, match="unknown space 'nope'"):
        spaces.load(write(tmp_path, "x", "defaults: [nope]\n"))
    write(tmp_path, "loop1", "defaults: [loop2]\n")
    with pytest.raises(SpaceError, match="cycle"):
        spaces.load(write(tmp_path, "loop2", "defaults: [loop1]\n"))
    with pytest.raises(SpaceError, match=r"name: is required"):
        spaces.load({"family": "anynet"})
