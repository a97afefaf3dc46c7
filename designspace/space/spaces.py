"""Design spaces as configuration: `configs/space/*.yaml`, validated into `Space` objects.

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

Files inherit with a Hydra defaults list (``defaults: [anynetx_a, _self_]``) that `load` resolves
itself too, so a new space is a new YAML file. ``python -m designspace.spaces`` prints the
paper's Table 1 (dimensions and exact size of A -> E -> RegNet).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from designspace.configs import CONFIG_DIR  # package data: found from a wheel too
from designspace.configs import read_yaml as _read_yaml
from designspace.net import blocks
from designspace.space import cardinality
from designspace.space import distributions as dist
from designspace.space.distributions import Grid
from designspace.space.network_count import regnet_networks
from designspace.util.tables import text_table

SPACE_DIR = CONFIG_DIR / "space"
TABLE1 = ("anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnet", "regnetx", "regnety")
PAPER_SIZES = {"anynetx_a": "1.8e+18", "anynetx_b": "6.8e+16", "anynetx_c": "3.2e+14", "anynetx_d": "1.3e+13",
               "anynetx_e": "5.5e+11", "regnet": "3.0e+08"}  # the paper's Table 1 (approximate counts)

FAMILY_PARAMS = {"anynet": ("d", "w", "b", "g"), "regnet": ("depth", "w0", "wa", "wm", "b", "g")}
TOP_KEYS = ("name", "description", "family", "num_stages", "width_quantum", "block", "parameters", "fixed",
            "constraints")
PARAM_KEYS = ("dist", "low", "high", "quantum", "values")
FIXED_DEFAULTS = {"se_ratio": 0.0, "stem_width": 32}
WIDTHS_ONLY_FIXED = ("b", "g")  # not drawn for a block that takes only widths (fixed at one value, 1)
CONSTRAINT_KEYS = ("shared", "non_decreasing", "non_increasing", "bounds", "scaled_max")
FIT_BOUNDS = ("e_fit", "fit_w0", "fit_wa", "fit_wm")  # AnyNet: bounds on `widthfit.fit_regnet` of the final widths
BOUND_KEYS = ("total_depth", "flops", "params", "acts", *FIT_BOUNDS)
SCALED_KEYS = ("params", "acts")
SCALED_FIELDS = ("base", "coef", "power")
ORDERABLE = ("d", "w")


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


@dataclass(frozen=True, eq=False)
class Space:
    """A validated design space; build it with `load`."""

    name: str
    description: str
    family: str
    num_stages: int
    parameters: dict[str, Grid]
    se_ratio: float = 0.0
    stem_width: int = 32
    width_quantum: int = 8
    shared: tuple[str, ...] = ()
    non_decreasing: tuple[str, ...] = ()
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    scaled_max: dict[str, ScaledMax] = field(default_factory=dict)
    source: str = "<dict>"
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    non_increasing: tuple[str, ...] = ()
    block: str = blocks.DEFAULT

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


# --- loading -------------------------------------------------------------------------------------
def names() -> list[str]:
    """The built-in spaces (files in configs/space)."""
    return sorted(p.stem for p in SPACE_DIR.glob("*.yaml"))


def load(space: str | os.PathLike | Mapping[str, Any] | Space) -> Space:
    """A `Space` from a built-in name, a YAML path, a config dict (may have `defaults`) or a Space."""
    if isinstance(space, Space):
        return space
    if isinstance(space, Mapping):
        cfg, chain = compose(dict(space), "<dict>", SPACE_DIR)
        return from_config(cfg, "<dict>", chain)
    path = find_file(space, SPACE_DIR, "space")
    cfg, chain = compose(read_yaml(path), str(path), path.parent)
    return from_config(cfg, str(path), chain)


def find_file(ref: str | os.PathLike, folder: Path, what: str, base: Path | None = None,
              error: type[ConfigError] = SpaceError) -> Path:
    """A config file by path, or by name in `base` then in the built-in `folder`."""
    if not isinstance(ref, (str, os.PathLike)) or not os.fspath(ref):
        raise error(f"{what}: expected a name, a path or a config, got {ref!r}")
    text = os.fspath(ref)
    candidates = [Path(text)] if text.endswith((".yaml", ".yml")) or os.sep in text else []
    stem = text.removeprefix(f"/{what}/").removeprefix(f"{what}/")
    for folder_ in [base, folder] if base else [folder]:
        candidates += [folder_ / f"{stem}.yaml", folder_ / stem]
    for path in candidates:
        if path.is_file():
            return path
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
    raise error(f"unknown {what} {text!r}: no such file, and not one of: {known}")


def read_yaml(path: Path) -> dict[str, Any]:
    """A space file's mapping (`designspace.configs.read_yaml`, errors as SpaceError)."""
    return _read_yaml(path, SpaceError)


