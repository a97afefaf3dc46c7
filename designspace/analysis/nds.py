"""Reader for the data release of "On Network Design Spaces for Visual Recognition" (NDS, 2019).

The release is a folder of JSON files, one per design space (ResNeXt-A.json, ResNeXt-B_in.json,
Vanilla.json, DARTS.json, ...; a `_in` suffix marks ImageNet, otherwise CIFAR-10). A file holds a
list of model records, or {"top": [...], "mid": [...]} for the re-run studies. A record has:

- net: the structure. Residual families ({res_bottleneck,res_basic,double_plain}_block): per-stage
  lists ds (depths), ws (widths), ss (strides), bot_muls (inner width = round(w * bot_mul)) and
  num_gs (number of groups), plus block_type, stem_type, stem_w. Cell (NAS) families: genotype,
  depth, width, aux, drop_prob.
- flops, params (counts); min_test_top1 (lowest test top-1 error over epochs, %); per-epoch curves
  test_ep_top1, train_ep_top1 (errors, %), train_ep_loss; optim {base_lr, wd, max_ep}; rng_seed, ...

`read_nds` turns this into the analysis table: per-stage d_i, w_i, b_i (the RegNet paper's bottleneck
ratio, w / inner width = 1 / bot_mul), g_i (group width = inner width / num_gs), num_stages,
flops, params, error, best_error, final_error, status 'ok', space, and more.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from designspace.util.files import read_json

__all__ = ["nds_curves", "nds_spaces", "read_nds", "read_nds_file"]

ERROR_FIELDS = ("min_test_top1", "final")
MAX_NDS_BYTES = 2 << 30
"""The largest NDS file read (the published ones are at most ~200 MB)."""
CURVES = ("test_ep_top1", "train_ep_top1", "train_ep_loss")


def nds_spaces(path: str | os.PathLike) -> list[str]:
    """Design-space names (file stems) of an NDS data folder, sorted."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of NDS JSON files")
    return sorted(p.stem for p in root.glob("*.json"))


def _records(data: Any, where: str) -> Iterable[tuple[str | None, dict]]:
    if isinstance(data, list):
        return ((None, r) for r in data)
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        return ((k, r) for k, v in data.items() for r in v)
    raise ValueError(f"{where}: expected a list of model records or a dict of such lists, got {type(data).__name__}")


def _stage_columns(net: dict, where: str) -> dict[str, Any]:
    ds, ws = list(net.get("ds") or []), list(net.get("ws") or [])
    if len(ds) != len(ws) or not ds:
        raise ValueError(f"{where}: net.ds {ds} and net.ws {ws} must be non-empty lists of equal length")
    s = len(ds)
    bms = list(net.get("bot_muls") or [1.0] * s)
    ngs = list(net.get("num_gs") or [1] * s)
    ss = list(net.get("ss") or [None] * s)
    if not (len(bms) == len(ngs) == len(ss) == s):
        raise ValueError(f"{where}: per-stage lists ds, ws, ss, bot_muls, num_gs differ in length")
    row: dict[str, Any] = {"num_stages": s}
    for i in range(s):
        inner = int(round(ws[i] * bms[i]))
        row[f"d{i + 1}"] = int(ds[i])
        row[f"w{i + 1}"] = int(ws[i])
        row[f"b{i + 1}"] = float(ws[i]) / inner if inner else np.nan
        row[f"g{i + 1}"] = inner / ngs[i] if ngs[i] else np.nan
        row[f"num_groups{i + 1}"] = int(ngs[i])
        row[f"stride{i + 1}"] = ss[i]
    return row


