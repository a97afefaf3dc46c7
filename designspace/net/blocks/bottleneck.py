"""The X block (residual bottleneck with a group conv) and, with se_ratio > 0, the Y block (+ squeeze-excitation).

Input w_in, output w, bottleneck ratio b (inner width w_b = round(w / b)), group width g, stride s:
1x1 conv w_in->w_b, BN, ReLU; 3x3 group conv w_b->w_b (stride s, w_b/g groups), BN, ReLU; [SE: pool, 1x1 conv
w_b->w_se (bias), ReLU, 1x1 conv w_se->w_b (bias), sigmoid, rescale; w_se = round(se_ratio * w_in)]; 1x1 conv
w_b->w, BN; shortcut identity, or 1x1 conv (stride s) + BN when w_in != w or s != 1; add, ReLU.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from designspace.net.blocks.base import BlockType, Cost, conv_bn, export, lazy_classes, out_size

NAME = "bottleneck"


def inner_width(width: float, bottleneck_ratio: float) -> int:
    """The bottleneck (inner) width round(w / b), rounding half to even."""
    return int(round(width / bottleneck_ratio))


def se_width(w_in: int, se_ratio: float) -> int:
    """Squeeze-excitation width round(se_ratio * w_in); w_in is the block's input width."""
    return int(round(se_ratio * w_in))


def cost(w_in: Any, w: Any, h_in: Any, stride: int, *, b: Any, g: Any, se_ratio: Any, rnd: Any) -> Cost:
    """One X/Y block, layer by layer (conv terms, then BN's 2*c params); SE only where w_se > 0."""
    wb, wse = rnd(w / b), rnd(se_ratio * w_in)
    h_out = out_size(h_in, stride)
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


