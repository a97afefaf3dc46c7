"""Benchmark: score ~1,000 candidate restrictions on 500 synthetic trained models (designspace.analysis.suggest).

    .venv/bin/python experiments/bench_refine.py

Samples 500 AnyNetX_A models (fmnist32_50mf budget), gives them synthetic errors, and times
`suggest` without the width fits (the scoring) and the fits alone (about 3 ms per model).
"""

from __future__ import annotations

import time

import numpy as np

from designspace.analysis.suggest import suggest, with_fits
from designspace.space.sampler import sample
from designspace.space.spaces import load


def main() -> None:
    frame = sample("anynetx_a", 500, seed=0, budget="fmnist32_50mf")
    rng = np.random.default_rng(0)
    frame = frame.assign(status="ok", error=np.round(40 + 3 * rng.standard_normal(len(frame)), 2))
    space = load("anynetx_a")
    suggest(frame.head(50), space, fits=False)  # warm-up (imports)
    t0 = time.perf_counter()
    out = suggest(frame, space, fits=False, pair_pool=50)
    t1 = time.perf_counter()
    with_fits(frame, space)
    t2 = time.perf_counter()
    print(f"suggest: {len(out)} candidates on {len(frame)} models scored in {t1 - t0:.2f} s "
          f"({int(out['terms'].eq(1).sum())} singles, {int(out['terms'].eq(2).sum())} pairs); "
          f"width fits of the 500 models: {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
