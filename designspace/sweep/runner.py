"""The sweep runner: train every model of a sweep directory that has no result yet, resumably.

- Shard i of N owns rows j of the samples table with j % N == i, so `shard=i num_shards=N` jobs
  (a SLURM array, local processes, Ray tasks) split a sweep with no coordinator.
- A model is done when DIR/results/<id>.json exists; records are published atomically, so a kill at
  any moment leaves either no record or a whole one.
- Before training a model, a process claims it (`designspace.sweep.claims`: fenced claims with heartbeats,
  stale ones taken over). A shard returns only when each of its models has a record: a model claimed by
  another process is waited for, and trained here once that claim goes stale.
- Failures of the run are told apart from failures of a model (`designspace.sweep.failures`): the run's
  stop it with one line (`RunStopped`) and no record; a model's own is recorded as `failed`.
- A samples row that does not describe a network, or whose model_id is not its own spec's id, is
  skipped with a line naming it; the other rows train.
- Long models checkpoint after epochs (DIR/checkpoints/<id>.pt) and resume inside the model.
- One training path: the process claims up to `pack` models of its shard (one fenced claim each, every
  claim refreshed at every step) and trains them off one data stream (`designspace.training.pack`); a
  model trained alone is a pack of one. Each member keeps its own checkpoint and gets its own record the
  moment the pack is done, on CPU bit for bit the one it gets alone. A member whose claim is lost, that
  diverges or fails leaves the pack and the others go on; a failure of the run stops the whole pack with
  no record. The pack runs to its end, then the next models are claimed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from designspace.net.spec import NetSpec
from designspace.space.hparams import hparam_columns, row_hparams, row_model_id
from designspace.sweep import failures, setups
from designspace.sweep.claims import HEARTBEAT_S, Claim, ClaimLost, try_claim
from designspace.sweep.failures import Pending, RunStopped, run_failure
from designspace.sweep.hooks import ClaimHooks
from designspace.sweep.layout import InvalidModelId, SweepDir, check_model_id
from designspace.sweep.options import RunOptions
from designspace.sweep.results import (
    RecordExists,
    RecordUnreadable,
    build_record,
    now_iso,
    read_record_or_set_aside,
    replace_failed_record,
    scan_records,
    write_record,
)
from designspace.sweep.summary import SweepSummary
from designspace.training.data import Dataset, DatasetConfig, load_dataset
from designspace.training.pack import PackTrainer, build_trainers
from designspace.training.schedule import Schedule, model_schedule
from designspace.training.trainer import (
    Trainer,
    TrainOutcome,
    adapt_spec,
    configure_threads,
    describe_failure,
    resolve_device,
)
from designspace.util.usage import UserError

log = logging.getLogger(__name__)

__all__ = ["Interrupted", "run_sweep", "shard_rows"]


# --------------------------------------------------------------------------------------------
# Sweeps


def shard_rows(samples: Any, shard: int, num_shards: int) -> Any:
    """Rows j of the samples table with j % num_shards == shard (in table order)."""
    if not (isinstance(num_shards, int) and num_shards >= 1):
        raise UserError(f"num_shards={num_shards!r} must be an integer >= 1")
    if not (isinstance(shard, int) and 0 <= shard < num_shards):
        raise UserError(f"shard={shard!r} must be an integer in [0, num_shards={num_shards})")
    return samples.iloc[shard::num_shards]


def _valid_rows(sweep: SweepDir, rows: Any) -> tuple[Any, int]:
    """The rows whose model_id is the 12-hex-digit id of the row's own model (its spec, and its sampled
    hyperparameters if any: `designspace.space.hparams`), and how many were not; each bad row is named in a log
    line (a malformed row fails alone, and no table can make a record land elsewhere)."""
    keep, bad = [], 0
    for index, row in rows.iterrows():
        try:
            model_id = check_model_id(row["model_id"])
            own_id = row_model_id(row)
            if own_id != model_id:
                raise InvalidModelId(f"model_id {model_id} is not the id of the row's model ({own_id})")
        except Exception as exc:  # a malformed row: any error of reading it is its own
            log.error("%s, row %s: skipped, it does not describe a model (%s)", sweep.samples_path, index,
                      " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
            bad += 1
            continue
        keep.append(index)
    return rows.loc[keep], bad


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
    options: RunOptions | None = None,
    *,
    models: Sequence[str] | None = None,
) -> SweepSummary:
    """Train every model of this shard of the sweep that has no result yet (see the module docstring).

    `options` (`RunOptions`, checked when made): shard, seed, device, threads, packs, checkpoints, claims,
    retries, limit, breaker, progress. The dataset is loaded (and validated) before any training. With
    `progress`, a bar on a terminal shows models done, the ETA and the current model's error; every model also
    logs one line. A model that fails on its own is recorded as `failed` with the reason and the sweep goes on;
    a failure of the run raises `RunStopped`; KeyboardInterrupt/SIGTERM stop the run with no record written.
    Either way the model's checkpoint is left for the next run. `models`: train only these model ids of the
    shard (a sequential comparison trains the next rows of a random order); the run's own lines (the sweep, the
    data, the end) are then logged at DEBUG, leaving the caller one line per model.
    """
    t0 = time.perf_counter()
    detail = logging.DEBUG if models is not None else logging.INFO
    opt = options if options is not None else RunOptions()
    if not isinstance(opt, RunOptions):
        raise TypeError(f"options must be a RunOptions, not {type(opt).__name__}")
    sweep = sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir)
    samples = sweep.read_samples()
    if "model_id" not in samples.columns:
        raise UserError(f"{sweep.samples_path}: the samples table has no model_id column")
    schedule = schedule if isinstance(schedule, Schedule) else Schedule.from_dict(schedule)
    mine = shard_rows(samples, opt.shard, opt.num_shards)
    mine = mine[~mine["model_id"].astype(str).duplicated()]
    if models is not None:
        mine = mine[mine["model_id"].astype(str).isin({str(m) for m in models})]
    mine, bad_rows = _valid_rows(sweep, mine)
    records, unreadable = scan_records(sweep)
    groups = setups.group(records)
    # Records of another setup are refused before anything runs: first on what the configs say, then
    # (once the data is read) on the image counts and precision too, and against the setup the sweep pinned.
    sampled = hparam_columns(samples.columns)  # schedule keys each model brings (its row): not the setup's
    wanted = setups.make_setup(_config_identity(dataset), schedule.to_dict(), opt.seed, sampled=sampled)
    setups.check_compatible(groups, wanted, str(sweep.root), setups.CONFIG_IDENTITY)
    done = _done_ids(records, opt.retry_failed) | unreadable  # an unreadable record is someone's result: left alone
    _remove_orphan_checkpoints(sweep, done)
    is_done = mine["model_id"].isin(done)
    todo = mine[~is_done]
    if opt.limit is not None:
        todo = todo.iloc[: opt.limit]
    summary = SweepSummary(opt.shard, opt.num_shards, len(mine), int(is_done.sum()), bad_rows=bad_rows,
                           unreadable_records=len(unreadable))
    log.log(detail, "sweep %s, shard %d/%d: %d models, %d already done, %d to train",
             sweep.root, opt.shard, opt.num_shards, len(mine), summary.already_done, len(todo))
    if todo.empty:
        summary.seconds = time.perf_counter() - t0
        return summary

    for index, row in todo.iterrows() if sampled else ():  # each model's own schedule, checked before any write
        model_schedule(schedule, row, f"{sweep.samples_path}, row {index}")
    sweep.require_writable(f"{len(todo)} model(s) of this shard still need training")
    sweep.clean()
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    used = configure_threads(opt.threads)
    dev = resolve_device(opt.device)
    full = setups.make_setup(data.info(), schedule.to_dict(), opt.seed, setups.precision(dev), sampled=sampled)
    setups.check_compatible(groups, full, str(sweep.root))
    setups.check_pinned(sweep, full)  # pinned (written) only once a model is about to train: `_Run.pin`
    log.log(detail, "data: %s (%d train / %d test images at %s); schedule %s; device %s, %d threads%s",
             data.name, data.train_size, data.test_size, data.root, schedule.name, dev, used,
             f", packs of {opt.pack}" if opt.pack > 1 else "")
    if sampled:
        log.log(detail, "sampled per model (the samples table): %s; the schedule's own values of these are not used",
                ", ".join(sampled))
    if opt.graphs and dev.type != "cuda":
        log.warning("graphs=true has no effect on %s: CUDA graphs need a CUDA device; training eagerly", dev)
    bar = _progress_bar(len(mine), summary.already_done) if opt.progress and sys.stderr.isatty() else None
    run = _Run(sweep, data, schedule, opt, dev, bar, summary, Pending(opt.breaker), full)
    try:
        with _sigterm_as_interrupt(), _logs_around(bar):
            held = run.train([row for _, row in todo.iterrows()])
            # A model claimed elsewhere is this shard's until it has a record: wait for it, and train it if its
            # claim goes stale (a holder that died on another node, whose pid cannot be checked from here).
            run.flush()  # no failures held back (their claims unrefreshed) while waiting
            if held and opt.limit is None:
                log.info("waiting for %d model(s) claimed by other processes; a claim is taken over once its "
                         "heartbeat is %.0f s old", len(held), opt.claim_timeout_s)
            while held and opt.limit is None:
                records, unreadable = scan_records(sweep)
                done_now = _done_ids(records, opt.retry_failed) | unreadable
                held = [row for row in held if str(row["model_id"]) not in done_now]
                if not held:
                    break
                time.sleep(min(HEARTBEAT_S, max(opt.claim_timeout_s / 4, 0.5)))
                held = run.train(held)
                run.flush()
            summary.held_elsewhere = len(held)
    finally:
        run.pending.drop()  # an interrupted or stopped run: failures waiting to be written train again
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    log.log(detail, "shard %d/%d finished: %s", opt.shard, opt.num_shards, summary.text())
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
    options: RunOptions
    device: Any
    bar: Any
    summary: SweepSummary
    pending: Pending
    setup: dict[str, Any] | None = None
    pinned: bool = False

    def pin(self) -> None:
        """Pin the run's setup in the sweep (setup.json) the first time a model trains or is recorded: a run
        stopped before that (a bad schedule value, missing data) leaves the sweep as it was."""
        if not self.pinned and self.setup is not None:
            setups.pin(self.sweep, self.setup)
            self.pinned = True

    def _record_fields(self, spec: NetSpec, schedule: Schedule, hparams: dict[str, float]) -> dict[str, Any]:
        """What a record of `spec` trained with `schedule` (the run's, with the row's sampled `hparams` over it)
        says besides its outcome (build_record's keyword arguments)."""
        return {"spec": spec, "trained_spec": adapt_spec(spec, self.data), "dataset_info": self.data.info(),
                "schedule": schedule.to_dict(), "seed": self.options.seed, "started_at": now_iso(),
                "hparams": hparams}

    def _failed(self, claim: Claim, model_id: str, failure: BaseException, kwargs: dict[str, Any],
                wall_time_s: float) -> bool:
        """A model raised: stop the run if the error is the run's (`RunStopped`), else hold its `failed` record
        back for the breaker; True (the claim is kept until the record is written)."""
        kind, signature, reason = run_failure(failure), failures.signature(failure), describe_failure(failure)
        del failure  # after the caller's except block and this, the traceback's tensors are gone
        _free_memory(self.device)
        if kind is not None:
            raise failures.stopped(kind, model_id, reason) from None
        log.error("%s failed: %s", model_id, reason)
        record = build_record(model_id, failure=reason, wall_time_s=wall_time_s, device=str(self.device), **kwargs)
        return self._hold_failure(claim, record, reason, signature)

    def train(self, rows: list[Any]) -> list[Any]:
        """Train `rows` in packs of up to `options.pack` claimed models (one path: alone is a pack of one); the
        rows held by other live processes."""
        size = self.options.pack
        held: list[Any] = []
        queue = list(rows)
        while queue:
            claimed: list[tuple[Any, Claim]] = []
            kept: set[int] = set()
            try:
                while queue and len(claimed) < size:
                    row = queue.pop(0)
                    model_id = str(row["model_id"])
                    claim = try_claim(self.sweep, model_id, self.options.claim_timeout_s)
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
        schedules = [model_schedule(self.schedule, row) for row, _ in claimed]
        fields = [self._record_fields(spec, sched, row_hparams(row))
                  for spec, sched, (row, _) in zip(specs, schedules, claimed)]
        hooks = [ClaimHooks(claim, self.pending.claims(), self.bar, model_id, self.schedule.epochs, self.pin)
                 for (_, claim), model_id in zip(claimed, ids)]
        if len(ids) > 1:
            log.info("pack of %d: %s", len(ids), ", ".join(ids))
        t0 = time.perf_counter()
        try:
            built = build_trainers(specs, self.data, schedules, seed=self.options.seed, device=self.device, hooks=hooks)
        except Exception as exc:  # the shared loader could not be made: the data's or the device's fault
            kind = run_failure(exc)
            if kind is None:
                raise
            raise failures.stopped(kind, _pack_name(ids), describe_failure(exc)) from None
        for model_id, item in zip(ids, built):
            kind = None if isinstance(item, Trainer) else run_failure(item)
            if kind is not None:  # a config or device error: no member would train
                raise failures.stopped(kind, model_id, describe_failure(item)) from None
        members = [i for i, t in enumerate(built) if isinstance(t, Trainer)]
        results: list[Any] = list(built)  # each Trainer is replaced by its outcome or error below
        if members:
            pack = PackTrainer([built[i] for i in members], [self.sweep.checkpoint_path(ids[i]) for i in members],
                               self.options.checkpoint_every_s, self.graphs, fatal=lambda exc: run_failure(exc) is not None)
            try:
                pack.fit()
            except Exception as exc:
                kind, stopped = run_failure(exc), pack.stopped_by
                if kind is None:
                    raise  # no member's error that `fatal` judged: a bug
                model_id = ids[members[pack.members.index(stopped)]] if stopped is not None else _pack_name(ids)
                raise failures.stopped(kind, model_id, describe_failure(exc)) from None
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

    @property
    def graphs(self) -> bool:
        return self.options.graphs and self.device.type == "cuda"

    def _done(self, model_id: str) -> bool:
        """Whether the model has a record that counts (an unreadable one counts: someone's result)."""
        try:
            record = read_record_or_set_aside(self.sweep, model_id)
        except RecordUnreadable:
            return True
        return record is not None and not (self.options.retry_failed and record["status"] == "failed")

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
                if not self.options.retry_failed:
                    raise
                replace_failed_record(self.sweep, record, check=claim.check)  # fenced: the failure read, kept aside
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



def _pack_name(ids: list[str]) -> str:
    """What an error of the shared data stream was training: the model, or the pack's models."""
    return ids[0] if len(ids) == 1 else f"the pack of {', '.join(ids)}"


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