def read_nds_file(
    path: str | os.PathLike, space: str | None = None, *, error: str = "min_test_top1", curves: bool = False
) -> pd.DataFrame:
    """One NDS JSON file as an analysis table (see the module docstring for the columns).

    error: 'min_test_top1' (the NDS paper's error, the best epoch's) or 'final' (the last epoch's)
    goes to column `error`; both are kept as best_error and final_error. With `curves`, the
    per-epoch lists are kept in object columns test_ep_top1, train_ep_top1, train_ep_loss.
    """
    if error not in ERROR_FIELDS:
        raise ValueError(f"error={error!r} must be one of {ERROR_FIELDS}")
    path = Path(path)
    space = space or path.stem
    data, _ = read_json(path, MAX_NDS_BYTES)  # a regular file, bounded, nesting checked before parsing
    try:
        return _table(data, path, space, error, curves)
    except (TypeError, KeyError, AttributeError, IndexError) as exc:  # a field of another shape: the file's fault
        raise ValueError(f"{path}: not NDS data ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None


def _table(data: Any, path: Path, space: str, error: str, curves: bool) -> pd.DataFrame:
    """The analysis table of NDS records already parsed from `path`."""
    rows = []
    for i, (subset, rec) in enumerate(_records(data, str(path))):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict) or "net" not in rec:
            raise ValueError(f"{where}: no 'net' field")
        net = rec["net"]
        row: dict[str, Any] = {"model_id": f"{space}/{i}", "space": space}
        if subset is not None:
            row["subset"] = subset
        if "genotype" in net:
            row.update(family="nas_cell", depth=net.get("depth"), width=net.get("width"))
        else:
            row.update(family=str(net.get("block_type", "")), **_stage_columns(net, where))
            row["stem_width"] = net.get("stem_w")
            row["stem_type"] = net.get("stem_type")
        curve = rec.get("test_ep_top1") or []
        best = rec.get("min_test_top1", min(curve) if curve else np.nan)
        final = curve[-1] if curve else np.nan
        row.update(
            flops=rec.get("flops"), params=rec.get("params"), best_error=_num(best), final_error=_num(final),
            status="ok", dataset="imagenet" if space.endswith("_in") or "_in_" in space else "cifar10",
        )
        row["error"] = row["best_error"] if error == "min_test_top1" else row["final_error"]
        optim = rec.get("optim") or {}
        row.update(base_lr=optim.get("base_lr"), weight_decay=optim.get("wd"), epochs=optim.get("max_ep"),
                   seed=rec.get("rng_seed"))
        if curves:
            for key in CURVES:
                row[key] = rec.get(key)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame.loc[~np.isfinite(frame["error"].astype(float)), "status"] = "failed"
    return frame


def read_nds(
    path: str | os.PathLike, spaces: Sequence[str] | None = None, *, error: str = "min_test_top1",
    curves: bool = False,
) -> pd.DataFrame:
    """Several NDS design spaces (files `<space>.json` in folder `path`, or one file) in one table."""
    p = Path(path)
    if p.is_file():
        return read_nds_file(p, error=error, curves=curves)
    names = list(spaces) if spaces else nds_spaces(p)
    missing = [n for n in names if not (p / f"{n}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"{p}: no NDS file for {missing}; present: {nds_spaces(p)}")
    frames = [read_nds_file(p / f"{n}.json", n, error=error, curves=curves) for n in names]
    return pd.concat(frames, ignore_index=True, sort=False)


def nds_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch curves of a `read_nds(..., curves=True)` table in long form:
    model_id, space, epoch (1-based), test_top1_error, train_top1_error, train_loss."""
    if "test_ep_top1" not in frame:
        raise ValueError("the table has no curves; read it with read_nds(..., curves=True)")
    parts = []
    for _, r in frame.iterrows():
        test = list(r["test_ep_top1"] or [])
        n = len(test)
        train = list(r.get("train_ep_top1") or [np.nan] * n)
        loss = list(r.get("train_ep_loss") or [np.nan] * n)
        parts.append(pd.DataFrame({"model_id": r["model_id"], "space": r["space"], "epoch": np.arange(1, n + 1),
                                   "test_top1_error": test, "train_top1_error": train[:n], "train_loss": loss[:n]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")
