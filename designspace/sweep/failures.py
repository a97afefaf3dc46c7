"""Failures of a run told apart from failures of a model.

An error of the data (truncated or oversized image), the disk (ENOSPC, EIO, a full /dev/shm), the device (a
broken CUDA context) or the config stops the run with one line (`RunStopped`), writes no record and keeps the
checkpoint. A model's own failure (out of memory, say) is recorded as `failed`; when `breaker` models in a row
fail the same way (same exception type at the same place; out-of-memory excepted) the run stops too, and those
models get no record (`Pending` holds their records back until that is clear).
"""

from __future__ import annotations

import errno
import traceback
from dataclasses import dataclass, field
from typing import Any

from designspace.sweep.claims import Claim
from designspace.training.data import DatasetError
from designspace.util.usage import UserError

__all__ = ["Pending", "RunStopped", "run_failure", "signature", "stopped"]

class RunStopped(UserError):
    """The run cannot go on: an error of the data, disk, device or config, or the same failure again and again.
    Nothing is recorded for the models in hand; rerun the same command once it is fixed."""


_DEVICE_TEXT = ("CUDA error", "CUDA driver", "cuDNN error", "CUBLAS_STATUS", "device-side assert", "NCCL error",
                "CUDA-capable device", "Found no NVIDIA driver")
_DATA_TEXT = ("image file is truncated", "cannot identify image file", "DecompressionBomb", "decompression bomb",
              "broken data stream")
_SHM_TEXT = ("/dev/shm", "shared memory", "No space left on device", "torch_shm_manager")
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ESTALE)


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = tuple(t for t in (getattr(torch, "OutOfMemoryError", None), MemoryError) if t is not None)
    return isinstance(exc, oom) or "out of memory" in str(exc).lower()


def run_failure(exc: BaseException) -> str | None:
    """What of the run `exc` says is broken - 'config', 'data', 'disk' or 'device' - or None when it is a
    failure of the model being trained (out of memory, a divergence the trainer did not catch, a bug that
    only this network hits). The DataLoader re-raises a worker's error with the worker's message in it."""
    if isinstance(exc, (UserError, DatasetError)):
        return "config" if isinstance(exc, UserError) else "data"
    try:
        from PIL import Image, UnidentifiedImageError

        if isinstance(exc, (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning)):
            return "data"
    except ImportError:  # pragma: no cover - PIL is a dependency
        pass
    if _is_oom(exc):
        return None
    text = f"{type(exc).__name__}: {exc}"
    if any(t in text for t in _DATA_TEXT):
        return "data"
    if any(t in text for t in _SHM_TEXT):
        return "disk"
    if isinstance(exc, OSError):
        return "disk" if exc.errno in _DISK_ERRNOS else "filesystem"
    if isinstance(exc, RuntimeError) and any(t in text for t in _DEVICE_TEXT):
        return "device"
    return None


def signature(exc: BaseException) -> tuple[str, str, int] | None:
    """How a model failed, for the breaker: exception type and where it was raised (None: out of memory,
    which big models hit one after another and which is their own failure)."""
    if _is_oom(exc):
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    return (type(exc).__name__, last.filename if last else "", last.lineno or 0 if last else 0)


@dataclass
class Pending:
    """Failed models whose records wait until it is clear the failure is theirs, not the run's."""

    limit: int
    signature: tuple[str, str, int] | None = None
    items: list[tuple[Claim, dict[str, Any]]] = field(default_factory=list)

    def claims(self) -> list[Claim]:
        return [c for c, _ in self.items]

    def drop(self) -> None:
        """Release the claims without writing: those models train again."""
        for claim, _ in self.items:
            claim.release()
        self.items.clear()


def stopped(kind: str, model_id: str, reason: str) -> RunStopped:
    return RunStopped(f"stopped: a {kind} error while training {model_id}: {reason}. Nothing was recorded for it "
                      "(its checkpoint is kept); fix the cause and rerun the same command")
