"""The space file format as typed dataclasses (`SpaceConfig`), its validation (`from_config`) into a `Space`.

A space file states its family (``anynet``: per-stage d, w, b, g; ``regnet``: the generator's
depth, w0, wa, wm and a shared b, g), each parameter's distribution (``log_uniform`` /
``uniform`` on a grid with a quantum, ``choice`` over a set), the fixed network fields and the
constraints as data::

    constraints:
      shared: [b, g]             # one value for all stages (AnyNet)
      non_decreasing: [w, d]     # judged on the final (compatible) network (AnyNet: d, w)
      non_increasing: [d]        # the same, w_{i+1} <= w_i (judged by rejection)
      bounds: {total_depth: [12, 28], params: [null, 5.0e+6]}   # inclusive; null = open
                                 # also e_fit, fit_w0, fit_wa, fit_wm: the model's quantized-linear fit
      scaled_max:                # metric < base + coef * F**power, F = the budget's regime in GF
        params: {base: 3.0e+6, coef: 5.5e+6, power: 1}

``block: res_basic`` (top level) selects the block type (`designspace.net.blocks`; default ``bottleneck``,
the X/Y block): samples are built of it and budgets are judged with its cost. A block that takes only
widths (``vanilla``, ``res_basic``) draws no b or g: leave them out, or drop inherited ones with
``b: null`` / ``g: null`` (its networks have b = 1 and group width = width).

`SpaceConfig` and the classes it holds are the format: the keys `from_config` knows are their fields, and
`designspace.cli._structured` makes Hydra's `space` schema from them (types checked as `sample` composes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from designspace.net import blocks
from designspace.space import cardinality
from designspace.space import distributions as dist
from designspace.space.distributions import Grid
from designspace.space.network_count import regnet_networks

Number = int | float
Pair = tuple[Number | None, Number | None]


# --- the file format ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ParamConfig:
    """One parameter's distribution (`parameters.<name>`)."""

    dist: str  # log_uniform | uniform (a grid from low to high, step quantum) | choice (one of values)
    low: Number | None = None  # the grid's first value
    high: Number | None = None  # the grid's last value
    quantum: Number | None = None  # the grid's step (uniform: 1 when unset)
    values: list[Number] | None = None  # choice: the values


@dataclass(frozen=True, kw_only=True)
class FixedConfig:
    """Network fields every model of the space shares."""

    se_ratio: float = 0.0  # squeeze-excitation ratio (0: X blocks, 0.25: Y blocks)
    stem_width: int = 32  # channels of the stem


@dataclass(frozen=True, kw_only=True)
class BoundsConfig:
    """Inclusive [low, high] bounds (null = open) on a model's measures."""

    total_depth: Pair | None = None  # blocks in all stages
    flops: Pair | None = None  # multiply-adds, counted where the budget measures
    params: Pair | None = None
    acts: Pair | None = None  # activations: output elements of every conv and of the head
    e_fit: Pair | None = None  # AnyNet: the quantized-linear fit of the final widths (`widthfit.fit_regnet`)
    fit_w0: Pair | None = None
    fit_wa: Pair | None = None
    fit_wm: Pair | None = None


@dataclass(frozen=True, kw_only=True)
class ScaledMaxConfig:
    """metric < base + coef * F**power, F the budget's regime in GF."""

    base: Number = 0.0
    coef: Number  # required
    power: Number = 1.0


@dataclass(frozen=True, kw_only=True)
class ScaledMaxesConfig:
    """The measures a scaled limit applies to."""

    params: ScaledMaxConfig | None = None  # params < base + coef * F**power (RegNetX: 3e6 + 5.5e6 F)
    acts: ScaledMaxConfig | None = None  # acts < base + coef * F**power (RegNetX: 6.5e6 F**0.5)


@dataclass(frozen=True, kw_only=True)
class ConstraintsConfig:
    """What a model of the space must satisfy, judged on its final (compatible) network."""

    shared: tuple[str, ...] = ()  # AnyNet: parameters drawn once for all stages
    non_decreasing: tuple[str, ...] = ()  # AnyNet: d and/or w never decrease from stage to stage
    non_increasing: tuple[str, ...] = ()  # AnyNet: d and/or w never increase
    bounds: BoundsConfig = field(default_factory=BoundsConfig)
    scaled_max: ScaledMaxesConfig = field(default_factory=ScaledMaxesConfig)


