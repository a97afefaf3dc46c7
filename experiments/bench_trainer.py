"""Trainer throughput against a plain hand-written PyTorch loop on the same model (CPU).

    python experiments/bench_trainer.py [--model RegNetX-200MF] [--resolution 32] [--stem-stride 2]
                                        [--batch 128] [--threads 2] [--steps 30] [--rounds 3]

The plain loop trains on one pre-made float batch (forward, loss, backward, SGD step); the trainer
runs its real step loop on in-memory uint8 data, with per-batch pad-and-crop and flip,
normalisation, the per-step learning rate, and loss/error accumulation. Both use channels_last and
the same network; rounds alternate between them and the medians are compared. The trainer should
be within 10% of the plain loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from designspace.net import zoo
from designspace.net.anynet import build_model
from designspace.net.complexity import complexity
from designspace.training.data import from_tensors
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, configure_threads


def plain_loop(spec, batch: int, resolution: int, steps: int, warmup: int) -> float:
    """Images/s of the textbook loop on a fixed batch."""
    torch.manual_seed(0)
    model = build_model(spec).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, spec.in_channels, resolution, resolution).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.num_classes, (batch,))
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def trainer_loop(trainer: Trainer, batch: int, steps: int, warmup: int, epoch: int) -> float:
    """Images/s of `Trainer.train_epoch` (the sweeps' hot loop), after `warmup` steps."""
    trainer.train_epoch(epoch, max_steps=warmup)
    t0 = time.perf_counter()
    stats = trainer.train_epoch(epoch + 1, max_steps=steps)
    assert stats["steps"] == steps
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="RegNetX-200MF")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--stem-stride", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    threads = configure_threads(args.threads)
    spec = zoo.get(args.model, num_classes=10, in_channels=3, stem_stride=args.stem_stride)
    r, n = args.resolution, args.batch * (max(args.steps, args.warmup) + 1)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, r, r), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g)
    data = from_tensors("synthetic", images, labels, images[:256], labels[:256], 10, crop_padding=4, flip=True,
                        stem_stride=args.stem_stride)
    trainer = Trainer(spec, data, Schedule(name="bench", epochs=10, batch_size=args.batch, lr=0.05), device="cpu")
    flops = complexity(spec, r).flops
    print(f"{args.model} at {r}px, stem stride {args.stem_stride}: {flops / 1e6:.1f} MF/image; batch {args.batch}, "
          f"channels_last, {threads} threads, {args.steps} timed steps x {args.rounds} rounds")
    plain, ours = [], []
    for i in range(args.rounds):
        plain.append(plain_loop(spec, args.batch, r, args.steps, args.warmup))
        ours.append(trainer_loop(trainer, args.batch, args.steps, args.warmup, 2 * i))
        print(f"  round {i + 1}: plain {plain[-1]:8.1f} img/s   trainer {ours[-1]:8.1f} img/s")
    p, t = statistics.median(plain), statistics.median(ours)
    ratio = t / p
    best = max(ours) / max(plain)
    verdict = "OK (within 10%)" if ratio >= 0.9 else "SLOWER than 10% below the plain loop"
    print(f"median: plain {p:.1f} img/s, trainer {t:.1f} img/s, trainer/plain = {ratio:.3f}  {verdict}")
    print(f"best:   plain {max(plain):.1f} img/s, trainer {max(ours):.1f} img/s, trainer/plain = {best:.3f}"
          "  (on a shared machine the best rounds are the least disturbed)")
    if args.json:
        print(json.dumps({"model": args.model, "resolution": r, "batch": args.batch, "threads": threads,
                          "plain_img_s": p, "trainer_img_s": t, "ratio": ratio, "best_ratio": best, "plain_rounds": plain,
                          "trainer_rounds": ours}))


if __name__ == "__main__":
    main()
