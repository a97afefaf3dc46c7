"""The V block (vanilla, design-spec 1b): 3x3 conv w_in->w (stride s), BN, ReLU, 3x3 conv w->w, BN, ReLU.

No shortcut. Takes only widths: b = 1 and group width = width (plain convs, one group), no SE.
"""

from __future__ import annotations

import functools
from typing import Any

from designspace.net.blocks.base import (
    BlockType,
    Cost,
    cells_widths_only,
    compatible_widths_only,
    conv_bn,
    export,
    lazy_classes,
    out_size,
    two_convs,
    validate_widths_only,
)

NAME = "vanilla"


def cost(w_in: Any, w: Any, h_in: Any, stride: int, *, b: Any = 1, g: Any = None, se_ratio: Any = 0,
         rnd: Any = None) -> Cost:
    """Two 3x3 conv + BN; b, g, se_ratio and rnd are ignored."""
    h_out = out_size(h_in, stride)
    return two_convs(w_in, w, h_out)


@functools.cache
def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    class Vanilla(nn.Module):
        """3x3 conv (stride), BN, ReLU, 3x3 conv, BN, ReLU; no shortcut."""

        def __init__(self, w_in: int, w_out: int, stride: int) -> None:
            super().__init__()
            self.a = nn.Sequential(*conv_bn(w_in, w_out, 3, stride), nn.ReLU(inplace=True))
            self.b = nn.Sequential(*conv_bn(w_out, w_out, 3), nn.ReLU(inplace=True))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    return export(__name__, Vanilla)


__getattr__ = lazy_classes(__name__, _torch, "Vanilla")  # the torch classes, defined on first use


def build(w_in: int, w: int, stride: int, *, b: float = 1, g: int | None = None, se_ratio: float = 0) -> Any:
    return _torch()["Vanilla"](w_in, w, stride)


def validate(spec: Any) -> None:
    validate_widths_only(spec, NAME)


BLOCK = BlockType(NAME, "V block: two 3x3 conv-BN-ReLU, no shortcut", cost, build, validate,
                  compatible_widths_only, cells_widths_only, widths_only=True)
