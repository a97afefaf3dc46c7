"""Train a pack of K different networks off one data stream (design-spec section 9).

Every model of a sweep sees the same batches in the same order (the seed fixes them), so one loader
can feed K trainers: each step the batch is made once and each model of the pack takes its own step
on it. Each member keeps its own optimizer, schedule, EMA, precise BN, evaluation, checkpoint and
curve, and goes through exactly the operations it goes through alone (`Trainer.train_step`,
`PreciseBN`, `Trainer.test_batch`), so on CPU its record is bit for bit the one it gets alone.

A member that diverges or raises leaves the pack with its status (`diverged`, or `failed` with the
reason and the exception in `Member.error`) and the others go on - unless `fatal(exc)` says the error
is the run's, not the model's (the sweep runner's disk, data, device and config errors): then it
propagates out of `fit` at once and no member gets an outcome. Members need not be at the same epoch (one resumed from a
checkpoint): each pass trains the members at the lowest next epoch, so a pack whose members were
checkpointed at different epochs joins up again once the laggards catch up. The pack runs to its
end; no member joins midway (a newcomer starts at epoch 0 and would need a data stream of its own).

On CUDA, `graphs=True` captures each member's whole training step as a CUDA graph replayed on its
own stream (`designspace.training.graphs`). It is off by default: no GPU was lent to measure it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from designspace.net.spec import NetSpec
from designspace.training.data import Dataset
from designspace.training.schedule import Schedule
from designspace.training.trainer import (
    PRECISE_BN_EPOCHS,
    Diverged,
    EpochTally,
    PreciseBN,
    Trainer,
    TrainHooks,
    TrainOutcome,
    adapt_spec,
    describe_failure,
    resolve_device,
)

STREAM_KEYS = ("batch_size", "train_subset", "test_subset", "eval_batch_size", "precise_bn_samples")
"""Schedule fields that fix the data stream; the members of a pack must agree on them."""


@dataclass
class Member:
    """One model of a pack: its trainer, checkpoint and, once it has left, its outcome or failure."""

    trainer: Trainer | None
    checkpoint: Path | None = None
    outcome: TrainOutcome | None = None
    failure: str | None = None
    error: BaseException | None = None
    graph: Any = None
    tally: EpochTally | None = None
    stats: dict[str, float] = field(default_factory=dict)
    last_save: float = 0.0
    base_elapsed: float = 0.0

    @property
    def running(self) -> bool:
        return self.outcome is None and self.failure is None

    @property
    def next_epoch(self) -> int:
        assert self.trainer is not None
        return len(self.trainer.epochs)


class PackTrainer:
    """Trains `trainers` (one seed, one schedule stream, one loader) together; see the module docstring.

    `checkpoints[i]` (or None) is member i's checkpoint: restored when it exists, written after an
    epoch once `checkpoint_every_s` passed since the member's last one (0: every epoch; None: never),
    never after its last epoch. Each member's `hooks.on_step` is called at every step of the pack,
    training or testing, while the member is in it (claim heartbeats), `on_epoch` after its epochs, and
    `before_write` (when the hooks have it) just before its checkpoint replaces the last one; an error in a
    member's hook is that member's. `fatal(exc)`: errors that stop the whole pack (see the module docstring).
    """

    def __init__(
        self,
        trainers: Sequence[Trainer],
        checkpoints: Sequence[str | os.PathLike | None] | None = None,
        checkpoint_every_s: float | None = None,
        graphs: bool = False,
        fatal: Callable[[BaseException], bool] | None = None,
    ) -> None:
        if not trainers:
            raise ValueError("a pack needs at least one trainer")
        lead = trainers[0]
        for t in trainers[1:]:
            if t.loader is not lead.loader or t.seed != lead.seed or t.device != lead.device or any(
                    getattr(t.schedule, k) != getattr(lead.schedule, k) for k in STREAM_KEYS):
                raise ValueError("the members of a pack must share the loader, the seed, the device and the "
                                 f"schedule's {', '.join(STREAM_KEYS)}")
        checkpoints = [None] * len(trainers) if checkpoints is None else list(checkpoints)
        if len(checkpoints) != len(trainers):
            raise ValueError(f"{len(checkpoints)} checkpoints for {len(trainers)} trainers")
        self.members = [Member(t, None if c is None else Path(c)) for t, c in zip(trainers, checkpoints)]
        self.loader, self.seed, self.schedule = lead.loader, lead.seed, lead.schedule
        self.steps_per_epoch, self.device = lead.steps_per_epoch, lead.device
        self.checkpoint_every_s = checkpoint_every_s
        self.graphs = graphs and self.device.type == "cuda"
        self.fatal = fatal
        self.stopped_by: Member | None = None  # the member whose error `fatal` called the run's

    def fit(self) -> list[TrainOutcome | str]:
        """Train every member to its end; per member its outcome, or the reason it failed (a string)."""
        start = time.perf_counter()
        for m in self.members:
            assert m.trainer is not None
            if m.checkpoint is not None and m.checkpoint.is_file():
                self._guard(m, m.trainer.restore, m.checkpoint)
            m.last_save, m.base_elapsed = start, m.trainer.elapsed_s
        self._start, self.static = start, None
        if self.graphs:
            from designspace.training.graphs import capture_pack

            running = [m for m in self.members if m.running]
            self.static, graphs = capture_pack([m.trainer for m in running])
            for m, g in zip(running, graphs):
                m.graph = g
        while True:
            active = [m for m in self.members if m.running and m.next_epoch < m.trainer.schedule.epochs]
            for m in self.members:
                if m.running and m not in active:
                    self._leave(m, "ok")
            if not active:
                break
            epoch = min(m.next_epoch for m in active)
            self._pass(epoch, [m for m in active if m.next_epoch == epoch], active)
        return [m.outcome if m.outcome is not None else m.failure for m in self.members]  # type: ignore[misc]

    # --- one pass --------------------------------------------------------------------------------
    def _pass(self, epoch: int, group: list[Member], active: list[Member]) -> None:
        """Train `group` (the members at `epoch`) through one epoch, test them and record it."""
        t0 = time.perf_counter()
        steps = self.steps_per_epoch
        for m in group:
            m.tally = self._guard(m, m.trainer.begin_epoch)
            if m.tally is not None and m.graph is not None and m.graph.ok:
                m.graph.bind(m.tally)
        for step, (x, y) in enumerate(self.loader.train_batches(self.schedule.batch_size, self.seed, epoch)):
            if step >= steps:
                break
            if self.graphs:
                from designspace.training.graphs import replay_pack

                replay_pack(self.static, [m for m in group if m.running], x, y, epoch, step, self._guard)
            else:
                for m in group:
                    if m.running:
                        self._guard(m, m.trainer.train_step, x, y, epoch, step, m.tally)
            self._tick(active, epoch, step, steps)
            if not any(m.running for m in group):
                return
        for m in group:
            if m.running:
                m.stats = self._guard(m, m.trainer.end_epoch, epoch, m.tally, steps)
        errors = self._evaluate(epoch, [m for m in group if m.running], active)
        for m in group:
            if not m.running:
                continue
            t = m.trainer
            t.elapsed_s = m.base_elapsed + time.perf_counter() - self._start
            self._guard(m, t.record_epoch, epoch, m.stats, errors[id(m)], time.perf_counter() - t0)
            last = epoch + 1 == t.schedule.epochs
            due = self.checkpoint_every_s is not None and time.perf_counter() - m.last_save >= self.checkpoint_every_s
            if m.running and m.checkpoint is not None and due and not last:
                self._guard(m, t.save, m.checkpoint, getattr(t.hooks, "before_write", None))
                m.last_save = time.perf_counter()

    def _tick(self, members: list[Member], epoch: int, step: int, steps: int) -> None:
        for m in members:
            if m.running and m.trainer.hooks is not None:
                self._guard(m, m.trainer.hooks.on_step, epoch, step, steps)

    def _evaluate(self, epoch: int, members: list[Member], active: list[Member]) -> dict[int, float]:
        """Precise BN and the test error of each member, every batch made once for all of them."""
        sched = self.schedule
        if not members:
            return {}
        if sched.precise_bn_samples > 0:
            steps = members[0].trainer.precise_bn_steps
            averagers = {id(m): self._guard(m, PreciseBN, m.trainer.eval_model(), steps, m.trainer._autocast)
                         for m in members}
            averagers = {k: a for k, a in averagers.items() if a is not None and a.bns}
            batches = self.loader.train_batches(sched.batch_size, self.seed, PRECISE_BN_EPOCHS + epoch)
            for _, (x, _y) in zip(range(steps) if averagers else (), batches):
                for m in members:
                    if m.running and id(m) in averagers:
                        self._guard(m, averagers[id(m)].add, x)
            for m in members:
                if m.running and id(m) in averagers:
                    self._guard(m, averagers[id(m)].finish)
        correct = {id(m): torch.zeros((), dtype=torch.int64, device=self.device) for m in members}
        seen = 0
        with torch.inference_mode():
            for m in members:
                if m.running:
                    m.trainer.eval_model().eval()
            for step, (x, y) in enumerate(self.loader.test_batches(sched.eval_batch_size)):
                self._tick(active, epoch, step, -1)
                for m in members:
                    if m.running:
                        hits = self._guard(m, m.trainer.test_batch, m.trainer.eval_model(), x, y)
                        if hits is not None:
                            correct[id(m)].add_(hits)
                seen += y.shape[0]
        return {k: 100.0 * (seen - c.item()) / seen for k, c in correct.items()}

    # --- leaving the pack ------------------------------------------------------------------------
    def _guard(self, m: Member, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) for member m; a divergence or an error makes m leave the pack (None is returned), an error
        that `fatal` calls the run's propagates."""
        try:
            return fn(*args)
        except Diverged as exc:
            self._leave(m, "diverged", str(exc))
        except Exception as exc:  # one model's failure is its own: the pack goes on
            if self.fatal is not None and self.fatal(exc):
                self.stopped_by = m
                raise
            m.error = exc
            self._leave(m, None, describe_failure(exc))
        return None

    def _leave(self, m: Member, status: str | None, reason: str | None = None) -> None:
        """Close member m: its outcome (status ok/diverged) or its failure (status None); free its model."""
        t = m.trainer
        assert t is not None
        t.elapsed_s = m.base_elapsed + time.perf_counter() - getattr(self, "_start", time.perf_counter())
        if status is None:
            m.failure = reason
        else:
            if reason is None and m.graph is not None and m.graph.reason:
                reason = m.graph.reason  # an ok record says why its step was not a CUDA graph
            m.outcome = t.outcome(status, reason)
        m.graph = m.tally = None
        t.model = t.optimizer = t.ema = None  # type: ignore[assignment]  # the outcome keeps what the record needs


