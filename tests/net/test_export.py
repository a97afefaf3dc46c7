"""Export to pycls and timm: configs and state-dict names against facts recorded from their sources, and
round trips (spec -> config -> spec, state dict -> their names -> ours) that must give back exactly the input.

Recorded from facebookresearch/pycls `pycls/core/config.py`, `pycls/models/anynet.py` and from
huggingface/pytorch-image-models `timm/models/regnet.py` (RegNetCfg, model_cfgs, Bottleneck, RegStage, RegNet);
timm is not imported (it pulls torchvision and with it another torch build)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from designspace.net import build_model, zoo
from designspace.net.export import (
    from_pycls,
    from_pycls_state_dict,
    from_timm,
    from_timm_state_dict,
    regnet_params,
    timm_name,
    to_pycls,
    to_pycls_state_dict,
    to_timm,
    to_timm_state_dict,
)
from designspace.space.sampler import sample, spec_of

REPO = Path(__file__).resolve().parents[2]

# pycls/core/config.py: the keys of _C.ANYNET and _C.REGNET
PYCLS_ANYNET_KEYS = {"STEM_TYPE", "STEM_W", "BLOCK_TYPE", "DEPTHS", "WIDTHS", "STRIDES", "BOT_MULS", "GROUP_WS",
                     "SE_ON", "SE_R"}
PYCLS_REGNET_KEYS = {"STEM_TYPE", "STEM_W", "BLOCK_TYPE", "STRIDE", "SE_ON", "SE_R", "DEPTH", "W0", "WA", "WM",
                     "GROUP_W", "BOT_MUL"}
# timm/models/regnet.py: RegNetCfg's fields and two entries of model_cfgs
TIMM_CFG_FIELDS = {"depth", "w0", "wa", "wm", "group_size", "bottle_ratio", "se_ratio", "stem_width", "downsample",
                   "linear_out", "preact", "num_features", "act_layer", "norm_layer"}
TIMM_REGNETX_002 = {"w0": 24, "wa": 36.44, "wm": 2.49, "group_size": 8, "depth": 13}
TIMM_REGNETY_008 = {"w0": 56, "wa": 38.84, "wm": 2.4, "group_size": 16, "depth": 14, "se_ratio": 0.25}
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _timm_block_keys(prefix: str, downsample: bool, se: bool) -> list[str]:
    """timm's Bottleneck: conv1, conv2 (ConvNormAct: .conv, .bn), se (SEModule: fc1, fc2), conv3, downsample."""
    keys = []
    for conv in ("conv1", "conv2"):
        keys += [f"{prefix}.{conv}.conv.weight"] + [f"{prefix}.{conv}.bn.{b}" for b in BN]
    if se:
        keys += [f"{prefix}.se.{fc}.{p}" for fc in ("fc1", "fc2") for p in ("weight", "bias")]
    keys += [f"{prefix}.conv3.conv.weight"] + [f"{prefix}.conv3.bn.{b}" for b in BN]
    if downsample:
        keys += [f"{prefix}.downsample.conv.weight"] + [f"{prefix}.downsample.bn.{b}" for b in BN]
    return keys


def _timm_keys(depths: list[int], se: bool) -> list[str]:
    keys = ["stem.conv.weight"] + [f"stem.bn.{b}" for b in BN]
    for i, d in enumerate(depths, 1):
        for j in range(1, d + 1):
            keys += _timm_block_keys(f"s{i}.b{j}", downsample=j == 1, se=se)
    return keys + ["head.fc.weight", "head.fc.bias"]


@pytest.fixture(scope="module")
def anynetx_e() -> object:
    return spec_of(sample("anynetx_e", 1, seed=3, budget="400mf").iloc[0])


def test_regnetx_200mf_exports_to_timms_published_config_and_back() -> None:
    spec = zoo.get("RegNetX-200MF")
    form = to_timm(spec)
    assert form["model"] == "regnetx_002"
    assert set(form["cfg"]) <= TIMM_CFG_FIELDS
    assert {k: form["cfg"][k] for k in TIMM_REGNETX_002} == TIMM_REGNETX_002
    assert form["cfg"]["bottle_ratio"] == 1.0 and form["cfg"]["se_ratio"] == 0
    assert from_timm(form) == spec
    y = to_timm(zoo.get("RegNetY-800MF"))
    assert y["model"] == "regnety_008" and {k: y["cfg"][k] for k in TIMM_REGNETY_008} == TIMM_REGNETY_008
    assert [timm_name(n) for n in ("RegNetX-1.6GF", "RegNetY-32GF", "RegNetX-12GF")] == [
        "regnetx_016", "regnety_320", "regnetx_120"]