@dataclass(frozen=True, kw_only=True)
class SpaceConfig:
    """A space file (composed: its `defaults` chain merged)."""

    name: str
    description: str = ""  # the restriction, as Table 1 shows it
    family: str  # anynet (per-stage d, w, b, g) | regnet (the generator's depth, w0, wa, wm; shared b, g)
    num_stages: int  # 1..16
    width_quantum: int | None = None  # regnet only: the generator's width quantum (null: 8)
    parameters: dict[str, ParamConfig | None]  # a distribution per parameter (null: none, for widths-only blocks)
    fixed: FixedConfig = field(default_factory=FixedConfig)
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)
    block: str | None = None  # the block type (designspace.net.blocks; null: bottleneck)


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _default(cls: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


FAMILY_PARAMS = {"anynet": ("d", "w", "b", "g"), "regnet": ("depth", "w0", "wa", "wm", "b", "g")}
TOP_KEYS = _keys(SpaceConfig)
PARAM_KEYS = _keys(ParamConfig)
FIXED_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FixedConfig)}
WIDTHS_ONLY_FIXED = ("b", "g")  # not drawn for a block that takes only widths (fixed at one value, 1)
CONSTRAINT_KEYS = _keys(ConstraintsConfig)
BOUND_KEYS = _keys(BoundsConfig)
FIT_BOUNDS = ("e_fit", "fit_w0", "fit_wa", "fit_wm")  # AnyNet: bounds on `widthfit.fit_regnet` of the final widths
SCALED_KEYS = _keys(ScaledMaxesConfig)
SCALED_FIELDS = _keys(ScaledMaxConfig)
ORDERABLE = ("d", "w")
DEFAULT_WIDTH_QUANTUM = 8
RULES = {
    "anynet": {"d": "int>=1", "w": "int>=1", "b": "bottleneck", "g": "int>=1"},
    "regnet": {"depth": "int>=1", "w0": "mult", "wa": "ge0", "wm": "gt1", "b": "bottleneck", "g": "int>=1"},
}


# --- the validated space --------------------------------------------------------------------------
class ConfigError(ValueError):
    """A config (space or budget) that cannot be loaded; the message names the file and the key."""


class SpaceError(ConfigError):
    """A space config that cannot be loaded; the message names the file and the key."""


@dataclass(frozen=True)
class ScaledMax:
    """metric < base + coef * F**power with F in GF."""

    base: float
    coef: float
    power: float

    def limit(self, gf: Any) -> Any:
        return self.base + self.coef * np.power(gf, self.power)


@dataclass(frozen=True, eq=False, kw_only=True)
class Space:
    """A validated design space; build it with `designspace.space.spaces.load` (or `from_config`)."""

    name: str
    description: str
    family: str
    num_stages: int
    parameters: dict[str, Grid]
    block: str = blocks.DEFAULT
    se_ratio: float = 0.0
    stem_width: int = 32
    width_quantum: int = DEFAULT_WIDTH_QUANTUM
    shared: tuple[str, ...] = ()
    non_decreasing: tuple[str, ...] = ()
    non_increasing: tuple[str, ...] = ()
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    scaled_max: dict[str, ScaledMax] = field(default_factory=dict)
    source: str = "<dict>"
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def is_shared(self, name: str) -> bool:
        """Drawn once per model: listed as shared, a RegNet parameter, or single-valued."""
        return self.family == "regnet" or name in self.shared or self.parameters[name].size == 1

    @property
    def dims(self) -> int:
        """Degrees of freedom: free parameters, counting per-stage ones once per stage."""
        return sum(1 if name in self.shared or self.family == "regnet" else self.num_stages
                   for name, grid in self.parameters.items() if grid.size > 1)

    @property
    def continuous(self) -> dict[str, Grid]:
        """Parameters on a fractional grid (continuous in the paper, quantized here)."""
        return {k: g for k, g in self.parameters.items() if g.quantum is not None and g.quantum.denominator != 1}

    def grid_note(self) -> str:
        cont = self.continuous
        if not cont:
            return ""
        return "on the quantized grid " + ", ".join(f"{k} step {float(g.quantum):g}" for k, g in cont.items())

    def cardinality(self) -> int:
        """Exact number of configurations satisfying the structural constraints (before the budget)."""
        key = (self.family, self.num_stages, self.width_quantum, self.shared, self.non_decreasing, self.non_increasing,
               self.bounds.get("total_depth"), *((k, g.values.tobytes()) for k, g in self.parameters.items()))
        if key not in _COUNTS:
            count = cardinality.regnet_cardinality if self.family == "regnet" else cardinality.anynet_cardinality
            _COUNTS[key] = count(self)
        return _COUNTS[key]

    def networks(self, progress: bool = False) -> int | None:
        """Exact number of distinct networks (RegNet family; None for AnyNet, not counted)."""
        if self.family != "regnet":
            return None
        key = ("networks", self.num_stages, self.width_quantum, self.bounds.get("total_depth"),
               *((k, g.values.tobytes()) for k, g in self.parameters.items()))
        if key not in _COUNTS:
            _COUNTS[key] = regnet_networks(self, progress)
        return _COUNTS[key]


