"""The AnyNet network (stem, X/Y bottleneck blocks, stages, head) built from a `NetSpec`.

Layer for layer this is the network that `designspace.complexity` counts: the same convs,
strides and widths, so parameter counts agree exactly and flops agree with a traced count.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from designspace.spec import NetSpec, inner_width, se_width


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(c_out)]


class Stem(nn.Sequential):
    """3x3 conv (stride 2, or 1 for small inputs), BN, ReLU."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__(*_conv_bn(c_in, width, 3, stride), nn.ReLU(inplace=True))


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
        self.a = nn.Sequential(*_conv_bn(w_in, wb, 1), nn.ReLU(inplace=True))
        self.b = nn.Sequential(*_conv_bn(wb, wb, 3, stride, groups=wb // group_width), nn.ReLU(inplace=True))
        w_se = se_width(w_in, se_ratio)
        self.se = SqueezeExcite(wb, w_se) if w_se > 0 else nn.Identity()
        self.c = nn.Sequential(*_conv_bn(wb, w_out, 1))
        self.proj = nn.Sequential(*_conv_bn(w_in, w_out, 1, stride)) if (w_in != w_out or stride != 1) else None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.act(self.c(self.se(self.b(self.a(x)))) + shortcut)


class AnyNet(nn.Module):
    """Stem -> stages s1..sN of bottleneck blocks -> global average pool -> linear classifier."""

    def __init__(self, spec: NetSpec, zero_init_last_bn: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.stem = Stem(spec.in_channels, spec.stem_width, spec.stem_stride)
        w_in = spec.stem_width
        stages = []
        for d, w, b, g, s in zip(spec.depths, spec.widths, spec.bottleneck_ratios, spec.group_widths, spec.strides):
            blocks = [Bottleneck(w_in if i == 0 else w, w, s if i == 0 else 1, b, g, spec.se_ratio) for i in range(d)]
            stages.append(nn.Sequential(*blocks))
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
    Only the branch's final BN (before the add) changes; the projection's BN keeps scale 1.
    """
    for m in model.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.c[1].weight)


def build_model(spec: NetSpec, zero_init_last_bn: bool = False) -> AnyNet:
    """The PyTorch AnyNet of `spec`, freshly initialised (seed torch for reproducibility).

    `zero_init_last_bn`: start every block as the identity (last BN scale 0); the short proxy schedules
    use it, the paper's protocol does not. Off, the initialisation is the reference one, bit for bit.
    """
    if not isinstance(spec, NetSpec):
        raise TypeError(f"build_model expects a NetSpec, got {type(spec).__name__}")
    return AnyNet(spec, zero_init_last_bn=zero_init_last_bn)
