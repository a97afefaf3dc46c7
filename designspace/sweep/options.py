"""`RunOptions`: every option of a training run, in one place, checked once.

The keys `train`, `reproduce` and `compare` share, and what `run_sweep` takes whole. Each field's default here is
the only one: the commands' configs take the keys from it (`designspace.cli._structured.run_options`, typed), and
their `--help` shows each key with its type, its default and the comment beside its field. Construction checks each
value's type and range and raises `UserError` naming the key (one line, exit status 2 on the command line), so a
typo is refused before anything - setup.json, a claim, a record - is written. A new run option goes here: a field
with its comment, and its check in `_CHECKS`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from designspace.sweep.claims import MIN_CLAIM_TIMEOUT_S
from designspace.util.usage import UserError

__all__ = ["BREAKER", "RunOptions"]

BREAKER = 3
"""Models in a row failing the same way that stop the run (a fault of the run, not of the models)."""


def _integer(least: int | None = None, nullable: bool = False, why: str = "") -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value is None and nullable:
            return
        if isinstance(value, bool) or not isinstance(value, int) or (least is not None and value < least):
            bound = f" >= {least}" if least is not None else ""
            raise UserError(f"{key}={value!r} must be an integer{bound}{why}" + (", or null" if nullable else ""))
    return check


def _seconds(least: float, nullable: bool, why: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value is None and nullable:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < least:
            raise UserError(f"{key}={value!r} must be a number of seconds >= {least:g}{why}")
    return check


def _flag(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise UserError(f"{key}={value!r} must be true or false")


def _text(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise UserError(f"{key}={value!r} must be a device name (auto, cpu, cuda, cuda:1)")


@dataclass(frozen=True)
class RunOptions:
    """How a run trains a sweep's models (not what they are: that is the schedule, the dataset and the seed's
    setup). The comment beside each field is its `--help` line."""

    shard: int = 0  # this process trains models j of a sweep with j % num_shards == shard
    num_shards: int = 1  # number of shards a sweep is split into (one process or job each)
    seed: int = 0  # model initialisation and data order; the same seed on CPU gives the same errors
    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:1
    threads: int | None = None  # torch CPU threads; null: cores / processes on this machine, fewer when it is busy
    progress: bool = True  # progress bar on a terminal (models done, ETA, current error); logs get a line per model
    checkpoint_every_s: float | None = 60.0  # seconds between epoch checkpoints (0: every epoch, null: never)
    claim_timeout_s: float = 600.0  # a model claim not refreshed for this long is stale (its process died): taken over
    retry_failed: bool = False  # also retrain models whose record says `failed` (e.g. after an out-of-memory)
    limit: int | None = None  # train at most this many models of a sweep in this run
    breaker: int = BREAKER  # stop when this many models in a row fail the same way (the run's fault; 0: off)
    pack: int = 1  # train up to this many models at a time off one data stream (docs/packs.md); records as alone
    graphs: bool = False  # CUDA only: each pack member's step as a CUDA graph (not yet measured on a GPU: off)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _CHECKS[f.name](f.name, getattr(self, f.name))
        if not self.shard < self.num_shards:
            raise UserError(f"shard={self.shard!r} must be in [0, num_shards={self.num_shards})")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **overrides: Any) -> RunOptions:
        """The options a command's config sets (its other keys ignored), then `overrides`."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: cfg[k] for k in names if k in cfg}
        return cls(**{**values, **overrides})

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "shard": _integer(0),
    "num_shards": _integer(1),
    "seed": _integer(),
    "device": _text,
    "threads": _integer(1, nullable=True),
    "progress": _flag,
    "checkpoint_every_s": _seconds(0, True, " (0: every epoch), or null (never)"),
    "claim_timeout_s": _seconds(MIN_CLAIM_TIMEOUT_S, False, " (longer than the longest training step: a claim not "
                                "refreshed for this long is taken over)"),
    "retry_failed": _flag,
    "limit": _integer(0, nullable=True),
    "breaker": _integer(0, why=" (0: off)"),
    "pack": _integer(1, why=" (the models trained together off one data stream)"),
    "graphs": _flag,
}
