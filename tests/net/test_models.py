"""The PyTorch builder against the analytic counter, through independent counters.

Flops: torch's FlopCounterMode (2 per multiply-add, halved) and fvcore count conv/linear
multiply-adds; the reference also counts one addition per output element of every conv/linear
with a bias, added here. Acts: output elements of every conv/linear, from forward hooks.
Most checks run on the meta device (shapes only, no arithmetic), so hundreds of specs are cheap.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from designspace.net import zoo
from designspace.net.anynet import build_model
from designspace.net.complexity import complexity
from tests.helpers.models import random_spec, traced_counts
from tests.helpers.paths import read_zoo_reference


@pytest.mark.parametrize("row", read_zoo_reference(), ids=lambda r: r["name"])
def test_zoo_models_traced_equal_reference(row):
    got = traced_counts(zoo.get(row["name"]), 224)
    assert got == (int(row["flops"]), int(row["params"]), int(row["acts"]))


@pytest.mark.parametrize("seed", range(300))
def test_random_specs_traced_equal_counter(seed):
    rng = random.Random(seed)
    spec = random_spec(rng)
    resolution = rng.randint(32, 224)
    cx = complexity(spec, resolution)
    assert traced_counts(spec, resolution) == (cx.flops, cx.params, cx.acts), spec


@pytest.mark.parametrize("name, resolution", [("RegNetX-200MF", 64), ("RegNetY-200MF", 32), ("RegNetY-400MF", 96)])
def test_fvcore_agrees_on_real_tensors(name, resolution):
    from fvcore.nn import FlopCountAnalysis

    spec = zoo.get(name, num_classes=10)
    model = build_model(spec).eval()
    x = torch.randn(1, 3, resolution, resolution)
    analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    macs = by_op.get("conv", 0) + by_op.get("linear", 0) + by_op.get("addmm", 0)
    bias_adds = sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d) and m.bias is not None)
    bias_adds += spec.num_classes
    assert macs + bias_adds == complexity(spec, resolution).flops


def test_forward_shapes_and_channels_last():
    torch.manual_seed(0)
    spec = random_spec(random.Random(7)).replace(num_classes=10, in_channels=1)
    model = build_model(spec).eval()
    x = torch.randn(4, 1, 28, 28)
    y = model(x)
    assert y.shape == (4, 10)
    model_cl = model.to(memory_format=torch.channels_last)
    y_cl = model_cl(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(y_cl, y, rtol=1e-4, atol=1e-5)
    y_cl.sum().backward()
    assert all(p.grad is not None for p in model_cl.parameters())


def test_reference_initialisation():
    torch.manual_seed(0)
    model = build_model(zoo.get("RegNetX-400MF"))
    conv = model.stages[3][1].a[0]  # 1x1 conv 384 -> 384
    fan_out = conv.out_channels
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.02)
    grouped = model.stages[3][1].b[0]
    assert grouped.weight.std().item() == pytest.approx(math.sqrt(2.0 / (9 * grouped.out_channels)), rel=0.03)
    assert model.fc.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert not model.fc.bias.any()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and not m.bias.any()


def test_se_width_uses_block_input_width():
    spec = zoo.get("RegNetY-200MF")
    first = build_model(spec).stages[1][0]  # input 24 channels (stage 1 width), output 56
    assert first.se.reduce.out_channels == round(0.25 * 24)
    second = build_model(spec).stages[2][1]  # input = output = 152
    assert second.se.reduce.out_channels == round(0.25 * 152)


def test_build_model_rejects_non_specs():
    with pytest.raises(TypeError, match="NetSpec"):
        build_model({"depths": [1]})
