"""Result records: one JSON file per trained model in DIR/results/<model_id>.json, written atomically.

A record says what was trained (the sampled spec and the spec adapted to the data, with its exact
complexity), on what (dataset, schedule, seed), how it went (status `ok` / `diverged` / `failed`,
per-epoch curves, final and best top-1 test error in percent) and where (device, host, times).
`load(sweep_dir)` joins the samples table with the records for analysis.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from designspace.net.complexity import complexity
from designspace.net.spec import NetSpec
from designspace.sweep import setups
from designspace.sweep.layout import SweepDir
from designspace.util.atomic import json_bytes, publish_new
from designspace.util.files import FileRefused, Identity, NotTheFileRead, move_aside, parse_json, read_limited

if TYPE_CHECKING:
    import pandas as pd

    from designspace.training.trainer import TrainOutcome


RECORD_VERSION = 1
STATUSES = ("ok", "diverged", "failed")
REQUIRED_KEYS = ("model_id", "status", "spec", "trained_spec", "complexity", "dataset", "schedule", "seed",
                 "epochs", "final_error", "best_error")
RESULT_COLUMNS = ("status", "error", "final_error", "best_error", "epochs_done", "wall_time_s", "dataset",
                  "schedule", "seed", "device", "trained_id", "trained_flops", "trained_params", "trained_acts",
                  "resolution", "reason", "finished_at")
"""Columns `load` adds to the samples table (a name the samples already use gets the suffix _result)."""


class ResultsError(RuntimeError):
    """A result record is malformed: it reads, but does not parse or lacks what a record holds (damage); or it is
    not a regular file of at most MAX_RECORD_BYTES. `identity`: the damaged file's, when known (so that setting
    it aside moves that file only)."""

    def __init__(self, message: str, identity: Identity | None = None) -> None:
        super().__init__(message)
        self.identity = identity


class RecordUnreadable(OSError):
    """A record file exists but cannot be read (no permission, I/O error, stale NFS handle): not damage - the
    file is left alone, and its model is neither trained again nor analysed."""


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "model_id": str, "status": str, "spec": dict, "trained_spec": dict, "complexity": dict, "dataset": dict,
    "schedule": dict, "seed": int, "epochs": list,
}
_COMPLEXITY_KEYS = ("flops", "params", "acts", "resolution")
_NUMBER = (int, float)
_OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "version": (int,), "reason": (str,), "trained_id": (str,), "wall_time_s": _NUMBER, "device": (str,),
    "threads": (int,), "resumed_from_epoch": (int,), "pack": (int,), "hparams": (dict,), "torch_version": (str,),
    "host": (str,), "started_at": (str,), "finished_at": (str,), "setup_id": (str,),
}
"""Fields a record may have, each of these types or null (checked where the record is read: one field of the wrong
type is damage named by its file and key, never an error deep in an analysis)."""
_NAMED = ("dataset", "schedule")
"""Sections whose `name` is shown: a string or null."""
_EPOCH_NUMBERS = ("epoch", "train_loss", "train_error", "test_error", "lr", "seconds")
MAX_RECORD_BYTES = 16 << 20
"""A record is a few KB (its curves: ~150 bytes an epoch); a larger file is not read."""


def _is(value: Any, types: tuple[type, ...]) -> bool:
    """`value` is null or of `types` (a bool is no number)."""
    return value is None or (isinstance(value, types) and not isinstance(value, bool))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_record(
    model_id: str,
    spec: NetSpec,
    trained_spec: NetSpec,
    dataset_info: Mapping[str, Any],
    schedule: Mapping[str, Any],
    seed: int,
    *,
    outcome: TrainOutcome | None = None,
    failure: str | None = None,
    started_at: str | None = None,
    wall_time_s: float | None = None,
    device: str | None = None,
    pack: int = 1,
    hparams: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The record of one model: from a finished `outcome`, or a `failure` reason (status `failed`).

    `pack`: how many models trained together off one data stream with this one (`train pack=K`); their
    wall time was shared, their results are each the model's own. `hparams`: the schedule values sampled for this
    model (`designspace.space.hparams`), recorded as `hparams` (its `schedule` is the one trained, with them)."""
    import torch

    if (outcome is None) == (failure is None):
        raise ValueError("build_record needs exactly one of outcome= or failure=")
    resolution = int(dataset_info["resolution"])
    cx = complexity(trained_spec, resolution)
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "model_id": model_id,
        "status": outcome.status if outcome is not None else "failed",
        "reason": outcome.reason if outcome is not None else failure,
        "spec": spec.to_dict(),
        "trained_spec": trained_spec.to_dict(),
        "trained_id": trained_spec.id,
        "complexity": {"flops": cx.flops, "params": cx.params, "acts": cx.acts, "resolution": resolution},
        "dataset": dict(dataset_info),
        "schedule": dict(schedule),
        "seed": int(seed),
        "epochs": list(outcome.epochs) if outcome is not None else [],
        "final_error": outcome.final_error if outcome is not None else None,
        "best_error": outcome.best_error if outcome is not None else None,
        "wall_time_s": outcome.wall_time_s if outcome is not None else wall_time_s,
        "device": outcome.device if outcome is not None else device,
        "threads": outcome.threads if outcome is not None else torch.get_num_threads(),
        "resumed_from_epoch": outcome.resumed_from_epoch if outcome is not None else None,
        "pack": int(pack),
        **({"hparams": {k: float(v) for k, v in hparams.items()}} if hparams else {}),
        "torch_version": torch.__version__,
        "host": socket.gethostname(),
        "started_at": started_at,
        "finished_at": now_iso(),
    }
    record["setup_id"] = setups.setup_id(setups.record_setup(record))
    validate_record(record)
    return record


