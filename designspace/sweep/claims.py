"""Fenced claims on the models of a sweep: who may train a model (docs/shared-sweeps.md).

Before training a model, a process claims it: DIR/claims/<id>.claim created with O_CREAT|O_EXCL, holding pid,
host, boot id, pid namespace and a random token, its mtime refreshed as a heartbeat (never through a link). A
claim is stale, and taken over, when its heartbeat is older than `claim_timeout_s` - measured against the file
server's clock (`SweepDir.server_now`), never this machine's - or dated further in the future than that (a clock
stepped back, a restored backup, `cp -p`), or when its process is dead and its pid can be checked here (same
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

from designspace.sweep.layout import SweepDir
from designspace.sweep.results import now_iso
from designspace.util import procs
from designspace.util.files import FileRefused, read_json

log = logging.getLogger(__name__)

__all__ = ["HEARTBEAT_S", "MIN_CLAIM_TIMEOUT_S", "Claim", "ClaimLost", "claim_is_stale", "stale_reason",
           "try_claim"]

HEARTBEAT_S = 15.0
"""The longest time between heartbeats (a quarter of claim_timeout_s when that is shorter)."""
MIN_CLAIM_TIMEOUT_S = 1.0
EMPTY_CLAIM_GRACE_S = 10.0  # a claim still empty after this long lost its writer between create and write
TAKEOVER_LOCK_S = 60.0
MAX_CLAIM_BYTES = 64 * 1024  # a claim is ~300 bytes


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
            info, _ = read_json(self.path, MAX_CLAIM_BYTES)
        except FileNotFoundError:
            info = None
        except FileRefused:  # being rewritten by whoever took it over (or not a claim at all)
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
            with contextlib.suppress(OSError, NotImplementedError):  # times=None: the file server's clock, also over
                os.utime(self.path, follow_symlinks=False)      # NFS; a link put in its place: the link, not its target
            self._last_beat = now

    def release(self) -> None:
        info = _read_claim(self.path)
        if info is not None and info.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _read_claim(path: Path) -> dict[str, Any] | None:
    """The claim's contents; None when there is none, {} when it cannot be read or is not a claim (half-written
    by a process killed between create and write, a FIFO, JSON nested too deep): then it is judged by its age."""
    try:
        info, _ = read_json(path, MAX_CLAIM_BYTES)
    except FileNotFoundError:
        return None
    except (OSError, FileRefused):
        return {}
    return info if isinstance(info, dict) else {}


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
    """Whether the claim at `path` (holding `info`) may be taken over (`stale_reason`)."""
    return stale_reason(sweep, path, info, timeout_s) is not None


def stale_reason(sweep: SweepDir, path: Path, info: dict[str, Any], timeout_s: float) -> str | None:
    """Why the claim at `path` (holding `info`) may be taken over, or None while its holder may live: a heartbeat
    older than `timeout_s`, or further in the future than that (the server's clock stepped back, a claim restored
    from a backup or copied with its time: no live holder's heartbeat is ahead of the clock that sets it), an
    empty claim past its grace, an earlier run of this SLURM job, or a dead process of this pid space."""
    try:
        age = sweep.server_now() - os.lstat(path).st_mtime
    except FileNotFoundError:
        return None
    if age > timeout_s:
        return f"its heartbeat is {age:.0f} s old (claim_timeout_s={timeout_s:g})"
    if age < -timeout_s:
        return (f"its heartbeat is dated {-age:.0f} s in the future, more than claim_timeout_s={timeout_s:g} (a clock "
                "stepped back, or a claim restored or copied with its time)")
    if not info and age > EMPTY_CLAIM_GRACE_S:
        return f"it is empty or not a claim, {age:.0f} s old"
    job, mine = info.get("job"), _job_identity()
    if isinstance(job, dict) and mine is not None and job.get("id") == mine["id"] \
            and isinstance(job.get("restart"), int) and job["restart"] < mine["restart"]:
        return "it was left by an earlier run of this SLURM job"  # which the scheduler killed and requeued
    if procs.same_pid_space(info) and isinstance(info.get("pid"), int) \
            and not procs.pid_alive(info["pid"], info.get("pid_start")):
        return f"its process {info['pid']} on this machine is gone"
    return None


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
    reason = stale_reason(sweep, path, info, timeout_s)
    if reason is None:
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
        log.info("taking over stale claim on %s (%s): %s", model_id,
                 {k: info.get(k) for k in ("host", "pid", "claimed_at")}, reason)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return claim()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