def test_regnetx_200mf_exports_to_pycls_in_both_forms_and_back() -> None:
    spec = zoo.get("RegNetX-200MF")
    regnet = to_pycls(spec, regnet_params("RegNetX-200MF"))
    assert regnet["MODEL"] == {"TYPE": "regnet", "NUM_CLASSES": 1000} and set(regnet["REGNET"]) == PYCLS_REGNET_KEYS
    assert (regnet["REGNET"]["DEPTH"], regnet["REGNET"]["W0"], regnet["REGNET"]["WA"], regnet["REGNET"]["WM"],
            regnet["REGNET"]["GROUP_W"]) == (13, 24, 36.44, 2.49, 8)
    assert to_pycls(spec) == regnet  # a published model: the REGNET form, as `describe model=...` prints it
    anynet = to_pycls(spec, form="anynet")
    assert set(anynet["ANYNET"]) == PYCLS_ANYNET_KEYS and anynet["MODEL"]["TYPE"] == "anynet"
    # the published RegNetX-200MF stages (pycls model zoo: depths [1, 1, 4, 7], widths [24, 56, 152, 368])
    assert (anynet["ANYNET"]["DEPTHS"], anynet["ANYNET"]["WIDTHS"]) == ([1, 1, 4, 7], [24, 56, 152, 368])
    assert anynet["ANYNET"]["STEM_TYPE"] == "simple_stem_in" and anynet["ANYNET"]["BLOCK_TYPE"] == "res_bottleneck_block"
    assert from_pycls(regnet) == spec and from_pycls(anynet) == spec
    assert from_pycls(regnet).id == from_pycls(anynet).id == spec.id


def test_a_sampled_anynetx_e_spec_exports_and_comes_back_identical(anynetx_e) -> None:
    spec = anynetx_e
    assert from_pycls(to_pycls(spec)) == spec and from_timm(to_timm(spec)) == spec
    form = to_timm(spec)
    assert form["model"] is None and "cfg" not in form  # not a RegNet: timm's per-stage (RegStage) arguments
    assert [s["out_chs"] for s in form["stages"]] == list(spec.widths)
    assert [s["bottle_ratio"] for s in form["stages"]] == [1 / b for b in spec.bottleneck_ratios]  # timm: w_b = w * r
    assert to_pycls(spec)["ANYNET"]["BOT_MULS"] == [1 / b for b in spec.bottleneck_ratios]  # pycls: bm = 1 / b
    cifar = spec.replace(stem_stride=1, num_classes=10)
    assert to_pycls(cifar)["ANYNET"]["STEM_TYPE"] == "res_stem_cifar" and from_pycls(to_pycls(cifar)) == cifar


@pytest.mark.parametrize("name", ["RegNetX-200MF", "anynetx_e", "RegNetY-800MF"])
def test_state_dicts_go_to_timm_and_pycls_names_and_back_identical(name: str, anynetx_e) -> None:
    spec = anynetx_e if name == "anynetx_e" else zoo.get(name)
    torch.manual_seed(0)
    model = build_model(spec)
    state = model.state_dict()
    timm = to_timm_state_dict(state)
    assert list(timm) == _timm_keys(list(spec.depths), se=spec.se_ratio > 0)
    back = from_timm_state_dict(timm)
    assert list(back) == list(state) and all(torch.equal(back[k], state[k]) for k in state)
    pycls = from_pycls_state_dict(to_pycls_state_dict(state))
    assert list(pycls) == list(state) and all(torch.equal(pycls[k], state[k]) for k in state)
    other = build_model(spec)
    other.load_state_dict(back)
    x = torch.randn(2, 3, 64, 64)
    model.eval(), other.eval()
    assert torch.equal(model(x), other(x))