def validate_record(record: Mapping[str, Any], where: str = "record") -> None:
    """Raise ResultsError unless `record` has the keys, status and error values of a result record."""
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ResultsError(f"{where}: missing key(s) {missing}")
    wrong = [f"{k}={record[k]!r:.40}" for k, t in _FIELD_TYPES.items()
             if not isinstance(record[k], t) or isinstance(record[k], bool)]
    cx = record["complexity"]
    if isinstance(cx, dict):
        wrong += [f"complexity.{k}={cx.get(k)!r:.40}" for k in _COMPLEXITY_KEYS
                  if not isinstance(cx.get(k), int) or isinstance(cx.get(k), bool)]
    epochs = record["epochs"] if isinstance(record["epochs"], list) else []
    wrong += [f"epochs[{i}]" for i, e in enumerate(epochs) if not isinstance(e, dict)]
    wrong += [f"epochs[{i}].{k}={e[k]!r:.40}" for i, e in enumerate(epochs) if isinstance(e, dict)
              for k in _EPOCH_NUMBERS if k in e and not _is(e[k], _NUMBER)]
    wrong += [f"{k}={record[k]!r:.40}" for k, t in _OPTIONAL_TYPES.items() if k in record and not _is(record[k], t)]
    wrong += [f"{k}.name={record[k].get('name')!r:.40}" for k in _NAMED
              if isinstance(record[k], dict) and not _is(record[k].get("name"), (str,))]
    if wrong:
        raise ResultsError(f"{where}: field(s) of the wrong type: {', '.join(wrong)}")
    if record["status"] not in STATUSES:
        raise ResultsError(f"{where}: status {record['status']!r} is not one of {STATUSES}")
    if record["status"] == "ok" and record["final_error"] is None:
        raise ResultsError(f"{where}: status ok but no final_error")
    for key in ("final_error", "best_error"):
        value = record[key]
        if value is not None and not (_is(value, _NUMBER) and 0 <= value <= 100):
            raise ResultsError(f"{where}: {key}={value!r} is not a percentage")


class RecordExists(FileExistsError):
    """The model has a record already: a record is published once and never replaced by another writer."""


