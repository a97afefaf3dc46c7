"""Block types with a home: ids pinned as they were before `NetSpec.block` existed, the registry, exactness
of each block's vectorized cost against the built module, and spaces that select a block."""

from __future__ import annotations

import pytest

from designspace import sample, zoo

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
