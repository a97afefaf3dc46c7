"""Benchmark the sampler: time to draw 500 models per space in the 400MF band, vs the reference.

    python experiments/bench_sampler.py [--n 500] [--budget 400mf] [--repeats 3] [--no-cli]

The reference implementation (pycls sweep setup, 2 processes) needs 36 s for 500 AnyNetX_A models
and 442 s for 500 RegNet models in the 400MF band on a 2-core machine; the goal is >= 100x, in
one process. Times are in-process (imports done; the median of --repeats fresh runs, seeds 0, 1, ...),
plus one end-to-end CLI run (`python -m designspace.sample space=anynetx_c n=500`, import time
included) and a check that the sampling path never imports torch.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from designspace.space import spaces  # noqa: E402
from designspace.space.sampler import draw  # noqa: E402

REFERENCE_S = {"anynet": ("anynetx_a", 36.0), "regnet": ("regnet", 442.0)}


def bench_space(name: str, n: int, budget: str, repeats: int) -> dict:
    runs = [draw(name, n, seed=seed, budget=budget).stats for seed in range(repeats)]
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "space": name, "seconds": seconds, "models_per_s": n / seconds,
        "draws": statistics.median(r["draws"] for r in runs),
        "acceptance": statistics.median(r["acceptance_rate"] for r in runs),
        "plain": statistics.median(r["base_acceptance_rate"] for r in runs),
    }


def bench_cli() -> tuple[float, bool]:
    """Wall time of one CLI run and whether torch was imported on the way."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "designspace.sample", "space=anynetx_c", "n=500",
             f"sweep_dir={tmp}/sweep", "progress=false"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        seconds = time.perf_counter() - start
    torch = any(ln.split("|")[-1].strip().split(".")[0] == "torch" for ln in proc.stderr.splitlines())
    return seconds, torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--budget", default="400mf")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    parser.add_argument("spaces", nargs="*", default=list(spaces.TABLE1))
    args = parser.parse_args()

    draw("anynetx_a", 20, budget=args.budget)  # warm-up: first-use imports (pandas, hashing)
    print(f"time to {args.n} models in budget {args.budget} (median of {args.repeats} runs, one process)\n")
    head = (f"{'space':10} {'time-to-' + str(args.n):>12} {'models/s':>10} {'draws':>10} {'accept':>8} "
            f"{'plain':>8}  {'reference':>10} {'speed-up':>9}")
    print(head)
    print("-" * len(head))
    for name in args.spaces:
        r = bench_space(name, args.n, args.budget, args.repeats)
        family = spaces.load(name).family
        ref_space, ref = REFERENCE_S[family]
        scale = args.n / 500
        note = "" if name == ref_space else "*"
        print(f"{name:10} {r['seconds']:>11.3f}s {r['models_per_s']:>10,.0f} {r['draws']:>10,.0f} "
              f"{100 * r['acceptance']:>7.3f}% {100 * r['plain']:>7.3f}%  {ref * scale:>9.0f}s{note} "
              f"{ref * scale / r['seconds']:>8.0f}x")
    print("\naccept: accepted / candidates drawn; plain: the same for plain independent draws (order")
    print("constraints of D/E are sampled exactly, not rejected). reference: pycls sweep setup, 2 processes,")
    print("measured for anynetx_a (36 s) and regnet (442 s); * = that family's figure, for comparison only.")
    if not args.no_cli:
        seconds, torch = bench_cli()
        print(f"\nCLI end to end (python -m designspace.sample space=anynetx_c n=500, imports included): "
              f"{seconds:.2f} s; torch imported: {'YES' if torch else 'no'}")


if __name__ == "__main__":
    main()
