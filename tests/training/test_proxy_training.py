"""Short-schedule settings: zero-init of the last BN, no decay on BN/biases, lr policies, schedule files."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from torch import nn

from designspace.net import zoo
from designspace.net.anynet import build_model
from designspace.net.blocks.bottleneck import Bottleneck
from designspace.training.data import load_dataset
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, adapt_spec, param_groups
from tests.helpers.train import REPO, TINY_SCHEDULE, TINY_SPECS, bundled_fmnist

SPECS = [zoo.get("RegNetX-200MF"), zoo.get("RegNetY-400MF"), *TINY_SPECS[:2]]


def _built(spec, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return build_model(spec, **kwargs)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_zero_init_sets_exactly_the_last_bn_of_each_block(spec) -> None:
    model = _built(spec, zero_init_last_bn=True)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == sum(spec.depths)
    last = {id(b.c[1]) for b in blocks}
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        expected = 0.0 if id(bn) in last else 1.0
        assert torch.all(bn.weight == expected)
        assert torch.all(bn.bias == 0)
    # A block starts as its shortcut: with the branch's output scale at 0, block(x) = relu(shortcut(x)).
    block = blocks[-1].eval()
    x = torch.randn(2, block.a[0].in_channels, 4, 4)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(x if block.proj is None else block.proj(x)))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_zero_init_off_is_the_reference_initialisation_bit_for_bit(spec) -> None:
    plain, off, on = _built(spec), _built(spec, zero_init_last_bn=False), _built(spec, zero_init_last_bn=True)
    sd_plain, sd_off, sd_on = plain.state_dict(), off.state_dict(), on.state_dict()
    assert all(torch.equal(sd_plain[k], sd_off[k]) for k in sd_plain)
    changed = {k for k in sd_plain if not torch.equal(sd_plain[k], sd_on[k])}
    assert changed == {k for k in sd_plain if k.endswith(".c.1.weight")}
    # The reference rules, checked independently: conv std sqrt(2 / fan_out), FC std 0.01, BN (1, 0).
    conv = max((m for m in plain.modules() if isinstance(m, nn.Conv2d)), key=lambda m: m.weight.numel())
    fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.1)


def test_lr_policies_reach_the_final_ratio_at_the_end_of_the_budget() -> None:
    cos = Schedule(epochs=4, lr=0.2)
    lin = Schedule(epochs=4, lr=0.2, lr_policy="lin")
    for t in (0.0, 1.0, 2.5, 4.0):
        assert cos.lr_at(t) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * t / 4)))
        assert lin.lr_at(t) == pytest.approx(0.2 * (1 - t / 4))
    assert lin.lr_at(4) == 0 and cos.lr_at(4) == pytest.approx(0, abs=1e-12)
    floor = Schedule(epochs=4, lr=0.2, lr_policy="lin", final_lr_ratio=0.1)
    assert floor.lr_at(4) == pytest.approx(0.02) and floor.lr_at(2) == pytest.approx(0.2 * (0.1 + 0.9 * 0.5))
    with pytest.raises(ValueError, match="lr_policy='step'"):
        Schedule.from_dict({"lr_policy": "step"})


def test_no_weight_decay_on_bn_and_biases() -> None:
    spec = zoo.get("RegNetY-200MF")
    model = _built(spec)
    decay, rest = param_groups(model, 5e-5, no_wd_bn_bias=True)
    assert decay["weight_decay"] == 5e-5 and rest["weight_decay"] == 0.0
    one_d = {id(p) for m in model.modules() for name, p in m.named_parameters(recurse=False)
             if isinstance(m, nn.BatchNorm2d) or name == "bias"}
    assert {id(p) for p in rest["params"]} == one_d
    assert {id(p) for p in decay["params"]} == {id(p) for p in model.parameters()} - one_d
    (single,) = param_groups(model, 5e-5, no_wd_bn_bias=False)
    assert single["weight_decay"] == 5e-5 and len(single["params"]) == len(list(model.parameters()))
    # With no gradient, SGD's only move is the decay: BN scales keep their value, conv weights shrink.
    opt = torch.optim.SGD(param_groups(model, 0.1, True), lr=1.0)
    bn, conv = model.stem[1], model.stem[0]
    w_bn, w_conv = bn.weight.detach().clone(), conv.weight.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.equal(bn.weight, w_bn) and torch.allclose(conv.weight, w_conv * 0.9)


def test_trainer_builds_with_the_schedule_switches() -> None:
    data = load_dataset(bundled_fmnist())
    spec = adapt_spec(TINY_SPECS[1], data)
    sched = Schedule.from_dict({**TINY_SCHEDULE, "zero_init_last_bn": True, "no_wd_bn_bias": True})
    trainer = Trainer(spec, data, sched, device="cpu")
    assert all(torch.all(b.c[1].weight == 0) for b in trainer.model.modules() if isinstance(b, Bottleneck))
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [5e-5, 0.0]
    plain = Trainer(spec, data, Schedule.from_dict(TINY_SCHEDULE), device="cpu")
    assert len(plain.optimizer.param_groups) == 1
    assert all(torch.all(b.c[1].weight == 1) for b in plain.model.modules() if isinstance(b, Bottleneck))


def test_paper_schedules_keep_the_paper_protocol_and_proxies_use_the_short_settings() -> None:
    folder = REPO / "configs" / "schedule"
    schedules = {p.stem: Schedule.from_dict(yaml.safe_load(p.read_text())) for p in folder.glob("*.yaml")}
    for name, s in schedules.items():
        if name.startswith("paper_"):
            assert (s.zero_init_last_bn, s.no_wd_bn_bias, s.label_smoothing, s.lr_policy) == (False, False, 0.0, "cos")
        else:
            assert name.startswith(("fmnist_", "cifar_")), name
            assert s.zero_init_last_bn and s.no_wd_bn_bias and s.final_lr_ratio == 0, name
