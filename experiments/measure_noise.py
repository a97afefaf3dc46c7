"""Where a one-epoch model's error spread comes from (design-spec 6c): test-set sampling, training seed, design.

    python experiments/measure_noise.py --run runs/fmnist_cpu [--models 2] [--seed 1] [--out experiments/results/noise]

Takes the first `--models` models of each space of a `reproduce experiment=fmnist_cpu` run, trains each again at
the run's longest rung (one epoch, the whole test set) with another training seed, and keeps every test image's
right/wrong. From that one pass it measures, per model:

- test-set sampling: the error on the 2,000-image subset the proxy tests on (the same fixed subset) against the
  error on all 10,000, the two disjoint random halves of the test set against each other (the standard error
  of one model's error on m images is then rms(half_a - half_b) / 2 * sqrt(10000 / m)), and the
  binomial standard error sqrt(p(1-p)/m);
- training-seed noise: the same model's error with seed 0 (the run's own record at the longest rung, when it is
  there) against this seed, both on all 10,000 images;
- design: the within-space spread of the run's longest rung (its first 10 models per space), less the two above.

Writes noise_models.csv (one row per model) and noise.md (the decomposition). One thread per model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from designspace.analysis.progression import PAPER_NAMES, PROGRESSION


def _predictions(trainer: object) -> np.ndarray:
    """Right (True) / wrong per test image of a trained Trainer, in the test split's order (its BN statistics
    are the precise ones its last evaluation computed)."""
    model = trainer.eval_model()
    model.eval()
    right = []
    with torch.inference_mode():
        for x, y in trainer.loader.test_batches(trainer.schedule.eval_batch_size):
            right.append((model(x).argmax(1) == y).cpu().numpy())
    return np.concatenate(right)


def _longest_records(run: Path, space_dir: str) -> dict[str, float]:
    """model_id -> error of the run's longest-rung record (seed 0, whole test set)."""
    rungs = sorted((run / "fidelity").glob("x*"), key=lambda p: int(p.name[1:]))
    if not rungs:
        return {}
    results = rungs[-1] / space_dir / "results"
    out = {}
    for f in results.glob("*.json") if results.is_dir() else ():
        rec = json.loads(f.read_text())
        if rec.get("status") == "ok" and rec.get("final_error") is not None:
            out[rec["model_id"]] = float(rec["final_error"])
    return out


