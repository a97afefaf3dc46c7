"""A training schedule (one `configs/schedule/*.yaml`): plain data, torch-free, so the analysis can read it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from designspace.space.hparams import row_hparams
from designspace.util.usage import UserError
from designspace.util.validation import check_field_types, reject_unknown_keys

LR_POLICIES = ("cos", "lin")


@dataclass(frozen=True)
class Schedule:
    """One `configs/schedule/*.yaml`. lr is per `lr_reference_batch` images when that is set."""

    name: str = "custom"
    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.1
    lr_reference_batch: int | None = None  # effective lr = lr * batch_size / lr_reference_batch
    final_lr_ratio: float = 0.0  # the decay ends at lr * final_lr_ratio (0: reaches zero at the end of the budget)
    lr_policy: str = "cos"  # cos: half-period cosine; lin: linear decay
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.1  # warm-up starts at lr * warmup_factor, linear to lr
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # 0: off; else test error is that of the EMA weights
    train_subset: int | None = None  # train on a fixed random subset of this many images
    test_subset: int | None = None  # evaluate on a fixed random subset of this many images
    eval_batch_size: int = 256
    precise_bn_samples: int = 0  # >0: before each test, recompute BN statistics on this many training images
    zero_init_last_bn: bool = False  # last BN scale of every block starts at 0 (proxies only; the paper: off)
    no_wd_bn_bias: bool = False  # no weight decay on BN scales/shifts and biases (the paper: decays them)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> Schedule:
        reject_unknown_keys(cfg, (f.name for f in fields(cls)), "schedule config")
        out = cls(**cfg)
        out.validate()
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise UserError naming every field of the wrong type (epochs=2.5, batch_size=1e3, lr=inf) or range."""
        check_field_types(self, f"schedule {self.name!r}")
        checks = [
            ("epochs", self.epochs >= 1), ("batch_size", self.batch_size >= 1), ("lr", self.lr > 0),
            ("momentum", 0 <= self.momentum < 1), ("weight_decay", self.weight_decay >= 0),
            ("warmup_epochs", 0 <= self.warmup_epochs <= self.epochs), ("warmup_factor", 0 < self.warmup_factor <= 1),
            ("label_smoothing", 0 <= self.label_smoothing < 1), ("ema_decay", 0 <= self.ema_decay < 1),
            ("final_lr_ratio", 0 <= self.final_lr_ratio <= 1), ("eval_batch_size", self.eval_batch_size >= 1),
            ("precise_bn_samples", self.precise_bn_samples >= 0), ("lr_policy", self.lr_policy in LR_POLICIES),
            ("train_subset", self.train_subset is None or self.train_subset >= 1),
            ("test_subset", self.test_subset is None or self.test_subset >= 1),
            ("lr_reference_batch", self.lr_reference_batch is None or self.lr_reference_batch >= 1),
        ]
        bad = [name for name, ok in checks if not ok]
        if bad:
            raise UserError(f"schedule {self.name!r}: invalid {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    @property
    def base_lr(self) -> float:
        scale = self.batch_size / self.lr_reference_batch if self.lr_reference_batch else 1.0
        return self.lr * scale

    def lr_at(self, t: float) -> float:
        """Learning rate after t epochs (fractional): half-cosine or linear to final_lr_ratio, linear warm-up."""
        frac = min(max(t / self.epochs, 0.0), 1.0)
        decay = 0.5 * (1 + math.cos(math.pi * frac)) if self.lr_policy == "cos" else 1.0 - frac
        ratio = self.final_lr_ratio + (1 - self.final_lr_ratio) * decay
        if t < self.warmup_epochs:
            alpha = t / self.warmup_epochs
            ratio *= self.warmup_factor * (1 - alpha) + alpha
        return self.base_lr * ratio


def model_schedule(schedule: Schedule, row: Mapping[str, Any], where: str = "samples row") -> Schedule:
    """The schedule a samples row trains with: `schedule` with the row's sampled values (lr, weight_decay, ...:
    `designspace.space.hparams`) over it; a UserError naming `where` when they make an invalid schedule."""
    hparams = row_hparams(row)
    if not hparams:
        return schedule
    own = dataclasses.replace(schedule, **hparams)
    try:
        own.validate()
    except UserError as exc:
        raise UserError(f"{where}: its sampled {', '.join(hparams)} make an invalid schedule ({exc})") from None
    return own
