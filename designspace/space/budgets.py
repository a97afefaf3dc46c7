"""Complexity budgets (`configs/budget/*.yaml`): flops/params/acts bands and where they are measured.

A budget keeps a model only if its flops, params and acts lie in the inclusive bands (null = open),
counted at `resolution` x `resolution` with the budget's stem stride, classes and input channels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designspace.configs import CONFIG_DIR, read_yaml
from designspace.space.compose import find_file
from designspace.space.schema import ConfigError

BUDGET_DIR = CONFIG_DIR / "budget"
BAND_KEYS = ("flops", "params", "acts")
SETTING_KEYS = {"resolution": 224, "stem_stride": 2, "num_classes": 1000, "in_channels": 3}
KEYS = ("name", *BAND_KEYS, *SETTING_KEYS, "regime_gf")

Band = tuple[float | None, float | None]


class BudgetError(ConfigError):
    """A budget config that cannot be loaded; the message names the file and the key."""


@dataclass(frozen=True)
class Budget:
    name: str
    flops: Band = (None, None)
    params: Band = (None, None)
    acts: Band = (None, None)
    resolution: int = 224
    stem_stride: int = 2
    num_classes: int = 1000
    in_channels: int = 3
    regime_gf: float | None = None
    source: str = "<dict>"

    @property
    def regime(self) -> float | None:
        """The regime F in ImageNet GF for scaled limits (RegNetX's params < 3 + 5.5F M): `regime_gf`,
        else the upper flops bound; None when both are unset."""
        if self.regime_gf is not None:
            return self.regime_gf
        return None if self.flops[1] is None else self.flops[1] / 1e9

    def band(self, metric: str) -> Band:
        return getattr(self, metric)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        out.update({k: list(getattr(self, k)) for k in BAND_KEYS})
        out.update({k: getattr(self, k) for k in SETTING_KEYS})
        out["regime_gf"] = self.regime_gf
        return out

    def describe(self) -> str:
        parts = [f"{k} {_band_text(getattr(self, k), k)}" for k in BAND_KEYS if getattr(self, k) != (None, None)]
        where = (f"at {self.resolution}px, stem stride {self.stem_stride}, {self.num_classes} classes, "
                 f"{self.in_channels} input channel{'s' if self.in_channels > 1 else ''}")
        return f"{self.name}: {', '.join(parts) or 'no bounds'} {where}"


def _band_text(band: Band, metric: str) -> str:
    """'360-400 MF', '<= 5 M', '>= 1.44 GF', '1-2 flops'."""
    top = max(v for v in band if v is not None)
    if metric == "flops":
        scale, unit = (1e9, "GF") if top >= 1e9 else (1e6, "MF") if top >= 1e6 else (1, "flops")
    else:
        scale, unit = (1e6, "M") if top >= 1e6 else (1e3, "K") if top >= 1e3 else (1, "")
    lo, hi = (None if v is None else f"{v / scale:.4g}" for v in band)
    text = f"{lo}-{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None else f"<= {hi}"
    return f"{text} {unit}".rstrip()


def names() -> list[str]:
    return sorted(p.stem for p in BUDGET_DIR.glob("*.yaml"))


def load_budget(budget: str | os.PathLike | Mapping[str, Any] | Budget | None = "400mf") -> Budget:
    """A `Budget` from a name, a YAML path, a dict or a Budget; None means 'none'.

    A dict whose `name` is a known budget overrides that budget's fields
    (``{"name": "400mf", "resolution": 32}``); any other dict must give every field.
    """
    if isinstance(budget, Budget):
        return budget
    if budget is None:
        budget = "none"
    if isinstance(budget, Mapping):
        data = dict(budget)
        base: dict[str, Any] = {}
        source = "<dict>"
        name = data.get("name")
        if isinstance(name, str) and (BUDGET_DIR / f"{name}.yaml").is_file():
            path = BUDGET_DIR / f"{name}.yaml"
            base, source = _read(path), f"{path} with overrides {sorted(k for k in data if k != 'name')}"
        return from_config({**base, **data}, source)
    path = find_file(budget, BUDGET_DIR, "budget", error=BudgetError)
    return from_config(_read(path), str(path))


def _read(path: Path) -> dict[str, Any]:
    data = read_yaml(path, BudgetError)
    data.pop("defaults", None)
    return data


def from_config(cfg: Mapping[str, Any], source: str = "<dict>") -> Budget:
    """Validate a complete budget config into a `Budget`."""

    def fail(key: str, problem: str) -> BudgetError:
        return BudgetError(f"{source}: {key}: {problem}")

    if not isinstance(cfg, Mapping):
        raise BudgetError(f"{source}: a budget must be a mapping, got {cfg!r}")
    unknown = [k for k in cfg if k not in KEYS]
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(KEYS)})")
    missing = [k for k in ("name", "flops", *SETTING_KEYS) if cfg.get(k) is None]
    if missing:
        raise fail(missing[0], "is required")
    if not isinstance(cfg["name"], str) or not cfg["name"]:
        raise fail("name", f"must be a non-empty string, got {cfg['name']!r}")
    bands = {}
    for key in BAND_KEYS:
        value = cfg.get(key, [None, None])
        if value is None:
            value = [None, None]
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise fail(key, f"must be a [low, high] pair (null = open), got {value!r}")
        for i, v in enumerate(value):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise fail(f"{key}[{i}]", f"must be a number >= 0 or null, got {v!r}")
        if None not in value and value[0] > value[1]:
            raise fail(key, f"low={value[0]:g} is greater than high={value[1]:g}")
        bands[key] = tuple(value)
    settings = {}
    for key in SETTING_KEYS:
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer() or v < 1:
            raise fail(key, f"must be a whole number >= 1, got {v!r}")
        settings[key] = int(v)
    regime = cfg.get("regime_gf")
    if regime is not None and (isinstance(regime, bool) or not isinstance(regime, (int, float)) or regime <= 0):
        raise fail("regime_gf", f"must be a number > 0 or null, got {regime!r}")
    return Budget(cfg["name"], bands["flops"], bands["params"], bands["acts"], **settings,
                  regime_gf=None if regime is None else float(regime), source=source)
