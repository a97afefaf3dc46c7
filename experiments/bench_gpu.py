"""GPU throughput of the trainer: ImageNet-scale images/s and CIFAR-proxy models/hour.

    python experiments/bench_gpu.py               # on a CUDA machine, < 3 minutes on one H200
    python experiments/bench_gpu.py --cpu-smoke   # tiny sizes on the CPU, to check the script itself

(a) images/s training RegNetX-400MF at 224px (stem stride 2, 1000 classes), batch 128 and 256, bf16
    autocast + channels_last, synthetic uint8 data held in GPU memory: the trainer's real step loop
    (`Trainer.train_epoch`) and, for reference, a plain hand-written loop on one pre-made batch
    (two alternating rounds each, the best of each reported).
(b) models/hour in a CIFAR-proxy regime: zoo-derived models (10 classes, 32px, stem stride 1) on
    synthetic CIFAR-shaped data (50k train / 10k test) through the real trainer with the
    `cifar_short` schedule; one epoch (+ test) is timed per model and extrapolated to the schedule.
Prints a table; writes $OUT/bench_gpu.json when the OUT environment variable is set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from designspace.net import zoo
from designspace.net.anynet import build_model
from designspace.net.complexity import complexity
from designspace.training.data import from_tensors
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, adapt_spec, resolve_device

REPO = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic(n_train: int, n_test: int, resolution: int, classes: int, device: torch.device, **cfg: Any):
    """A validated in-memory dataset of random uint8 images, created directly on `device`."""
    g = torch.Generator(device=device).manual_seed(0)
    shape = (3, resolution, resolution)
    train = torch.randint(0, 256, (n_train, *shape), generator=g, device=device, dtype=torch.uint8)
    test = torch.randint(0, 256, (n_test, *shape), generator=g, device=device, dtype=torch.uint8)
    return from_tensors("synthetic", train, torch.randint(0, classes, (n_train,), generator=g, device=device),
                        test, torch.randint(0, classes, (n_test,), generator=g, device=device), classes,
                        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], **cfg)


def trainer_images_per_s(trainer: Trainer, batch: int, steps: int, warmup: int) -> float:
    """Images/s of the trainer's step loop; epochs are short, so steps span several of them."""
    def run(n: int, epoch0: int) -> int:
        done, epoch = 0, epoch0
        while done < n:
            done += trainer.train_epoch(epoch, max_steps=n - done)["steps"]
            epoch += 1
        return epoch

    epoch = run(warmup, 0)
    sync(trainer.device)
    t0 = time.perf_counter()
    run(steps, epoch)
    sync(trainer.device)
    return batch * steps / (time.perf_counter() - t0)


def plain_images_per_s(spec, batch: int, resolution: int, steps: int, warmup: int, device: torch.device,
                       amp: bool) -> float:
    model = build_model(spec).to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, resolution, resolution, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.num_classes, (batch,), device=device)
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return batch * steps / (time.perf_counter() - t0)


