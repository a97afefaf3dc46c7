"""Measurements behind the CPU proxy's settings (issue: proxy studies a researcher can trust).

    python experiments/measure_proxy.py [--workers 2] [--out experiments/results/proxy_design]

Trains a fixed set of sampled Fashion-MNIST models (deep AnyNetX_E rows that did not train in the old
proxy, plus AnyNetX_A and RegNet rows) under schedule variants that each change one setting, one
thread per worker, and writes per-model errors and wall times (`variants.csv`) and a summary table
(`summary.md`). A second seed of the chosen variant measures the seed noise that a difference between
variants must exceed to mean anything. The `ladder_*` variants train the same models at the rungs of the
budget ladder (design-spec 6b: the fmnist_cpu proxy's 4,096 images, 4x, one full epoch) and at one epoch
with a 4x larger batch and learning rate (the batch / steps / lr trade-off), and the summary gives, per
variant, the claim-level effect (AnyNetX_A's median error minus RegNet's, with its bootstrap interval):
the cheapest budget whose effect lies inside the one-epoch interval is a proxy that agrees with the longest
rung. The experiments' own ladders (`python -m designspace.reproduce experiment=fmnist_cpu`) measure the
same on 10 models per space. Also measures the 28px geometry question without training:
which fraction of the models the sampler draws in the 400MF regime at 224px fall inside the scaled
band at 28px with stem stride 1, and how their per-stage flop shares move (`geometry.md`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pandas as pd

BASE = {  # the proxy candidate that every variant perturbs (one setting at a time)
    "name": "base", "epochs": 1, "batch_size": 64, "lr": 0.1, "momentum": 0.9, "nesterov": True,
    "weight_decay": 5e-5, "warmup_epochs": 0.1, "warmup_factor": 0.1, "train_subset": 8192,
    "test_subset": 2000, "eval_batch_size": 500, "precise_bn_samples": 1024, "zero_init_last_bn": True,
    "no_wd_bn_bias": True, "label_smoothing": 0.1, "lr_policy": "cos",
}
VARIANTS = {
    "old_fmnist_cpu": {"zero_init_last_bn": False, "no_wd_bn_bias": False, "label_smoothing": 0.0,
                       "precise_bn_samples": 0},
    "no_zero_init": {"zero_init_last_bn": False},
    "wd_on_bn_bias": {"no_wd_bn_bias": False},
    "no_label_smoothing": {"label_smoothing": 0.0},
    "lin_lr": {"lr_policy": "lin"},
    "lr_0.2": {"lr": 0.2},
    "base": {},
    "base_seed1": {},
    "steps_x2": {"train_subset": 16384},
    # Cheaper budgets, measured against no_label_smoothing (the chosen settings at 8192 images):
    "ls0_batch32_128steps": {"label_smoothing": 0.0, "batch_size": 32, "train_subset": 4096, "lr": 0.05},
    "ls0_batch64_64steps": {"label_smoothing": 0.0, "train_subset": 4096},
    "ls0_lr0.2_64steps": {"label_smoothing": 0.0, "train_subset": 4096, "lr": 0.2},
    # The budget ladder of the chosen proxy (schedule fmnist_cpu), and one epoch at a larger batch:
    "ladder_x1": {"label_smoothing": 0.0, "train_subset": 4096, "lr": 0.2},
    "ladder_x4": {"label_smoothing": 0.0, "train_subset": 16384, "lr": 0.2},
    "ladder_epoch": {"label_smoothing": 0.0, "train_subset": None, "lr": 0.2},
    "ladder_epoch_batch256": {"label_smoothing": 0.0, "train_subset": None, "lr": 0.8, "batch_size": 256},
}
BUDGET = "fmnist32_50mf"
ROWS = {"anynetx_e": [0, 5, 11, 17], "anynetx_a": [0, 1], "regnet": [0, 1]}


def _job(args: tuple[str, int, str, dict]) -> dict:
    import torch

    from designspace.space.sampler import sample, spec_of
    from designspace.training.data import load_dataset
    from designspace.training.schedule import Schedule
    from designspace.training.trainer import train_spec

    torch.set_num_threads(1)
    space, row, variant, sched = args
    frame = sample(space, 30, seed=0, budget=BUDGET)
    spec = spec_of(frame.iloc[row])
    data = load_dataset({"name": "fashion_mnist", "format": "idx", "resolution": 32, "channels": 1,
                         "num_classes": 10, "mean": [0.219], "std": [0.3318], "crop_padding": 2, "flip": True})
    seed = 1 if variant.endswith("seed1") else 0
    t0 = time.perf_counter()
    out = train_spec(spec, data, Schedule.from_dict(sched), seed=seed, device="cpu")
    return {"space": space, "row": row, "variant": variant, "depth": sum(spec.depths),
            "error": out.final_error, "train_error": out.epochs[-1]["train_error"] if out.epochs else None,
            "seconds": time.perf_counter() - t0, "train_size": data.train_size}


def geometry(out: Path) -> None:
    """Does the 28px / stem-stride-1 proxy keep the same networks in the regime as 224px does?"""
    from designspace.net.complexity import complexity_breakdown
    from designspace.space.sampler import sample, spec_of

    lines = ["# Geometry: 28px with stem stride 1 against 224px\n",
             "Models drawn in the 400MF regime at 224px (n=300 per space), re-measured at 28px and 32px (10 classes, "
             "1 channel, stem stride 1) against the band scaled by (px/112)^2; their flops over the scaling; and "
             "each stage's share of the stages' flops (mean over the models). Feature maps: 56/28/14/7 at 224px, "
             "14/7/4/2 at 28px, 16/8/4/2 at 32px.\n",
             "| space | px | in scaled band | flops ratio / scaling (median, 5-95%) | stage shares 224px | stage shares proxy |",
             "|---|---|---|---|---|---|"]
    def costs(spec: object, res: int) -> list[float]:
        parts = dict((k, c.flops) for k, c in complexity_breakdown(spec, res))
        return [parts[f"stage{j}"] for j in range(1, 5)] + [sum(parts.values())]

    for space in ("anynetx_a", "anynetx_e", "regnet"):
        specs = [spec_of(r) for _, r in sample(space, 300, seed=0, budget="400mf").iterrows()]
        big = np.array([costs(s, 224) for s in specs], float)
        share_big = big[:, :4].mean(0) / big[:, :4].mean(0).sum()
        for px in (28, 32):
            scale = (px / 112) ** 2
            small = np.array([costs(s.replace(num_classes=10, in_channels=1, stem_stride=1), px) for s in specs], float)
            ratio = small[:, 4] / big[:, 4] / scale
            inside = np.mean((small[:, 4] >= 360e6 * scale) & (small[:, 4] <= 400e6 * scale))
            share = small[:, :4].mean(0) / small[:, :4].mean(0).sum()
            lines.append(f"| {space} | {px} | {inside:.1%} | {np.median(ratio):.3f} ({np.quantile(ratio, .05):.3f}-"
                         f"{np.quantile(ratio, .95):.3f}) | {' / '.join(f'{v:.3f}' for v in share_big)} | "
                         f"{' / '.join(f'{v:.3f}' for v in share)} |")
    (out / "geometry.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="experiments/results/proxy_design")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--skip-geometry", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_geometry:
        geometry(out)
    jobs = [(space, row, v, {**BASE, **VARIANTS[v], "name": v})
            for v in args.variants.split(",") for space, rows in ROWS.items() for row in rows]
    csv = out / "variants.csv"
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["space", "row", "variant"])
    have = set(zip(done["space"], done["row"].astype(int), done["variant"]))
    jobs = [j for j in jobs if (j[0], j[1], j[2]) not in have]  # resumable: one CSV line per finished model
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for i, rec in enumerate(pool.imap_unordered(_job, jobs), 1):
            pd.DataFrame([rec]).to_csv(csv, mode="a", header=not csv.exists(), index=False)
            print(f"[{i}/{len(jobs)}] {rec['variant']:>18} {rec['space']}#{rec['row']} d={rec['depth']:>2}: "
                  f"{rec['error']}% ({rec['seconds']:.1f} s)", flush=True)
    df = pd.read_csv(csv)
    refs = {v: "no_label_smoothing" if v.startswith("ls0_") else "base" for v in df["variant"].unique()}
    rows = []
    for v, g in df.groupby("variant", sort=False):
        ref = df[df["variant"] == refs[v]].set_index(["space", "row"])["error"]
        e = g.set_index(["space", "row"])["error"]
        diff = (e - ref.reindex(e.index)).dropna()
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan
        rows.append({"variant": v, "vs": refs[v], "n": len(g), "mean error": g["error"].mean(),
                     "max error": g["error"].max(), "paired mean diff": diff.mean() if len(diff) else np.nan,
                     "diff SE": se, "models better": int((diff < 0).sum()),
                     "models above 60%": int((g["error"] > 60).sum()), "mean s/model (1 thread)": g["seconds"].mean()})
    table = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f")
    text = ("# Proxy settings, one at a time against a reference (`vs`), paired by model\n\n"
            f"base = {BASE}\n\n{table}\n")
    ladder = ladder_summary(df)
    if len(ladder):
        text += ("\n## The budget ladder: the claim's effect per budget\n\nAnyNetX_A's median error minus RegNet's "
                 "(points), 95% bootstrap interval; a budget agrees with the longest when its effect lies inside the "
                 "longest budget's interval.\n\n" + ladder.to_markdown(index=False, floatfmt=".2f") + "\n")
    (out / "summary.md").write_text(text)
    print(text)


def ladder_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per ladder variant: the A - RegNet median error difference with its interval, and the cost per model."""
    from designspace.analysis.ladder import median_difference

    rows = []
    for v, g in df[df["variant"].str.startswith("ladder_")].groupby("variant", sort=False):
        e = median_difference(g.loc[g["space"] == "anynetx_a", "error"].to_numpy(float),
                              g.loc[g["space"] == "regnet", "error"].to_numpy(float))
        rows.append({"variant": v, "n per space": e.n, "A - RegNet": e.point, "low": e.low, "high": e.high,
                     "mean s/model (1 thread)": g["seconds"].mean()})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
