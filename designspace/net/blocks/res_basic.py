"""The R block (residual basic, design-spec 1b): 3x3 conv w_in->w (stride s), BN, ReLU, 3x3 conv w->w, BN;
shortcut identity, or 1x1 conv (stride s) + BN when w_in != w or s != 1; add, then ReLU.

Takes only widths: b = 1 and group width = width (plain convs, one group), no SE.
"""

from __future__ import annotations

import functools
from typing import Any

from designspace.net.blocks.base import (
    BlockType,
    Cost,
    bn,
    cells_widths_only,
    compatible_widths_only,
    conv,
    conv_bn,
    export,
    lazy_classes,
    out_size,
    scale,
    total,
    two_convs,
    validate_widths_only,
)

NAME = "res_basic"


def cost(w_in: Any, w: Any, h_in: Any, stride: int, *, b: Any = 1, g: Any = None, se_ratio: Any = 0,
         rnd: Any = None) -> Cost:
    """Two 3x3 conv + BN, plus the projection (1x1 conv + BN, stride s) where w_in != w or s != 1."""
    h_out = out_size(h_in, stride)
    proj = (w_in != w) | (stride != 1)
    return total(two_convs(w_in, w, h_out), scale(total(conv(w_in, w, 1, h_out), bn(w)), proj))


@functools.cache
def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    class ResBasic(nn.Module):
        """3x3 conv (stride), BN, ReLU, 3x3 conv, BN, + shortcut (projected when the shape changes), ReLU."""

        def __init__(self, w_in: int, w_out: int, stride: int) -> None:
            super().__init__()
            self.a = nn.Sequential(*conv_bn(w_in, w_out, 3, stride), nn.ReLU(inplace=True))
            self.b = nn.Sequential(*conv_bn(w_out, w_out, 3))
            self.proj = nn.Sequential(*conv_bn(w_in, w_out, 1, stride)) if (w_in != w_out or stride != 1) else None
            self.act = nn.ReLU(inplace=True)

        @property
        def last_bn(self) -> nn.BatchNorm2d:
            """The BN before the add (zero-init target)."""
            return self.b[1]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shortcut = x if self.proj is None else self.proj(x)
            return self.act(self.b(self.a(x)) + shortcut)

    return export(__name__, ResBasic)


__getattr__ = lazy_classes(__name__, _torch, "ResBasic")  # the torch classes, defined on first use


def build(w_in: int, w: int, stride: int, *, b: float = 1, g: int | None = None, se_ratio: float = 0) -> Any:
    return _torch()["ResBasic"](w_in, w, stride)


def validate(spec: Any) -> None:
    validate_widths_only(spec, NAME)


BLOCK = BlockType(NAME, "R block: two 3x3 convs with BN, residual (projection on shape change), ReLU after the add",
                  cost, build, validate, compatible_widths_only, cells_widths_only, widths_only=True)
