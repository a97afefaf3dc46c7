"""Benchmark: the analytic counter, one spec at a time and vectorized, vs building a torch model.

Run: .venv/bin/python experiments/bench_complexity.py
"""

from __future__ import annotations

import time

import numpy as np

from designspace.net import zoo
from designspace.net.blocks.bottleneck import make_compatible_arrays
from designspace.net.complexity import complexity, complexity_arrays


def per_call(fn, repeat: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    spec = zoo.get("RegNetY-800MF")
    single = per_call(lambda: complexity(spec), 20_000)
    print(f"complexity(spec), one RegNetY-800MF:        {single * 1e6:8.1f} us/spec")

    rng = np.random.default_rng(0)
    n = 1_000_000
    d = rng.integers(1, 17, (n, 4))
    w = 8 * rng.integers(1, 129, (n, 4))
    b = rng.choice([1, 2, 4], (n, 4))
    g = rng.choice([1, 2, 4, 8, 16, 32], (n, 4))
    w, b, g = make_compatible_arrays(w, b, g)
    t = time.perf_counter()
    complexity_arrays(d, w, b, g)
    vec = (time.perf_counter() - t) / n
    print(f"complexity_arrays, 1e6 AnyNetX_A candidates: {vec * 1e9:8.1f} ns/spec ({1 / vec / 1e6:.1f} M specs/s)")

    import torch

    from designspace.net.anynet import build_model

    t = time.perf_counter()
    with torch.device("meta"):
        build_model(spec)
    build = time.perf_counter() - t
    print(f"building the torch module (meta device):     {build * 1e3:8.1f} ms/spec")
    print(f"ratio build / analytic:                      {build / single:8.0f}x")


if __name__ == "__main__":
    main()
