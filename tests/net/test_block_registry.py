"""Block types with a home: ids pinned as they were before `NetSpec.block` existed, the registry, exactness
of each block's vectorized cost against the built module, and spaces that select a block."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from designspace.net import blocks, zoo
from designspace.net.complexity import complexity, complexity_arrays, complexity_breakdown, complexity_many
from designspace.net.describe import describe
from designspace.net.spec import NetSpec
from designspace.space import sampler as sample
from designspace.space import spaces
from designspace.space.schema import SpaceError

# --- ids pinned as the code computed them before the block field existed (stored results are keyed by them) ---
PINNED_ZOO = {
    "RegNetX-200MF": "32444ac87cae",
    "RegNetY-800MF": "5f036e0b9994",
    "RegNetX-8.0GF": "a0086bb7cd0c",
    "RegNetY-32GF": "09e6106f56d2",
}
PINNED_SAMPLES = {  # (space, seed, budget) -> [(model_id, flops, params, acts)]
    ("anynetx_a", 0, "400mf"): [("62a61f72fbd8", 374290088, 7460944, 2263232),
                                ("254a99e6e889", 374948424, 268896, 3841816),
                                ("61e94f673ce5", 369047848, 355768, 5003704)],
    ("regnety", 0, "400mf"): [("679bf66be8cf", 370876472, 3288408, 2732760),
                              ("c5c3ccf292db", 370989256, 3532552, 3316936),
                              ("6e04f85e51c3", 362135654, 4814054, 3692982)],
}
PINNED_SAMPLE_IDS = {
    ("anynetx_e", 0, "400mf"): ["97e6b8819f59", "09215853e8d8", "f319c3d4546d"],
    ("anynetx_a", 1, "cifar32"): ["7d96fd0dfbc5", "668b83c64c74"],
}
BUDGETS = {"400mf": "400mf", "cifar32": {"name": "400mf", "resolution": 32}}


@pytest.mark.parametrize("name", PINNED_ZOO)
def test_zoo_ids_are_unchanged(name):
    assert zoo.get(name).id == PINNED_ZOO[name]


def test_zoo_id_with_fields_is_unchanged():
    assert zoo.get("RegNetX-200MF", num_classes=10, stem_stride=1).id == "44864c93f7b3"


@pytest.mark.parametrize("key", PINNED_SAMPLES, ids=str)
def test_sampled_rows_are_unchanged(key):
    space, seed, budget = key
    frame = sample.sample(space, n=len(PINNED_SAMPLES[key]), seed=seed, budget=BUDGETS[budget])
    got = [tuple(r) for r in frame[["model_id", "flops", "params", "acts"]].itertuples(index=False)]
    assert got == PINNED_SAMPLES[key]
    assert [sample.spec_of(r).id for _, r in frame.iterrows()] == [k[0] for k in PINNED_SAMPLES[key]]


@pytest.mark.parametrize("key", PINNED_SAMPLE_IDS, ids=str)
def test_sampled_ids_are_unchanged(key):
    space, seed, budget = key
    frame = sample.sample(space, n=len(PINNED_SAMPLE_IDS[key]), seed=seed, budget=BUDGETS[budget])
    assert list(frame["model_id"]) == PINNED_SAMPLE_IDS[key]


# --- the registry -----------------------------------------------------------------------------------------------
def test_registry_names_and_lookup():
    assert blocks.names() == ["bottleneck", "vanilla", "res_basic"] and blocks.DEFAULT == "bottleneck"
    assert blocks.get("res_basic").widths_only and not blocks.get("bottleneck").widths_only
    with pytest.raises(ValueError, match="unknown block 'resnet'.*bottleneck, vanilla, res_basic"):
        blocks.get("resnet")
    assert blocks.register(blocks.get("vanilla")) is blocks.get("vanilla")  # same type again: a no-op
    with pytest.raises(ValueError, match="already registered"):
        blocks.register(blocks.BlockType("vanilla", "", *([lambda *a, **k: None] * 5)))
    with pytest.raises(TypeError):
        blocks.register("vanilla")


def test_cost_side_imports_no_torch():
    code = ("import sys, designspace.net.complexity, designspace.sample, designspace.describe, designspace.net.blocks; "
            "from designspace.net.blocks import bottleneck, vanilla, res_basic; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- NetSpec.block ----------------------------------------------------------------------------------------------
WIDTHS = (16, 24, 48, 96)


def plain(block: str, widths: tuple[int, ...] = WIDTHS, depths: tuple[int, ...] = (1, 2, 2, 1), **fields) -> NetSpec:
    return NetSpec(depths, widths, block=block, **blocks.plain_fields(widths), **fields)


def test_default_block_is_left_out_of_dict_row_and_id():
    spec = zoo.get("RegNetX-200MF")
    assert spec.block == "bottleneck" and "block" not in spec.to_dict() and "block" not in spec.to_row()
    assert spec.replace(block="bottleneck").id == PINNED_ZOO["RegNetX-200MF"]


@pytest.mark.parametrize("block", ["vanilla", "res_basic"])
def test_block_round_trips_and_changes_the_id(block):
    spec = plain(block, num_classes=10)
    assert spec.to_dict()["block"] == block and spec.to_row()["block"] == block
    assert NetSpec.from_dict(spec.to_dict()) == spec and NetSpec.from_row(spec.to_row()) == spec
    assert NetSpec.from_row(pd.Series(spec.to_row())) == spec
    other = plain("vanilla" if block == "res_basic" else "res_basic", num_classes=10)
    assert len({spec.id, other.id, spec.replace(block="bottleneck").id}) == 3
    row = spec.replace(block="bottleneck").to_row()
    for missing in (None, float("nan"), ""):
        assert NetSpec.from_row({**row, "block": missing}).block == "bottleneck"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"bottleneck_ratios": (1, 2, 1, 1)}, r"bottleneck_ratios\[1\]=2 must be 1.*takes only widths"),
        ({"group_widths": (16, 8, 48, 96)}, r"group_widths\[1\]=8 must equal widths\[1\]=24"),
        ({"se_ratio": 0.25}, "no squeeze-excitation"),
        ({"block": "resnet"}, "NetSpec.block must be a block name"),
        ({"block": None}, "NetSpec.block must be a block name"),
    ],
)
def test_widths_only_blocks_reject_b_g_and_se(change, match):
    fields = {"depths": (1, 2, 2, 1), "widths": WIDTHS, "block": "vanilla", **blocks.plain_fields(WIDTHS)}
    with pytest.raises(ValueError, match=match):
        NetSpec(**(fields | change))


def test_describe_dispatches_through_the_block():
    text = describe(plain("res_basic"), 32)
    stage1 = next(ln for ln in text.splitlines() if ln.startswith("stage1")).split()
    assert stage1[3:7] == ["-"] * 4 and "block: res_basic" in text
    assert "block:" not in describe(zoo.get("RegNetY-200MF"))


# --- exactness: the vectorized cost of each block against its built module --------------------------------------
def random_plain_spec(rng: random.Random, block: str) -> NetSpec:
    stages = rng.randint(1, 5)
    widths = tuple(rng.randint(4, 96) for _ in range(stages))
    return NetSpec(
        depths=[rng.randint(1, 3) for _ in range(stages)], widths=widths, block=block, **blocks.plain_fields(widths),
        stem_width=rng.choice([8, 16, 32]), stem_stride=rng.choice([1, 2]), num_classes=rng.choice([10, 100, 1000]),
        in_channels=rng.choice([1, 3]),
    )


def random_block_spec(seed: int, block: str) -> tuple[NetSpec, int]:
    from tests.helpers.models import random_spec

    rng = random.Random(f"{block}-{seed}")
    spec = random_spec(rng) if block == "bottleneck" else random_plain_spec(rng, block)
    return spec, rng.choice([32, 64, 224, rng.randint(16, 160)])


N_EXACT = 40  # per block; tests/test_models.py covers 300 more bottleneck specs


@pytest.mark.slow
@pytest.mark.parametrize("block", ["bottleneck", "vanilla", "res_basic"])
def test_block_cost_equals_traced_module(block):
    from tests.helpers.models import traced_counts

    worst = 0
    for seed in range(N_EXACT):
        spec, resolution = random_block_spec(seed, block)
        cx = complexity(spec, resolution)
        got = traced_counts(spec, resolution)
        worst = max(worst, *(abs(a - b) for a, b in zip(got, (cx.flops, cx.params, cx.acts))))
        assert got == (cx.flops, cx.params, cx.acts), (spec, resolution)
        parts = complexity_breakdown(spec, resolution)
        assert sum(c.flops for _, c in parts) == cx.flops and sum(c.params for _, c in parts) == cx.params
    assert worst == 0


@pytest.mark.parametrize("block", ["bottleneck", "vanilla", "res_basic"])
@pytest.mark.parametrize("resolution", [32, 224])
def test_vectorized_cost_equals_per_spec(block, resolution):
    specs = [random_block_spec(seed, block)[0] for seed in range(N_EXACT)]
    many = complexity_many(specs, resolution)
    one = np.array([[c.flops, c.params, c.acts] for c in (complexity(s, resolution) for s in specs)])
    assert np.array_equal(np.stack([many.flops, many.params, many.acts], axis=1), one)
    same = [s for s in specs if s.num_stages == 3]
    arrays = complexity_arrays(*(np.array([getattr(s, f) for s in same]) for f in
                                 ("depths", "widths", "bottleneck_ratios", "group_widths")),
                               se_ratio=np.array([s.se_ratio for s in same]),
                               stem_width=np.array([s.stem_width for s in same]),
                               stem_stride=np.array([s.stem_stride for s in same]),
                               num_classes=np.array([s.num_classes for s in same]),
                               in_channels=np.array([s.in_channels for s in same]),
                               resolution=resolution, block=block)
    assert arrays.flops.tolist() == [complexity(s, resolution).flops for s in same]


def test_mixed_blocks_in_one_table():
    specs = [random_block_spec(seed, block)[0] for seed in range(10) for block in blocks.names()]
    many = complexity_many(specs, 64)
    assert many.acts.tolist() == [complexity(s, 64).acts for s in specs]


def test_basic_block_counts_by_hand():
    # stem 3->8 at 32x32 (stride 1); one R block 8->16, stride 2 -> 16x16 (with projection); head 16->10.
    spec = NetSpec([1], [16], [1], [16], block="res_basic", stem_width=8, stem_stride=1, num_classes=10)
    stem = 9 * 3 * 8 * 32 * 32
    block = 9 * 8 * 16 * 256 + 9 * 16 * 16 * 256 + 8 * 16 * 256
    assert complexity(spec, 32).flops == stem + block + 16 * 10 + 10
    assert complexity(spec, 32).params == (9 * 3 * 8 + 16) + (9 * 8 * 16 + 9 * 16 * 16 + 8 * 16 + 6 * 16) + 170
    assert complexity(spec.replace(block="vanilla"), 32).flops == stem + block - 8 * 16 * 256 + 170


@pytest.mark.parametrize("block, resolution", [("vanilla", 32), ("res_basic", 64)])
def test_fvcore_agrees_on_real_tensors(block, resolution):
    import torch
    from fvcore.nn import FlopCountAnalysis

    from designspace.net.anynet import build_model

    spec = plain(block, num_classes=10)
    model = build_model(spec).eval()
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, resolution, resolution))
    by_op = analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).by_operator()
    macs = by_op.get("conv", 0) + by_op.get("linear", 0) + by_op.get("addmm", 0)
    assert macs + spec.num_classes == complexity(spec, resolution).flops  # + the FC bias adds


# --- the new blocks train ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", ["vanilla", "res_basic", "bottleneck"])
def test_tiny_networks_train(block):
    import torch

    from designspace.net.anynet import build_model

    torch.manual_seed(0)
    widths = (8, 16)
    spec = (NetSpec((1, 2), widths, **blocks.plain_fields(widths), block=block, stem_width=8, stem_stride=1,
                    num_classes=4, in_channels=1) if block != "bottleneck"
            else NetSpec((1, 2), widths, (1, 1), (4, 4), stem_width=8, stem_stride=1, num_classes=4, in_channels=1))
    model = build_model(spec, zero_init_last_bn=True).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(16, 1, 16, 16), torch.randint(0, 4, (16,))
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_zero_init_touches_only_residual_last_bn():
    import torch

    from designspace.net.anynet import build_model

    res = build_model(plain("res_basic"), zero_init_last_bn=True)
    assert all(torch.all(m.b[1].weight == 0) and torch.all(m.a[1].weight == 1)
               for m in res.modules() if type(m).__name__ == "ResBasic")
    van = build_model(plain("vanilla"), zero_init_last_bn=True)
    assert all(torch.all(m.weight == 1) for m in van.modules() if isinstance(m, torch.nn.BatchNorm2d))


# --- spaces select a block --------------------------------------------------------------------------------------
VANILLA_A = {"defaults": ["anynetx_a"], "name": "anynetv_a", "block": "vanilla",
             "parameters": {"b": None, "g": None}}


def test_space_dict_with_vanilla_block_samples_vanilla_networks():
    space = spaces.load(VANILLA_A)
    assert space.block == "vanilla" and space.dims == 8 and space.cardinality() == (16 * 128) ** 4
    frame = sample.sample(VANILLA_A, n=20, seed=0)
    assert (frame["block"] == "vanilla").all() and "raw_b1" not in frame and "raw_g1" not in frame
    assert list(frame.columns) == sample.columns(space)
    for _, row in frame.iterrows():
        spec = sample.spec_of(row)
        cx = complexity(spec)
        assert spec.block == "vanilla" and spec.id == row["model_id"]
        assert (cx.flops, cx.params, cx.acts) == (row["flops"], row["params"], row["acts"])
        assert 360e6 <= cx.flops <= 400e6  # the budget is judged with the vanilla block's cost
        assert spec.bottleneck_ratios == (1,) * 4 and spec.group_widths == spec.widths
    assert sample.sample(VANILLA_A, n=5, seed=0).equals(frame.head(5))


def test_space_file_with_res_basic_block():
    space = spaces.load("anynetr_a")
    assert space.block == "res_basic" and space.dims == 8
    frame = sample.sample("anynetr_a", n=5, seed=1, budget={"name": "400mf", "resolution": 32})
    specs = [sample.spec_of(r) for _, r in frame.iterrows()]
    assert {s.block for s in specs} == {"res_basic"}
    assert complexity_many(specs, 32).flops.tolist() == frame["flops"].tolist()
    regnet = sample.sample({"defaults": ["regnetx"], "name": "regnetr", "block": "res_basic",
                            "parameters": {"b": None, "g": None}}, n=3, seed=0)
    assert list(regnet.columns[:5]) == ["model_id", "depth", "w0", "wa", "wm"] and (regnet["block"] == "res_basic").all()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"parameters": {}}, r"parameters.b: block 'vanilla' takes only widths"),
        ({"parameters": {"b": None, "g": {"dist": "choice", "values": [1, 2]}}}, "parameters.g"),
        ({"fixed": {"se_ratio": 0.25}}, "fixed.se_ratio: block 'vanilla' has no squeeze-excitation"),
        ({"block": "resnet"}, "block: unknown block 'resnet'"),
    ],
)
def test_space_block_errors_name_the_key(change, match):
    with pytest.raises(SpaceError, match=match):
        spaces.load(VANILLA_A | change)


def test_space_may_fix_b_and_g_at_one_explicitly():
    one = {"dist": "choice", "values": [1]}
    assert spaces.load(VANILLA_A | {"parameters": {"b": one, "g": one}}).cardinality() == (16 * 128) ** 4
