"""Models per hour when K models train as one pack, against K alone (one process, and K processes).

    python experiments/bench_pack.py [--device auto] [--ks 1,4,16,32] [--graphs both] [--out FILE.json]

On CUDA (the defaults there): the `cifar10_proxy` models (space regnet, budget cifar_400mf, 32px) on
synthetic CIFAR-shaped data, `--steps` training steps per model of the `cifar_short` schedule's batch,
extrapolated to its 10 epochs of 390 steps; K = 1, 4, 16, 32, CUDA graphs off and on, and K separate
processes on the same device. Under 8 minutes on one H200 by design (fewer steps: --steps).

On CPU (the defaults there, for `make bench`): tiny networks (< 1 MF) on synthetic 32px data, a whole
tiny schedule (one epoch of 4 steps, precise BN, test) per model, K = 1 and 4, one thread, graphs off,
no separate processes unless --processes; it checks that packing costs nothing on CPU and finishes well
under a minute on an idle machine. `--workload fmnist` times the README's CPU workload instead: K models
of `sample space=anynetx_c budget=fmnist_tiny` on the bundled Fashion-MNIST, schedule fmnist_tiny (64
steps of 128 images, precise BN, a 2,000-image test), about 10 s a model on 2 cores. `--workload folder`
trains the tiny networks on an image folder instead (the ImageNet path: JPEGs of ImageNet's mean size,
500x375, written to a temporary folder, decoded and random-resized-cropped to 32px by one DataLoader worker
process), where a pack decodes each image once instead of once per model.

For each K it prints and writes: the pack's wall time and models/hour; the same K models trained one
after the other in this process; the same K models as a sweep directory trained by the sweep runner
(`run_sweep`, claims and records included) with pack=K and with pack=1; and (--processes) K processes
started at once, one model each (start-up included). Models/hour = models / wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from designspace.net.complexity import complexity
from designspace.net.spec import NetSpec
from designspace.sweep.layout import SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.runner import run_sweep
from designspace.training.data import Dataset, from_tensors
from designspace.training.pack import train_pack
from designspace.training.schedule import Schedule
from designspace.training.trainer import configure_threads, resolve_device, train_spec

RESULTS = Path(__file__).resolve().parent / "results" / "pack"
CPU_SPECS = [
    NetSpec((1, 1, 1, 1), (8, 16, 32, 64), (1, 1, 1, 1), (8, 8, 8, 8), stem_width=8),
    NetSpec((1, 1, 2, 1), (16, 16, 32, 64), (1, 1, 1, 1), (8, 8, 8, 8), stem_width=8),
    NetSpec((1, 1, 1, 1), (8, 16, 32, 64), (1, 1, 1, 1), (4, 4, 4, 4), stem_width=8),
    NetSpec((1, 1, 1, 2), (8, 16, 24, 48), (1, 1, 1, 1), (8, 8, 8, 8), stem_width=8),
]
CPU_SCHEDULE = {"name": "bench_tiny", "epochs": 1, "batch_size": 64, "lr": 0.1, "eval_batch_size": 128,
                "precise_bn_samples": 64}
CIFAR_SHORT_STEPS = 10 * (50_000 // 128)


def synthetic(n_train: int, n_test: int, resolution: int = 32, channels: int = 3) -> Dataset:
    """Random uint8 images and labels: timing only."""
    g = torch.Generator().manual_seed(0)
    shape = (channels, resolution, resolution)
    return from_tensors("synthetic", torch.randint(0, 256, (n_train, *shape), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (n_train,), generator=g),
                        torch.randint(0, 256, (n_test, *shape), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (n_test,), generator=g), 10)


def proxy_specs(count: int) -> list[NetSpec]:
    """`count` models of the cifar10_proxy experiment (space regnet, budget cifar_400mf)."""
    from designspace.space.sampler import draw

    frame = draw("regnet", count, 0, "cifar_400mf", progress=False).frame
    return [NetSpec.from_row(row) for _, row in frame.iterrows()]


def one_after_another(specs: list[NetSpec], data: Dataset, sched: Schedule, dev: torch.device) -> None:
    """Train each model alone, one after the other, in this process."""
    for spec in specs:
        train_spec(spec, data, sched, seed=0, device=dev)


def fastest(repeats: int, work: Callable[..., object], *args: object, **kwargs: object) -> float:
    """The fastest wall time of `repeats` calls of `work` (timeit's rule: slower runs measure the machine)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return min(times)


def run_processes(k: int, args: argparse.Namespace) -> float:
    """Wall time of k processes started at once, each training one model alone (start-up included)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                     os.environ.get("PYTHONPATH")]))}
    base = [sys.executable, __file__, "--device", args.device, "--steps", str(args.steps), "--threads",
            str(args.threads), "--ks", str(k), "--workload", args.workload, "--scratch", args.scratch, "--alone"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*base, str(i)], env=env, stdout=subprocess.DEVNULL) for i in range(k)]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("a separate process failed")
    return time.perf_counter() - t0


def sweep_wall(specs: list[NetSpec], data: Dataset, sched: Schedule, dev: torch.device, pack: int,
               graphs: bool) -> float:
    """Wall time of `run_sweep` training `specs` as a fresh sweep directory (claims and records included)."""
    cxs = {s: complexity(s, 224) for s in specs}  # a sweep holds each network once
    rows = [{**s.to_row(), "model_id": s.id, "flops": cx.flops, "params": cx.params, "acts": cx.acts}
            for s, cx in cxs.items()]
    with tempfile.TemporaryDirectory() as tmp:
        sweep = SweepDir(Path(tmp) / "sweep")
        sweep.write_samples(pd.DataFrame(rows), "space: bench\n")
        t0 = time.perf_counter()
        options = RunOptions(device=str(dev), threads=torch.get_num_threads(), progress=False, checkpoint_every_s=None,
                             pack=pack, graphs=graphs)
        summary = run_sweep(sweep, data, sched, options)
        wall = time.perf_counter() - t0
    if summary.ok != len(rows):
        raise RuntimeError(f"the benchmark sweep trained {summary.ok} of {len(rows)} models")
    return wall * len(specs) / len(rows)


def fmnist_workload(k: int) -> tuple[list[NetSpec], Dataset, Schedule]:
    """The README's CPU workload: k AnyNetX_C models of the fmnist_tiny budget, bundled data, fmnist_tiny."""
    from importlib.resources import files

    import yaml

    from designspace.space.sampler import draw
    from designspace.training.data import BUNDLED_FASHION_MNIST, load_dataset

    configs = files("designspace.configs")
    dataset = {**yaml.safe_load((configs / "dataset" / "fashion_mnist.yaml").read_text()),
               "root": str(BUNDLED_FASHION_MNIST)}
    schedule = Schedule.from_dict(yaml.safe_load((configs / "schedule" / "fmnist_tiny.yaml").read_text()))
    frame = draw("anynetx_c", k, 0, "fmnist_tiny", progress=False).frame
    return [NetSpec.from_row(row) for _, row in frame.iterrows()], load_dataset(dataset), schedule


def jpeg_folder(root: Path, n_train: int, n_test: int, classes: int = 4) -> dict:
    """An image-folder dataset config over synthetic 500x375 JPEGs (smooth colour ramps plus noise) in root,
    written there the first time."""
    import numpy as np
    from PIL import Image

    config = {"name": "bench_folder", "format": "imagefolder", "root": str(root), "resolution": 32, "channels": 3,
              "stem_stride": 1, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "workers": 1}
    if root.is_dir():
        return config
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 500)[None, :, None] * np.linspace(0, 1, 375)[:, None, None]
    for split, n in (("train", n_train), ("val", n_test)):
        for i in range(n):
            folder = root / split / f"c{i % classes}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = ramp * rng.uniform(60, 255, 3) + rng.normal(0, 12, (375, 500, 3))
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.jpg", quality=90)
    return config


