"""The sweep runner: train every model of a sweep directory that has no result yet, resumably.

- Shard i of N owns rows j of the samples table with j % N == i, so `shard=i num_shards=N` jobs
  (a SLURM array, local processes, Ray tasks) split a sweep with no coordinator.
- A model is done when DIR/results/<id>.json exists; records are written atomically, so a kill at
  any moment leaves either no record or a whole one.
- Before training a model, a process claims it: DIR/claims/<id>.claim created with O_CREAT|O_EXCL,
  holding pid, host, boot id, pid namespace and a random token, its mtime refreshed as a heartbeat.
  A claim is stale, and taken over, when its heartbeat is older than `claim_timeout_s` - measured
  against the file server's clock (`SweepDir.server_now`), never this machine's - or when its
  process is dead and its pid can be checked here (same host, boot and pid namespace: containers
  sharing a hostname do not share pids). A claim left by an earlier run of the same SLURM job
  (requeued, possibly onto another node) is stale at once (its SLURM_RESTART_COUNT is lower).
  A shard returns only when each of its models has a record: a model claimed by another process is
  waited for, and trained here once that claim goes stale.
- Fencing: a process that was stopped past the timeout (SLURM suspend, Ctrl-Z, a heartbeat failing
  silently on a soft NFS mount) may wake after another took its model over. So the claim's token is
  re-read at every heartbeat and just before every checkpoint and record rename; a process that lost
  its claim stops that model and writes nothing more for it (`ClaimLost`).
- Failures of the run are told apart from failures of a model (`run_failure`): an error of the
  data (truncated or oversized image), the disk (ENOSPC, EIO, a full /dev/shm), the device (a
  broken CUDA context) or the config stops the run with one line (`RunStopped`), writes no record
  and keeps the checkpoint. A model's own failure (out of memory, say) is recorded as `failed`; when
  `breaker` models in a row fail the same way (same exception type at the same place; out-of-memory
  excepted) the run stops too, and those models get no record.
- A samples row that does not describe a network, or whose model_id is not its own spec's id, is
  skipped with a line naming it; the other rows train.
- Long models checkpoint after epochs (DIR/checkpoints/<id>.pt) and resume inside the model.
- Packs (`pack=K`): the process claims up to K models of its shard (one fenced claim each, every claim
  refreshed at every step of the pack) and trains them off one data stream
  (`designspace.training.pack`); each member keeps its own checkpoint and gets its own record the
  moment the pack is done, exactly as alone. A member whose claim is lost, that diverges or fails
  leaves the pack and the others go on; a failure of the run stops the whole pack with no record. The
  pack runs to its end, then the next K models are claimed.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from designspace.net.spec import NetSpec
from designspace.sweep import setups
from designspace.sweep.layout import CLAIMS_DIR, InvalidModelId, SweepDir, check_model_id
from designspace.sweep.results import (
    RecordExists,
    RecordUnreadable,
    build_record,
    now_iso,
    read_record_or_set_aside,
    scan_records,
    supersede_record,
    write_record,
)
from designspace.training.data import Dataset, DatasetConfig, DatasetError, load_dataset
from designspace.training.pack import PackTrainer, build_trainers
from designspace.training.trainer import (
    Schedule,
    Trainer,
    TrainOutcome,
    adapt_spec,
    configure_threads,
    describe_failure,
    resolve_device,
    train_spec,
)
from designspace.util import procs
from designspace.util.usage import UserError

log = logging.getLogger(__name__)

__all__ = ["CLAIMS_DIR", "Claim", "ClaimLost", "RunStopped", "SweepSummary", "check_run_options", "run_failure",
           "run_sweep", "shard_rows", "try_claim"]

HEARTBEAT_S = 15.0
"""The longest time between heartbeats (a quarter of claim_timeout_s when that is shorter)."""
MIN_CLAIM_TIMEOUT_S = 1.0
EMPTY_CLAIM_GRACE_S = 10.0  # a claim still empty after this long lost its writer between create and write
TAKEOVER_LOCK_S = 60.0
BREAKER = 3
"""Models in a row failing the same way that stop the run (a fault of the run, not of the models)."""


# --------------------------------------------------------------------------------------------
# Claims


class ClaimLost(Exception):
    """This process's claim on a model was taken over (it was stopped past the timeout): stop that model."""


