"""Benchmark of the analysis (a benchmark, not a test): python experiments/bench_analysis.py [--report [--against REF]]

Times, on 500 models per space drawn with the real sampler (400MF regime, no training needed):
the bootstrap of the best model (10^4 draws over 500 models, vectorized), e_fit of 500 models
(exact recognition for RegNets, search otherwise), and EDF / KS / random-search efficiency.
Errors are synthetic (a known function of depth plus noise): only the timings matter here.

--report: the whole sweep report (`reporting.report.write_report`, PNG + PDF, every table and figure) of
6 spaces x 500 models (the paper's sweep size: AnyNetX_A to E and RegNetX at 400MF) and of the tour's 20
models (2 spaces x 10 at fmnist_tiny), each from the table to the last file: the width fits (`Analysis.frame`)
and the rest, with the figures drawn here (0 workers) and in the default number of forked children
(`reporting.background`: one per usable core).

--against REF: the same two reports by this tree and by git commit REF (checked out in a temporary worktree),
alternating, each run in a fresh process on the same tables: the before/after of a change on the same host in the
same hour. A shared host's speed drifts (a fixed Python loop took 0.91-1.48 s on one day here), so the loop's time
is printed before and after as the host's speed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="models per space")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--report", action="store_true", help="time the whole report instead (6 x 500, the tour)")
    parser.add_argument("--against", metavar="REF", help="with --report: also time git commit REF, alternating")
    args = parser.parse_args()
    if args.report and args.against:
        report_against(args.against, args.repeats)
        return
    if args.report:
        report_benchmark(args.repeats)
        return

    from designspace import analysis as an
    from designspace.space.sampler import sample

    rng = np.random.default_rng(0)
    frames = {s: sample(s, args.n, 0, "400mf", progress=False) for s in ("anynetx_a", "anynetx_e", "regnetx")}
    x = frames["anynetx_e"]["total_depth"].to_numpy(dtype=float)
    errors = 30 + 5 * np.abs(np.log(x / 20)) + rng.normal(0, 1, x.size)

    rows = []
    t = _best_of(lambda: an.bootstrap_best(x, errors, 0.25, 10_000, 0), args.repeats)
    rows.append((f"bootstrap_best: 10^4 draws x 25% of {args.n} models", t))
    many = np.stack([x, x * 2, x * 3, x * 4, x * 5, x * 6, x * 7, x * 8], axis=1)
    t = _best_of(lambda: an.bootstrap_best(many, errors, 0.25, 10_000, 0), args.repeats)
    rows.append(("bootstrap_best: same, 8 parameters at once", t))
    other = errors + rng.normal(0.5, 1, x.size)
    rows.append(("edf + ks_distance + ks_test", _best_of(lambda: (an.edf(errors), an.ks_distance(errors, other),
                                                                   an.ks_test(errors, other)), args.repeats)))
    rows.append(("random_search_efficiency, k = 1..512",
                 _best_of(lambda: an.random_search_efficiency(errors, 2 ** np.arange(10)), args.repeats)))
    for space, frame in frames.items():
        t0 = time.perf_counter()
        fits = an.fit_regnet_many(frame)
        t = time.perf_counter() - t0
        rows.append((f"e_fit of {len(frame)} {space} models (exact {fits['exact'].mean():.0%}, "
                     f"median e_fit {fits['e_fit'].median():.4f})", t))
    raw = frames["regnetx"]
    from designspace.net.regnet import regnet_widths

    profiles = [regnet_widths(int(r.depth), int(r.w0), float(r.wa), float(r.wm)).block_widths for r in raw.itertuples()]
    t0 = time.perf_counter()
    fits = an.fit_regnet_many(profiles)
    rows.append((f"e_fit of {len(profiles)} regnetx generator outputs (before compatibility; "
                 f"exact {fits['exact'].mean():.0%})", time.perf_counter() - t0))
    width = max(len(r[0]) for r in rows)
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:9.1f} ms")


def _report_cases() -> dict:
    """name -> sweep table: 6 x 500 at 400MF and the tour's 2 x 10 at fmnist_tiny, synthetic errors."""
    import pandas as pd

    from designspace.space.sampler import sample

    rng = np.random.default_rng(0)

    def table(spaces: list[str], n: int, budget: str) -> pd.DataFrame:
        parts = []
        for i, space in enumerate(spaces):
            f = sample(space, n, 0, budget, progress=False).assign(space=space, status="ok")
            parts.append(f.assign(error=40 - i + rng.normal(0, 2, len(f))))
        return pd.concat(parts, ignore_index=True)

    return {"6 x 500 (400MF)": table(["anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnetx"],
                                     500, "400mf"),
            "tour: 2 x 10 (fmnist_tiny)": table(["anynetx_c", "regnet"], 10, "fmnist_tiny")}


