"""Exact analytic complexity (flops, params, acts) of AnyNet networks, with no torch.

Rules (design-spec section 2): a flop is one multiply-add; a conv costs
k*k*(c_in/groups)*c_out*h_out*w_out (+ c_out*h_out*w_out for a bias); BN has 2*c params;
acts count the output elements of every conv and of the FC. Each stage is costed in closed
form - its first block (stride 2, projection) plus (d - 1) identical blocks - so one formula
serves a single `NetSpec` (plain Python ints, microseconds) and millions of candidates at once
(NumPy int64 arrays of shape (n, stages)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from designspace.spec import SCALAR_FIELDS, NetSpec, stage_columns

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


Cost = tuple  # (flops, params, acts): plain tuples inside, so one network costs microseconds


def _sum(*parts: Cost) -> Cost:
    f = p = a = 0
    for cf, cp, ca in parts:
        f, p, a = f + cf, p + cp, a + ca
    return (f, p, a)


def _scale(cx: Cost, k: Any) -> Cost:
    return (cx[0] * k, cx[1] * k, cx[2] * k)


def _conv(c_in_per_group: Any, c_out: Any, k: int, h_out: Any, bias: bool = False) -> Cost:
    """A k x k conv producing c_out channels of h_out x h_out, each seeing c_in_per_group inputs."""
    hw = h_out * h_out
    params = k * k * c_in_per_group * c_out
    if bias:
        return (params * hw + c_out * hw, params + c_out, c_out * hw)
    return (params * hw, params, c_out * hw)


def _bn(c: Any) -> Cost:
    return (0, 2 * c, 0)


def _block(w_in: Any, w: Any, wb: Any, g: Any, wse: Any, h_in: Any, stride: int) -> Cost:
    """One X/Y block, layer by layer (conv terms, then BN's 2*c params); SE only where wse > 0."""
    h_out = (h_in - 1) // stride + 1
    hi, ho = h_in * h_in, h_out * h_out
    se = wse > 0
    proj = (w_in != w) | (stride != 1)
    flops = (
        w_in * wb * hi  # 1x1 reduce
        + 9 * g * wb * ho  # 3x3 group conv: (wb / groups) = g inputs per output channel
        + se * (2 * wb * wse + wse + wb)  # SE: two 1x1 convs with bias on a 1x1 map
        + wb * w * ho  # 1x1 expand
        + proj * (w_in * w * ho)  # projection shortcut, stride s
    )
    params = (
        w_in * wb + 2 * wb
        + 9 * g * wb + 2 * wb
        + se * (2 * wb * wse + wse + wb)
        + wb * w + 2 * w
        + proj * (w_in * w + 2 * w)
    )
    acts = wb * hi + wb * ho + se * (wse + wb) + w * ho + proj * (w * ho)
    return (flops, params, acts)


def _parts(
    depths: Sequence[Any],
    widths: Sequence[Any],
    inner: Sequence[Any],
    groups: Sequence[Any],
    se_ratio: Any,
    stem_width: Any,
    stem_stride: Any,
    num_classes: Any,
    in_channels: Any,
    resolution: int,
    rnd: Callable[[Any], Any],
) -> Iterable[tuple[str, Cost]]:
    """Cost of the stem, each stage and the head; rnd rounds half-to-even (int or array)."""
    h = (resolution - 1) // stem_stride + 1
    yield "stem", _sum(_conv(in_channels, stem_width, 3, h), _bn(stem_width))
    w_in = stem_width
    for i, (d, w, wb, g) in enumerate(zip(depths, widths, inner, groups), start=1):
        first = _block(w_in, w, wb, g, rnd(se_ratio * w_in), h, 2)
        h = (h - 1) // 2 + 1
        rest = _block(w, w, wb, g, rnd(se_ratio * w), h, 1)
        yield f"stage{i}", _sum(first, _scale(rest, d - 1))
        w_in = w
    yield "head", _conv(w_in, num_classes, 1, 1, bias=True)


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
        spec.depths, spec.widths, spec.inner_widths, spec.group_widths, spec.se_ratio,
        spec.stem_width, spec.stem_stride, spec.num_classes, spec.in_channels,
        resolution, _round_int,
    )