Chain = list[tuple[str, dict[str, Any]]]


def compose(data: dict[str, Any], source: str, base: Path, _seen: tuple[str, ...] = ()) -> tuple[dict, Chain]:
    """Resolve a Hydra-style `defaults` list (entries: other files of the group, and `_self_`).

    Returns the merged config (dicts merge, lists and scalars replace) and the chain of
    (source, data) it was merged from, in order - used to name the file a bad key comes from.
    """
    from omegaconf import OmegaConf

    if source in _seen:
        raise SpaceError(f"{source}: defaults form a cycle: {' -> '.join((*_seen, source))}")
    data = dict(data)
    defaults = data.pop("defaults", [])
    if not isinstance(defaults, list) or not all(isinstance(d, str) for d in defaults):
        raise SpaceError(f"{source}: defaults must be a list of config names, got {defaults!r}")
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]
    merged = OmegaConf.create({})
    chain: Chain = []
    for entry in defaults:
        if entry == "_self_":
            part, sub = data, [(source, data)]
        else:
            path = find_file(entry, SPACE_DIR, "space", base)
            part, sub = compose(read_yaml(path), str(path), path.parent, (*_seen, source))
        try:
            merged = OmegaConf.merge(merged, part)
        except Exception as exc:  # noqa: BLE001 - OmegaConf type clashes (dict over scalar, ...)
            raise SpaceError(f"{sub[-1][0]}: cannot merge into the inherited config: {exc}") from None
        chain += sub
    return OmegaConf.to_container(merged), chain


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


RULES = {
    "anynet": {"d": "int>=1", "w": "int>=1", "b": "bottleneck", "g": "int>=1"},
    "regnet": {"depth": "int>=1", "w0": "mult", "wa": "ge0", "wm": "gt1", "b": "bottleneck", "g": "int>=1"},
}


def _bound(chk: _Checker, key: str, value: Any) -> tuple[float | None, float | None]:
    if not (isinstance(value, list) and len(value) == 2):
        raise chk.fail(key, f"must be a [low, high] pair (null = open), got {value!r}")
    lo, hi = (None if v is None else _number(chk, f"{key}[{i}]", v) for i, v in enumerate(value))
    if lo is not None and hi is not None and lo > hi:
        raise chk.fail(key, f"low={lo} is greater than high={hi}")
    return lo, hi


