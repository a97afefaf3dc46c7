"""The sweep runner: train every model of a sweep directory that has no result yet, resumably.

- Shard i of N owns rows j of the samples table with j % N == i, so `shard=i num_shards=N` jobs
  (a SLURM array, local processes, Ray tasks) split a sweep with no coordinator.
- A model is done when DIR/results/<id>.json exists; records are written atomically, so a kill at
  any moment leaves either no record or a whole one.
- Before training a model, a process claims it: DIR/claims/<id>.claim created with O_CREAT|O_EXCL,
  holding pid, host and a token, its mtime refreshed as a heartbeat. A claim whose process is dead
  (same host) or whose heartbeat is older than `claim_timeout_s` is stale and is taken over, so
  overlapping shards never train one model twice and killed runs never block a model. A shard
  returns only when each of its models has a record: a model claimed by another process is waited
  for, and trained here once that claim goes stale. A claim left by an earlier run of the same SLURM
  job (requeued, possibly onto another node) is stale at once (its SLURM_RESTART_COUNT is lower).
- Long models checkpoint after epochs (DIR/checkpoints/<id>.pt) and resume inside the model.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from designspace.net.spec import NetSpec
from designspace.sweep import setups
from designspace.sweep.layout import SweepDir
from designspace.sweep.results import (
    build_record,
    now_iso,
    read_record_or_set_aside,
    read_records,
    write_record,
)
from designspace.training.data import Dataset, DatasetConfig, load_dataset
from designspace.training.trainer import (
    Schedule,
    TrainOutcome,
    adapt_spec,
    configure_threads,
    describe_failure,
    resolve_device,
    train_spec,
)

log = logging.getLogger(__name__)

CLAIMS_DIR = "claims"
HEARTBEAT_S = 15.0
EMPTY_CLAIM_GRACE_S = 10.0  # a claim still empty after this long lost its writer between create and write


# --------------------------------------------------------------------------------------------
# Claims


def _proc_start(pid: int) -> str | None:
    """Start time of a process (Linux /proc), telling a live pid from a reused one; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return None if fields[0] == "Z" else fields[19]


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if Path("/proc").is_dir() and Path(f"/proc/{os.getpid()}").is_dir():
        now_start = _proc_start(pid)
        return now_start is not None and (start is None or now_start == start)
    return True


@dataclass
class Claim:
    """An exclusive claim on one model of a sweep; `release` it when the model's record is written."""

    path: Path
    token: str
    _last_beat: float = 0.0

    def heartbeat(self, force: bool = False) -> None:
        """Refresh the claim's mtime (at most every HEARTBEAT_S unless forced)."""
        now = time.monotonic()
        if force or now - self._last_beat >= HEARTBEAT_S:
            with contextlib.suppress(OSError):
                os.utime(self.path)
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


def _claim_is_stale(path: Path, info: dict[str, Any], timeout_s: float) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > timeout_s or (not info and age > EMPTY_CLAIM_GRACE_S):
        return True
    job, mine = info.get("job"), _job_identity()
    if isinstance(job, dict) and mine is not None and job.get("id") == mine["id"] \
            and isinstance(job.get("restart"), int) and job["restart"] < mine["restart"]:
        return True  # left by an earlier run of this very job, which the scheduler killed and requeued
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not _pid_alive(info["pid"], info.get("pid_start"))
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
    folder = sweep.root / CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model_id}.claim"
    token = uuid.uuid4().hex
    payload = {"pid": os.getpid(), "pid_start": _proc_start(os.getpid()), "host": socket.gethostname(),
               "token": token, "claimed_at": now_iso(), "job": _job_identity()}
    if _create_exclusive(path, payload):
        return Claim(path, token, time.monotonic())
    info = _read_claim(path)
    if info is None:  # released in between: try once more
        return Claim(path, token, time.monotonic()) if _create_exclusive(path, payload) else None
    if not _claim_is_stale(path, info, timeout_s):
        return None
    lock = path.with_suffix(".takeover")
    with contextlib.suppress(FileNotFoundError):
        if time.time() - lock.stat().st_mtime > 60:
            os.unlink(lock)
    if not _create_exclusive(lock, payload):
        return None
    try:
        again = _read_claim(path)
        if again is not None and (again.get("token") != info.get("token") or not _claim_is_stale(path, again, timeout_s)):
            return None
        log.info("taking over stale claim on %s (%s)", model_id, {k: info.get(k) for k in ("host", "pid", "claimed_at")})
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return Claim(path, token, time.monotonic()) if _create_exclusive(path, payload) else None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)


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
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shard_rows(samples: Any, shard: int, num_shards: int) -> Any:
    """Rows j of the samples table with j % num_shards == shard (in table order)."""
    if not (isinstance(num_shards, int) and num_shards >= 1):
        raise ValueError(f"num_shards={num_shards!r} must be an integer >= 1")
    if not (isinstance(shard, int) and 0 <= shard < num_shards):
        raise ValueError(f"shard={shard!r} must be an integer in [0, num_shards={num_shards})")
    return samples.iloc[shard::num_shards]