def test_state_dict_names_and_shapes_match_the_published_layouts() -> None:
    state = build_model(zoo.get("RegNetY-800MF")).state_dict()
    timm = to_timm_state_dict(state)
    # RegNetY-800MF stage 1: w = 64, g = 16 -> 4 groups of 16 inputs; SE width round(0.25 * 32) = 8 (block input)
    assert tuple(timm["s1.b1.conv2.conv.weight"].shape) == (64, 16, 3, 3)
    assert tuple(timm["s1.b1.se.fc1.weight"].shape) == (8, 64, 1, 1)
    assert tuple(timm["s1.b1.downsample.conv.weight"].shape) == (64, 32, 1, 1)
    assert tuple(timm["head.fc.weight"].shape) == (1000, 768)
    pycls = to_pycls_state_dict(state)  # pycls: proj / bn on the shortcut, f.a .. f.c_bn, SE as f.se.f_ex.0 / .2
    for key in ("stem.conv.weight", "s1.b1.proj.weight", "s1.b1.bn.running_var", "s1.b1.f.a.weight",
                "s1.b1.f.b_bn.weight", "s1.b1.f.se.f_ex.0.weight", "s1.b1.f.se.f_ex.2.bias", "s4.b2.f.c_bn.bias",
                "head.fc.bias"):
        assert key in pycls, key


@pytest.mark.parametrize("name, stem", [("RegNetX-200MF", ()), ("RegNetY-800MF", ("stem_stride=1", "num_classes=10"))])
def test_to_pycls_and_the_command_line_agree_on_the_form(name: str, stem: tuple[str, ...]) -> None:
    import yaml

    proc = subprocess.run([sys.executable, "-m", "designspace.describe", f"model={name}", "export=pycls", *stem],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    fields = dict(s.split("=") for s in stem)
    spec = zoo.get(name, **{k: int(v) for k, v in fields.items()})
    assert yaml.safe_load(proc.stdout) == to_pycls(spec) and to_pycls(spec)["MODEL"]["TYPE"] == "regnet"
    assert to_pycls(spec)["REGNET"]["STEM_TYPE"] == ("res_stem_cifar" if stem else "simple_stem_in")


def test_what_a_target_cannot_express_is_refused_by_name() -> None:
    spec = zoo.get("RegNetX-200MF")
    with pytest.raises(ValueError, match="stem_stride"):
        to_timm(spec.replace(stem_stride=1))
    with pytest.raises(ValueError, match="in_channels"):
        to_pycls(spec.replace(in_channels=1))
    with pytest.raises(ValueError, match="do not generate"):
        to_pycls(spec, regnet_params("RegNetX-400MF"))
    with pytest.raises(ValueError, match="has no counterpart"):
        to_timm_state_dict({"stages.0.0.zz.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="MODEL.TYPE"):
        from_pycls({"MODEL": {"TYPE": "resnet"}})


@pytest.mark.slow
def test_describe_shows_and_exports_a_sampled_model_of_a_sweep(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "designspace.describe", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    frame = sample("regnetx", 2, seed=0, budget="400mf")
    (tmp_path / "s").mkdir()
    frame.to_parquet(tmp_path / "s" / "samples.parquet", index=False)
    (tmp_path / "s" / "config.yaml").write_text("space: {name: regnetx}\n")
    row = frame.iloc[0]
    shown = run("sweep_dir=s", f"model_id={row['model_id'][:6]}")
    assert shown.returncode == 0, shown.stderr
    assert row["model_id"] in shown.stdout and f"{int(row['flops']):,} flops" in shown.stdout
    exported = run("sweep_dir=s", f"model_id={row['model_id']}", "export=pycls")
    assert exported.returncode == 0, exported.stderr
    assert "TYPE: regnet" in exported.stdout and f"W0: {int(row['w0'])}" in exported.stdout
    small = sample("anynetx_a", 1, seed=0, budget="fmnist_tiny")  # counted at 28px: the sweep's budget
    (tmp_path / "t").mkdir()
    small.to_parquet(tmp_path / "t" / "samples.parquet", index=False)
    (tmp_path / "t" / "config.yaml").write_text("space: {name: anynetx_a}\nbudget: {name: fmnist_tiny, resolution: 28}\n")
    at28 = run("sweep_dir=t", f"model_id={small['model_id'].iat[0]}")
    assert at28.returncode == 0 and f"{int(small['flops'].iat[0]):,} flops" in at28.stdout and "at 28x28" in at28.stdout
    missing = run("sweep_dir=s", "model_id=nope")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and "nope" in missing.stderr
