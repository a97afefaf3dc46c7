"""`SweepSummary`: what one `run_sweep` call did, and its one readable line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["SweepSummary"]


@dataclass
class SweepSummary:
    """What one `run_sweep` call did."""

    shard: int
    num_shards: int
    models_in_shard: int
    already_done: int
    trained: int = 0
    ok: int = 0
    diverged: int = 0
    failed: int = 0
    held_elsewhere: int = 0
    lost_claims: int = 0
    bad_rows: int = 0
    unreadable_records: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """One readable line: '8 models, 2 done before, 6 trained (5 ok, 1 diverged, 0 failed) in 1m 05s'."""
        minutes, seconds = divmod(round(self.seconds), 60)
        extra = [f"{v} {k.replace('_', ' ')}" for k, v in (("held_elsewhere", self.held_elsewhere),
                                                           ("lost_claims", self.lost_claims),
                                                           ("bad_rows", self.bad_rows),
                                                           ("unreadable_records", self.unreadable_records)) if v]
        return (f"{self.models_in_shard} models, {self.already_done} done before, {self.trained} trained "
                f"({self.ok} ok, {self.diverged} diverged, {self.failed} failed)"
                + (f", {', '.join(extra)}" if extra else "") + f" in {minutes}m {seconds:02d}s")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
