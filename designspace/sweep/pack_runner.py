"""`train pack=K`: a worker claims up to K models of its shard and trains them off one loader.

Claims, records and checkpoints are those of `designspace.sweep.runner`, one per model: each member
of a pack holds its own claim (heartbeats go to every claim of the pack at every step), resumes from
its own checkpoint, and gets its own record the moment the pack is done with it. A model claimed by
another live process is left to the runner's wait loop (trained alone if that claim goes stale).
KeyboardInterrupt/SIGTERM release every claim of the pack with no record written, leaving the
checkpoints for the next run. The pack runs to its end, then the next K models are claimed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from designspace.sweep.layout import SweepDir
from designspace.sweep.runner import (
    Claim,
    _done_ids_one,
    _free_memory,
    _Hooks,
    record_fields,
    record_result,
    try_claim,
)
from designspace.training.data import Dataset
from designspace.training.pack import PackTrainer, build_trainers
from designspace.training.trainer import Schedule, Trainer

log = logging.getLogger(__name__)


@dataclass
class PackJob:
    """What every pack of a run shares: where records go, the data, schedule, seed and device."""

    sweep: SweepDir
    data: Dataset
    schedule: Schedule
    seed: int
    device: Any
    bar: Any = None
    checkpoint_every_s: float | None = None
    graphs: bool = False


def train_packs(job: PackJob, todo: Any, pack: int, count: Callable[[str], None], claim_timeout_s: float,
                retry_failed: bool) -> list[Any]:
    """Train the rows of `todo` in packs of up to `pack`; `count(status)` for each record written.

    Returns the rows held by other live processes (for the runner's wait loop).
    """
    held: list[Any] = []
    rows = [row for _, row in todo.iterrows()]
    while rows:
        claimed: list[tuple[Any, Claim]] = []
        while rows and len(claimed) < pack:
            row = rows.pop(0)
            model_id = str(row["model_id"])
            claim = try_claim(job.sweep, model_id, claim_timeout_s)
            if claim is None:
                log.info("%s: claimed by another live process, skipped", model_id)
                held.append(row)
            elif model_id in _done_ids_one(job.sweep, model_id, retry_failed):
                claim.release()  # finished by another process between our listing and our claim
            else:
                claimed.append((row, claim))
        if claimed:
            try:
                for status in train_claimed(job, claimed):
                    count(status)
            finally:
                for _, claim in claimed:
                    claim.release()
    return held


def train_claimed(job: PackJob, claimed: list[tuple[Any, Claim]]) -> list[str]:
    """Train the claimed rows as one pack and write each model's record; the statuses written."""
    sweep, data, schedule, seed, device = job.sweep, job.data, job.schedule, job.seed, job.device
    ids = [str(row["model_id"]) for row, _ in claimed]
    fields = [record_fields(row, data, schedule, seed) for row, _ in claimed]
    hooks = [_Hooks(claim, job.bar, model_id, schedule.epochs) for (_, claim), model_id in zip(claimed, ids)]
    t0 = time.perf_counter()
    log.info("pack of %d: %s", len(ids), ", ".join(ids))
    built = build_trainers([f["spec"] for f in fields], data, schedule, seed=seed, device=device, hooks=hooks)
    members = [i for i, t in enumerate(built) if isinstance(t, Trainer)]
    results: list[Any] = list(built)
    if members:
        trainer = PackTrainer([built[i] for i in members], [sweep.checkpoint_path(ids[i]) for i in members],
                              job.checkpoint_every_s, job.graphs)
        for i, result in zip(members, trainer.fit()):
            results[i] = result
        del trainer, built
        _free_memory(device)
    return [record_result(sweep, model_id, result, kw, t0, device) for model_id, result, kw in zip(ids, results, fields)]