class _Hooks:
    """Trainer hooks: claim heartbeats and the progress bar's per-epoch error."""

    def __init__(self, claim: Claim, bar: Any, model_id: str, epochs: int) -> None:
        self.claim, self.bar, self.model_id, self.epochs = claim, bar, model_id, epochs
        self.last_error: float | None = None
        self.epoch = 0

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        self.claim.heartbeat()

    def on_epoch(self, record: dict[str, Any]) -> None:
        self.claim.heartbeat(force=True)
        self.epoch, self.last_error = record["epoch"], record["test_error"]
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.model_id} ep {self.epoch}/{self.epochs} err {self.last_error:.2f}%")


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
    pack: int = 1,
    graphs: bool = False,
) -> SweepSummary:
    """Train every model of this shard of the sweep that has no result yet (see the module docstring).

    The dataset is loaded (and validated) before any training. With `progress`, a bar on a terminal
    shows models done, the ETA and the current model's error; every model also logs one line. A
    model that raises is recorded as `failed` with the reason and the sweep goes on;
    KeyboardInterrupt/SIGTERM stop the run with no record written, leaving the model's checkpoint
    for the next run. With `pack` > 1, up to `pack` models are claimed and trained together off one
    loader (`designspace.sweep.pack_runner`; `graphs`: CUDA graphs, see `designspace.training.pack`).
    """
    if not (isinstance(pack, int) and not isinstance(pack, bool) and pack >= 1):
        raise ValueError(f"pack={pack!r} must be an integer >= 1")
    t0 = time.perf_counter()
    sweep = sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir)
    samples = sweep.read_samples()
    if "model_id" not in samples.columns:
        raise ValueError(f"{sweep.samples_path}: the samples table has no model_id column")
    schedule = schedule if isinstance(schedule, Schedule) else Schedule.from_dict(schedule)
    mine = shard_rows(samples, shard, num_shards)
    mine = mine[~mine["model_id"].duplicated()]
    records = read_records(sweep)
    groups = setups.group(records)
    # Records of another setup are refused before anything runs: first on what the configs say, then
    # (once the data is read) on the image counts too.
    wanted = setups.make_setup(_config_identity(dataset), schedule.to_dict(), seed)
    setups.check_compatible(groups, wanted, str(sweep.root), setups.CONFIG_IDENTITY)
    done = _done_ids(records, retry_failed)
    _remove_orphan_checkpoints(sweep, done)
    is_done = mine["model_id"].isin(done)
    todo = mine[~is_done]
    if limit is not None:
        todo = todo.iloc[: max(0, int(limit))]
    summary = SweepSummary(shard, num_shards, len(mine), int(is_done.sum()))
    log.info("sweep %s, shard %d/%d: %d models, %d already done, %d to train",
             sweep.root, shard, num_shards, len(mine), summary.already_done, len(todo))
    if todo.empty:
        summary.seconds = time.perf_counter() - t0
        return summary

    sweep.require_writable(f"{len(todo)} model(s) of this shard still need training")
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    setups.check_compatible(groups, setups.make_setup(data.info(), schedule.to_dict(), seed), str(sweep.root))
    used = configure_threads(threads)
    dev = resolve_device(device)
    log.info("data: %s (%d train / %d test images at %s); schedule %s; device %s, %d threads",
             data.name, data.train_size, data.test_size, data.root, schedule.name, dev, used)
    bar = _progress_bar(len(mine), summary.already_done) if progress and sys.stderr.isatty() else None
    try:
        with _sigterm_as_interrupt(), _logs_around(bar):
            held = []
            if pack > 1 or graphs:
                from designspace.sweep.pack_runner import PackJob, train_packs

                job = PackJob(sweep, data, schedule, seed, dev, bar, checkpoint_every_s, graphs)
                held = train_packs(job, todo, pack, lambda status: _count(summary, status, bar), claim_timeout_s,
                                   retry_failed)
            for _, row in todo.iterrows() if pack == 1 and not graphs else ():
                status = _train_row(sweep, row, data, schedule, seed, dev, bar, checkpoint_every_s, claim_timeout_s,
                                    retry_failed)
                if status is None:
                    held.append(row)
                    continue
                _count(summary, status, bar)
            # A model claimed elsewhere is this shard's until it has a record: wait for it, and train it if its
            # claim goes stale (a holder that died on another node, whose pid cannot be checked from here).
            if held and limit is None:
                log.info("waiting for %d model(s) claimed by other processes; a claim is taken over once its "
                         "heartbeat is %.0f s old", len(held), claim_timeout_s)
            while held and limit is None:
                done_now = _done_ids(read_records(sweep), retry_failed)
                held = [row for row in held if str(row["model_id"]) not in done_now]
                if not held:
                    break
                time.sleep(min(HEARTBEAT_S, max(claim_timeout_s / 4, 0.5)))
                still = []
                for row in held:
                    status = _train_row(sweep, row, data, schedule, seed, dev, bar, checkpoint_every_s,
                                        claim_timeout_s, retry_failed)
                    if status is None:
                        still.append(row)
                    else:
                        _count(summary, status, bar)
                held = still
            summary.held_elsewhere = len(held)
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    log.info("shard %d/%d finished: %s", shard, num_shards, summary.as_dict())
    return summary