def setup(args: argparse.Namespace, k: int) -> tuple[list[NetSpec], Dataset, Schedule, float]:
    """The models, data and schedule of a run, and the factor from its steps to a whole model's."""
    if args.workload == "fmnist":
        return (*fmnist_workload(k), 1.0)
    if args.workload == "folder":
        from designspace.training.data import load_dataset

        data = load_dataset(jpeg_folder(Path(args.scratch) / "jpegs", 64 * args.steps, 128))
        return [CPU_SPECS[i % len(CPU_SPECS)] for i in range(k)], data, Schedule.from_dict(CPU_SCHEDULE), 1.0
    if args.cuda:
        specs = proxy_specs(k)
        data = synthetic(128 * args.steps, 1000)
        sched = Schedule(name="cifar_short_bench", epochs=1, batch_size=128, lr=0.1, eval_batch_size=1000,
                         zero_init_last_bn=True, no_wd_bn_bias=True)
        return specs, data, sched, CIFAR_SHORT_STEPS / args.steps
    specs = [CPU_SPECS[i % len(CPU_SPECS)] for i in range(k)]
    return specs, synthetic(64 * args.steps, 128), Schedule.from_dict(CPU_SCHEDULE), 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ks", default=None, help="comma-separated pack sizes (CUDA: 1,4,16,32; CPU: 1,4)")
    parser.add_argument("--graphs", choices=("off", "on", "both"), default=None, help="CUDA: both; CPU: off")
    parser.add_argument("--steps", type=int, default=None, help="training steps per model (CUDA: 60; CPU: 4)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--processes", action=argparse.BooleanOptionalAction, default=None,
                        help="also time K separate processes (default: on CUDA only; on CPU their start-up dominates)")
    parser.add_argument("--workload", choices=("default", "fmnist", "folder"), default="default",
                        help="fmnist: the README's CPU workload; folder: tiny networks on JPEGs (see above)")
    parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)  # the JPEGs, shared with --alone
    parser.add_argument("--repeats", type=int, default=None,
                        help="time each figure this many times and keep the fastest (default: 3 for the tiny CPU "
                             "workload, whose sub-second figures are noisy; else 1)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--alone", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    dev = resolve_device(args.device)
    args.device, args.cuda = str(dev), dev.type == "cuda"
    args.steps = args.steps or (60 if args.cuda else 4)
    repeats = args.repeats or (3 if not args.cuda and args.workload == "default" else 1)
    configure_threads(args.threads)
    if args.scratch is None:
        scratch = tempfile.TemporaryDirectory(prefix="bench_pack-")  # removed when main returns
        args.scratch = scratch.name
    if args.alone is not None:  # one of the K separate processes
        specs, data, sched, _ = setup(args, int(args.ks))  # --workload travels too (see run_processes)
        train_spec(specs[args.alone], data, sched, seed=0, device=dev)
        return
    ks = [int(k) for k in (args.ks or ("1,4,16,32" if args.cuda else "1,4")).split(",")]
    graph_modes = {"off": [False], "on": [True], "both": [False, True]}[args.graphs or ("both" if args.cuda else "off")]
    rows = []
    for k in ks:
        specs, data, sched, scale = setup(args, k)
        train_pack(specs[:1], data, sched, seed=0, device=dev)  # warm-up: allocator, kernels
        row: dict[str, object] = {"k": k, "scale_to_whole_model": scale}
        row["sequential_s"] = fastest(repeats, one_after_another, specs, data, sched, dev)
        for graphs in graph_modes:
            row[f"pack_graphs_{'on' if graphs else 'off'}_s"] = fastest(
                repeats, train_pack, specs, data, sched, seed=0, device=dev, graphs=graphs)
        if k > 1:
            sweep_wall(specs[:1], data, sched, dev, 1, False)  # warm-up: the runner's first sweep
            row["sweep_pack_s"] = min(sweep_wall(specs, data, sched, dev, k, graph_modes[-1]) for _ in range(repeats))
            row["sweep_alone_s"] = min(sweep_wall(specs, data, sched, dev, 1, False) for _ in range(repeats))
        if (args.cuda if args.processes is None else args.processes) and k > 1:
            row["processes_s"] = run_processes(k, args)
        for key in [key for key in row if key.endswith("_s")]:
            row[key.replace("_s", "_models_per_hour")] = k * 3600 / (float(row[key]) * scale)  # type: ignore[arg-type]
        rows.append(row)
        print(json.dumps(row))
    out = {"device": torch.cuda.get_device_name(dev) if args.cuda else "cpu", "threads": args.threads,
           "steps": args.steps, "repeats_fastest_kept": repeats, "rows": rows,
           "pack_vs_sequential": {r["k"]: r["sequential_s"] / r["pack_graphs_off_s"] for r in rows}}  # type: ignore[operator]
    name = f"bench_pack_{'cuda' if args.cuda else 'cpu'}{'' if args.workload == 'default' else '_' + args.workload}.json"
    path = Path(args.out) if args.out else RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"pack/sequential wall-time ratio per K: {out['pack_vs_sequential']}; written to {path}")


if __name__ == "__main__":
    main()
