"""designspace.space.network_count: distinct RegNet networks against a brute force through the generator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from designspace.net.blocks.bottleneck import make_compatible_arrays
from designspace.net.regnet import regnet_widths_batch
from designspace.space import spaces
from designspace.space.network_count import regnet_networks
from designspace.space.schema import Space


def _space(depth_high: int, b: list, g: list, wm_q: float, bounds: dict | None = None) -> Space:
    return spaces.load({"defaults": ["regnet", "_self_"], "name": "tiny", "parameters": {
        "depth": {"dist": "uniform", "low": 1, "high": depth_high, "quantum": 1},
        "w0": {"dist": "log_uniform", "low": 8, "high": 48, "quantum": 8},
        "wa": {"dist": "log_uniform", "low": 0.5, "high": 40, "quantum": 0.5},
        "wm": {"dist": "log_uniform", "low": 1.5, "high": 3.0, "quantum": wm_q},
        "b": {"dist": "choice", "values": b}, "g": {"dist": "choice", "values": g}},
        "constraints": {"bounds": bounds or {}}})


def _brute(space: Space) -> tuple[int, int]:
    """(distinct networks, valid tuples): every grid tuple through the generator and compatibility."""
    p = space.parameters
    lo, hi = space.bounds.get("total_depth", (None, None))
    grid = np.array(list(itertools.product(p["depth"].values, p["w0"].values, p["wa"].values, p["wm"].values)),
                    dtype=float)
    gen = regnet_widths_batch(grid[:, 0].astype(int), grid[:, 1], grid[:, 2], grid[:, 3])
    ok = (gen.num_stages == 4) & (gen.num_exponents == 4) & ~gen.skips_exponent
    if lo is not None:
        ok &= grid[:, 0] >= lo
    if hi is not None:
        ok &= grid[:, 0] <= hi
    d, w = gen.stage_depths[ok][:, :4], gen.stage_widths[ok][:, :4]
    keys: set[tuple] = set()
    for b in p["b"].values:
        for g in p["g"].values:
            fw, fb, fg = make_compatible_arrays(w, np.full(w.shape, float(b)), np.full(w.shape, int(g)))
            rows = np.concatenate([d, fw, fg, np.rint(fb * 1000).astype(np.int64)], axis=1)
            keys |= set(map(tuple, np.unique(rows, axis=0).tolist()))
    return len(keys), int(ok.sum()) * p["b"].size * p["g"].size


@pytest.mark.parametrize("args", [
    (14, [1, 2], [1, 2, 8, 16, 32], 0.05, None),       # g = 32 merges widths (and w0) across tuples
    (20, [1, 4], [1, 8], 0.1, {"total_depth": [6, 15]}),
    (12, [0.5, 1], [4, 16], 0.05, None),                # an inverted bottleneck
])
def test_networks_match_brute_force(args: tuple) -> None:
    space = _space(*args)
    networks, tuples = _brute(space)
    assert regnet_networks(space) == networks
    assert space.cardinality() == tuples
    assert networks < tuples


def test_anynet_not_counted() -> None:
    assert spaces.load("anynetx_a").networks() is None
