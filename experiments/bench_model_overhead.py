"""Per-model wall time of the trainer against its training steps' own compute (CPU, one thread).

    python experiments/bench_model_overhead.py [--space anynetx_e] [--models 3] [--schedule fmnist_cpu]
                                               [--dataset fashion_mnist_32] [--threads 1]

For each of a few models sampled in the fmnist32_50mf band it times the whole path a sweep takes for one
model - build the network, train (the proxy's steps), precise BN, evaluate - and, from a hook called after
every step, the steady-state step time (steps 2..N, so the first step's kernel set-up counts as overhead),
extrapolated to all N steps. It prints each phase, the whole per-model time and its ratio to the steps'
compute (target: within 1.3x, issue 17).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from omegaconf import OmegaConf

from designspace.configs import CONFIG_DIR
from designspace.net.spec import NetSpec
from designspace.space.sampler import draw
from designspace.training.data import DatasetConfig, load_dataset
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, adapt_spec, configure_threads


class StepClock:
    """Hook: the time after each training step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        if steps > 0:
            self.times.append(time.perf_counter())

    def on_epoch(self, record: dict) -> None:
        pass


def _group(name: str, group: str) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / group / f"{name}.yaml"))
    cfg.pop("defaults", None)
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="anynetx_e")
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--schedule", default="fmnist_cpu")
    parser.add_argument("--dataset", default="fashion_mnist_32")
    parser.add_argument("--budget", default="fmnist32_50mf")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    configure_threads(args.threads)
    data = load_dataset(DatasetConfig.from_dict(_group(args.dataset, "dataset")))
    schedule = Schedule.from_dict(_group(args.schedule, "schedule"))
    frame = draw(args.space, args.models, 0, args.budget, progress=False).frame
    rows = []
    for _, row in frame.iterrows():
        spec = adapt_spec(NetSpec.from_row(row), data)
        clock = StepClock()
        t0 = time.perf_counter()
        trainer = Trainer(spec, data, schedule, seed=0, device="cpu", hooks=clock)
        t1 = time.perf_counter()
        trainer.train_epoch(0)
        t2 = time.perf_counter()
        trainer.evaluate(0)  # precise BN, then the test pass
        t3 = time.perf_counter()
        steps = len(clock.times)
        steady = (clock.times[-1] - clock.times[0]) / (steps - 1) * steps
        rows.append({"model_id": row["model_id"], "build_s": t1 - t0, "train_s": t2 - t1, "evaluate_s": t3 - t2,
                     "total_s": t3 - t0, "steps_compute_s": steady, "ratio": (t3 - t0) / steady})
        r = rows[-1]
        print(f"{r['model_id']}: build {r['build_s']:.2f} s, {steps} steps {r['train_s']:.2f} s (steady-state "
              f"{steady:.2f} s), precise BN + test {r['evaluate_s']:.2f} s; whole model {r['total_s']:.2f} s = "
              f"{r['ratio']:.2f}x the steps' compute")
    summary = {"space": args.space, "schedule": args.schedule, "threads": args.threads, "models": len(rows),
               "median_total_s": statistics.median(r["total_s"] for r in rows),
               "median_steps_compute_s": statistics.median(r["steps_compute_s"] for r in rows),
               "median_ratio": statistics.median(r["ratio"] for r in rows)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