class RunStopped(UserError):
    """The run cannot go on: an error of the data, disk, device or config, or the same failure again and again.
    Nothing is recorded for the models in hand; rerun the same command once it is fixed."""


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


def _claim_is_stale(sweep: SweepDir, path: Path, info: dict[str, Any], timeout_s: float) -> bool:
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
    if not _claim_is_stale(sweep, path, info, timeout_s):
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
                                  or not _claim_is_stale(sweep, path, again, timeout_s)):
            return None
        log.info("taking over stale claim on %s (%s)", model_id, {k: info.get(k) for k in ("host", "pid", "claimed_at")})
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return claim()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)


# --------------------------------------------------------------------------------------------
# Failures of the run


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


def _signature(exc: BaseException) -> tuple[str, str, int] | None:
    """How a model failed, for the breaker: exception type and where it was raised (None: out of memory,
    which big models hit one after another and which is their own failure)."""
    if _is_oom(exc):
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    return (type(exc).__name__, last.filename if last else "", last.lineno or 0 if last else 0)


@dataclass
class _Pending:
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


# --------------------------------------------------------------------------------------------
# Sweeps


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


def shard_rows(samples: Any, shard: int, num_shards: int) -> Any:
    """Rows j of the samples table with j % num_shards == shard (in table order)."""
    if not (isinstance(num_shards, int) and num_shards >= 1):
        raise UserError(f"num_shards={num_shards!r} must be an integer >= 1")
    if not (isinstance(shard, int) and 0 <= shard < num_shards):
        raise UserError(f"shard={shard!r} must be an integer in [0, num_shards={num_shards})")
    return samples.iloc[shard::num_shards]


