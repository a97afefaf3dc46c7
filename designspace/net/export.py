"""A `NetSpec` in the forms pycls and timm read, and state dicts renamed between them and ours.

- pycls (facebookresearch/pycls, `pycls/core/config.py`): `to_pycls` gives the config keys pycls reads,
  `MODEL.TYPE: anynet` with `ANYNET.DEPTHS/WIDTHS/STRIDES/BOT_MULS/GROUP_WS/SE_ON/SE_R`, or, for a RegNet
  given its generator parameters or a published model (as `describe model=...` prints it), `MODEL.TYPE: regnet`
  with `REGNET.DEPTH/W0/WA/WM/GROUP_W/BOT_MUL`; `form="anynet"` asks for the per-stage form of any spec.
  pycls's bottleneck multiplier is 1 / b (`BOT_MUL = 1 / b` in the paper's notation).
- timm (`timm/models/regnet.py`): `to_timm` gives `RegNetCfg` fields (`depth, w0, wa, wm, group_size,
  bottle_ratio, se_ratio, stem_width`; bottle_ratio = 1 / b) and the published model's name where the
  spec is one (`regnetx_002`, ...); any other bottleneck spec gets the per-stage arguments of timm's
  `RegStage` (`out_chs, stride, depth, bottle_ratio, group_size`): the AnyNet equivalent.
- State dicts: the same tensors under other names (`stages.0.0.a.0.weight` is timm's `s1.b1.conv1.conv.weight`
  and pycls's `s1.b1.f.a.weight`), both ways (`to_timm_state_dict`, `from_timm_state_dict`, and pycls's).

Every exporter raises ValueError naming what the target cannot express (e.g. timm's stem always has stride 2).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from designspace.net import zoo
from designspace.net.regnet import regnet_spec
from designspace.net.spec import DEFAULT_BLOCK, NetSpec

__all__ = ["IMAGENET_STEM", "from_pycls", "from_pycls_state_dict", "from_timm", "from_timm_state_dict", "regnet_params",
           "on_target_stem", "timm_model", "timm_name", "to_pycls", "to_pycls_state_dict", "to_timm", "to_timm_state_dict"]

PYCLS_BLOCKS = {"bottleneck": "res_bottleneck_block", "vanilla": "vanilla_block", "res_basic": "res_basic_block"}
PYCLS_STEMS = {2: "simple_stem_in", 1: "res_stem_cifar"}  # both a 3x3 conv, BN, ReLU; stride 2 / 1
REGNET_KEYS = ("depth", "w0", "wa", "wm", "group_width", "bottleneck_ratio")


def _multiplier(b: float) -> float:
    """pycls's / timm's bottleneck multiplier 1 / b, and back (rounded so that 1 / (1 / b) is b again)."""
    return round(1.0 / float(b), 12)


def _tidy(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def regnet_params(source: Any, spec: NetSpec | None = None) -> dict[str, Any] | None:
    """RegNet generator parameters (depth, w0, wa, wm, group_width, bottleneck_ratio) of a zoo name or a sampled
    row (columns depth, w0, wa, wm, g, b), or None when it has none. With `spec`, only if they generate it."""
    if isinstance(source, str):
        e = zoo.entry(source)
        params: dict[str, Any] = {"depth": e.depth, "w0": e.w0, "wa": e.wa, "wm": e.wm,
                                  "group_width": e.group_width, "bottleneck_ratio": 1}
    elif isinstance(source, Mapping) or hasattr(source, "get"):
        if any(source.get(k) is None for k in ("depth", "w0", "wa", "wm", "g")):
            return None
        params = {"depth": int(source["depth"]), "w0": _tidy(source["w0"]), "wa": float(source["wa"]),
                  "wm": float(source["wm"]), "group_width": int(source["g"]),
                  "bottleneck_ratio": _tidy(source.get("b", 1) or 1)}
    else:
        return None
    if spec is not None and not _generates(params, spec):
        return None
    return params


def _generates(params: Mapping[str, Any], spec: NetSpec) -> bool:
    try:
        made = regnet_spec(**params, se_ratio=spec.se_ratio, stem_width=spec.stem_width,
                           stem_stride=spec.stem_stride, num_classes=spec.num_classes, in_channels=spec.in_channels)
    except ValueError:
        return False
    return made == spec


# --- pycls ---------------------------------------------------------------------------------------------------
def to_pycls(spec: NetSpec, regnet: Mapping[str, Any] | None = None, form: str = "auto") -> dict[str, Any]:
    """The pycls config (nested dict of its upper-case keys) that builds `spec`'s network.

    `regnet`: generator parameters (`regnet_params`); given (and generating `spec`), or when `spec` is a published
    model, the config is pycls's `REGNET` form - as `describe` prints the same model - else `ANYNET` (exact for
    every spec pycls can build). `form="anynet"` gives the `ANYNET` form always.
    """
    if form not in ("auto", "anynet"):
        raise ValueError(f"form={form!r} must be 'auto' or 'anynet'")
    if form == "anynet":
        regnet = None
    elif regnet is None and spec.block == DEFAULT_BLOCK:
        published = _zoo_name(spec)
        regnet = regnet_params(published) if published else None
    if spec.in_channels != 3:
        raise ValueError(f"pycls builds 3-channel stems only; this spec has in_channels={spec.in_channels}")
    if spec.stem_stride not in PYCLS_STEMS:
        raise ValueError(f"pycls has no stem of stride {spec.stem_stride} (simple_stem_in: 2, res_stem_cifar: 1)")
    stem = {"STEM_TYPE": PYCLS_STEMS[spec.stem_stride], "STEM_W": spec.stem_width,
            "BLOCK_TYPE": PYCLS_BLOCKS[spec.block]}
    se = {"SE_ON": bool(spec.se_ratio), "SE_R": spec.se_ratio if spec.se_ratio else 0.25}
    if regnet is not None:
        if spec.block != DEFAULT_BLOCK or not _generates(regnet, spec):
            raise ValueError(f"RegNet parameters {dict(regnet)} do not generate this spec ({spec.id})")
        return {"MODEL": {"TYPE": "regnet", "NUM_CLASSES": spec.num_classes},
                "REGNET": {**stem, **se, "DEPTH": int(regnet["depth"]), "W0": regnet["w0"],
                           "WA": float(regnet["wa"]), "WM": float(regnet["wm"]),
                           "GROUP_W": int(regnet["group_width"]),
                           "BOT_MUL": _multiplier(regnet.get("bottleneck_ratio", 1)), "STRIDE": 2}}
    widths_only = spec.block != DEFAULT_BLOCK
    return {"MODEL": {"TYPE": "anynet", "NUM_CLASSES": spec.num_classes},
            "ANYNET": {**stem, **se, "DEPTHS": list(spec.depths), "WIDTHS": list(spec.widths),
                       "STRIDES": list(spec.strides),
                       "BOT_MULS": [] if widths_only else [_multiplier(b) for b in spec.bottleneck_ratios],
                       "GROUP_WS": [] if widths_only else list(spec.group_widths)}}


def from_pycls(cfg: Mapping[str, Any]) -> NetSpec:
    """The `NetSpec` of a pycls config (`to_pycls`'s form, or a pycls YAML file read as a dict)."""
    model = cfg.get("MODEL", {})
    kind = str(model.get("TYPE", "")).lower()
    if kind not in ("anynet", "regnet"):
        raise ValueError(f"MODEL.TYPE={model.get('TYPE')!r}: only anynet and regnet configs describe a NetSpec")
    node = cfg.get(kind.upper(), {})
    stems = {v: k for k, v in PYCLS_STEMS.items()}
    blocks = {v: k for k, v in PYCLS_BLOCKS.items()}
    stem_type, block_type = node.get("STEM_TYPE", "simple_stem_in"), node.get("BLOCK_TYPE", "res_bottleneck_block")
    if stem_type not in stems:
        raise ValueError(f"{kind.upper()}.STEM_TYPE={stem_type!r}: a NetSpec's stem is one of {sorted(stems)}")
    if block_type not in blocks:
        raise ValueError(f"{kind.upper()}.BLOCK_TYPE={block_type!r}: one of {sorted(blocks)}")
    common = {"stem_width": int(node.get("STEM_W", 32)), "stem_stride": stems[stem_type],
              "num_classes": int(model.get("NUM_CLASSES", 1000)),
              "se_ratio": float(node.get("SE_R", 0.25)) if node.get("SE_ON") else 0.0}
    if kind == "regnet":
        if int(node.get("STRIDE", 2)) != 2:
            raise ValueError(f"REGNET.STRIDE={node.get('STRIDE')}: a NetSpec's stages all have stride 2")
        return regnet_spec(int(node["DEPTH"]), _tidy(node["W0"]), float(node["WA"]), float(node["WM"]),
                           int(node["GROUP_W"]), _tidy(_multiplier(node.get("BOT_MUL", 1.0))), **common)
    strides = list(node.get("STRIDES", []))
    if any(int(s) != 2 for s in strides):
        raise ValueError(f"ANYNET.STRIDES={strides}: a NetSpec's stages all have stride 2")
    depths, widths = list(node["DEPTHS"]), list(node["WIDTHS"])
    if blocks[block_type] == DEFAULT_BLOCK:
        bs = [_tidy(_multiplier(m)) for m in node["BOT_MULS"]]
        gs = list(node["GROUP_WS"])
    else:
        bs, gs = [1] * len(depths), list(widths)
    return NetSpec(depths, widths, bs, gs, block=blocks[block_type], **common)


# --- timm ----------------------------------------------------------------------------------------------------
def _zoo_name(spec: NetSpec) -> str | None:
    """The published model `spec` is (at any class count, input channels and stem stride), or None."""
    return next((n for n in zoo.names() if zoo.get(n, num_classes=spec.num_classes, in_channels=spec.in_channels,
                                                   stem_stride=spec.stem_stride) == spec), None)


def timm_name(zoo_name: str) -> str:
    """timm's name of a published model: RegNetX-200MF -> regnetx_002, RegNetY-1.6GF -> regnety_016."""
    kind, regime = zoo.entry(zoo_name).name.removeprefix("RegNet").split("-")
    mflops = float(regime[:-2]) * (1000 if regime.endswith("GF") else 1)
    return f"regnet{kind.lower()}_{round(mflops / 100):03d}"


def to_timm(spec: NetSpec, regnet: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """timm's form of `spec`: `{"model": name or None, "cfg": RegNetCfg fields, "num_classes", "in_chans"}` for
    a RegNet (given its generator parameters, or a published model), else the AnyNet equivalent
    `{"stages": [RegStage arguments], "common": {...}, "stem_width", "num_classes", "in_chans"}`."""
    if spec.block != DEFAULT_BLOCK:
        raise ValueError(f"timm's RegNet has bottleneck blocks only; this spec has block={spec.block!r}")
    if spec.stem_stride != 2:
        raise ValueError(f"timm's RegNet stem has stride 2; this spec has stem_stride={spec.stem_stride}")
    published = _zoo_name(spec)
    out: dict[str, Any] = {"model": timm_name(published) if published else None, "num_classes": spec.num_classes,
                           "in_chans": spec.in_channels}
    if regnet is None and published is not None:
        regnet = regnet_params(published)
    if regnet is not None:
        if not _generates(regnet, spec):
            raise ValueError(f"RegNet parameters {dict(regnet)} do not generate this spec ({spec.id})")
        out["cfg"] = {"depth": int(regnet["depth"]), "w0": regnet["w0"], "wa": float(regnet["wa"]),
                      "wm": float(regnet["wm"]), "group_size": int(regnet["group_width"]),
                      "bottle_ratio": _multiplier(regnet.get("bottleneck_ratio", 1)),
                      "se_ratio": spec.se_ratio, "stem_width": spec.stem_width}
        return out
    out["stages"] = [{"out_chs": w, "stride": 2, "dilation": 1, "depth": d, "bottle_ratio": _multiplier(b),
                      "group_size": g}
                     for d, w, b, g in zip(spec.depths, spec.widths, spec.bottleneck_ratios, spec.group_widths)]
    out["common"] = {"downsample": "conv1x1", "se_ratio": spec.se_ratio, "linear_out": False}
    out["stem_width"] = spec.stem_width
    return out


def from_timm(form: Mapping[str, Any]) -> NetSpec:
    """The `NetSpec` of `to_timm`'s form (a `cfg` of RegNetCfg fields, or per-stage `stages`)."""
    common = {"num_classes": int(form.get("num_classes", 1000)), "in_channels": int(form.get("in_chans", 3))}
    if "cfg" in form:
        c = form["cfg"]
        return regnet_spec(int(c["depth"]), _tidy(c["w0"]), float(c["wa"]), float(c["wm"]), int(c["group_size"]),
                           _tidy(_multiplier(c.get("bottle_ratio", 1.0))), se_ratio=float(c.get("se_ratio", 0.0)),
                           stem_width=int(c.get("stem_width", 32)), **common)
    stages = list(form["stages"])
    if any(int(s.get("stride", 2)) != 2 or int(s.get("dilation", 1)) != 1 for s in stages):
        raise ValueError("timm stages with stride != 2 or dilation != 1 have no NetSpec")
    return NetSpec([int(s["depth"]) for s in stages], [int(s["out_chs"]) for s in stages],
                   [_tidy(_multiplier(s["bottle_ratio"])) for s in stages], [int(s["group_size"]) for s in stages],
                   se_ratio=float(form.get("common", {}).get("se_ratio", 0.0)),
                   stem_width=int(form.get("stem_width", 32)), **common)


IMAGENET_STEM = {"in_channels": 3, "stem_stride": 2, "num_classes": 1000}
"""What timm and pycls build for ImageNet: the stem an export goes on unless a field is set."""


def on_target_stem(spec: NetSpec, **fields: int) -> NetSpec:
    """`spec`'s design (depths, widths, bottleneck ratios, group widths, SE) on the ImageNet stem - 3 channels,
    stride 2, 1000 classes - with `fields` (in_channels, stem_stride, num_classes) set over it."""
    unknown = set(fields) - set(IMAGENET_STEM)
    if unknown:
        raise ValueError(f"only {', '.join(IMAGENET_STEM)} can be set on the stem, not {', '.join(sorted(unknown))}")
    return dataclasses.replace(spec, **{**IMAGENET_STEM, **fields})


def timm_model(spec: NetSpec, **kwargs: Any) -> Any:
    """A timm `RegNet` module of `spec` - a published or generated RegNet through timm's own `RegNetCfg`, any other
    bottleneck AnyNet through a subclass given the per-stage arguments of `to_timm` - on the ImageNet stem (a
    tour model's 1-channel, stride-1 stem moves to 3 channels and stride 2; the design stays). `kwargs` go to
    timm's `RegNet` (`num_classes`, `in_chans`, `drop_rate`, `drop_path_rate`, `zero_init_last`, ...).
    `to_timm_state_dict` maps our weights onto it. Needs timm (docs/export.md: installing it beside the CPU
    torch)."""
    try:  # an optional dependency, imported only here: timm pulls torchvision, which this package never needs
        from timm.models.regnet import RegNet, RegNetCfg
    except ImportError as exc:
        raise ImportError(f"timm_model needs timm, which does not import here ({exc}); docs/export.md says how to "
                          "install it beside the CPU build of torch") from None
    stem = {k: kwargs[a] for k, a in (("num_classes", "num_classes"), ("in_channels", "in_chans")) if a in kwargs}
    form = to_timm(on_target_stem(spec, **stem))
    kwargs = {"num_classes": form["num_classes"], "in_chans": form["in_chans"], **kwargs}
    if "cfg" in form:
        return RegNet(RegNetCfg(**form["cfg"]), **kwargs)
    stages = form["stages"]

    class AnyNet(RegNet):  # type: ignore[misc, valid-type]
        """timm's RegNet with the stages given, not generated (timm builds a stage from these same arguments)."""

        def _get_stage_args(self, cfg: Any, *args: Any, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            _, common = super()._get_stage_args(cfg, *args, **kw)  # timm's own common arguments, in its version
            depths = [s["depth"] for s in stages]
            rates = np.split(np.linspace(0, float(kw.get("drop_path_rate", 0.0)), sum(depths)), np.cumsum(depths)[:-1])
            return [{**s, "drop_path_rates": r.tolist()} for s, r in zip(stages, rates)], common

    cfg = RegNetCfg(stem_width=form["stem_width"], se_ratio=form["common"]["se_ratio"],
                    downsample=form["common"]["downsample"], linear_out=form["common"]["linear_out"])
    return AnyNet(cfg, **kwargs)


# --- state dicts ---------------------------------------------------------------------------------------------
# Our module path inside one block -> the same tensor's path in timm's Bottleneck / pycls's blocks.
_BLOCK_NAMES = {
    "timm": {"a.0": "conv1.conv", "a.1": "conv1.bn", "b.0": "conv2.conv", "b.1": "conv2.bn",
             "c.0": "conv3.conv", "c.1": "conv3.bn", "se.reduce": "se.fc1", "se.expand": "se.fc2",
             "proj.0": "downsample.conv", "proj.1": "downsample.bn"},
    "pycls": {"a.0": "f.a", "a.1": "f.a_bn", "b.0": "f.b", "b.1": "f.b_bn", "c.0": "f.c", "c.1": "f.c_bn",
              "se.reduce": "f.se.f_ex.0", "se.expand": "f.se.f_ex.2", "proj.0": "proj", "proj.1": "bn"},
}
# pycls's vanilla and basic blocks name their convs a, a_bn, b, b_bn (basic: under f.); ours: a.0, a.1, b.0, b.1
_PLAIN_NAMES = {"vanilla": {"a.0": "a", "a.1": "a_bn", "b.0": "b", "b.1": "b_bn"},
                "res_basic": {"a.0": "f.a", "a.1": "f.a_bn", "b.0": "f.b", "b.1": "f.b_bn", "proj.0": "proj",
                              "proj.1": "bn"}}
_OURS = re.compile(r"^stages\.(\d+)\.(\d+)\.(.+)\.(\w+)$")
_THEIRS = re.compile(r"^s(\d+)\.b(\d+)\.(.+)\.(\w+)$")
_EDGES = {"stem.0": "stem.conv", "stem.1": "stem.bn", "fc": "head.fc"}


def _rename(state: Mapping[str, Any], names: Mapping[str, str], forward: bool) -> dict[str, Any]:
    edges = _EDGES if forward else {v: k for k, v in _EDGES.items()}
    inner = names if forward else {v: k for k, v in names.items()}
    pattern = _OURS if forward else _THEIRS
    out: dict[str, Any] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        m = pattern.match(key)
        if module in edges:
            new = f"{edges[module]}.{leaf}"
        elif m and m.group(3) in inner:
            i, j = int(m.group(1)), int(m.group(2))
            stage = f"s{i + 1}.b{j + 1}" if forward else f"stages.{i - 1}.{j - 1}"
            new = f"{stage}.{inner[m.group(3)]}.{m.group(4)}"
        else:
            raise ValueError(f"state dict key {key!r} has no counterpart")
        out[new] = value
    return out


def _names(target: str, block: str) -> dict[str, str]:
    if block == DEFAULT_BLOCK:
        return _BLOCK_NAMES[target]
    if target == "timm":
        raise ValueError(f"timm's RegNet has bottleneck blocks only; this state dict is of block={block!r}")
    return _PLAIN_NAMES[block]


def to_timm_state_dict(state: Mapping[str, Any], block: str = DEFAULT_BLOCK) -> dict[str, Any]:
    """Our model's state dict under timm's RegNet names (the tensors themselves are not copied)."""
    return _rename(state, _names("timm", block), True)


def from_timm_state_dict(state: Mapping[str, Any], block: str = DEFAULT_BLOCK) -> dict[str, Any]:
    """A timm RegNet state dict under our names (`AnyNet.load_state_dict` takes it)."""
    return _rename(state, _names("timm", block), False)


def to_pycls_state_dict(state: Mapping[str, Any], block: str = DEFAULT_BLOCK) -> dict[str, Any]:
    """Our model's state dict under pycls's AnyNet/RegNet names."""
    return _rename(state, _names("pycls", block), True)


def from_pycls_state_dict(state: Mapping[str, Any], block: str = DEFAULT_BLOCK) -> dict[str, Any]:
    """A pycls AnyNet/RegNet state dict under our names."""
    return _rename(state, _names("pycls", block), False)