def main() -> None:
    from designspace.net.spec import NetSpec
    from designspace.studies.experiment import rung_schedule
    from designspace.sweep.layout import SweepDir
    from designspace.training.data import SUBSET_SEED, DatasetConfig, load_dataset
    from designspace.training.schedule import Schedule
    from designspace.training.trainer import Trainer, adapt_spec, configure_threads

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="run directory of experiment fmnist_cpu")
    parser.add_argument("--models", type=int, default=2, help="models per space")
    parser.add_argument("--seed", type=int, default=1, help="the other training seed")
    parser.add_argument("--factor", type=int, default=16, help="the longest rung (multiple of the proxy's images)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "noise")
    args = parser.parse_args()
    configure_threads(1)
    import yaml

    from designspace.configs import CONFIG_DIR

    sched_cfg = yaml.safe_load((CONFIG_DIR / "schedule" / "fmnist_cpu.yaml").read_text())
    data_cfg = yaml.safe_load((CONFIG_DIR / "dataset" / "fashion_mnist_32.yaml").read_text())
    data = load_dataset(DatasetConfig.from_dict(data_cfg))
    proxy = Schedule.from_dict(sched_cfg)
    from dataclasses import replace

    schedule = replace(rung_schedule(proxy, args.factor, data.train_size), test_subset=None)
    test_size = data.test_size
    subset = torch.randperm(test_size, generator=torch.Generator().manual_seed(SUBSET_SEED))[:proxy.test_subset]
    in_subset = np.zeros(test_size, bool)
    in_subset[subset.numpy()] = True
    half = np.random.default_rng(12345).permutation(test_size) < test_size // 2
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "noise_models.csv"
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["model_id"])
    rows = done.to_dict("records")
    for key in PROGRESSION:
        space_dir = f"{key}-fmnist32_50mf"
        sweep = SweepDir(args.run / "sweeps" / space_dir)
        if not sweep.exists():
            continue
        for _, row in sweep.read_samples().head(args.models).iterrows():
            if str(row["model_id"]) in set(done["model_id"].astype(str)):
                continue
            spec = NetSpec.from_row(row)
            t0 = time.perf_counter()
            trainer = Trainer(adapt_spec(spec, data), data, schedule, seed=args.seed, device="cpu")
            outcome = trainer.fit()
            right = _predictions(trainer)

            def err(mask: np.ndarray, right: np.ndarray = right) -> float:
                return 100.0 * (1 - right[mask].mean())

            full = err(np.ones(test_size, bool))
            if abs(full - outcome.final_error) > 1e-9:
                raise SystemExit(f"{row['model_id']}: per-image error {full} != the trainer's {outcome.final_error}")
            rows.append({"space": PAPER_NAMES[key], "model_id": str(row["model_id"]), "seed": args.seed,
                         "error_full": full, "error_subset_2000": err(in_subset), "error_half_a": err(half),
                         "error_half_b": err(~half), "wall_s": time.perf_counter() - t0})
            pd.DataFrame(rows).to_csv(path, index=False)
            print(f"{PAPER_NAMES[key]} {row['model_id']}: {full:.2f}% (2k subset {err(in_subset):.2f}%), "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    summarize(pd.DataFrame(rows), args.run, args.out, proxy.test_subset, test_size)


def summarize(models: pd.DataFrame, run: Path, out: Path, subset: int, test_size: int) -> str:
    """The variance decomposition as noise.md (and returned)."""
    records = {}
    for key in PROGRESSION:
        records.update({m: (PAPER_NAMES[key], e) for m, e in _longest_records(run, f"{key}-fmnist32_50mf").items()})
    if not len(models):
        raise SystemExit("no models measured yet")
    models = models.assign(error_seed0=[records.get(m, (None, np.nan))[1] for m in models["model_id"]])
    p = models["error_full"].to_numpy(float) / 100
    half_diff = (models["error_half_a"] - models["error_half_b"]).to_numpy(float)
    # the halves are independent draws of test_size/2 images: var(half_a - half_b) = 2 p(1-p) / (test_size/2), so
    # one model's error on all test_size images has sd = sd(half_a - half_b) / 2, and on m images that times
    # sqrt(test_size / m)
    sd_half = float(np.sqrt(np.mean(half_diff ** 2)))
    measured = {m: sd_half / 2 * np.sqrt(test_size / m) for m in (subset, test_size)}
    binomial = {m: float(np.mean(100 * np.sqrt(p * (1 - p) / m))) for m in (subset, test_size)}
    sub_vs_full = (models["error_subset_2000"] - models["error_full"]).to_numpy(float)
    seed_diff = (models["error_full"] - models["error_seed0"]).dropna().to_numpy(float)
    seed_sd = float(np.sqrt(np.mean(seed_diff ** 2) / 2)) if seed_diff.size else float("nan")
    by_space: dict[str, list[float]] = {}
    for space, e in records.values():
        by_space.setdefault(space, []).append(e)
    spread = [float(np.std(v, ddof=1)) for v in by_space.values() if len(v) > 1]
    total_sd = float(np.median(spread)) if spread else float("nan")
    design_var = total_sd ** 2 - seed_sd ** 2 - measured[test_size] ** 2 if np.isfinite(total_sd) else float("nan")
    lines = [
        "# Where the spread of one-epoch errors comes from\n",
        f"{len(models)} models (the first of each space of the fmnist_cpu run) trained again at the longest rung "
        f"(one epoch) with seed {int(models['seed'].iat[0]) if len(models) else '-'}; every test image's right/wrong "
        f"kept ({test_size:,} images). `python experiments/measure_noise.py --run RUN`.\n",
        "| source | sd (points) | how it was measured |", "|---|---|---|",
        f"| test-set sampling, {subset:,}-image subset | {measured[subset]:.2f} (binomial {binomial[subset]:.2f}) | "
        f"split halves of the test set, scaled to {subset:,} images; rms of subset minus full "
        f"{float(np.sqrt(np.mean(sub_vs_full ** 2))):.2f} |",
        f"| test-set sampling, all {test_size:,} images | {measured[test_size]:.2f} (binomial {binomial[test_size]:.2f}) "
        "| split halves |",
        f"| training seed (seed 0 vs the other, all images) | {seed_sd:.2f} | {seed_diff.size} models: rms difference "
        "/ sqrt 2 |",
        f"| everything, within a space (median sd of the run's longest rung) | {total_sd:.2f} | "
        f"{len(records)} models, {len(spread)} spaces |",
        f"| design (model to model), by difference | "
        f"{np.sqrt(design_var) if np.isfinite(design_var) and design_var > 0 else float('nan'):.2f} | "
        "total^2 - seed^2 - sampling^2 |", "",
    ]
    text = "\n".join(lines)
    (out / "noise.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
