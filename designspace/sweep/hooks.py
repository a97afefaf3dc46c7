"""The trainer's hooks in a sweep: claim heartbeats at every step, the claim check before a checkpoint, the
progress bar's per-epoch error, and the setup pinned at a model's first step."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from designspace.sweep.claims import Claim, ClaimLost

__all__ = ["ClaimHooks"]


class ClaimHooks:
    """Trainer hooks: claim heartbeats (this model's and those of failures waiting to be written), the claim
    check before each checkpoint, and the progress bar's per-epoch error."""

    def __init__(self, claim: Claim, others: list[Claim], bar: Any, model_id: str, epochs: int,
                 on_start: Callable[[], None] | None = None) -> None:
        self.claim, self.others, self.bar, self.model_id, self.epochs = claim, others, bar, model_id, epochs
        self.on_start = on_start
        self.last_error: float | None = None
        self.epoch = 0

    def _beat(self, force: bool) -> None:
        self.claim.heartbeat(force)
        for other in self.others:
            with contextlib.suppress(ClaimLost):  # its record will not be written: checked again then
                other.heartbeat(force)

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        if self.on_start is not None:  # the first step: the model is training, so the run's setup is pinned
            self.on_start()
            self.on_start = None
        self._beat(False)

    def on_epoch(self, record: dict[str, Any]) -> None:
        self._beat(True)
        self.epoch, self.last_error = record["epoch"], record["test_error"]
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.model_id} ep {self.epoch}/{self.epochs} err {self.last_error:.2f}%")

    def before_write(self) -> None:
        """Called just before a checkpoint replaces the last one: only while this process holds the claim."""
        self.claim.check()