def _count(summary: SweepSummary, status: str, bar: Any) -> None:
    summary.trained += 1
    setattr(summary, status, getattr(summary, status) + 1)
    if bar is not None:
        bar.update(1)


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


def _train_row(
    sweep: SweepDir,
    row: Any,
    data: Dataset,
    schedule: Schedule,
    seed: int,
    device: Any,
    bar: Any,
    checkpoint_every_s: float | None,
    claim_timeout_s: float,
    retry_failed: bool,
) -> str | None:
    """Claim, train and record one sample row; the status written, or None if someone else has it."""
    model_id = str(row["model_id"])
    claim = try_claim(sweep, model_id, claim_timeout_s)
    if claim is None:
        log.info("%s: claimed by another live process, skipped", model_id)
        return None
    try:
        if model_id in _done_ids_one(sweep, model_id, retry_failed):
            return None  # finished by another process between our listing and our claim
        kwargs, t0 = record_fields(row, data, schedule, seed), time.perf_counter()
        hooks = _Hooks(claim, bar, model_id, schedule.epochs)
        result: TrainOutcome | str
        try:
            result = train_spec(kwargs["spec"], data, schedule, seed=seed, device=device, hooks=hooks,
                                checkpoint=sweep.checkpoint_path(model_id), checkpoint_every_s=checkpoint_every_s)
        except Exception as exc:  # any failure of one model is recorded and the sweep goes on
            result = describe_failure(exc)
        return record_result(sweep, model_id, result, kwargs, t0, device)
    finally:
        claim.release()


def record_fields(row: Any, data: Dataset, schedule: Schedule, seed: int) -> dict[str, Any]:
    """What a record of this sample row says besides the outcome (`build_record`'s keyword arguments)."""
    spec = NetSpec.from_row(row)
    return {"spec": spec, "trained_spec": adapt_spec(spec, data), "dataset_info": data.info(),
            "schedule": schedule.to_dict(), "seed": seed, "started_at": now_iso()}


def record_result(sweep: SweepDir, model_id: str, result: TrainOutcome | str, kwargs: dict[str, Any], t0: float,
                  device: Any) -> str:
    """Write the record of a trained model (`result`: its outcome, or why it failed), remove its checkpoint,
    log a line; returns the status written."""
    reason = result if isinstance(result, str) else None
    if not isinstance(result, str):
        try:
            record = build_record(model_id, outcome=result, **kwargs)
        except Exception as exc:
            reason = describe_failure(exc)
    if reason is not None:
        _free_memory(device)  # after the except block, so the traceback's tensors are gone
        log.error("%s failed: %s", model_id, reason)
        record = build_record(model_id, failure=reason, wall_time_s=time.perf_counter() - t0,
                              device=str(device), **kwargs)
    write_record(sweep, record)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sweep.checkpoint_path(model_id))
    err = record["final_error"]
    log.info("%s %s: error %s, %d epochs, %.1f s%s", model_id, record["status"],
             "-" if err is None else f"{err:.2f}%", len(record["epochs"]), record["wall_time_s"] or 0.0,
             f" ({record['reason']})" if record["reason"] else "")
    return record["status"]


def _done_ids_one(sweep: SweepDir, model_id: str, retry_failed: bool) -> set[str]:
    path = sweep.result_path(model_id)
    if not path.is_file():
        return set()
    record = read_record_or_set_aside(path)
    if record is None or (retry_failed and record["status"] == "failed"):
        return set()
    return {model_id}


def _free_memory(device: Any) -> None:
    gc.collect()
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
