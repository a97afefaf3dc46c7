"""How often a model has a twin, and how far the twins' laws are from the later space's own (issue 39).

    nice -n 19 python experiments/measure_twins.py [--n 2000] [--budget fmnist32_50mf] [--seed 0]
                                                   [--out experiments/results/twins]

For each step of the progression (A -> B -> C -> D -> E -> RegNet): draws n models of the earlier space, makes their
twins in the later space (`designspace.space.twins.twins`), and reports the share skipped (by reason), kept
unchanged, re-fitted by one width multiplier, by per-stage steps or (RegNet) by the in-band stage fit; then the
two-sample KS distance (scipy.stats.ks_2samp) per parameter between the twins and n independent draws of the
later space (per-stage d, w, b, g; total depth; flops; for RegNet also depth, w0, wa, wm), beside the same distance
for the source models (how far the earlier space's law is). The E -> RegNet step is also run with the free fit only
(`constrained_fit=False`: a fit that does not give 4 stages is skipped).

Writes twins_law.csv (one row per step and parameter), twins_shares.csv (one row per step) and twins_law.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from designspace.analysis.progression import PAPER_NAMES, STEPS
from designspace.space.sampler import draw
from designspace.space.twins import HOW, twins

STAGE_PARAMS = [f"{p}{i}" for p in "dwbg" for i in range(1, 5)]
REGNET_PARAMS = ["depth", "w0", "wa", "wm"]
ESTIMAND = ("The twin design estimates the effect of imposing the restriction on a model of the earlier space at "
            "equal flops - not the estimand of the EDF comparison of independent draws of the two spaces.")


def _ks(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    res = ks_2samp(a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64))
    return float(res.statistic), float(res.pvalue)


def measure(n: int, budget: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    laws, shares = [], []
    for earlier, later, _ in STEPS:
        step = f"{PAPER_NAMES[earlier]} -> {PAPER_NAMES[later]}"
        frame = draw(earlier, n, seed, budget).frame
        start = time.perf_counter()
        table = twins(frame, earlier, later, budget)
        seconds = time.perf_counter() - start
        own = draw(later, n, seed + 1, budget).frame
        row = {"step": step, "n": n, "twins": len(table.frame), "seconds": round(seconds, 2), **table.shares()}
        row["constrained fit"] = float((table.refit["fit"] == "constrained").sum() / n)
        if later == "regnet":
            free = twins(frame, earlier, later, budget, constrained_fit=False)
            row["skipped, free fit only"] = len(free.skipped) / n
        shares.append(row)
        params = STAGE_PARAMS + ["total_depth", "flops"] + (REGNET_PARAMS if later == "regnet" else [])
        for p in params:
            ks_t, p_t = _ks(table.frame[p], own[p])
            ks_s, p_s = _ks(frame[p], own[p]) if p in frame else (np.nan, np.nan)
            laws.append({"step": step, "parameter": p, "n_twins": len(table.frame), "n_later": len(own),
                         "ks_twins": ks_t, "p_twins": p_t, "ks_source": ks_s, "p_source": p_s})
        print(f"{step}: {len(table.frame)} twins of {n} in {seconds:.1f} s", flush=True)
    return pd.DataFrame(laws), pd.DataFrame(shares)


def markdown(laws: pd.DataFrame, shares: pd.DataFrame, n: int, budget: str, seed: int) -> str:
    pct = lambda x: "-" if pd.isna(x) else f"{100 * x:.1f}%"  # noqa: E731
    reasons = sorted({c for c in shares.columns if c.startswith("skipped: ")})
    cols = ["skipped", *reasons, *HOW, "identical", "constrained fit", "skipped, free fit only"]
    cols = [c for c in cols if c in shares]
    lines = [f"Twins of n = {n} models per earlier space (seed {seed}) in budget `{budget}`; "
             f"`python experiments/measure_twins.py --n {n} --budget {budget} --seed {seed}`.", "",
             "| step | " + " | ".join(c.replace("skipped: ", "skip: ") for c in cols) + " | seconds |",
             "|---" * (len(cols) + 2) + "|"]
    for _, r in shares.iterrows():
        lines.append(f"| {r['step']} | " + " | ".join(pct(r.get(c)) for c in cols) + f" | {r['seconds']:.1f} |")
    lines += ["", "KS distance to n independent draws of the later space: twins (source models).", ""]
    steps = list(dict.fromkeys(laws["step"]))
    lines += ["| parameter | " + " | ".join(steps) + " |", "|---" * (len(steps) + 1) + "|"]
    for p in dict.fromkeys(laws["parameter"]):
        cells = []
        for s in steps:
            hit = laws[(laws["step"] == s) & (laws["parameter"] == p)]
            if hit.empty:
                cells.append("")
            else:
                r = hit.iloc[0]
                src = "" if pd.isna(r["ks_source"]) else f" ({r['ks_source']:.2f})"
                cells.append(f"{r['ks_twins']:.2f}{src}")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", ESTIMAND, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--budget", default="fmnist32_50mf")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/twins"))
    args = parser.parse_args()
    laws, shares = measure(args.n, args.budget, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    laws.to_csv(args.out / "twins_law.csv", index=False, float_format="%.6g")
    shares.to_csv(args.out / "twins_shares.csv", index=False, float_format="%.6g")
    text = markdown(laws, shares, args.n, args.budget, args.seed)
    (args.out / "twins_law.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