def _valid_rows(sweep: SweepDir, rows: Any) -> tuple[Any, int]:
    """The rows whose model_id is the 12-hex-digit id of the row's own spec, and how many were not; each bad row
    is named in a log line (a malformed row fails alone, and no table can make a record land elsewhere)."""
    keep, bad = [], 0
    for index, row in rows.iterrows():
        try:
            model_id = check_model_id(row["model_id"])
            spec_id = NetSpec.from_row(row).id
            if spec_id != model_id:
                raise InvalidModelId(f"model_id {model_id} is not the id of the row's network ({spec_id})")
        except Exception as exc:  # a malformed row: any error of reading it is its own
            log.error("%s, row %s: skipped, it does not describe a model (%s)", sweep.samples_path, index,
                      " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
            bad += 1
            continue
        keep.append(index)
    return rows.loc[keep], bad


class _Hooks:
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


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an exception so claims are released and no failed record is written."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Raise `Interrupted` on SIGTERM unless someone (e.g. submitit) already handles that signal."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _done_ids(records: Mapping[str, Mapping[str, Any]], retry_failed: bool) -> set[str]:
    """Models with a readable record (damaged records are set aside, and their models train again)."""
    return {mid for mid, rec in records.items() if not (retry_failed and rec["status"] == "failed")}


def _config_identity(dataset: Dataset | DatasetConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The dataset identity known before reading the data (name, resolution)."""
    if isinstance(dataset, Mapping):  # not validated here: the data is read (and checked) only if needed
        return {"name": dataset.get("name"), "resolution": dataset.get("resolution", DatasetConfig.resolution)}
    return {"name": dataset.name, "resolution": dataset.resolution}


def check_run_options(*, claim_timeout_s: Any = 600.0, retry_failed: Any = False, breaker: Any = BREAKER, pack: Any = 1,
                      graphs: Any = False, checkpoint_every_s: Any = 60.0, threads: Any = None, limit: Any = None,
                      seed: Any = 0, shard: Any = 0, num_shards: Any = 1) -> None:
    """Every run option `run_sweep` takes, checked for type and range (UserError naming the key): commands that
    sample before they train (`reproduce stage=all`) call it before writing anything."""
    _check_options(claim_timeout_s, retry_failed, breaker, pack, graphs)
    _check_run_values(checkpoint_every_s, threads, limit, seed, shard, num_shards)


def _check_run_values(checkpoint_every_s: Any, threads: Any, limit: Any, seed: Any, shard: Any, num_shards: Any) -> None:
    """Every run option's type and range, before anything is written (a typo is one line, never failed records)."""
    c = checkpoint_every_s
    if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c < 0):
        raise UserError(f"checkpoint_every_s={c!r} must be a number of seconds >= 0 (0: every epoch), or null (never)")
    for key, value, least in (("threads", threads, 1), ("limit", limit, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise UserError(f"{key}={value!r} must be an integer >= {least}, or null")
    for key, value in (("seed", seed), ("shard", shard), ("num_shards", num_shards)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{key}={value!r} must be an integer")


def _check_options(claim_timeout_s: Any, retry_failed: Any, breaker: Any, pack: Any, graphs: Any) -> None:
    if isinstance(claim_timeout_s, bool) or not isinstance(claim_timeout_s, (int, float)) \
            or not math.isfinite(claim_timeout_s) or claim_timeout_s < MIN_CLAIM_TIMEOUT_S:
        raise UserError(f"claim_timeout_s={claim_timeout_s!r} must be a number of seconds >= {MIN_CLAIM_TIMEOUT_S:g} "
                        "(longer than the longest training step: a claim not refreshed for this long is taken over)")
    if not isinstance(retry_failed, bool):
        raise UserError(f"retry_failed={retry_failed!r} must be true or false")
    if isinstance(breaker, bool) or not isinstance(breaker, int) or breaker < 0:
        raise UserError(f"breaker={breaker!r} must be an integer >= 0 (0: off)")
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise UserError(f"pack={pack!r} must be an integer >= 1 (the models trained together off one data stream)")
    if not isinstance(graphs, bool):
        raise UserError(f"graphs={graphs!r} must be true or false")


def run_sweep(
    sweep_dir: str | os.PathLike | SweepDir,
    dataset: Dataset | DatasetConfig | Mapping[str, Any],
    schedule: Schedule | Mapping[str, Any],
    *,
    shard: int = 0,
    num_shards: int = 1,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = True,
    checkpoint_every_s: float | None = 60.0,
    claim_timeout_s: float = 600.0,
    retry_failed: bool = False,
    limit: int | None = None,
    breaker: int = BREAKER,
    pack: int = 1,
    graphs: bool = False,
    models: Sequence[str] | None = None,
) -> SweepSummary:
    """Train every model of this shard of the sweep that has no result yet (see the module docstring).

    The dataset is loaded (and validated) before any training. With `progress`, a bar on a terminal
    shows models done, the ETA and the current model's error; every model also logs one line. A
    model that fails on its own is recorded as `failed` with the reason and the sweep goes on; a
    failure of the run raises `RunStopped`; KeyboardInterrupt/SIGTERM stop the run with no record
    written. Either way the model's checkpoint is left for the next run.

    `pack`: train up to this many models at a time off one data stream (see the module docstring); on CPU
    every record is the one the model gets alone. `graphs`: on CUDA, each pack member's training step is a
    CUDA graph (`designspace.training.graphs`; off by default, not yet measured on a GPU). `models`: train
    only these model ids of the shard (a sequential comparison trains the next rows of a random order).
    """
    t0 = time.perf_counter()
    _check_options(claim_timeout_s, retry_failed, breaker, pack, graphs)
    _check_run_values(checkpoint_every_s, threads, limit, seed, shard, num_shards)
    sweep = sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir)
    samples = sweep.read_samples()
    if "model_id" not in samples.columns:
        raise UserError(f"{sweep.samples_path}: the samples table has no model_id column")
    schedule = schedule if isinstance(schedule, Schedule) else Schedule.from_dict(schedule)
    mine = shard_rows(samples, shard, num_shards)
    mine = mine[~mine["model_id"].astype(str).duplicated()]
    if models is not None:
        mine = mine[mine["model_id"].astype(str).isin({str(m) for m in models})]
    mine, bad_rows = _valid_rows(sweep, mine)
    records, unreadable = scan_records(sweep)
    groups = setups.group(records)
    # Records of another setup are refused before anything runs: first on what the configs say, then
    # (once the data is read) on the image counts and precision too, and against the setup the sweep pinned.
    wanted = setups.make_setup(_config_identity(dataset), schedule.to_dict(), seed)
    setups.check_compatible(groups, wanted, str(sweep.root), setups.CONFIG_IDENTITY)
    done = _done_ids(records, retry_failed) | unreadable  # an unreadable record is someone's result: left alone
    _remove_orphan_checkpoints(sweep, done)
    is_done = mine["model_id"].isin(done)
    todo = mine[~is_done]
    if limit is not None:
        todo = todo.iloc[: max(0, int(limit))]
    summary = SweepSummary(shard, num_shards, len(mine), int(is_done.sum()), bad_rows=bad_rows,
                           unreadable_records=len(unreadable))
    log.info("sweep %s, shard %d/%d: %d models, %d already done, %d to train",
             sweep.root, shard, num_shards, len(mine), summary.already_done, len(todo))
    if todo.empty:
        summary.seconds = time.perf_counter() - t0
        return summary

    sweep.require_writable(f"{len(todo)} model(s) of this shard still need training")
    sweep.clean()
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    used = configure_threads(threads)
    dev = resolve_device(device)
    full = setups.make_setup(data.info(), schedule.to_dict(), seed, setups.precision(dev))
    setups.check_compatible(groups, full, str(sweep.root))
    setups.check_pinned(sweep, full)  # pinned (written) only once a model is about to train: `_Run.pin`
    log.info("data: %s (%d train / %d test images at %s); schedule %s; device %s, %d threads%s",
             data.name, data.train_size, data.test_size, data.root, schedule.name, dev, used,
             f", packs of {pack}" if pack > 1 else "")
    if graphs and dev.type != "cuda":
        log.warning("graphs=true has no effect on %s: CUDA graphs need a CUDA device; training eagerly", dev)
    bar = _progress_bar(len(mine), summary.already_done) if progress and sys.stderr.isatty() else None
    run = _Run(sweep, data, schedule, seed, dev, bar, checkpoint_every_s, claim_timeout_s, retry_failed,
               summary, _Pending(breaker), graphs and dev.type == "cuda", full)
    try:
        with _sigterm_as_interrupt(), _logs_around(bar):
            rows = [row for _, row in todo.iterrows()]
            if pack > 1 or run.graphs:
                held = run.train_packs(rows, pack)
            else:
                held = [row for row in rows if not run.train_row(row)]
            # A model claimed elsewhere is this shard's until it has a record: wait for it, and train it if its
            # claim goes stale (a holder that died on another node, whose pid cannot be checked from here).
            run.flush()  # no failures held back (their claims unrefreshed) while waiting
            if held and limit is None:
                log.info("waiting for %d model(s) claimed by other processes; a claim is taken over once its "
                         "heartbeat is %.0f s old", len(held), claim_timeout_s)
            while held and limit is None:
                records, unreadable = scan_records(sweep)
                done_now = _done_ids(records, retry_failed) | unreadable
                held = [row for row in held if str(row["model_id"]) not in done_now]
                if not held:
                    break
                time.sleep(min(HEARTBEAT_S, max(claim_timeout_s / 4, 0.5)))
                held = [row for row in held if not run.train_row(row)]
                run.flush()
            summary.held_elsewhere = len(held)
    finally:
        run.pending.drop()  # an interrupted or stopped run: failures waiting to be written train again
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    log.info("shard %d/%d finished: %s", shard, num_shards, summary.text())
    return summary


def _remove_orphan_checkpoints(sweep: SweepDir, done: set[str]) -> None:
    """Delete checkpoints older than their model's record (left by a kill between record and cleanup).

    A checkpoint newer than the record belongs to a retrain in progress (retry_failed) and stays.
    """
    if not sweep.checkpoints_dir.is_dir():
        return
    for path in sweep.checkpoints_dir.glob("*.pt"):
        if path.stem in done:
            with contextlib.suppress(OSError):  # gone already, or a read-only sweep: left for a writable run
                if path.stat().st_mtime <= sweep.result_path(path.stem).stat().st_mtime:
                    os.unlink(path)


def _logs_around(bar: Any) -> Any:
    """Route log lines through the progress bar, so they do not break it."""
    if bar is None:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def _progress_bar(total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="model", desc="models", dynamic_ncols=True, mininterval=1.0)


@dataclass
class _Run:
    """One run's training of its rows: claims, the trainer, records, and the line between a model's failure
    and the run's."""

    sweep: SweepDir
    data: Dataset
    schedule: Schedule
    seed: int
    device: Any
    bar: Any
    checkpoint_every_s: float | None
    claim_timeout_s: float
    retry_failed: bool
    summary: SweepSummary
    pending: _Pending
    graphs: bool = False
    setup: dict[str, Any] | None = None
    pinned: bool = False

    def pin(self) -> None:
        """Pin the run's setup in the sweep (setup.json) the first time a model trains or is recorded: a run
        stopped before that (a bad schedule value, missing data) leaves the sweep as it was."""
        if not self.pinned and self.setup is not None:
            setups.pin(self.sweep, self.setup)
            self.pinned = True

    def train_row(self, row: Any) -> bool:
        """Claim, train and record one sample row; False if another process holds it (or just finished it)."""
        sweep, model_id = self.sweep, str(row["model_id"])
        claim = try_claim(sweep, model_id, self.claim_timeout_s)
        if claim is None:
            log.info("%s: claimed by another live process, skipped", model_id)
            return False
        keep_claim = False
        try:
            if self._done(model_id):
                return False  # finished by another process between our listing and our claim
            spec = NetSpec.from_row(row)
            t0 = time.perf_counter()
            hooks = _Hooks(claim, self.pending.claims(), self.bar, model_id, self.schedule.epochs, self.pin)
            kwargs = self._record_fields(spec)
            failure: BaseException | None = None
            try:
                outcome = train_spec(spec, self.data, self.schedule, seed=self.seed, device=self.device, hooks=hooks,
                                     checkpoint=sweep.checkpoint_path(model_id),
                                     checkpoint_every_s=self.checkpoint_every_s)
                record = build_record(model_id, outcome=outcome, **kwargs)
            except ClaimLost as exc:
                log.warning("%s: %s", model_id, exc)
                self.summary.lost_claims += 1
                return True
            except Exception as exc:  # a model's failure is recorded and the sweep goes on; the run's stops it
                failure = exc
            if failure is not None:
                keep_claim = self._failed(claim, model_id, failure, kwargs, time.perf_counter() - t0)
                return True
            self.flush()
            self._write(claim, record)
            return True
        finally:
            if not keep_claim:
                claim.release()

    def _record_fields(self, spec: NetSpec) -> dict[str, Any]:
        """What a record of `spec` says besides its outcome (build_record's keyword arguments)."""
        return {"spec": spec, "trained_spec": adapt_spec(spec, self.data), "dataset_info": self.data.info(),
                "schedule": self.schedule.to_dict(), "seed": self.seed, "started_at": now_iso()}

    def _failed(self, claim: Claim, model_id: str, failure: BaseException, kwargs: dict[str, Any],
                wall_time_s: float) -> bool:
        """A model raised: stop the run if the error is the run's (`RunStopped`), else hold its `failed` record
        back for the breaker; True (the claim is kept until the record is written)."""
        kind, signature, reason = run_failure(failure), _signature(failure), describe_failure(failure)
        del failure  # after the caller's except block and this, the traceback's tensors are gone
        _free_memory(self.device)
        if kind is not None:
            raise _stopped(kind, model_id, reason) from None
        log.error("%s failed: %s", model_id, reason)
        record = build_record(model_id, failure=reason, wall_time_s=wall_time_s, device=str(self.device), **kwargs)
        return self._hold_failure(claim, record, reason, signature)

    # --- packs ------------------------------------------------------------------------------------
    def train_packs(self, rows: list[Any], size: int) -> list[Any]:
        """Train `rows` in packs of up to `size` claimed models; the rows held by other live processes."""
        held: list[Any] = []
        queue = list(rows)
        while queue:
            claimed: list[tuple[Any, Claim]] = []
            kept: set[int] = set()
            try:
                while queue and len(claimed) < size:
                    row = queue.pop(0)
                    model_id = str(row["model_id"])
                    claim = try_claim(self.sweep, model_id, self.claim_timeout_s)
                    if claim is None:
                        log.info("%s: claimed by another live process, skipped", model_id)
                        held.append(row)
                        continue
                    claimed.append((row, claim))
                    if self._done(model_id):  # finished by another process between our listing and our claim
                        claimed.pop()
                        claim.release()
                if claimed:
                    kept = self._train_pack(claimed)
            finally:
                for i, (_, claim) in enumerate(claimed):
                    if i not in kept:
                        claim.release()
        return held

    def _train_pack(self, claimed: list[tuple[Any, Claim]]) -> set[int]:
        """Train the claimed rows as one pack and write each member's record; the members whose claims are
        kept (failures held back for the breaker)."""
        ids = [str(row["model_id"]) for row, _ in claimed]
        specs = [NetSpec.from_row(row) for row, _ in claimed]
        fields = [self._record_fields(spec) for spec in specs]
        hooks = [_Hooks(claim, self.pending.claims(), self.bar, model_id, self.schedule.epochs, self.pin)
                 for (_, claim), model_id in zip(claimed, ids)]
        log.info("pack of %d: %s", len(ids), ", ".join(ids))
        t0 = time.perf_counter()
        try:
            built = build_trainers(specs, self.data, self.schedule, seed=self.seed, device=self.device, hooks=hooks)
        except Exception as exc:  # the shared loader could not be made: the data's or the device's fault
            kind = run_failure(exc)
            if kind is None:
                raise
            raise _stopped(kind, "the pack", describe_failure(exc)) from None
        for model_id, item in zip(ids, built):
            kind = None if isinstance(item, Trainer) else run_failure(item)
            if kind is not None:  # a config or device error: no member would train
                raise _stopped(kind, model_id, describe_failure(item)) from None
        members = [i for i, t in enumerate(built) if isinstance(t, Trainer)]
        results: list[Any] = list(built)  # each Trainer is replaced by its outcome or error below
        if members:
            pack = PackTrainer([built[i] for i in members], [self.sweep.checkpoint_path(ids[i]) for i in members],
                               self.checkpoint_every_s, self.graphs, fatal=lambda exc: run_failure(exc) is not None)
            try:
                pack.fit()
            except Exception as exc:
                kind, stopped = run_failure(exc), pack.stopped_by
                if kind is None:
                    raise  # no member's error that `fatal` judged: a bug
                model_id = ids[members[pack.members.index(stopped)]] if stopped is not None else "the pack"
                raise _stopped(kind, model_id, describe_failure(exc)) from None
            for i, m in zip(members, pack.members):
                results[i] = m.outcome if m.outcome is not None else m.error
            del pack
        del built
        if self.device.type == "cuda" or not all(isinstance(r, TrainOutcome) for r in results):
            # A failure's traceback can hold a member's tensors in a cycle, and on CUDA the next pack wants the
            # memory back; otherwise the members are gone by reference counting (a full gc.collect costs ~0.2 s,
            # 25-40% of a pack of four tiny CPU models: experiments/bench_pack.py, sweep_pack_s).
            _free_memory(self.device)
        # Outcomes are written first: a breaker tripped by the pack's failures must not cost a trained result.
        kept: set[int] = set()
        order = sorted(range(len(ids)), key=lambda i: not isinstance(results[i], TrainOutcome))
        for i in order:
            (_, claim), model_id, result = claimed[i], ids[i], results[i]
            results[i] = None  # the pack's last reference: a failure's traceback (and its tensors) goes with it
            fields[i]["pack"] = len(ids)
            if isinstance(result, TrainOutcome):
                self.flush()
                self._write(claim, build_record(model_id, outcome=result, **fields[i]))
            elif isinstance(result, ClaimLost):
                log.warning("%s: %s", model_id, result)
                self.summary.lost_claims += 1
            elif self._failed(claim, model_id, result, fields[i], time.perf_counter() - t0):
                kept.add(i)
        return kept

    def _done(self, model_id: str) -> bool:
        """Whether the model has a record that counts (an unreadable one counts: someone's result)."""
        try:
            record = read_record_or_set_aside(self.sweep, model_id)
        except RecordUnreadable:
            return True
        return record is not None and not (self.retry_failed and record["status"] == "failed")

    def _hold_failure(self, claim: Claim, record: dict[str, Any], reason: str,
                      signature: tuple[str, str, int] | None) -> bool:
        """Keep a failed model's record back until the failure is known to be the model's; True (claim kept)."""
        pending = self.pending
        if pending.items and signature != pending.signature:
            self.flush()
        pending.signature = signature
        pending.items.append((claim, record))
        if signature is not None and pending.limit and len(pending.items) >= pending.limit:
            ids = [r["model_id"] for _, r in pending.items]
            pending.drop()
            raise RunStopped(f"stopped: {len(ids)} models in a row ({', '.join(ids)}) failed the same way: {reason}. "
                             "That is a fault of the run, not of the models: nothing was recorded for them; fix "
                             "the cause and rerun the same command")
        if signature is None:  # out of memory: the model's own failure, written at once
            self.flush()
        return True

    def flush(self) -> None:
        """Write the failed records held back, each only while its claim is still this process's."""
        items, self.pending.items = self.pending.items, []
        try:
            for claim, record in items:
                self._write(claim, record)
        finally:
            for claim, _ in items:
                claim.release()

    def _write(self, claim: Claim, record: dict[str, Any]) -> None:
        """Write the record while the claim is this process's, then drop the model's checkpoint."""
        model_id = record["model_id"]
        self.pin()  # a record always belongs to the pinned setup
        try:
            try:
                write_record(self.sweep, record, check=claim.check)
            except RecordExists:
                old = read_record_or_set_aside(self.sweep, model_id)
                if not (self.retry_failed and old is not None and old["status"] == "failed"):
                    raise
                supersede_record(self.sweep, model_id)  # the failure retrained under this claim: kept aside
                write_record(self.sweep, record, check=claim.check)
        except ClaimLost as exc:
            log.warning("%s: %s; its %s record is not written", model_id, exc, record["status"])
            self.summary.lost_claims += 1
            return
        except RecordExists:
            log.warning("%s: another worker recorded it meanwhile (it took the model over); this %s record is "
                        "dropped, the existing one stays", model_id, record["status"])
            self.summary.lost_claims += 1
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sweep.checkpoint_path(model_id))
        _count(self.summary, record["status"], self.bar)
        err = record["final_error"]
        log.info("%s %s: error %s, %d epochs, %.1f s%s", model_id, record["status"],
                 "-" if err is None else f"{err:.2f}%", len(record["epochs"]), record["wall_time_s"] or 0.0,
                 f" ({record['reason']})" if record["reason"] else "")


def _stopped(kind: str, model_id: str, reason: str) -> RunStopped:
    return RunStopped(f"stopped: a {kind} error while training {model_id}: {reason}. Nothing was recorded for it "
                      "(its checkpoint is kept); fix the cause and rerun the same command")


def _count(summary: SweepSummary, status: str, bar: Any) -> None:
    summary.trained += 1
    setattr(summary, status, getattr(summary, status) + 1)
    if bar is not None:
        bar.update(1)


def _free_memory(device: Any) -> None:
    gc.collect()
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