def build_trainers(
    specs: Sequence[NetSpec],
    data: Dataset,
    schedule: Schedule | Sequence[Schedule],
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    hooks: Sequence[TrainHooks | None] | None = None,
) -> list[Trainer | Exception]:
    """One trainer per spec (adapted to `data`) sharing one loader; a member that cannot be built gets
    the exception in its place. `schedule`: one for all, or one per spec (a sweep's sampled lr, weight decay ...;
    they must agree on the data stream's `STREAM_KEYS`)."""
    dev = resolve_device(device)
    schedules = [schedule] * len(specs) if isinstance(schedule, Schedule) else list(schedule)
    if len(schedules) != len(specs):
        raise ValueError(f"{len(schedules)} schedules for {len(specs)} specs")
    if not specs:
        return []
    subset = data.subset(schedules[0].train_subset, schedules[0].test_subset)
    loader = subset.loader(dev)
    hooks = [None] * len(specs) if hooks is None else list(hooks)
    out: list[Trainer | Exception] = []
    for spec, hook, own in zip(specs, hooks, schedules):
        try:
            out.append(Trainer(adapt_spec(spec, data), data, own, seed=seed, device=dev, hooks=hook,
                               loader=loader))
        except Exception as exc:  # one model's failure is its own (the caller judges it)
            out.append(exc)
    return out


def train_pack(
    specs: Sequence[NetSpec],
    data: Dataset,
    schedule: Schedule,
    *,
    checkpoints: Sequence[str | os.PathLike | None] | None = None,
    checkpoint_every_s: float | None = None,
    graphs: bool = False,
    **build: Any,
) -> list[TrainOutcome | str]:
    """Train `specs` as one pack (what `train_spec` does for one); per spec its outcome or failure reason.

    `build`: `build_trainers`' seed, device and hooks.
    """
    built = build_trainers(specs, data, schedule, **build)
    trainers = [t for t in built if isinstance(t, Trainer)]
    ckpts = [None] * len(specs) if checkpoints is None else list(checkpoints)
    results = iter(PackTrainer(trainers, [c for t, c in zip(built, ckpts) if isinstance(t, Trainer)],
                               checkpoint_every_s, graphs).fit() if trainers else [])
    return [next(results) if isinstance(t, Trainer) else describe_failure(t) for t in built]