def write_record(sweep: SweepDir | str | Path, record: Mapping[str, Any],
                 check: Callable[[], None] | None = None) -> Path:
    """Publish `record` as DIR/results/<model_id>.json: temp file, fsync, `check()`, then a hard link that fails
    if the model has a record (`RecordExists`): a worker that lost its claim while stalled cannot replace the
    record of the one that took the model over. To replace a record on purpose (a retrained failure), set the
    old one aside first (`supersede_record`).

    `check` runs just before the publish and may raise to cancel it (the runner's claim check)."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    validate_record(record, f"record of {record.get('model_id')!r}")
    path = sweep.result_path(record["model_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return publish_new(path, json_bytes(dict(record)), check)
    except FileExistsError:
        raise RecordExists(f"{path} exists: the model was recorded by another worker meanwhile") from None


def supersede_record(sweep: SweepDir, model_id: str, expected: Identity | None = None) -> Path | None:
    """Move the model's record to DIR/results/superseded/ under a fresh name (kept, never deleted nor replaced) so
    a retrain can publish its own; None when it has none. With `expected` (the identity of the record read), only
    that file moves (NotTheFileRead otherwise: another worker's record, published meanwhile, stays)."""
    try:
        return move_aside(sweep.result_path(model_id), sweep.superseded_dir, expected)
    except FileNotFoundError:
        return None


def replace_failed_record(sweep: SweepDir, record: Mapping[str, Any], check: Callable[[], None] | None = None
                          ) -> Path:
    """Publish `record` of a model retrained with retry_failed in place of its `failed` record, fenced like the
    publish: the record there is read; unless it is a failure, RecordExists. `check` (the claim check) runs just
    before the failure is moved aside, and only the very file read moves (`supersede_record`): a worker stalled
    here past its claim timeout cannot move the record of the worker that took the model over - it gets
    RecordExists and drops its own, as for a late publish. Then the record is published (`write_record`)."""
    model_id = record["model_id"]
    path = sweep.result_path(model_id)
    try:
        old, read_as = read_record_identified(path)
    except FileNotFoundError:  # moved aside meanwhile: publishing decides who is first
        return write_record(sweep, record, check)
    except ResultsError as exc:  # damaged: that file set aside, then published
        sweep.set_aside(path, str(exc), exc.identity)
        return write_record(sweep, record, check)
    except RecordUnreadable:  # someone's result, left alone
        raise RecordExists(f"{path} exists and cannot be read: left as it is") from None
    if old["status"] != "failed":
        raise RecordExists(f"{path} exists and is not a failure ({old['status']}): recorded by another worker")
    if check is not None:
        check()
    try:
        supersede_record(sweep, model_id, read_as)
    except NotTheFileRead:
        raise RecordExists(f"{path} is not the failed record read there: another worker recorded the model "
                           "meanwhile") from None
    return write_record(sweep, record, check)


def read_record(path: str | Path) -> dict[str, Any]:
    """The record at `path`: RecordUnreadable when the file cannot be read, ResultsError when it is damaged."""
    return read_record_identified(path)[0]


def read_record_identified(path: str | Path) -> tuple[dict[str, Any], Identity]:
    """The record at `path` and the identity of the file it was read from (`read_record`). A FIFO, a device or
    a file larger than MAX_RECORD_BYTES is damage (ResultsError), never a hang or a read without end."""
    path = Path(path)
    try:
        contents = read_limited(path, MAX_RECORD_BYTES)
    except FileNotFoundError:
        raise
    except FileRefused as exc:
        raise ResultsError(f"{exc}; not a result record", exc.identity) from None
    except OSError as exc:
        raise RecordUnreadable(exc.errno, f"{path}: cannot read this result record ({exc.strerror}); it is left "
                               "as it is and its model counts neither as trained nor as to train", str(path)) from None
    try:
        record = parse_json(contents.data, path, contents.identity)
        if not isinstance(record, dict):
            raise ResultsError(f"{path}: a result record must be a JSON object", contents.identity)
        validate_record(record, str(path))
    except FileRefused as exc:
        raise ResultsError(f"{exc} (not a JSON result record)", contents.identity) from None
    except ResultsError as exc:
        raise ResultsError(str(exc), contents.identity) from None
    if record["model_id"] != path.stem:
        raise ResultsError(f"{path}: holds model_id {record['model_id']!r}, not {path.stem!r}", contents.identity)
    return record, contents.identity


def scan_records(sweep: SweepDir | str | Path, *, set_aside: bool = True
                 ) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """(every readable record by model id, ids of the records that cannot be read). A damaged record is
    moved to results/damaged/ when `set_aside` (training), and only skipped with a warning otherwise
    (analysis never moves files); an unreadable one is left alone with a warning naming it."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    out, unreadable = {}, set()
    for p in sweep.record_files():
        try:
            out[p.stem] = read_record(p)
        except FileNotFoundError:  # set aside or superseded by another process meanwhile
            continue
        except RecordUnreadable as exc:
            warnings.warn(exc.strerror, stacklevel=2)
            unreadable.add(p.stem)
        except ResultsError as exc:
            if set_aside:
                sweep.set_aside(p, str(exc), exc.identity)
            else:
                warnings.warn(f"{exc}; skipped", stacklevel=2)
    return out, unreadable


def read_records(sweep: SweepDir | str | Path, *, set_aside: bool = True) -> dict[str, dict[str, Any]]:
    """Every readable record of the sweep, by model id (see `scan_records`)."""
    return scan_records(sweep, set_aside=set_aside)[0]


def read_record_or_set_aside(sweep: SweepDir, model_id: str) -> dict[str, Any] | None:
    """The record of `model_id`, or None when there is none or it is damaged (then it is set aside).
    RecordUnreadable when it exists but cannot be read."""
    path = sweep.result_path(model_id)
    try:
        return read_record(path)
    except FileNotFoundError:
        return None
    except ResultsError as exc:
        sweep.set_aside(path, str(exc), exc.identity)
        return None


def damaged_count(sweep: SweepDir | str | Path) -> int:
    """How many records of the sweep have been set aside as damaged."""
    return (sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)).damaged_count()


__all__ = ["ResultsError", "RecordUnreadable", "build_record", "damaged_count",
           "load", "load_curves", "read_record", "read_records", "replace_failed_record", "scan_records",
           "supersede_record", "validate_record", "write_record"]


def _columns(record: Mapping[str, Any]) -> dict[str, Any]:
    cx = record["complexity"]
    ok = record["status"] == "ok"
    return {
        "status": record["status"],
        "error": record["final_error"] if ok else float("nan"),
        "final_error": _num(record["final_error"]),
        "best_error": _num(record["best_error"]),
        "epochs_done": len(record["epochs"]),
        "wall_time_s": _num(record.get("wall_time_s")),
        "dataset": record["dataset"].get("name"),
        "schedule": record["schedule"].get("name"),
        "seed": record["seed"],
        "device": record.get("device"),
        "trained_id": record.get("trained_id"),
        "trained_flops": cx["flops"],
        "trained_params": cx["params"],
        "trained_acts": cx["acts"],
        "resolution": cx["resolution"],
        "reason": record.get("reason"),
        "finished_at": record.get("finished_at"),
    }


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def load(sweep_dir: str | Path | SweepDir, *, completed_only: bool = False, setup: str | None = None) -> pd.DataFrame:
    """The samples table joined with the results: one row per sample, in sample order.

    Adds RESULT_COLUMNS; `error` is the final top-1 test error (percent) of models with status `ok`,
    NaN otherwise. Samples without a record get status 'pending' (dropped when completed_only).
    Records of models absent from the samples are ignored with a warning. Records of several
    training setups are never mixed: `setup` (an id, its prefix or a schedule name) picks one, and
    without it such a sweep raises `setups.SetupMismatch`. attrs: damaged_records, setup_id, setup.
    """
    import pandas as pd

    sweep = sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir)
    samples = sweep.read_samples()
    if "model_id" not in samples.columns:
        raise ResultsError(f"{sweep.samples_path}: the samples table has no model_id column")
    records = read_records(sweep, set_aside=False)
    groups = setups.group(records)
    sid = setups.select(groups, setup, str(sweep.root))
    chosen = set(groups[sid]["ids"]) if sid else set()
    records = {mid: rec for mid, rec in records.items() if mid in chosen}
    known = set(samples["model_id"])
    stray = sorted(set(records) - known)
    if stray:
        warnings.warn(f"{sweep.results_dir}: {len(stray)} record(s) for models not in the samples, ignored: "
                      f"{stray[:5]}", stacklevel=2)
    rows = [{"model_id": mid, **_columns(rec)} for mid, rec in records.items() if mid in known]
    table = pd.DataFrame(rows, columns=["model_id", *RESULT_COLUMNS])
    out = samples.merge(table, on="model_id", how="left", suffixes=("", "_result"), validate="many_to_one")
    status = "status_result" if "status_result" in out.columns else "status"
    out[status] = out[status].fillna("pending")
    if completed_only:
        out = out[out[status] != "pending"].reset_index(drop=True)
    out.attrs["damaged_records"] = damaged_count(sweep)
    out.attrs["setup_id"] = sid
    out.attrs["setup"] = setups.describe(groups[sid]["setup"]) if sid else None
    return out


def load_curves(sweep_dir: str | Path | SweepDir) -> pd.DataFrame:
    """Per-epoch curves of every record, long form: model_id, status, epoch, train_loss, ... test_error."""
    import pandas as pd

    rows = [
        {"model_id": mid, "status": rec["status"], **epoch}
        for mid, rec in read_records(sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir),
                                     set_aside=False).items()
        for epoch in rec["epochs"]
    ]
    return pd.DataFrame(rows, columns=["model_id", "status", "epoch", "train_loss", "train_error", "test_error",
                                       "lr", "seconds"])
