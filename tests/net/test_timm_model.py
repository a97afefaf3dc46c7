"""`export.timm_model`: a timm RegNet of any bottleneck spec - a published RegNet through timm's own RegNetCfg, a
sampled AnyNet and a tour model (1-channel, stride-1 stem) through the per-stage subclass - that computes what
our module computes once our weights are mapped onto it. timm is the oracle, so these tests run where it imports;
on the project's machines it does not (it needs torchvision, which has no build beside the CPU torch there):
docs/export.md says how to install it."""

from __future__ import annotations

import sys

import pytest
import torch

from designspace import export, zoo
from designspace.net.anynet import build_model
from designspace.net.complexity import complexity
from designspace.space.sampler import sample, spec_of


def _specs() -> dict[str, object]:
    frame = sample("anynetx_e", 2, 0, "400mf", progress=False)
    tour = spec_of(sample("regnetx", 1, 0, "fmnist_tiny", progress=False).iloc[0])
    return {"RegNetX-200MF": zoo.get("RegNetX-200MF"), "RegNetY-400MF": zoo.get("RegNetY-400MF"),
            "anynetx_e": spec_of(frame.iloc[0]), "tour": tour}


def test_without_timm_the_error_says_how_to_get_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError, as where it is not installed
    monkeypatch.setitem(sys.modules, "timm.models", None)
    monkeypatch.setitem(sys.modules, "timm.models.regnet", None)
    with pytest.raises(ImportError, match="docs/export.md"):
        export.timm_model(zoo.get("RegNetX-200MF"))


def test_the_target_stem_keeps_the_design() -> None:
    tour = _specs()["tour"]
    moved = export.on_target_stem(tour)
    assert (moved.in_channels, moved.stem_stride, moved.num_classes) == (3, 2, 1000)
    assert (moved.depths, moved.widths, moved.bottleneck_ratios, moved.group_widths, moved.se_ratio) == \
        (tour.depths, tour.widths, tour.bottleneck_ratios, tour.group_widths, tour.se_ratio)
    assert export.on_target_stem(tour, num_classes=10).num_classes == 10
    with pytest.raises(ValueError, match="stem"):
        export.on_target_stem(tour, stem_width=8)


@pytest.mark.parametrize("name", ["RegNetX-200MF", "RegNetY-400MF", "anynetx_e", "tour"])
def test_timm_model_computes_what_ours_computes(name: str, one_thread) -> None:
    pytest.importorskip("timm", reason="timm does not import here (it needs torchvision, which has no build "
                                       "beside this CPU torch): docs/export.md")
    spec = export.on_target_stem(_specs()[name])
    ours = build_model(spec).eval()
    theirs = export.timm_model(_specs()[name]).eval()
    assert sum(p.numel() for p in theirs.parameters()) == complexity(spec, 224).params
    theirs.load_state_dict(export.to_timm_state_dict(ours.state_dict()))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(ours(x), theirs(x))
