"""The CUDA fast path of a pack (`PackTrainer(graphs=True)`, `train graphs=true`): UNMEASURED, off by default.

Each member's whole training step - forward, loss, backward, the SGD update (momentum, Nesterov, weight
decay; the learning rate held in a device tensor), the EMA update and the epoch's running sums - is
captured once as a CUDA graph and replayed on the member's own stream, so the K members' kernels
overlap. The pack copies each batch once into static input buffers that every graph reads. Nothing
in a replay synchronises with the host; divergence is read from the accumulated loss every
`check_every` steps and at the end of the epoch, as in eager training.

Capture runs a few warm-up steps (cuDNN picks its kernels) and then restores the member's weights,
optimizer and EMA state, so training starts from the state it had. A member whose capture fails
trains eagerly and its record's `reason` says why. No GPU was lent when this was written: it has
not been run, and its tests skip on CPU.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch

from designspace.training.trainer import Diverged, EpochTally, Trainer, describe_failure

WARMUP_STEPS = 3


class StaticBatch:
    """The input buffers every member's graph reads: one copy of each batch for the whole pack."""

    def __init__(self, trainer: Trainer) -> None:
        ds, bs, dev = trainer.data, trainer.schedule.batch_size, trainer.device
        self.x = torch.zeros((bs, ds.channels, ds.resolution, ds.resolution), device=dev).contiguous(
            memory_format=torch.channels_last)
        self.y = torch.zeros((bs,), dtype=torch.int64, device=dev)

    def fill(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x.copy_(x)
        self.y.copy_(y)


class GraphStep:
    """One member's captured training step (`ok`), or why it could not be captured (`reason`)."""

    def __init__(self, trainer: Trainer, static: StaticBatch) -> None:
        self.trainer, self.static = trainer, static
        self.reason: str | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.stream = torch.cuda.Stream(device=trainer.device)
        dev = trainer.device
        self.lr = torch.zeros((), device=dev)
        self.loss_sum = torch.zeros((), device=dev)
        self.correct = torch.zeros((), dtype=torch.int64, device=dev)
        opt = trainer.optimizer
        self.groups = []
        for group in opt.param_groups:
            params = list(group["params"])
            bufs = []
            for p in params:
                state = opt.state[p]
                if "momentum_buffer" not in state or state["momentum_buffer"] is None:
                    state["momentum_buffer"] = torch.zeros_like(p)  # torch's first step: buf = grad = 0.9 * 0 + grad
                bufs.append(state["momentum_buffer"])
            self.groups.append((params, bufs, float(group["weight_decay"]), float(group["momentum"]),
                                bool(group["nesterov"])))

    @property
    def ok(self) -> bool:
        return self.graph is not None

    def _step(self) -> None:
        """The body that is captured: no host synchronisation in here."""
        t, x, y = self.trainer, self.static.x, self.static.y
        with t._autocast():
            out = t.model(x)
            loss = t.criterion(out, y)
        for p in t.model.parameters():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for params, bufs, wd, momentum, nesterov in self.groups:
                grads = [p.grad for p in params]
                if wd:
                    grads = torch._foreach_add(grads, params, alpha=wd)
                torch._foreach_mul_(bufs, momentum)
                torch._foreach_add_(bufs, grads)
                step = torch._foreach_add(grads, bufs, alpha=momentum) if nesterov else bufs
                torch._foreach_add_(params, torch._foreach_mul(step, self.lr), alpha=-1.0)
            if t.ema is not None:
                t.ema.update()
            self.loss_sum.add_(loss.detach().float(), alpha=y.shape[0])
            self.correct.add_((out.argmax(1) == y).sum())

    def capture(self) -> None:
        t = self.trainer
        saved = copy.deepcopy({"model": t.model.state_dict(), "opt": [b for g in self.groups for b in g[1]],
                               "ema": t.ema.module.state_dict() if t.ema is not None else None})
        self.stream.wait_stream(torch.cuda.current_stream(t.device))
        with torch.cuda.stream(self.stream):
            for _ in range(WARMUP_STEPS):
                self._step()
        torch.cuda.current_stream(t.device).wait_stream(self.stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            self._step()
        with torch.no_grad():
            for dst, src in zip(t.model.state_dict().values(), saved["model"].values()):
                dst.copy_(src)
            for dst, src in zip((b for g in self.groups for b in g[1]), saved["opt"]):
                dst.copy_(src)
            if t.ema is not None:
                for dst, src in zip(t.ema.module.state_dict().values(), saved["ema"].values()):
                    dst.copy_(src)
        self.graph = graph

    def bind(self, tally: EpochTally) -> None:
        """Start an epoch: the graph's running sums become the member's tally."""
        self.loss_sum.zero_()
        self.correct.zero_()
        tally.loss_sum, tally.correct = self.loss_sum, self.correct


def capture_pack(trainers: Sequence[Trainer]) -> tuple[StaticBatch | None, list[GraphStep | None]]:
    """Capture each trainer's step (None where capture failed: that member trains eagerly, and says why)."""
    if not trainers:
        return None, []
    static = StaticBatch(trainers[0])
    steps: list[GraphStep | None] = []
    for t in trainers:
        step = GraphStep(t, static)
        try:
            step.capture()
        except Exception as exc:  # the member trains eagerly instead
            step.graph, step.reason = None, f"trained eagerly: CUDA graph capture failed: {describe_failure(exc)}"
        steps.append(step)
    return static, steps


def replay_pack(static: StaticBatch, members: Sequence[Any], x: torch.Tensor, y: torch.Tensor, epoch: int,
                step: int, guard: Callable[..., Any]) -> None:
    """One step of the pack: the batch copied once, each member's graph replayed on its own stream."""
    main = torch.cuda.current_stream(static.x.device)
    static.fill(x, y)
    for m in members:
        g = m.graph
        if g is None or not g.ok:
            guard(m, m.trainer.train_step, x, y, epoch, step, m.tally)
            continue
        t = m.trainer
        g.lr.fill_(t.schedule.lr_at(epoch + step / t.steps_per_epoch))
        g.stream.wait_stream(main)
        with torch.cuda.stream(g.stream):
            g.graph.replay()
        m.tally.seen += y.shape[0]
    for m in members:
        if m.graph is not None and m.graph.ok:
            main.wait_stream(m.graph.stream)
    for m in members:
        t = m.trainer
        if m.graph is not None and m.graph.ok and (step + 1) % t.check_every == 0 \
                and not torch.isfinite(m.tally.loss_sum):
            guard(m, _raise, Diverged(f"non-finite training loss at epoch {epoch + 1}, step {step + 1}"))


def _raise(exc: BaseException) -> None:
    raise exc
