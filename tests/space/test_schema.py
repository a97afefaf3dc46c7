"""The space file format as typed dataclasses: the keys `from_config` knows are their fields, the Hydra schema made
from them sets nothing, so `sample` composes every space to what its files say, and a `Space` is built with keywords."""

from __future__ import annotations

import dataclasses

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from designspace.cli import _structured
from designspace.configs import CONFIG_DIR
from designspace.space import spaces
from designspace.space.compose import SPACE_DIR, compose_file
from designspace.space.schema import (
    BOUND_KEYS,
    FIT_BOUNDS,
    TOP_KEYS,
    BoundsConfig,
    ConstraintsConfig,
    ParamConfig,
    Space,
    SpaceConfig,
    SpaceError,
    from_config,
)


def _keys(data: object) -> set[str]:
    """Every dotted key of a nested mapping."""
    if not isinstance(data, dict):
        return set()
    return {k for k in data} | {f"{k}.{sub}" for k, v in data.items() for sub in _keys(v)}


def _format_keys() -> set[str]:
    """Every dotted key the format allows, parameters named by the family's (d, w, b, g, depth, ...)."""
    fields = {f.name for f in dataclasses.fields(SpaceConfig)}
    params = {"d", "w", "b", "g", "depth", "w0", "wa", "wm"}
    nested = {"fixed": ("se_ratio", "stem_width"),
              "constraints": tuple(f.name for f in dataclasses.fields(ConstraintsConfig)),
              "constraints.bounds": tuple(f.name for f in dataclasses.fields(BoundsConfig)),
              "constraints.scaled_max": ("params", "acts")}
    keys = fields | {f"{k}.{v}" for k, vs in nested.items() for v in vs}
    keys |= {f"parameters.{p}" for p in params} | {f"parameters.{p}.{f.name}" for p in params
                                                   for f in dataclasses.fields(ParamConfig)}
    return keys | {f"constraints.scaled_max.{m}.{f}" for m in ("params", "acts") for f in ("base", "coef", "power")}


def test_every_key_of_every_builtin_space_is_a_field_of_the_format() -> None:
    allowed = _format_keys()
    for name in spaces.names():
        composed, _ = compose_file(SPACE_DIR / f"{name}.yaml")
        assert _keys(composed) <= allowed, (name, _keys(composed) - allowed)
    assert set(FIT_BOUNDS) < set(BOUND_KEYS) and tuple(f.name for f in dataclasses.fields(SpaceConfig)) == TOP_KEYS


def test_an_unknown_key_lists_the_fields_of_the_format() -> None:
    with pytest.raises(SpaceError, match=r"<dict>: colour: unknown key \(known: name, description, family, num_stages, "
                                         r"width_quantum, parameters, fixed, constraints, block\)"):
        from_config({"name": "x", "colour": "red"})
    with pytest.raises(SpaceError, match=r"constraints\.bounds\.depth: unknown key \(known: total_depth, flops"):
        spaces.load({"defaults": ["anynetx_a"], "constraints": {"bounds": {"depth": [1, 2]}}})


def test_the_hydra_schema_sets_nothing() -> None:
    schema = _structured.schema(SpaceConfig, unset=True)
    assert _structured.given(OmegaConf.structured(schema)) == {}


def test_sample_composes_every_space_to_what_its_files_say() -> None:
    """The same keys, values and order as the files' own merge: a sweep's config.yaml is what it was before the
    schema (no key added, no integer turned into a float)."""
    _structured.register(("space", "budget"))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for name in spaces.names():
            cfg = compose(config_name="sample", overrides=[f"space={name}"])
            want, _ = compose_file(SPACE_DIR / f"{name}.yaml")
            assert OmegaConf.to_yaml(_structured.given(cfg.space)) == OmegaConf.to_yaml(want), name


def test_a_space_is_built_with_keywords() -> None:
    space = spaces.load("anynetx_c")
    with pytest.raises(TypeError):
        Space(space.name, space.description, space.family, space.num_stages, space.parameters)  # type: ignore[misc]
    again = Space(**{f.name: getattr(space, f.name) for f in dataclasses.fields(Space)})
    assert again.cardinality() == space.cardinality() and again.dims == space.dims == 10