def from_config(cfg: Mapping[str, Any], source: str = "<dict>", chain: Chain | None = None,
                overrides: Sequence[str] = ()) -> Space:
    """Validate a composed space config (no `defaults` left) into a `Space`."""
    chk = _Checker(source, chain, overrides)
    cfg = _mapping(chk, "", cfg, TOP_KEYS)
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
    quantum = 8
    if cfg.get("width_quantum") is not None:
        if family != "regnet":
            raise chk.fail("width_quantum", "applies to family regnet only")
        quantum = _number(chk, "width_quantum", cfg["width_quantum"], integer=True)
        if quantum < 1:
            raise chk.fail("width_quantum", f"must be >= 1, got {quantum}")
    block = cfg.get("block") if cfg.get("block") is not None else blocks.DEFAULT
    try:
        widths_only = blocks.get(block).widths_only
    except ValueError as exc:
        raise chk.fail("block", str(exc)) from None
    wanted = FAMILY_PARAMS[family]
    params_cfg = _mapping(chk, "parameters", cfg["parameters"], wanted)
    if widths_only:
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

    fixed = {**FIXED_DEFAULTS, **_mapping(chk, "fixed", cfg.get("fixed") or {}, tuple(FIXED_DEFAULTS))}
    se = _number(chk, "fixed.se_ratio", fixed["se_ratio"])
    if se < 0:
        raise chk.fail("fixed.se_ratio", f"must be >= 0, got {se}")
    if se and widths_only:
        raise chk.fail("fixed.se_ratio", f"block {block!r} has no squeeze-excitation; must be 0, got {se}")
    stem = _number(chk, "fixed.stem_width", fixed["stem_width"], integer=True)
    if stem < 1:
        raise chk.fail("fixed.stem_width", f"must be >= 1, got {stem}")

    cons = _mapping(chk, "constraints", cfg.get("constraints") or {}, CONSTRAINT_KEYS)
    lists = {}
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
        lists[key] = tuple(dict.fromkeys(value))
    both = sorted(set(lists["non_decreasing"]) & set(lists["non_increasing"]))
    if both:
        raise chk.fail("constraints.non_increasing", f"{both[0]!r} is also non_decreasing (constant: use shared)")
    bounds = {k: _bound(chk, f"constraints.bounds.{k}", v)
              for k, v in _mapping(chk, "constraints.bounds", cons.get("bounds") or {}, BOUND_KEYS).items()}
    scaled = {}
    for k, v in _mapping(chk, "constraints.scaled_max", cons.get("scaled_max") or {}, SCALED_KEYS).items():
        v = _mapping(chk, f"constraints.scaled_max.{k}", v, SCALED_FIELDS)
        if v.get("coef") is None:
            raise chk.fail(f"constraints.scaled_max.{k}.coef", "is required")
        vals = {f: _number(chk, f"constraints.scaled_max.{k}.{f}", v.get(f, d))
                for f, d in (("base", 0.0), ("coef", None), ("power", 1.0))}
        if vals["coef"] < 0:
            raise chk.fail(f"constraints.scaled_max.{k}.coef", f"must be >= 0, got {vals['coef']}")
        scaled[k] = ScaledMax(float(vals["base"]), float(vals["coef"]), float(vals["power"]))
    description = cfg.get("description") or ""
    if not isinstance(description, str):
        raise chk.fail("description", f"must be a string, got {description!r}")
    return Space(name, description, family, stages, grids, float(se), stem, quantum, lists["shared"],
                 lists["non_decreasing"], bounds, scaled, source, dict(cfg), lists["non_increasing"], block)


# --- Table 1 -------------------------------------------------------------------------------------
def table(spaces: Sequence[str | os.PathLike | Space] = TABLE1) -> str:
    """The paper's Table 1: restriction, degrees of freedom and exact size of each space."""
    loaded = [load(s) for s in spaces]
    rows = [("space", "restriction", "dim.", "size", "exact count", "networks", "paper")]
    notes = []
    for sp in loaded:
        n = sp.cardinality()
        nets = sp.networks(progress=sys.stderr.isatty())
        mark = "*" if sp.grid_note() else ""
        rows.append((sp.name, sp.description, str(sp.dims), f"{n:.2e}{mark}" if n else "0", f"{n:,}",
                     "-" if nets is None else f"{nets:.2e} ({nets:,})",
                     PAPER_SIZES.get(sp.name, "") if sp.source.startswith(str(SPACE_DIR)) else ""))
        if mark and sp.grid_note() not in notes:
            notes.append(sp.grid_note())

    cols = 7 if any(r[6] for r in rows[1:]) else 6
    lines = [text_table(rows[0][:cols], [r[:cols] for r in rows[1:]], left=2)]
    lines.append("\nsize: configurations of the sampled parameters that satisfy the space's structural constraints")
    lines.append("(judged on the final, compatible network), before any complexity budget or limit.")
    lines.append("networks: distinct networks they build (per-stage d, w, b, g after compatibility), counted exactly")
    lines.append("for RegNet spaces (designspace.space.network_count); '-': not counted (AnyNet).")
    lines += [f"* counted {note}" for note in notes]
    if cols == 7:
        lines.append("paper: its approximations, (16*128)^4*3*6/(4!)^k for D/E and ~64 values per RegNet parameter;")
        lines.append("the exact counts are larger: orders allow ties, compatibility merges raw widths into")
        lines.append("ordered ones, and RegNet's wa/wm grid is finer.")
    return "\n".join(lines)