def report_benchmark(repeats: int) -> None:
    """The whole report's wall time at 6 x 500 and at the tour's 20 models (see the module docstring)."""
    import tempfile

    from designspace import analysis as an
    from designspace.reporting.background import default_workers
    from designspace.reporting.report import write_report

    cases = _report_cases()
    print(f"whole report, PNG + PDF (best of {repeats}); figure workers by default: {default_workers()}")
    for name, frame in cases.items():
        for workers in sorted({0, default_workers()}):
            fits, total = [], []
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as out:
                    t0 = time.perf_counter()
                    a = an.Analysis(frame)
                    _ = a.frame  # the width fits of every model
                    t1 = time.perf_counter()
                    write_report(a, out, workers=workers)
                    fits.append(t1 - t0)
                    total.append(time.perf_counter() - t0)
            print(f"{name:<28} workers {workers}: {min(total):6.1f} s (width fits {min(fits):5.1f} s)")


# Run by each tree in a fresh process (PYTHONPATH = the tree): the table's width fits and report, default workers.
_ONE_REPORT = """
import sys, tempfile, time
import pandas as pd
import scipy.stats  # imported once per process in any real run: not the report's time
from designspace import analysis as an
from designspace.reporting.report import write_report
frame = pd.read_pickle(sys.argv[1])
t0 = time.perf_counter()
a = an.Analysis(frame)
_ = a.frame
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    write_report(a, out)
print(time.perf_counter() - t0, t1 - t0)
"""


def host_speed() -> float:
    """Seconds of a fixed pure-Python loop (10^7 additions): the host's speed at this moment."""
    t = time.perf_counter()
    total = 0
    for i in range(10**7):
        total += i
    return time.perf_counter() - t


def report_against(ref: str, repeats: int) -> None:
    """This tree's report against commit `ref`'s, alternating in fresh processes (see the module docstring)."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "ref"
        subprocess.run(["git", "-C", str(here), "worktree", "add", "--detach", "-q", str(other), ref], check=True)
        try:
            print(f"host speed (10^7-step Python loop): {host_speed():.2f} s")
            for name, frame in _report_cases().items():
                pickle = Path(tmp) / "table.pkl"
                frame.to_pickle(pickle)
                times: dict[str, list[tuple[float, float]]] = {"this tree": [], ref: []}
                for _ in range(repeats):
                    for label, root in (("this tree", here), (ref, other)):
                        env = {**os.environ, "PYTHONPATH": str(root)}
                        out = subprocess.run([sys.executable, "-c", _ONE_REPORT, str(pickle)], cwd=root, env=env,
                                             capture_output=True, text=True, check=True)
                        total, fits = (float(x) for x in out.stdout.split()[-2:])
                        times[label].append((total, fits))
                best = {label: min(t for t, _ in v) for label, v in times.items()}
                for label, v in times.items():
                    runs = ", ".join(f"{t:.1f}" for t, _ in v)
                    print(f"{name:<28} {label:>12}: best {best[label]:5.1f} s (runs {runs}; width fits best "
                          f"{min(f for _, f in v):.1f} s)")
                print(f"{name:<28} {'ratio':>12}: {best['this tree'] / best[ref]:.2f}")
            print(f"host speed (10^7-step Python loop): {host_speed():.2f} s")
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(other)], check=False)


if __name__ == "__main__":
    main()