_COUNTS: dict[tuple, int] = {}  # cardinality by everything it depends on (RegNet's takes seconds)

Chain = list[tuple[str, dict[str, Any]]]
"""The (source, data) pairs a composed config was merged from, in order (`designspace.space.compose`)."""


# --- validation -----------------------------------------------------------------------------------
class _Checker:
    """Names the file that set a key (the last in the merge chain holding it) in error messages."""

    def __init__(self, source: str, chain: Chain | None, overrides: Sequence[str] = ()) -> None:
        self.source, self.chain, self.overrides = source, chain or [], list(overrides)

    def where(self, key: str) -> str:
        for ov in self.overrides:
            target = ov.lstrip("+~").split("=", 1)[0].removeprefix("space.")
            if key == target or key.startswith(target + "."):
                return f"{self.source} (command-line override {ov!r})"
        for src, data in reversed(self.chain):
            node: Any = data
            for part in key.split("[")[0].split("."):
                if not isinstance(node, Mapping) or part not in node:
                    break
                node = node[part]
            else:
                return src
        return self.source

    def fail(self, key: str, problem: str) -> SpaceError:
        return SpaceError(f"{self.where(key)}: {key}: {problem}")


def _number(chk: _Checker, key: str, value: Any, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise chk.fail(key, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise chk.fail(key, f"must be finite, got {value!r}")
    if integer and not float(value).is_integer():
        raise chk.fail(key, f"must be an integer, got {value!r}")
    return int(value) if integer else value


def _mapping(chk: _Checker, key: str, value: Any, allowed: Sequence[str] | None) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise chk.fail(key, f"must be a mapping, got {value!r}")
    if allowed is not None:
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise chk.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                           f"unknown key (known: {', '.join(allowed)})")
    return dict(value)


def _grid(chk: _Checker, key: str, spec: Any) -> Grid:
    spec = _mapping(chk, key, spec, PARAM_KEYS)
    kind = spec.get("dist")
    if kind not in dist.KINDS:
        raise chk.fail(f"{key}.dist", f"must be one of {', '.join(dist.KINDS)}, got {kind!r}")
    if kind == "choice":
        return _choice(chk, key, spec)
    if spec.get("values") is not None:
        raise chk.fail(f"{key}.values", f"a {kind} distribution takes low/high/quantum, not values")
    for req in ("low", "high") + (("quantum",) if kind == "log_uniform" else ()):
        if spec.get(req) is None:
            raise chk.fail(f"{key}.{req}", f"is required for dist {kind}")
    low = _number(chk, f"{key}.low", spec["low"])
    high = _number(chk, f"{key}.high", spec["high"])
    q = _number(chk, f"{key}.quantum", spec.get("quantum", 1))
    if low > high:
        raise chk.fail(f"{key}.low", f"low={low} is greater than high={high}")
    if q <= 0:
        raise chk.fail(f"{key}.quantum", f"must be > 0, got {q}")
    flo, fhi, fq = dist.as_fraction(low), dist.as_fraction(high), dist.as_fraction(q)
    if kind == "log_uniform":
        if low <= 0:
            raise chk.fail(f"{key}.low", f"a log_uniform range needs low > 0, got {low}")
        for end, value in (("low", flo), ("high", fhi)):
            if (value / fq).denominator != 1:
                raise chk.fail(f"{key}.quantum", f"quantum {q} does not divide {end}={spec[end]}")
    elif ((fhi - flo) / fq).denominator != 1:
        raise chk.fail(f"{key}.quantum", f"quantum {q} does not divide the range high - low = {high} - {low}")
    if (fhi - flo) / fq >= 10_000_000:
        raise chk.fail(f"{key}.quantum", f"grid too fine: {(fhi - flo) / fq + 1} values")
    return dist.log_uniform(low, high, q) if kind == "log_uniform" else dist.uniform(low, high, q)


def _choice(chk: _Checker, key: str, spec: dict[str, Any]) -> Grid:
    for extra in ("low", "high", "quantum"):
        if spec.get(extra) is not None:
            raise chk.fail(f"{key}.{extra}", "a choice takes `values`, not a range")
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        raise chk.fail(f"{key}.values", f"must be a non-empty list of numbers, got {values!r}")
    nums = [_number(chk, f"{key}.values[{i}]", v) for i, v in enumerate(values)]
    if len(set(nums)) != len(nums):
        raise chk.fail(f"{key}.values", f"has repeated values: {values}")
    return dist.choice(nums)


def _check_values(chk: _Checker, key: str, grid: Grid, rule: str) -> None:
    """Family-specific value rules: 'int>=1', 'pos', 'bottleneck', 'ge0', 'gt1', 'mult:<q>'."""
    v = grid.values
    ok, what = True, ""
    if rule == "int>=1":
        ok, what = grid.is_integer and bool((v >= 1).all()), "whole numbers >= 1"
    elif rule == "bottleneck":
        inv = 1.0 / v
        ok = bool((v > 0).all() and ((v >= 1) | (np.abs(inv - np.rint(inv)) < 1e-9)).all())
        what = "> 0, and 1/b a whole number where b < 1"
    elif rule == "ge0":
        ok, what = bool((v >= 0).all()), ">= 0"
    elif rule == "gt1":
        ok, what = bool((v > 1).all()), "> 1"
    elif rule.startswith("mult:"):
        q = int(rule[5:])
        ok = grid.is_integer and bool(((v > 0) & (v % q == 0)).all())
        what = f"positive multiples of {q} (the generator's width quantum)"
    if not ok:
        bad = v.tolist()[:6]
        raise chk.fail(key, f"values must be {what}; the grid holds {bad}{' ...' if len(v) > 6 else ''}")


def _bound(chk: _Checker, key: str, value: Any) -> tuple[float | None, float | None]:
    if not (isinstance(value, list) and len(value) == 2):
        raise chk.fail(key, f"must be a [low, high] pair (null = open), got {value!r}")
    lo, hi = (None if v is None else _number(chk, f"{key}[{i}]", v) for i, v in enumerate(value))
    if lo is not None and hi is not None and lo > hi:
        raise chk.fail(key, f"low={lo} is greater than high={hi}")
    return lo, hi


def _header(chk: _Checker, cfg: dict[str, Any]) -> dict[str, Any]:
    """name, description, family, num_stages, width_quantum and block."""
    for req in ("name", "family", "num_stages", "parameters"):
        if cfg.get(req) is None:
            raise chk.fail(req, "is required")
    name = cfg["name"]
    if not isinstance(name, str) or not name:
        raise chk.fail("name", f"must be a non-empty string, got {name!r}")
    family = cfg["family"]
    if family not in FAMILY_PARAMS:
        raise chk.fail("family", f"must be one of {', '.join(FAMILY_PARAMS)}, got {family!r}")
    stages = _number(chk, "num_stages", cfg["num_stages"], integer=True)
    if not 1 <= stages <= 16:
        raise chk.fail("num_stages", f"must be between 1 and 16, got {stages}")
    quantum = DEFAULT_WIDTH_QUANTUM
    if cfg.get("width_quantum") is not None:
        if family != "regnet":
            raise chk.fail("width_quantum", "applies to family regnet only")
        quantum = _number(chk, "width_quantum", cfg["width_quantum"], integer=True)
        if quantum < 1:
            raise chk.fail("width_quantum", f"must be >= 1, got {quantum}")
    block = cfg.get("block") if cfg.get("block") is not None else blocks.DEFAULT
    try:
        blocks.get(block)
    except ValueError as exc:
        raise chk.fail("block", str(exc)) from None
    description = cfg.get("description") or ""
    if not isinstance(description, str):
        raise chk.fail("description", f"must be a string, got {description!r}")
    return {"name": name, "description": description, "family": family, "num_stages": stages,
            "width_quantum": quantum, "block": block}


def _parameters(chk: _Checker, cfg: dict[str, Any], family: str, quantum: int, block: str) -> dict[str, Grid]:
    """Each parameter's grid, checked against its family's rule (a widths-only block draws no b, g)."""
    wanted = FAMILY_PARAMS[family]
    params_cfg = _mapping(chk, "parameters", cfg["parameters"], wanted)
    if blocks.get(block).widths_only:
        for p in WIDTHS_ONLY_FIXED:
            spec = params_cfg.get(p)
            if spec is not None and _grid(chk, f"parameters.{p}", spec).values.tolist() != [1]:
                raise chk.fail(f"parameters.{p}", f"block {block!r} takes only widths and draws no {p}: leave it "
                               f"out (or {p}: null to drop an inherited one)")
            params_cfg[p] = {"dist": "choice", "values": [1]}
    missing = [p for p in wanted if params_cfg.get(p) is None]
    if missing:
        raise chk.fail(f"parameters.{missing[0]}", f"is required for family {family} (needs {', '.join(wanted)})")
    grids = {}
    for p in wanted:
        grids[p] = _grid(chk, f"parameters.{p}", params_cfg[p])
        rule = RULES[family][p]
        _check_values(chk, f"parameters.{p}", grids[p], f"mult:{quantum}" if rule == "mult" else rule)
    return grids


def _fixed(chk: _Checker, cfg: dict[str, Any], block: str) -> dict[str, Any]:
    fixed = {**FIXED_DEFAULTS, **_mapping(chk, "fixed", cfg.get("fixed") or {}, tuple(FIXED_DEFAULTS))}
    se = _number(chk, "fixed.se_ratio", fixed["se_ratio"])
    if se < 0:
        raise chk.fail("fixed.se_ratio", f"must be >= 0, got {se}")
    if se and blocks.get(block).widths_only:
        raise chk.fail("fixed.se_ratio", f"block {block!r} has no squeeze-excitation; must be 0, got {se}")
    stem = _number(chk, "fixed.stem_width", fixed["stem_width"], integer=True)
    if stem < 1:
        raise chk.fail("fixed.stem_width", f"must be >= 1, got {stem}")
    return {"se_ratio": float(se), "stem_width": stem}


def _constraints(chk: _Checker, cfg: dict[str, Any], family: str) -> dict[str, Any]:
    """shared, non_decreasing, non_increasing, bounds and scaled_max."""
    cons = _mapping(chk, "constraints", cfg.get("constraints") or {}, CONSTRAINT_KEYS)
    out: dict[str, Any] = {}
    for key, allowed in (("shared", FAMILY_PARAMS["anynet"]), ("non_decreasing", ORDERABLE),
                         ("non_increasing", ORDERABLE)):
        value = cons.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise chk.fail(f"constraints.{key}", f"must be a list of parameter names, got {value!r}")
        if value and family != "regnet":
            bad = [v for v in value if v not in allowed]
            if bad:
                raise chk.fail(f"constraints.{key}", f"{bad[0]!r} is not one of {', '.join(allowed)}")
        elif value:
            raise chk.fail(f"constraints.{key}", "applies to family anynet only (RegNet draws each parameter once)")
        out[key] = tuple(dict.fromkeys(value))
    both = sorted(set(out["non_decreasing"]) & set(out["non_increasing"]))
    if both:
        raise chk.fail("constraints.non_increasing", f"{both[0]!r} is also non_decreasing (constant: use shared)")
    out["bounds"] = {k: _bound(chk, f"constraints.bounds.{k}", v)
                     for k, v in _mapping(chk, "constraints.bounds", cons.get("bounds") or {}, BOUND_KEYS).items()}
    out["scaled_max"] = {k: _scaled_max(chk, f"constraints.scaled_max.{k}", v) for k, v in
                         _mapping(chk, "constraints.scaled_max", cons.get("scaled_max") or {}, SCALED_KEYS).items()}
    return out


def _scaled_max(chk: _Checker, key: str, value: Any) -> ScaledMax:
    value = _mapping(chk, key, value, SCALED_FIELDS)
    if value.get("coef") is None:
        raise chk.fail(f"{key}.coef", "is required")
    vals = {f: _number(chk, f"{key}.{f}", value.get(f, _default(ScaledMaxConfig, f))) for f in SCALED_FIELDS}
    if vals["coef"] < 0:
        raise chk.fail(f"{key}.coef", f"must be >= 0, got {vals['coef']}")
    return ScaledMax(**{f: float(v) for f, v in vals.items()})


def from_config(cfg: Mapping[str, Any], source: str = "<dict>", chain: Chain | None = None,
                overrides: Sequence[str] = ()) -> Space:
    """Validate a composed space config (no `defaults` left) into a `Space`; a `SpaceError` names the file of the
    `chain` (or the command-line override) that set the bad key."""
    chk = _Checker(source, chain, overrides)
    cfg = _mapping(chk, "", cfg, TOP_KEYS)
    head = _header(chk, cfg)
    grids = _parameters(chk, cfg, head["family"], head["width_quantum"], head["block"])
    return Space(**head, parameters=grids, **_fixed(chk, cfg, head["block"]),
                 **_constraints(chk, cfg, head["family"]), source=source, config=dict(cfg))