def complexity(spec: NetSpec, resolution: int = 224) -> Complexity:
    """Exact flops (multiply-adds), params and acts of `spec` at `resolution` x `resolution`."""
    return Complexity(*_sum(*(cx for _, cx in _spec_parts(spec, resolution))))


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
) -> Complexity:
    """Vectorized `complexity` of n networks with S stages each.

    Per-stage arguments are arrays of shape (n, S) (or (S,) for one network); the scalar fields
    may be scalars or arrays of shape (n,). Returns a `Complexity` of int64 arrays of shape (n,).
    """
    _check_resolution(resolution)
    d, w, b, g = (np.atleast_2d(np.asarray(a)) for a in (depths, widths, bottleneck_ratios, group_widths))
    if not (d.shape == w.shape == b.shape == g.shape):
        raise ValueError(
            f"complexity_arrays: per-stage arrays differ in shape: depths {d.shape}, widths {w.shape}, "
            f"bottleneck_ratios {b.shape}, group_widths {g.shape}"
        )
    d, w, g = d.astype(np.int64), w.astype(np.int64), g.astype(np.int64)
    wb = _round_array(w / b.astype(np.float64))
    scal = [np.asarray(x) for x in (se_ratio, stem_width, stem_stride, num_classes, in_channels)]
    se, sw, ss, nc, ic = scal[0].astype(np.float64), *(x.astype(np.int64) for x in scal[1:])
    cols = [np.ascontiguousarray(a.T) for a in (d, w, wb, g)]  # one contiguous row per stage
    total = _sum(*(cx for _, cx in _parts(*cols, se, sw, ss, nc, ic, resolution, _round_array)))
    n = d.shape[0]
    return Complexity(*(np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy() for v in total))


def complexity_frame(frame: pd.DataFrame, resolution: int = 224) -> Complexity:
    """Vectorized complexity of every row of a table in the `NetSpec.to_row` layout.

    Rows may have different stage counts (padded columns are NaN); they are costed per group.
    """
    if "num_stages" in frame:
        stage_counts = frame["num_stages"].to_numpy(dtype=np.int64)
    else:
        stage_counts = np.full(len(frame), sum(1 for c in frame.columns if _is_depth_col(c)), np.int64)
    out = [np.zeros(len(frame), dtype=np.int64) for _ in range(3)]
    for s in np.unique(stage_counts):
        rows = np.flatnonzero(stage_counts == s)
        cols = stage_columns(int(s))
        missing = [c for names in cols.values() for c in names if c not in frame.columns]
        if missing:
            raise ValueError(f"complexity_frame: table lacks column(s) {missing}")
        sub = frame.iloc[rows]
        scalars = {
            name: sub[name].to_numpy() for name in SCALAR_FIELDS if name in frame.columns
        }
        cx = complexity_arrays(
            *(sub[names].to_numpy() for names in cols.values()), resolution=resolution, **scalars
        )
        for arr, value in zip(out, (cx.flops, cx.params, cx.acts)):
            arr[rows] = value
    return Complexity(*out)


def complexity_many(specs: Sequence[NetSpec], resolution: int = 224) -> Complexity:
    """Vectorized complexity of a list of specs (grouped by stage count)."""
    import pandas as pd

    return complexity_frame(pd.DataFrame([s.to_row() for s in specs]), resolution)


def _is_depth_col(name: Any) -> bool:
    return isinstance(name, str) and name.startswith("d") and name[1:].isdigit()


def _check_resolution(resolution: int) -> None:
    if not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool) or resolution < 1:
        raise ValueError(f"resolution={resolution!r} must be a positive integer")


def format_count(value: float, unit: str) -> str:
    """Human units: flops as 'GF'/'MF', counts as 'M'/'K' (e.g. 0.80 GF, 6.26 M)."""
    if unit == "flops":
        return f"{value / 1e9:.2f} GF" if value >= 1e8 else f"{value / 1e6:.2f} MF"
    return f"{value / 1e6:.2f} M" if value >= 1e5 else f"{value / 1e3:.2f} K"
