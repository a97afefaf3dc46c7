"""One-epoch models an hour on this machine's cores, for the trainer as it is beside candidate changes, measured side
by side in one run (issue 35, item 3).

    python experiments/bench_one_epoch.py [--models 4] [--steps 937] [--processes 2] [--variants current,foreach,fused]

Each variant trains the same `--models` AnyNetX_E/RegNet models of the fmnist32_50mf band (the CPU reproduction's
longest rung: one epoch of the 32-px Fashion-MNIST at batch 64, tested on the whole test set) for `--steps` steps,
`--processes` processes of one thread at once (as the reproduction runs), the variants alternating model by model.
It prints the seconds a model (median), one-epoch models an hour, the ratio to `current`, and whether each variant's
errors equal the current trainer's bit for bit. Variants:

- current: `torch.optim.SGD` as the trainer builds it (the single-tensor loop on CPU);
- foreach: the multi-tensor SGD step (`foreach=True`);
- fused: the fused CPU SGD kernel (`fused=True`).

The profile behind the choice (one AnyNetX_E model, torch.profiler, 20 steps): convolutions 50% of a step (forward
14%, backward 36%), batch norm 28% (forward 11%, backward 17%), ReLU backward 5%, the SGD step 4%; evaluation on
10,000 images and precise BN ~6% of a model. Writes experiments/results/one_epoch/bench_one_epoch.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "one_epoch"


def _train(args: tuple[str, dict, int, int]) -> tuple[str, float, float]:
    """Train one model with `variant`'s optimizer for `steps` steps and evaluate: (variant, seconds, error)."""
    variant, row, steps, seed = args
    import torch
    from omegaconf import OmegaConf

    from designspace.configs import CONFIG_DIR
    from designspace.net.spec import NetSpec
    from designspace.studies.experiment import rung_schedule
    from designspace.training.data import DatasetConfig, load_dataset
    from designspace.training.schedule import Schedule
    from designspace.training.trainer import Trainer, adapt_spec, param_groups

    torch.set_num_threads(1)
    data = load_dataset(DatasetConfig.from_dict(OmegaConf.to_container(
        OmegaConf.load(CONFIG_DIR / "dataset" / "fashion_mnist_32.yaml"))))
    proxy = Schedule.from_dict(OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "schedule" / "fmnist_cpu.yaml")))
    from dataclasses import replace

    sched = replace(rung_schedule(proxy, 16, data.train_size), test_subset=None)
    t0 = time.perf_counter()
    trainer = Trainer(adapt_spec(NetSpec.from_row(row), data), data, sched, seed=seed, device="cpu")
    if variant != "current":
        trainer.optimizer = torch.optim.SGD(
            param_groups(trainer.model, sched.weight_decay, sched.no_wd_bn_bias), lr=sched.base_lr,
            momentum=sched.momentum, nesterov=sched.nesterov, **{variant: True})
    trainer.train_epoch(0, max_steps=steps)
    error = trainer.evaluate(0)
    return variant, time.perf_counter() - t0, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--steps", type=int, default=937)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--variants", default="current,foreach,fused")
    args = parser.parse_args()
    from designspace.space.sampler import draw

    variants = args.variants.split(",")
    rows = []
    for space in ("anynetx_e", "regnet"):
        frame = draw(space, (args.models + 1) // 2, 0, "fmnist32_50mf", progress=False).frame
        rows += [r.to_dict() for _, r in frame.iterrows()]
    rows = rows[: args.models]
    tasks = [(v, row, args.steps, 0) for row in rows for v in variants]  # alternating variants, model by model
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.processes) as pool:
        results = pool.map(_train, tasks, chunksize=1)
    out: dict = {"models": len(rows), "steps": args.steps, "processes": args.processes, "variants": {}}
    base = [e for v, _, e in results if v == "current"]
    base_s = statistics.median(s for v, s, _ in results if v == "current") if base else float("nan")
    for v in variants:
        secs = [s for w, s, _ in results if w == v]
        errors = [e for w, _, e in results if w == v]
        med = statistics.median(secs)
        per_hour = 3600 / med * args.processes  # models of `steps` steps (+ the test) an hour
        out["variants"][v] = {"seconds_median": med, "seconds": secs, "errors": errors,
                              "models_per_hour": per_hour, "ratio_to_current": base_s / med,
                              "errors_equal_current": errors == base}
        print(f"{v:8s} {med:6.1f} s a model ({args.steps} steps + test), ~{per_hour:.0f} such models/h on "
              f"{args.processes} processes, x{base_s / med:.3f} vs current; errors {'identical' if errors == base else 'differ'}"
              f" ({', '.join(f'{e:.2f}' for e in errors)})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_one_epoch.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"written {OUT / 'bench_one_epoch.json'}")


if __name__ == "__main__":
    main()
