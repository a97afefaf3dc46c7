"""Train one `NetSpec` on a dataset with a schedule (design-spec section 6) and report its top-1 error.

SGD (momentum, Nesterov), half-period cosine learning rate set every step, optional linear warm-up,
label smoothing and EMA of the weights; bf16 autocast and channels_last on CUDA, channels_last on
CPU. Test error (percent) is measured every epoch. A non-finite training loss stops the model with
status `diverged`. Training state can be checkpointed (atomically) after epochs and restored: the
data order of epoch k depends only on (seed, k), so a resumed model trains exactly as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from designspace.net.spec import NetSpec
from designspace.training.data import BatchLoader, Dataset
from designspace.training.schedule import Schedule
from designspace.util.atomic import atomic_write_bytes
from designspace.util.files import regular_file
from designspace.util.forking import usable_cores
from designspace.util.usage import UserError

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
PRECISE_BN_EPOCHS = 1 << 20
"""Precise-BN batches of epoch k are drawn as those of 'epoch' PRECISE_BN_EPOCHS + k: a stream of their own."""


class TrainHooks(Protocol):
    """Callbacks of `Trainer.fit` (progress bars, claim heartbeats). Both must be cheap."""

    def on_step(self, epoch: int, step: int, steps: int) -> None: ...

    def on_epoch(self, record: dict[str, Any]) -> None: ...


class Diverged(Exception):
    """The training loss became non-finite."""


@dataclass
class TrainOutcome:
    """What `Trainer.fit` returns: status `ok` or `diverged`, curves and errors (percent)."""

    status: str
    epochs: list[dict[str, Any]]
    final_error: float | None
    best_error: float | None
    wall_time_s: float
    device: str
    threads: int
    reason: str | None = None
    resumed_from_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def param_groups(model: nn.Module, weight_decay: float, no_wd_bn_bias: bool) -> list[dict[str, Any]]:
    """SGD parameter groups: one with `weight_decay`, or (no_wd_bn_bias) 1-D tensors - BN scales and
    shifts, biases - apart with none."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not no_wd_bn_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else as torch.device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but CUDA is not available (use device=auto or cpu)")
    return dev


def default_threads(processes: int = 1, cores: int | None = None, load: float | None = None) -> int:
    """The default thread rule: cores / processes (the processes training on this machine at once), and no
    more than the cores left idle by the rest of the machine (1-minute load average), with a warning then.

    Oversubscribed torch threads run up to 10x slower (a 2-core machine under load: 246 s for one model with
    2 threads, 14.6 s with 1); the record of every model says how many threads trained it.
    """
    cores = usable_cores() if cores is None else cores
    share = max(1, cores // max(1, processes))
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    idle = max(1, cores - int(load))
    if share > idle:
        log.warning("the machine is busy (load %.1f on %d cores): training with %d thread%s instead of %d; "
                    "set threads=N to choose", load, cores, idle, "" if idle == 1 else "s", share)
        return idle
    return share


def configure_threads(threads: int | None, processes: int = 1) -> int:
    """Set torch's intra-op threads (None: `default_threads(processes)`); returns the number set."""
    if threads is None:
        threads = default_threads(processes)
    torch.set_num_threads(max(1, int(threads)))
    return torch.get_num_threads()


def adapt_spec(spec: NetSpec, data: Dataset) -> NetSpec:
    """The network actually trained on `data`: its classes, input channels and stem stride."""
    return spec.replace(num_classes=data.num_classes, in_channels=data.channels, stem_stride=data.stem_stride)


def describe_failure(exc: BaseException) -> str:
    """A one-line reason for a failed model ('out of memory: ...' for OOM), with where it was raised."""
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None), MemoryError) if t is not None)
    text = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, oom_types) or "out of memory" in text.lower():
        text = f"out of memory: {text}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text[:2000]


class EMA:
    """Exponential moving average of a model's floating-point state (weights and BN statistics)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        pairs = list(zip(model.state_dict().values(), self.module.state_dict().values()))
        self._float_src = [s for s, d in pairs if d.is_floating_point()]
        self._float_dst = [d for s, d in pairs if d.is_floating_point()]
        self._other = [(s, d) for s, d in pairs if not d.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        """Blend the tracked model's current state in: ema = decay * ema + (1 - decay) * model."""
        torch._foreach_lerp_(self._float_dst, self._float_src, 1.0 - self.decay)
        for s, d in self._other:
            d.copy_(s)


