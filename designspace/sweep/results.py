"""Result records: one JSON file per trained model in DIR/results/<model_id>.json, written atomically.

A record says what was trained (the sampled spec and the spec adapted to the data, with its exact
complexity), on what (dataset, schedule, seed), how it went (status `ok` / `diverged` / `failed`,
per-epoch curves, final and best top-1 test error in percent) and where (device, host, times).
`load(sweep_dir)` joins the samples table with the records for analysis.
"""

from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from designspace.net.complexity import complexity
from designspace.net.spec import NetSpec
from designspace.sweep import setups
from designspace.sweep.layout import SweepDir
from designspace.util.atomic import atomic_write_json

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
    """A result record is unreadable or malformed."""


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
) -> dict[str, Any]:
    """The record of one model: from a finished `outcome`, or a `failure` reason (status `failed`)."""
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
    if record["status"] not in STATUSES:
        raise ResultsError(f"{where}: status {record['status']!r} is not one of {STATUSES}")
    if record["status"] == "ok" and record["final_error"] is None:
        raise ResultsError(f"{where}: status ok but no final_error")
    for key in ("final_error", "best_error"):
        value = record[key]
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 100):
            raise ResultsError(f"{where}: {key}={value!r} is not a percentage")


def write_record(sweep: SweepDir | str | Path, record: Mapping[str, Any]) -> Path:
    """Write `record` to DIR/results/<model_id>.json atomically (temp file, fsync, rename)."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    validate_record(record, f"record of {record.get('model_id')!r}")
    return atomic_write_json(sweep.result_path(record["model_id"]), dict(record))


def read_record(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable result record ({exc})") from None
    if not isinstance(record, dict):
        raise ResultsError(f"{path}: a result record must be a JSON object")
    validate_record(record, str(path))
    if record["model_id"] != path.stem:
        raise ResultsError(f"{path}: holds model_id {record['model_id']!r}, not {path.stem!r}")
    return record


DAMAGED_DIR = "damaged"
"""DIR/results/damaged/: unreadable records, moved aside (kept, never deleted); their models train again."""


def read_records(sweep: SweepDir | str | Path) -> dict[str, dict[str, Any]]:
    """Every readable record of the sweep, by model id; damaged ones are set aside (see `set_aside`)."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    if not sweep.results_dir.is_dir():
        return {}
    out = {}
    for p in sorted(sweep.results_dir.glob("*.json")):
        record = read_record_or_set_aside(p)
        if record is not None:
            out[p.stem] = record
    return out


def read_record_or_set_aside(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None when it is unreadable: then it is moved to results/damaged/."""
    try:
        return read_record(path)
    except ResultsError as exc:
        if path.is_file():
            set_aside(path, str(exc))
        return None


def set_aside(path: Path, reason: str) -> Path | None:
    """Move a damaged record into results/damaged/ with a warning naming it; None if it cannot move.

    On a read-only directory the file stays where it is; it is skipped all the same (with the warning).
    """
    import os
    import time

    target_dir = path.parent / DAMAGED_DIR
    target = target_dir / path.name
    try:
        target_dir.mkdir(exist_ok=True)
        if target.exists():
            target = target_dir / f"{path.stem}.{time.time_ns()}{path.suffix}"
        os.replace(path, target)
    except FileNotFoundError:  # another process set it aside (or retrained it) first
        return None
    except OSError as exc:
        warnings.warn(f"{reason}; skipped (cannot move it aside: {exc.strerror})", stacklevel=3)
        return None
    warnings.warn(f"{reason}; moved to {target}, and the model counts as not trained", stacklevel=3)
    return target


def damaged_count(sweep: SweepDir | str | Path) -> int:
    """How many records of the sweep have been set aside as damaged."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    folder = sweep.results_dir / DAMAGED_DIR
    return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0


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
    records = read_records(sweep)
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
        for mid, rec in read_records(sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir)).items()
        for epoch in rec["epochs"]
    ]
    return pd.DataFrame(rows, columns=["model_id", "status", "epoch", "train_loss", "train_error", "test_error",
                                       "lr", "seconds"])