def imagenet_throughput(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    spec = zoo.get(args.model)  # 1000 classes, stem stride 2: the paper's network
    rows = []
    for batch in args.batches:
        data = synthetic(batch * args.epoch_steps, batch, args.resolution, spec.num_classes, device,
                         crop_padding=0, flip=True, stem_stride=2)
        trainer = Trainer(adapt_spec(spec, data), data, Schedule(name="bench", epochs=100, batch_size=batch, lr=0.05),
                          device=device)
        ours, plain = [], []
        for _ in range(args.rounds):  # alternate, best of each: clocks, autotuning and caches even out
            plain.append(plain_images_per_s(spec, batch, args.resolution, args.steps, args.warmup, device,
                                            amp=device.type == "cuda"))
            ours.append(trainer_images_per_s(trainer, batch, args.steps, args.warmup))
        del trainer, data
        rows.append({"model": args.model, "resolution": args.resolution, "batch": batch,
                     "gflops_per_image": complexity(spec, args.resolution).flops / 1e9,
                     "trainer_img_s": max(ours), "plain_img_s": max(plain), "ratio": max(ours) / max(plain),
                     "trainer_rounds": ours, "plain_rounds": plain})
        if device.type == "cuda":
            rows[-1]["max_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
            torch.cuda.reset_peak_memory_stats(device)
            torch.cuda.empty_cache()
    return rows


def cifar_models_per_hour(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    sched = Schedule.from_dict(yaml.safe_load((REPO / "configs" / "schedule" / "cifar_short.yaml").read_text()))
    if args.cpu_smoke:
        sched = Schedule(**{**sched.to_dict(), "precise_bn_samples": 128, "eval_batch_size": 128})
    data = synthetic(args.cifar_train, args.cifar_test, 32, 10, device, crop_padding=4, flip=True, stem_stride=1)
    rows = []
    for name in args.cifar_models:
        spec = adapt_spec(zoo.get(name), data)
        trainer = Trainer(spec, data, sched, device=device)
        trainer.train_epoch(0, max_steps=args.warmup)  # cudnn autotuning, allocator warm-up
        sync(device)
        t0 = time.perf_counter()
        trainer.train_epoch(1)
        sync(device)
        t1 = time.perf_counter()
        trainer.evaluate(1)
        sync(device)
        t2 = time.perf_counter()
        per_model = sched.epochs * (t2 - t0)
        rows.append({"model": name, "mflops_32px_stride1": complexity(spec, 32).flops / 1e6,
                     "epoch_train_s": t1 - t0, "epoch_test_s": t2 - t1, "schedule": sched.name,
                     "epochs": sched.epochs, "train_images": data.train_size,
                     "seconds_per_model": per_model, "models_per_hour": 3600 / per_model})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU (checks the script)")
    parser.add_argument("--model", default="RegNetX-400MF")
    parser.add_argument("--cifar-models", nargs="+",
                        default=["RegNetX-200MF", "RegNetX-400MF", "RegNetY-400MF", "RegNetX-800MF"])
    args = parser.parse_args()
    if args.cpu_smoke:
        device = torch.device("cpu")
        torch.set_num_threads(1)  # a check of the script, robust to a busy machine
        args.resolution, args.batches, args.steps, args.warmup, args.epoch_steps, args.rounds = 32, [8, 16], 2, 1, 2, 1
        args.cifar_train, args.cifar_test, args.cifar_models = 256, 128, args.cifar_models[:1]
    else:
        device = resolve_device("auto")
        if device.type != "cuda":
            raise SystemExit("no CUDA device: run on a GPU machine, or use --cpu-smoke to check the script")
        args.resolution, args.batches, args.steps, args.warmup, args.epoch_steps, args.rounds = 224, [128, 256], 50, 15, 64, 2
        args.cifar_train, args.cifar_test = 50_000, 10_000
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    env = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
           "torch": torch.__version__, "cuda": torch.version.cuda, "cpu_smoke": args.cpu_smoke}
    t0 = time.perf_counter()
    imagenet = imagenet_throughput(args, device)
    amp = "bf16 autocast + channels_last" if device.type == "cuda" else "fp32 + channels_last"
    print(f"\n(a) {args.model} training at {args.resolution}px, {amp}, synthetic data on {device} ({env['device']})")
    print(f"{'batch':>6} {'trainer img/s':>14} {'plain img/s':>12} {'ratio':>6} {'GF/img':>7}")
    for r in imagenet:
        print(f"{r['batch']:>6} {r['trainer_img_s']:>14.1f} {r['plain_img_s']:>12.1f} {r['ratio']:>6.3f} "
              f"{r['gflops_per_image']:>7.3f}")
    cifar = cifar_models_per_hour(args, device)
    print(f"\n(b) CIFAR proxy: cifar_short schedule ({cifar[0]['epochs']} epochs of {cifar[0]['train_images']} "
          f"images + test each epoch), 32px, stem stride 1")
    print(f"{'model':>14} {'MF@32':>7} {'epoch s':>8} {'test s':>7} {'s/model':>8} {'models/h':>9}")
    for r in cifar:
        print(f"{r['model']:>14} {r['mflops_32px_stride1']:>7.1f} {r['epoch_train_s']:>8.2f} {r['epoch_test_s']:>7.2f} "
              f"{r['seconds_per_model']:>8.1f} {r['models_per_hour']:>9.1f}")
    mean_s = sum(r["seconds_per_model"] for r in cifar) / len(cifar)
    print(f"mean over these models: {3600 / mean_s:.1f} models/hour on one {env['device']}")
    result = {"env": env, "imagenet": imagenet, "cifar": cifar, "cifar_models_per_hour": 3600 / mean_s,
              "bench_seconds": time.perf_counter() - t0}
    if os.environ.get("OUT"):
        path = Path(os.environ["OUT"]) / "bench_gpu.json"
        path.write_text(json.dumps(result, indent=1))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