@functools.cache
def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    class SqueezeExcite(nn.Module):
        """Global pool -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> sigmoid -> rescale."""

        def __init__(self, channels: int, se_channels: int) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.reduce = nn.Conv2d(channels, se_channels, 1, bias=True)
            self.act = nn.ReLU(inplace=True)
            self.expand = nn.Conv2d(se_channels, channels, 1, bias=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.expand(self.act(self.reduce(self.pool(x))))
            return x * torch.sigmoid(s)

    class Bottleneck(nn.Module):
        """X block (Y block when se_channels > 0): 1x1, 3x3 group conv (stride), [SE], 1x1, + shortcut."""

        def __init__(
            self, w_in: int, w_out: int, stride: int, bottleneck_ratio: float, group_width: int, se_ratio: float
        ) -> None:
            super().__init__()
            wb = inner_width(w_out, bottleneck_ratio)
            self.a = nn.Sequential(*conv_bn(w_in, wb, 1), nn.ReLU(inplace=True))
            self.b = nn.Sequential(*conv_bn(wb, wb, 3, stride, groups=wb // group_width), nn.ReLU(inplace=True))
            w_se = se_width(w_in, se_ratio)
            self.se = SqueezeExcite(wb, w_se) if w_se > 0 else nn.Identity()
            self.c = nn.Sequential(*conv_bn(wb, w_out, 1))
            self.proj = nn.Sequential(*conv_bn(w_in, w_out, 1, stride)) if (w_in != w_out or stride != 1) else None
            self.act = nn.ReLU(inplace=True)

        @property
        def last_bn(self) -> nn.BatchNorm2d:
            """The BN before the add (zero-init target)."""
            return self.c[1]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shortcut = x if self.proj is None else self.proj(x)
            return self.act(self.c(self.se(self.b(self.a(x)))) + shortcut)

    return export(__name__, SqueezeExcite, Bottleneck)


__getattr__ = lazy_classes(__name__, _torch, "Bottleneck", "SqueezeExcite")  # the torch classes, defined on first use


def build(w_in: int, w: int, stride: int, *, b: float, g: int, se_ratio: float) -> Any:
    return _torch()["Bottleneck"](w_in, w, stride, b, g, se_ratio)


def validate(spec: Any) -> None:
    """w / b must be a whole inner width and g must divide it (apply make_compatible otherwise)."""
    for i, (w, b, g) in enumerate(zip(spec.widths, spec.bottleneck_ratios, spec.group_widths)):
        wb = w / b
        if abs(wb - round(wb)) > 1e-9 or round(wb) < 1:
            raise ValueError(
                f"NetSpec.widths[{i}]={w} / bottleneck_ratios[{i}]={b} = {wb:g} is not a positive whole inner width"
            )
        if round(wb) % g:
            raise ValueError(
                f"NetSpec.group_widths[{i}]={g} does not divide the inner width "
                f"{round(wb)} = widths[{i}] / bottleneck_ratios[{i}]; apply make_compatible()"
            )


def compatible(widths: Any, bottleneck_ratios: Any, group_widths: Any) -> tuple[Any, Any, Any]:
    """The App. D width/group rule (`make_compatible_arrays`), the block type's hook."""
    return make_compatible_arrays(widths, bottleneck_ratios, group_widths)


# The compatibility rule lives beside the block that needs it (as pycls keeps it in blocks.py); net.spec
# re-exports it.
def make_compatible_arrays(
    widths: Any, bottleneck_ratios: Any, group_widths: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized App. D compatibility rule on arrays of any (broadcastable) shape.

    With v = max(1, int(w / b)): g = min(g, v); v = max(q, round(v / q) * q) where the quantum q
    is g (or lcm(g, 1/b) for an inverted bottleneck b < 1); w = int(v * b). Rounding is
    half-to-even. Afterwards w / b is a whole multiple of g.
    """
    w = np.asarray(widths, dtype=np.float64)
    b = np.asarray(bottleneck_ratios, dtype=np.float64)
    g = np.asarray(group_widths, dtype=np.int64)
    w, b, g = np.broadcast_arrays(w, b, g)
    v = np.maximum(1, np.floor(w / b + 1e-9)).astype(np.int64)
    g = np.minimum(g, v)
    quantum = g.copy()
    inverted = b < 1
    if inverted.any():
        inv = np.rint(1.0 / b[inverted]).astype(np.int64)
        quantum[inverted] = np.lcm(g[inverted], inv)
    v = np.maximum(quantum, np.rint(v / quantum).astype(np.int64) * quantum)
    w_new = np.floor(v * b + 1e-9).astype(np.int64)
    return w_new, b.copy(), g


def make_compatible(
    widths: Sequence[float], bottleneck_ratios: Sequence[float], group_widths: Sequence[int]
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[int, ...]]:
    """Adjust per-stage (widths, bottleneck ratios, group widths) so that g divides w / b.

    Design-spec section 3 (the paper's App. D). Returns the adjusted triple as tuples.
    """
    if not (len(widths) == len(bottleneck_ratios) == len(group_widths)):
        raise ValueError(
            f"make_compatible: widths ({len(widths)}), bottleneck_ratios ({len(bottleneck_ratios)}) "
            f"and group_widths ({len(group_widths)}) must have the same length"
        )
    for name, values in (("widths", widths), ("bottleneck_ratios", bottleneck_ratios), ("group_widths", group_widths)):
        for i, v in enumerate(values):
            if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v > 0):
                raise ValueError(f"make_compatible: {name}[{i}]={v!r} must be a positive number")
    w, b, g = make_compatible_arrays(widths, bottleneck_ratios, group_widths)
    return tuple(int(x) for x in w), tuple(float(x) for x in b), tuple(int(x) for x in g)



def cells(w_in: int, w: int, b: float, g: int, se_ratio: float) -> tuple[str, str, str, str]:
    """b, group width, number of groups, SE width of the first/other blocks ('-' without SE)."""
    se = f"{se_width(w_in, se_ratio)}/{se_width(w, se_ratio)}" if se_ratio else "-"
    return (f"{b:g}", str(g), str(inner_width(w, b) // g), se)


BLOCK = BlockType(NAME, "X block: residual bottleneck with group conv (Y with se_ratio > 0)",
                  cost, build, validate, compatible, cells)
