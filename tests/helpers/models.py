"""Independent counts of a built network (torch's flop counter on the meta device) and random valid networks."""

from __future__ import annotations

import random

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from designspace.net.anynet import build_model
from designspace.net.blocks.bottleneck import make_compatible
from designspace.net.spec import NetSpec


def traced_counts(spec: NetSpec, resolution: int, device: str = "meta") -> tuple[int, int, int]:
    """(flops, params, acts) measured on the built module, not computed from the spec."""
    with torch.device(device):
        model = build_model(spec).eval()
        x = torch.empty(1, spec.in_channels, resolution, resolution)
    acts = 0
    bias_adds = 0

    def hook(mod: nn.Module, _inp, out: torch.Tensor) -> None:
        nonlocal acts, bias_adds
        acts += out[0].numel()
        if mod.bias is not None:
            bias_adds += out[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    for h in handles:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    return counter.get_total_flops() // 2 + bias_adds, params, acts



def random_spec(rng: random.Random) -> NetSpec:
    stages = rng.randint(1, 5)
    widths = [rng.randint(4, 160) for _ in range(stages)]
    brs = [rng.choice([0.5, 1, 1, 2, 4]) for _ in range(stages)]
    gws = [rng.choice([1, 2, 4, 8, 16, 24, 32]) for _ in range(stages)]
    widths, brs, gws = make_compatible(widths, brs, gws)
    return NetSpec(
        depths=[rng.randint(1, 3) for _ in range(stages)], widths=widths, bottleneck_ratios=brs,
        group_widths=gws, se_ratio=rng.choice([0.0, 0.0, 0.25, 0.5]), stem_width=rng.choice([8, 16, 32]),
        stem_stride=rng.choice([1, 2]), num_classes=rng.choice([10, 100, 1000]), in_channels=rng.choice([1, 3]),
    )