@dataclass
class EpochTally:
    """Running sums of a training epoch (on the device: read once, at the end)."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int = 0


class PreciseBN:
    """Averages a model's BN batch statistics over `steps` batches fed by `add`, then installs them."""

    def __init__(self, model: nn.Module, steps: int, autocast: Any) -> None:
        self.model, self.steps, self.autocast = model, steps, autocast
        self.bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.means = [torch.zeros_like(bn.running_mean) for bn in self.bns]
        self.squares = [torch.zeros_like(bn.running_var) for bn in self.bns]
        self.momenta = [bn.momentum for bn in self.bns]
        for bn in self.bns:
            bn.momentum = 1.0  # running stats := this batch's stats
        self.was_training = model.training
        model.train()

    @torch.no_grad()
    def add(self, x: torch.Tensor) -> None:
        with self.autocast():
            self.model(x)
        for bn, m, sq in zip(self.bns, self.means, self.squares):
            m.add_(bn.running_mean, alpha=1 / self.steps)
            sq.add_(bn.running_var + bn.running_mean.square(), alpha=1 / self.steps)

    @torch.no_grad()
    def finish(self) -> None:
        for bn, m, sq, momentum in zip(self.bns, self.means, self.squares, self.momenta):
            bn.running_mean.copy_(m)
            bn.running_var.copy_(sq - m.square())
            bn.momentum = momentum
        self.model.train(self.was_training)


