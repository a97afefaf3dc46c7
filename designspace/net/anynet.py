"""The AnyNet network (stem, stages of blocks, head) built from a `NetSpec`.

Layer for layer this is the network that `designspace.net.complexity` counts: the same convs,
strides and widths, so parameter counts agree exactly and flops agree with a traced count.
Each block comes from its file in `designspace.net.blocks` (`NetSpec.block`), next to its cost.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from designspace.net import blocks
from designspace.net.blocks.base import conv_bn
from designspace.net.spec import NetSpec

__all__ = ["AnyNet", "Stem", "build_model",
           "reset_parameters", "zero_last_bn"]


class Stem(nn.Sequential):
    """3x3 conv (stride 2, or 1 for small inputs), BN, ReLU."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__(*conv_bn(c_in, width, 3, stride), nn.ReLU(inplace=True))


class AnyNet(nn.Module):
    """Stem -> stages s1..sN of `spec.block` blocks -> global average pool -> linear classifier."""

    def __init__(self, spec: NetSpec, zero_init_last_bn: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.stem = Stem(spec.in_channels, spec.stem_width, spec.stem_stride)
        w_in = spec.stem_width
        stages = []
        build = blocks.get(spec.block).build
        for d, w, b, g, s in zip(spec.depths, spec.widths, spec.bottleneck_ratios, spec.group_widths, spec.strides):
            stage = [build(w_in if i == 0 else w, w, s if i == 0 else 1, b=b, g=g, se_ratio=spec.se_ratio)
                     for i in range(d)]
            stages.append(nn.Sequential(*stage))
            w_in = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w_in, spec.num_classes)
        reset_parameters(self)
        if zero_init_last_bn:
            zero_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.forward_features(x)), 1))


def reset_parameters(model: nn.Module) -> None:
    """Reference initialisation: conv N(0, sqrt(2 / fan_out)), BN (1, 0), FC N(0, 0.01), biases 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
            nn.init.zeros_(m.bias)


def zero_last_bn(model: nn.Module) -> None:
    """Set the scale of the last BN of every residual branch to 0, so each block starts as its shortcut.

    Goyal et al. 2017 (arXiv 1706.02677); pycls `BN.ZERO_INIT_FINAL_GAMMA`, timm `zero_init_last`.
    Only the branch's final BN (before the add) changes; the projection's BN keeps scale 1. Blocks
    without a shortcut (vanilla) have no `last_bn` and are left alone.
    """
    for m in model.modules():
        last = getattr(m, "last_bn", None)
        if isinstance(last, nn.BatchNorm2d):
            nn.init.zeros_(last.weight)


def build_model(spec: NetSpec, zero_init_last_bn: bool = False) -> AnyNet:
    """The PyTorch AnyNet of `spec`, freshly initialised (seed torch for reproducibility).

    `zero_init_last_bn`: start every block as the identity (last BN scale 0); the short proxy schedules
    use it, the paper's protocol does not. Off, the initialisation is the reference one, bit for bit.
    """
    if not isinstance(spec, NetSpec):
        raise TypeError(f"build_model expects a NetSpec, got {type(spec).__name__}")
    return AnyNet(spec, zero_init_last_bn=zero_init_last_bn)
