"""Exact analytic complexity (flops, params, acts) of AnyNet networks, with no torch.

Rules (design-spec section 2): a flop is one multiply-add; a conv costs
k*k*(c_in/groups)*c_out*h_out*w_out (+ c_out*h_out*w_out for a bias); BN has 2*c params;
acts count the output elements of every conv and of the FC. Each stage is costed in closed
form - its first block (stride 2, projection) plus (d - 1) identical blocks - so one formula
serves a single `NetSpec` (plain Python ints, microseconds) and millions of candidates at once
(NumPy int64 arrays of shape (n, stages)). A block's cost lives with its module in its file of
`designspace.net.blocks` (looked up by `NetSpec.block`); the stem and head are costed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from designspace.net import blocks
from designspace.net.blocks.base import Cost, bn, conv, out_size, scale, total
from designspace.net.spec import DEFAULT_BLOCK, SCALAR_FIELDS, NetSpec, stage_columns, stage_count

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class Complexity:
    """flops (multiply-adds), params and acts; ints for one network, int64 arrays for many."""

    flops: Any
    params: Any
    acts: Any

    def __add__(self, other: Complexity) -> Complexity:
        return Complexity(self.flops + other.flops, self.params + other.params, self.acts + other.acts)

    def __mul__(self, k: Any) -> Complexity:
        return Complexity(self.flops * k, self.params * k, self.acts * k)

    __rmul__ = __mul__

    def as_dict(self) -> dict[str, Any]:
        return {"flops": self.flops, "params": self.params, "acts": self.acts}


def _parts(
    block: str,
    depths: Sequence[Any],
    widths: Sequence[Any],
    ratios: Sequence[Any],
    groups: Sequence[Any],
    se_ratio: Any,
    stem_width: Any,
    stem_stride: Any,
    num_classes: Any,
    in_channels: Any,
    resolution: int,
    rnd: Callable[[Any], Any],
) -> Iterable[tuple[str, Cost]]:
    """Cost of the stem, each stage (through the block's cost) and the head; rnd rounds half-to-even."""
    cost = blocks.get(block).cost
    h = out_size(resolution, stem_stride)
    yield "stem", total(conv(in_channels, stem_width, 3, h), bn(stem_width))
    w_in = stem_width
    for i, (d, w, b, g) in enumerate(zip(depths, widths, ratios, groups), start=1):
        first = cost(w_in, w, h, 2, b=b, g=g, se_ratio=se_ratio, rnd=rnd)
        h = out_size(h, 2)
        rest = cost(w, w, h, 1, b=b, g=g, se_ratio=se_ratio, rnd=rnd)
        yield f"stage{i}", total(first, scale(rest, d - 1))
        w_in = w
    yield "head", conv(w_in, num_classes, 1, 1, bias=True)


def _round_int(x: float) -> int:
    return int(round(x))


def _round_array(x: Any) -> np.ndarray:
    return np.rint(x).astype(np.int64)


def complexity_breakdown(spec: NetSpec, resolution: int = 224) -> list[tuple[str, Complexity]]:
    """Per-part cost of `spec`: [('stem', cx), ('stage1', cx), ..., ('head', cx)]."""
    return [(name, Complexity(*cx)) for name, cx in _spec_parts(spec, resolution)]


def _spec_parts(spec: NetSpec, resolution: int) -> Iterable[tuple[str, Cost]]:
    _check_resolution(resolution)
    return _parts(
        spec.block, spec.depths, spec.widths, spec.bottleneck_ratios, spec.group_widths, spec.se_ratio,
        spec.stem_width, spec.stem_stride, spec.num_classes, spec.in_channels,
        resolution, _round_int,
    )


def complexity(spec: NetSpec, resolution: int = 224) -> Complexity:
    """Exact flops (multiply-adds), params and acts of `spec` at `resolution` x `resolution`."""
    return Complexity(*total(*(cx for _, cx in _spec_parts(spec, resolution))))


def complexity_arrays(
    depths: Any,
    widths: Any,
    bottleneck_ratios: Any,
    group_widths: Any,
    *,
    se_ratio: Any = 0.0,
    stem_width: Any = 32,
    stem_stride: Any = 2,
    num_classes: Any = 1000,
    in_channels: Any = 3,
    resolution: int = 224,
    block: str = DEFAULT_BLOCK,
) -> Complexity:
    """Vectorized `complexity` of n networks with S stages each, all of one `block` type.

    Per-stage arguments are arrays of shape (n, S) (or (S,) for one network); the scalar fields
    may be scalars or arrays of shape (n,). Returns a `Complexity` of int64 arrays of shape (n,).
    """
    _check_resolution(resolution)
    blocks.get(block)
    d, w, b, g = (np.atleast_2d(np.asarray(a)) for a in (depths, widths, bottleneck_ratios, group_widths))
    if not (d.shape == w.shape == b.shape == g.shape):
        raise ValueError(
            f"complexity_arrays: per-stage arrays differ in shape: depths {d.shape}, widths {w.shape}, "
            f"bottleneck_ratios {b.shape}, group_widths {g.shape}"
        )
    d, w, g, b = d.astype(np.int64), w.astype(np.int64), g.astype(np.int64), b.astype(np.float64)
    scal = [np.asarray(x) for x in (se_ratio, stem_width, stem_stride, num_classes, in_channels)]
    se, sw, ss, nc, ic = scal[0].astype(np.float64), *(x.astype(np.int64) for x in scal[1:])
    cols = [np.ascontiguousarray(a.T) for a in (d, w, b, g)]  # one contiguous row per stage
    summed = total(*(cx for _, cx in _parts(block, *cols, se, sw, ss, nc, ic, resolution, _round_array)))
    n = d.shape[0]
    return Complexity(*(np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy() for v in summed))


def complexity_frame(frame: pd.DataFrame, resolution: int = 224) -> Complexity:
    """Vectorized complexity of every row of a table in the `NetSpec.to_row` layout.

    Rows may have different stage counts (padded columns are NaN) and blocks (a `block` column; missing
    or null = the default); they are costed per group.
    """
    if "num_stages" in frame:
        stage_counts = frame["num_stages"].to_numpy(dtype=np.int64)
    else:
        stage_counts = np.full(len(frame), stage_count(frame.columns), np.int64)
    block_col = frame["block"].to_numpy(dtype=object) if "block" in frame.columns else None
    block_of = np.array([_block_name(x) for x in block_col] if block_col is not None else
                        [DEFAULT_BLOCK] * len(frame), dtype=object)
    out = [np.zeros(len(frame), dtype=np.int64) for _ in range(3)]
    groups = sorted({(int(s), str(k)) for s, k in zip(stage_counts, block_of)})
    for s, block in groups:
        rows = np.flatnonzero((stage_counts == s) & (block_of == block))
        cols = stage_columns(int(s))
        missing = [c for names in cols.values() for c in names if c not in frame.columns]
        if missing:
            raise ValueError(f"complexity_frame: table lacks column(s) {missing}")
        sub = frame.iloc[rows]
        scalars = {
            name: sub[name].to_numpy() for name in SCALAR_FIELDS if name in frame.columns
        }
        cx = complexity_arrays(
            *(sub[names].to_numpy() for names in cols.values()), resolution=resolution, block=block, **scalars
        )
        for arr, value in zip(out, (cx.flops, cx.params, cx.acts)):
            arr[rows] = value
    return Complexity(*out)


def complexity_many(specs: Sequence[NetSpec], resolution: int = 224) -> Complexity:
    """Vectorized complexity of a list of specs (grouped by stage count)."""
    import pandas as pd

    return complexity_frame(pd.DataFrame([s.to_row() for s in specs]), resolution)


def _block_name(value: Any) -> str:
    """A table's block cell: missing (None, NaN, '') means the default."""
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return DEFAULT_BLOCK
    return str(value)


def _check_resolution(resolution: int) -> None:
    if not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool) or resolution < 1:
        raise ValueError(f"resolution={resolution!r} must be a positive integer")


def format_count(value: float, unit: str) -> str:
    """Human units: flops as 'GF'/'MF', counts as 'M'/'K' (e.g. 0.80 GF, 6.26 M)."""
    if unit == "flops":
        return f"{value / 1e9:.2f} GF" if value >= 1e8 else f"{value / 1e6:.2f} MF"
    return f"{value / 1e6:.2f} M" if value >= 1e5 else f"{value / 1e3:.2f} K"
