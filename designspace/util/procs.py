"""Who a process is, across machines and containers: the identity a claim or a temporary file records, and
whether the process it names is still alive.

A pid means something only inside its pid namespace on one boot of one machine: containers that share a
hostname (docker --net=host, Kubernetes hostNetwork) do not share pids. So a process is judged by its pid only
when the recorded host, boot and pid namespace are all this process's own; otherwise only its heartbeat
tells (see `designspace.sweep.runner`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from pathlib import Path
from typing import Any


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def pid_namespace() -> str | None:
    """This process's pid namespace ('pid:[4026531836]'), None where /proc does not say."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def boot_id() -> str | None:
    """This boot of this machine (Linux), None where unknown."""
    return _read("/proc/sys/kernel/random/boot_id")


def machine() -> dict[str, Any]:
    """Where pids of this process mean something: host name, boot id and pid namespace."""
    return {"host": socket.gethostname(), "boot_id": boot_id(), "pidns": pid_namespace()}


def machine_tag() -> str:
    """8 hex digits naming `machine()` (used in temporary file names)."""
    m = machine()
    return hashlib.sha1(f"{m['host']}|{m['boot_id']}|{m['pidns']}".encode()).hexdigest()[:8]


def same_pid_space(info: dict[str, Any]) -> bool:
    """Whether a recorded identity's pid can be checked here: same host, and the same boot and pid namespace
    (both must be recorded: a record without them, from an older version, is not judged by its pid)."""
    here = machine()
    return (info.get("host") == here["host"] and info.get("boot_id") is not None and info.get("pidns") is not None
            and info.get("boot_id") == here["boot_id"] and info.get("pidns") == here["pidns"])


def proc_start(pid: int) -> str | None:
    """Start time of a process (Linux /proc), telling a live pid from a reused one; None if unknown."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return None if fields[0] == "Z" else fields[19]


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process `pid` of this pid namespace lives (and, when `start` is given, is the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OverflowError:
        return False
    if Path("/proc").is_dir() and Path(f"/proc/{os.getpid()}").is_dir():
        now_start = proc_start(pid)
        return now_start is not None and (start is None or now_start == start)
    return True