class Trainer:
    """Trains `spec` (already adapted to the data) under `schedule`; see the module docstring."""

    def __init__(
        self,
        spec: NetSpec,
        data: Dataset,
        schedule: Schedule,
        *,
        seed: int = 0,
        device: str | torch.device = "auto",
        channels_last: bool = True,
        amp: bool | None = None,
        hooks: TrainHooks | None = None,
        loader: BatchLoader | None = None,
    ) -> None:
        """`loader`: batches of `data` (after the schedule's subsets) on `device`, shared by a pack of trainers."""
        from designspace.net.anynet import build_model

        self.spec, self.schedule, self.seed, self.hooks = spec, schedule, int(seed), hooks
        self.device = resolve_device(device)
        self.amp = (self.device.type == "cuda") if amp is None else amp
        self.data = data.subset(schedule.train_subset, schedule.test_subset)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = build_model(spec, zero_init_last_bn=schedule.zero_init_last_bn)
        self.model = model.to(self.device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        self.optimizer = torch.optim.SGD(
            param_groups(self.model, schedule.weight_decay, schedule.no_wd_bn_bias), lr=schedule.base_lr,
            momentum=schedule.momentum, nesterov=schedule.nesterov and schedule.momentum > 0,
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=schedule.label_smoothing)
        self.ema = EMA(self.model, schedule.ema_decay) if schedule.ema_decay > 0 else None
        self.loader = self.data.loader(self.device) if loader is None else loader
        self.steps_per_epoch = self.loader.train_steps(schedule.batch_size)
        if self.steps_per_epoch < 1:
            raise UserError(
                f"schedule {schedule.name!r}: batch_size={schedule.batch_size} exceeds the "
                f"{self.data.train_size} training images"
            )
        self.check_every = 1 if self.device.type == "cpu" else 50
        self.epochs: list[dict[str, Any]] = []
        self.elapsed_s = 0.0
        self.resumed_from_epoch: int | None = None

    # --- the hot loop ------------------------------------------------------------------------
    def _autocast(self) -> Any:
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> dict[str, float]:
        """One pass over the training data (epoch is 0-based); returns loss, error (%), lr, steps."""
        steps = self.steps_per_epoch if max_steps is None else min(max_steps, self.steps_per_epoch)
        tally = self.begin_epoch()
        for step, (x, y) in enumerate(self.loader.train_batches(self.schedule.batch_size, self.seed, epoch)):
            if step >= steps:
                break
            self.train_step(x, y, epoch, step, tally)
            if self.hooks is not None:
                self.hooks.on_step(epoch, step, steps)
        return self.end_epoch(epoch, tally, steps)

    def begin_epoch(self) -> EpochTally:
        """Put the model in training mode; the running sums of the epoch about to start."""
        self.model.train()
        return EpochTally(torch.zeros((), device=self.device), torch.zeros((), dtype=torch.int64, device=self.device))

    def train_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int, tally: EpochTally) -> None:
        """One SGD step on the batch (x, y) at `step` of `epoch`; raises Diverged on a non-finite loss."""
        sched, model, opt = self.schedule, self.model, self.optimizer
        lr = sched.lr_at(epoch + step / self.steps_per_epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        with self._autocast():
            out = model(x)
            loss = self.criterion(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if self.ema is not None:
            self.ema.update()
        n = y.shape[0]
        tally.loss_sum.add_(loss.detach().float(), alpha=n)
        tally.correct.add_((out.argmax(1) == y).sum())
        tally.seen += n
        if (step + 1) % self.check_every == 0 and not torch.isfinite(tally.loss_sum):
            raise Diverged(f"non-finite training loss at epoch {epoch + 1}, step {step + 1} (lr {lr:.4g})")

    def end_epoch(self, epoch: int, tally: EpochTally, steps: int) -> dict[str, float]:
        """The epoch's loss, error (%), lr and steps; raises Diverged on a non-finite loss."""
        lr0 = self.schedule.lr_at(epoch)
        if not torch.isfinite(tally.loss_sum):
            raise Diverged(f"non-finite training loss in epoch {epoch + 1} (lr {lr0:.4g})")
        seen = tally.seen
        return {
            "train_loss": tally.loss_sum.item() / seen,
            "train_error": 100.0 * (seen - tally.correct.item()) / seen,
            "lr": lr0,
            "steps": steps,
        }

    @torch.no_grad()
    def precise_bn(self, model: nn.Module, epoch: int) -> None:
        """Replace BN running statistics by their average over `precise_bn_samples` training images.

        As the reference implementation does before each test: short schedules otherwise test with
        running statistics that lag far behind the weights.
        """
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            return
        steps = self.precise_bn_steps
        averager = PreciseBN(model, steps, self._autocast)
        batches = self.loader.train_batches(self.schedule.batch_size, self.seed, PRECISE_BN_EPOCHS + epoch)
        for _, (x, _y) in zip(range(steps), batches):  # a stream apart from training's
            averager.add(x)
        averager.finish()

    @property
    def precise_bn_steps(self) -> int:
        """Batches averaged by `precise_bn`."""
        return min(self.steps_per_epoch, max(1, self.schedule.precise_bn_samples // self.schedule.batch_size))

    def eval_model(self) -> nn.Module:
        """The network that is tested: the EMA weights when EMA is on."""
        return self.ema.module if self.ema is not None else self.model

    def test_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How many of the batch `model` classifies right (a tensor on the device)."""
        with self._autocast():
            out = model(x)
        return (out.argmax(1) == y).sum()

    @torch.inference_mode()
    def evaluate(self, epoch: int | None = None) -> float:
        """Top-1 error (percent) on the test split (of the EMA weights when EMA is on)."""
        model = self.eval_model()
        if self.schedule.precise_bn_samples > 0:
            with torch.inference_mode(False):
                self.precise_bn(model, len(self.epochs) if epoch is None else epoch)
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        for step, (x, y) in enumerate(self.loader.test_batches(self.schedule.eval_batch_size)):
            correct.add_(self.test_batch(model, x, y))
            seen += y.shape[0]
            if self.hooks is not None:
                self.hooks.on_step(len(self.epochs), step, -1)
        return 100.0 * (seen - correct.item()) / seen

    # --- epochs, checkpoints ------------------------------------------------------------------
    def fit(self, checkpoint: str | os.PathLike | None = None, checkpoint_every_s: float | None = None) -> TrainOutcome:
        """Train every remaining epoch; restore from / save to `checkpoint` when given.

        A checkpoint is written after an epoch when at least `checkpoint_every_s` seconds have passed
        since the last one (0: every epoch; None: never), never after the last epoch.
        """
        if checkpoint is not None and Path(checkpoint).is_file():
            self.restore(checkpoint)
        session_start = last_save = time.perf_counter()
        base_elapsed = self.elapsed_s
        status, reason = "ok", None
        try:
            for epoch in range(len(self.epochs), self.schedule.epochs):
                t0 = time.perf_counter()
                stats = self.train_epoch(epoch)
                test_error = self.evaluate(epoch)
                self.elapsed_s = base_elapsed + time.perf_counter() - session_start
                self.record_epoch(epoch, stats, test_error, time.perf_counter() - t0)
                last_epoch = epoch + 1 == self.schedule.epochs
                due = checkpoint_every_s is not None and time.perf_counter() - last_save >= checkpoint_every_s
                if checkpoint is not None and due and not last_epoch:
                    self.save(checkpoint, check=getattr(self.hooks, "before_write", None))
                    last_save = time.perf_counter()
        except Diverged as exc:
            status, reason = "diverged", str(exc)
        self.elapsed_s = base_elapsed + time.perf_counter() - session_start
        return self.outcome(status, reason)

    def record_epoch(self, epoch: int, stats: dict[str, float], test_error: float, seconds: float) -> None:
        """Append the curve point of a finished epoch and tell the hooks."""
        record = {"epoch": epoch + 1, "train_loss": stats["train_loss"], "train_error": stats["train_error"],
                  "test_error": test_error, "lr": stats["lr"], "seconds": seconds}
        self.epochs.append(record)
        if self.hooks is not None:
            self.hooks.on_epoch(record)

    def outcome(self, status: str = "ok", reason: str | None = None) -> TrainOutcome:
        """What `fit` returns, from the epochs trained so far."""
        errors = [e["test_error"] for e in self.epochs]
        return TrainOutcome(
            status=status, epochs=list(self.epochs),
            final_error=errors[-1] if status == "ok" else None,
            best_error=min(errors) if errors else None,
            wall_time_s=self.elapsed_s, device=describe_device(self.device), threads=torch.get_num_threads(),
            reason=reason, resumed_from_epoch=self.resumed_from_epoch,
        )

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed: the network, schedule, seed and data."""
        info = self.data.info()
        return {"spec": self.spec.to_dict(), "schedule": self.schedule.to_dict(), "seed": self.seed,
                "data": {k: info[k] for k in ("name", "resolution", "num_classes", "train_size", "test_size")}}

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint(),
            "epochs": self.epochs,
            "elapsed_s": self.elapsed_s,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "torch_rng": torch.get_rng_state(),
        }

    def save(self, path: str | os.PathLike, check: Callable[[], None] | None = None) -> None:
        """Write the checkpoint atomically; `check()` runs just before the rename and may raise to cancel it
        (the sweep runner's claim check)."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(path, buf.getvalue(), check)

    def restore(self, path: str | os.PathLike) -> bool:
        """Load a checkpoint written by `save` for this same model/schedule/seed/data; False if unusable."""
        try:
            regular_file(path)  # a FIFO or a link to /dev/zero in a shared sweep: refused, never a hang
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:
            log.warning("ignoring unreadable checkpoint %s (%s: %s); training from scratch", path, type(exc).__name__, exc)
            return False
        if state.get("version") != CHECKPOINT_VERSION or state.get("fingerprint") != self.fingerprint():
            log.warning("ignoring checkpoint %s: it was written for another network/schedule/seed/data", path)
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.module.load_state_dict(state["ema"])
        torch.set_rng_state(state["torch_rng"])
        self.epochs = list(state["epochs"])
        self.elapsed_s = float(state["elapsed_s"])
        self.resumed_from_epoch = len(self.epochs)
        log.info("resumed %s after epoch %d", path, len(self.epochs))
        return True


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def train_spec(
    spec: NetSpec,
    data: Dataset,
    schedule: Schedule,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    hooks: TrainHooks | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every_s: float | None = None,
) -> TrainOutcome:
    """Adapt `spec` to `data` and train it; exceptions other than divergence propagate."""
    trainer = Trainer(adapt_spec(spec, data), data, schedule, seed=seed, device=device, hooks=hooks)
    return trainer.fit(checkpoint, checkpoint_every_s)
