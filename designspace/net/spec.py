"""`NetSpec`, the one description of an AnyNet network (the width/group compatibility rule it applies is
`designspace.net.blocks.bottleneck`'s).

A `NetSpec` fixes everything that determines a network's structure: the block type
(`designspace.net.blocks`), per-stage depth, width, bottleneck ratio b (inner width = w / b) and group
width, the squeeze-excitation ratio, the stem and the classifier. Samplers produce them, the counter measures them, `designspace.net.build_model` builds
them, the trainer trains them and results are keyed by `NetSpec.id`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from designspace.net import blocks
from designspace.net.blocks.bottleneck import inner_width
from designspace.util.validation import reject_unknown_keys

STAGE_FIELDS = {"depths": "d", "widths": "w", "bottleneck_ratios": "b", "group_widths": "g"}
"""Per-stage fields and the column prefix they take in flat tables (d1, d2, ..., w1, ...)."""

SCALAR_FIELDS = ("se_ratio", "stem_width", "stem_stride", "num_classes", "in_channels")
"""Numeric scalar fields (one column each in flat tables). `block` is a column only when not the default."""

DEFAULT_BLOCK = blocks.DEFAULT

__all__ = ["DEFAULT_BLOCK", "SCALAR_FIELDS", "STAGE_FIELDS", "NetSpec", "stage_columns"]


@dataclass(frozen=True)
class NetSpec:
    """An AnyNet network: stem -> stages of blocks -> pooled linear head.

    Each stage i has `depths[i]` blocks of width `widths[i]`; its first block has stride 2 and
    takes the previous stage's width. `block` names the block type (`designspace.net.blocks`); the
    default, "bottleneck", is the X block: inner width `widths[i] / bottleneck_ratios[i]`, split
    into groups of `group_widths[i]` channels; `se_ratio` 0 gives X blocks, 0.25 Y blocks. Blocks
    that take only widths ("vanilla", "res_basic") need b = 1 and group width = width (one group,
    `blocks.plain_fields`) and no SE. The id leaves `block` out when it is the default.
    """

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bottleneck_ratios: tuple[float, ...]
    group_widths: tuple[int, ...]
    se_ratio: float = 0.0
    stem_width: int = 32
    stem_stride: int = 2
    num_classes: int = 1000
    in_channels: int = 3
    block: str = DEFAULT_BLOCK

    def __post_init__(self) -> None:
        if not (isinstance(self.block, str) and self.block in blocks.names()):
            raise ValueError(f"NetSpec.block must be a block name ({', '.join(blocks.names())}), got {self.block!r}")
        block_type = blocks.get(self.block)
        for name in STAGE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
                raise ValueError(f"NetSpec.{name} must be a sequence, got {value!r}")
            cast = _as_float if name == "bottleneck_ratios" else _as_int
            try:
                object.__setattr__(self, name, tuple(cast(v, name) for v in value))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"NetSpec.{name}={list(value)!r}: {exc}") from None
        n = len(self.depths)
        if n == 0:
            raise ValueError("NetSpec.depths is empty: a network needs at least one stage")
        for name in STAGE_FIELDS:
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"NetSpec.{name} has {len(getattr(self, name))} stages but depths has {n}"
                )
        for name in ("stem_width", "stem_stride", "num_classes", "in_channels"):
            object.__setattr__(self, name, _as_int(getattr(self, name), name))
            if getattr(self, name) < 1:
                raise ValueError(f"NetSpec.{name}={getattr(self, name)} must be >= 1")
        se = float(self.se_ratio)
        if not (math.isfinite(se) and se >= 0):
            raise ValueError(f"NetSpec.se_ratio={self.se_ratio!r} must be a finite number >= 0")
        object.__setattr__(self, "se_ratio", se)
        for i in range(n):
            d, w, b, g = self.depths[i], self.widths[i], self.bottleneck_ratios[i], self.group_widths[i]
            if d < 1:
                raise ValueError(f"NetSpec.depths[{i}]={d} must be >= 1")
            if w < 1:
                raise ValueError(f"NetSpec.widths[{i}]={w} must be >= 1")
            if not (math.isfinite(b) and b > 0):
                raise ValueError(f"NetSpec.bottleneck_ratios[{i}]={b} must be > 0")
            if g < 1:
                raise ValueError(f"NetSpec.group_widths[{i}]={g} must be >= 1")
        block_type.validate(self)

    # --- derived structure -------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def strides(self) -> tuple[int, ...]:
        """Stride of each stage's first block (always 2)."""
        return (2,) * self.num_stages

    @property
    def inner_widths(self) -> tuple[int, ...]:
        return tuple(inner_width(w, b) for w, b in zip(self.widths, self.bottleneck_ratios))

    @property
    def num_groups(self) -> tuple[int, ...]:
        return tuple(wb // g for wb, g in zip(self.inner_widths, self.group_widths))

    @property
    def total_depth(self) -> int:
        return sum(self.depths)

    @property
    def block_widths(self) -> tuple[int, ...]:
        """Width of every block in order (the per-block profile used by the width-rule fits)."""
        return tuple(w for d, w in zip(self.depths, self.widths) for _ in range(d))

    @property
    def id(self) -> str:
        """Stable 12-hex-digit id of the structure (same spec -> same id, across runs)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(canonical.encode()).hexdigest()[:12]

    # --- conversions ---------------------------------------------------------------------
    def replace(self, **changes: Any) -> NetSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; bottleneck ratios that are whole numbers are written as ints.

        `block` is left out when it is the default, so ids of existing specs do not change.
        """
        out = dataclasses.asdict(self)
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["bottleneck_ratios"] = [_tidy_number(b) for b in self.bottleneck_ratios]
        out["se_ratio"] = _tidy_number(self.se_ratio)
        if self.block == DEFAULT_BLOCK:
            del out["block"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetSpec:
        reject_unknown_keys(data, (f.name for f in dataclasses.fields(cls)), "NetSpec")
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        """Flat dict with one column per stage value (d1.., w1.., b1.., g1..) and the scalars.

        A `block` column only for a non-default block (a missing, null or NaN `block` reads as the default).
        """
        row: dict[str, Any] = {}
        for name, prefix in STAGE_FIELDS.items():
            for i, v in enumerate(getattr(self, name), start=1):
                row[f"{prefix}{i}"] = v
        row["num_stages"] = self.num_stages
        for name in SCALAR_FIELDS:
            row[name] = getattr(self, name)
        if self.block != DEFAULT_BLOCK:
            row["block"] = self.block
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> NetSpec:
        """Inverse of `to_row`; accepts any mapping (dict, pandas Series) holding those columns."""
        n = int(row["num_stages"]) if "num_stages" in row else _count_stages(row)
        kwargs: dict[str, Any] = {
            name: [row[f"{prefix}{i}"] for i in range(1, n + 1)] for name, prefix in STAGE_FIELDS.items()
        }
        for name in SCALAR_FIELDS:
            if name in row and row[name] is not None:
                kwargs[name] = row[name]
        block = row.get("block")
        if block is not None and not _isnan(block) and block != "":
            kwargs["block"] = block
        return cls(**kwargs)


def stage_columns(num_stages: int) -> dict[str, list[str]]:
    """Column names of the per-stage fields in flat tables, e.g. {'depths': ['d1', ...], ...}."""
    return {
        name: [f"{prefix}{i}" for i in range(1, num_stages + 1)] for name, prefix in STAGE_FIELDS.items()
    }


def depth_columns(columns: Any) -> list[str]:
    """The per-stage depth columns d1, d2, ... of a flat table, in stage order."""
    cols = [c for c in columns if isinstance(c, str) and c[:1] == "d" and c[1:].isdigit()]
    return sorted(cols, key=lambda c: int(c[1:]))


def stage_count(columns: Any) -> int:
    """How many stages a flat table's columns hold (its d1, d2, ... columns)."""
    return len(depth_columns(columns))


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise ValueError(f"{name}: expected an integer, got {value!r}")


def _tidy_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _count_stages(row: Mapping[str, Any]) -> int:
    n = 0
    while f"d{n + 1}" in row and row[f"d{n + 1}"] is not None and not _isnan(row[f"d{n + 1}"]):
        n += 1
    if n == 0:
        raise ValueError("row has no per-stage columns d1, d2, ...")
    return n


def _isnan(x: Any) -> bool:
    try:
        return bool(np.isnan(x))
    except TypeError:
        return False


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)
