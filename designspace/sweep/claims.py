"""Fenced claims on the models of a sweep: who may train a model (docs/shared-sweeps.md).

Before training a model, a process claims it: DIR/claims/<id>.claim created with O_CREAT|O_EXCL, holding pid,
host, boot id, pid namespace and a random token, its mtime refreshed as a heartbeat. A claim is stale, and taken
over, when its heartbeat is older than `claim_timeout_s` - measured against the file server's clock
(`SweepDir.server_now`), never this machine's - or when its process is dead and its pid can be checked here (same
host, boot and pid namespace: containers sharing a hostname do not share pids). A claim left by an earlier run of
the same SLURM job (requeued, possibly onto another node) is stale at once (its SLURM_RESTART_COUNT is lower).

Fencing: a process that was stopped past the timeout (SLURM suspend, Ctrl-Z, a heartbeat failing silently on a
soft NFS mount) may wake after another took its model over. So the claim's token is re-read at every heartbeat
and just before every checkpoint and record rename; a process that lost its claim stops that model and writes
nothing more for it (`ClaimLost`). A new claim rule goes here, beside `claim_is_stale`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designspace.sweep.layout import CLAIMS_DIR, SweepDir
from designspace.sweep.results import now_iso
from designspace.util import procs

log = logging.getLogger(__name__)

__all__ = ["CLAIMS_DIR", "HEARTBEAT_S", "MIN_CLAIM_TIMEOUT_S", "Claim", "ClaimLost", "claim_is_stale", "try_claim"]

HEARTBEAT_S = 15.0
"""The longest time between heartbeats (a quarter of claim_timeout_s when that is shorter)."""
MIN_CLAIM_TIMEOUT_S = 1.0
EMPTY_CLAIM_GRACE_S = 10.0  # a claim still empty after this long lost its writer between create and write
TAKEOVER_LOCK_S = 60.0


class ClaimLost(Exception):
    """This process's claim on a model was taken over (it was stopped past the timeout): stop that model."""


@dataclass
class Claim:
    """An exclusive claim on one model of a sweep; `check` it before writing, `release` it when done."""

    path: Path
    token: str
    _last_beat: float = 0.0
    interval: float = HEARTBEAT_S

    def check(self) -> None:
        """Raise ClaimLost unless the claim file still holds this claim's token (a read error propagates)."""
        try:
            info = json.loads(self.path.read_text())
        except FileNotFoundError:
            info = None
        except ValueError:  # being rewritten by whoever took it over
            info = None
        if not isinstance(info, dict) or info.get("token") != self.token:
            holder = {k: info.get(k) for k in ("host", "pid", "claimed_at")} if isinstance(info, dict) else "nobody"
            raise ClaimLost(f"the claim on {self.path.stem} was taken over (now held by {holder}): this process was "
                            "stopped longer than claim_timeout_s; the model is left to the new holder")

    def heartbeat(self, force: bool = False) -> None:
        """Check the claim, then refresh its mtime (at most every `interval` seconds unless forced)."""
        now = time.monotonic()
        if force or now - self._last_beat >= self.interval:
            self.check()
            with contextlib.suppress(OSError):
                os.utime(self.path)  # times=None: the file server's clock, also over NFS
            self._last_beat = now

    def release(self) -> None:
        info = _read_claim(self.path)
        if info is not None and info.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _read_claim(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # half-written by a process killed between create and write: judged by its age


def _job_identity() -> dict[str, Any] | None:
    """This process's scheduler job (SLURM: array task or job id, and how often SLURM restarted it), if any."""
    env = os.environ
    key = (f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if env.get("SLURM_ARRAY_TASK_ID")
           and env.get("SLURM_ARRAY_JOB_ID") else env.get("SLURM_JOB_ID"))
    if not key:
        return None
    try:
        restart = int(env.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        restart = 0
    return {"id": key, "restart": restart}


def claim_is_stale(sweep: SweepDir, path: Path, info: dict[str, Any], timeout_s: float) -> bool:
    try:
        age = sweep.server_now() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > timeout_s or (not info and age > EMPTY_CLAIM_GRACE_S):
        return True
    job, mine = info.get("job"), _job_identity()
    if isinstance(job, dict) and mine is not None and job.get("id") == mine["id"] \
            and isinstance(job.get("restart"), int) and job["restart"] < mine["restart"]:
        return True  # left by an earlier run of this very job, which the scheduler killed and requeued
    if procs.same_pid_space(info) and isinstance(info.get("pid"), int):
        return not procs.pid_alive(info["pid"], info.get("pid_start"))
    return False


def _create_exclusive(path: Path, payload: dict[str, Any]) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def try_claim(sweep: SweepDir, model_id: str, timeout_s: float = 600.0) -> Claim | None:
    """Claim `model_id` for this process; None if a live process holds it.

    A stale claim is taken over under a short-lived takeover lock, so that two processes judging
    the same claim stale cannot both win.
    """
    path = sweep.claim_path(model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    payload = {"pid": os.getpid(), "pid_start": procs.proc_start(os.getpid()), **procs.machine(),
               "token": token, "claimed_at": now_iso(), "job": _job_identity()}
    interval = min(HEARTBEAT_S, timeout_s / 4)

    def claim() -> Claim | None:
        return Claim(path, token, time.monotonic(), interval) if _create_exclusive(path, payload) else None

    got = claim()
    if got is not None:
        return got
    info = _read_claim(path)
    if info is None:  # released in between: try once more
        return claim()
    if not claim_is_stale(sweep, path, info, timeout_s):
        return None
    lock = sweep.takeover_path(model_id)
    with contextlib.suppress(FileNotFoundError):
        if sweep.server_now() - lock.stat().st_mtime > TAKEOVER_LOCK_S:
            os.unlink(lock)
    if not _create_exclusive(lock, payload):
        return None
    try:
        again = _read_claim(path)
        if again is not None and (again.get("token") != info.get("token")
                                  or not claim_is_stale(sweep, path, again, timeout_s)):
            return None
        log.info("taking over stale claim on %s (%s)", model_id, {k: info.get(k) for k in ("host", "pid", "claimed_at")})
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return claim()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
