"""A sweep as pycls config files: every model, or the K best trained, as `<model_id>.yaml` for pycls's
`tools/train_net.py --cfg FILE`.

    python -m designspace.describe sweep_dir=DIR export=pycls out=CFG_DIR [top=K] [schedule=NAME]

Each file holds the model's design on the chosen stem (`designspace.net.export.to_pycls`: REGNET keys for a RegNet
with its sampled generator parameters or a published model, ANYNET keys otherwise), MODEL.NUM_CLASSES, the dataset
and input size pycls reads (cifar10 for a 10-class stride-1 stem, imagenet for the 1000-class stride-2 one) and
the training schedule as pycls's OPTIM, TRAIN, TEST and BN keys where they map, with the model's own sampled lr,
weight decay, ... Its header says where it came from, its exact complexity at TRAIN.IM_SIZE and, in one line, what
does not map. Only keys of pycls 0.1.1's config are written (they are in today's pycls too), so every file loads
in either. The schedule is the sweep's pinned training setup (setup.json), or the one given; a sweep that has not
trained and is given none gets no OPTIM keys (pycls's defaults), and the line says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from designspace.net.complexity import complexity
from designspace.net.export import IMAGENET_STEM, regnet_params, to_pycls
from designspace.net.spec import NetSpec
from designspace.space.hparams import row_hparams
from designspace.sweep import setups
from designspace.sweep.layout import SweepDir, check_model_id
from designspace.training.schedule import Schedule, model_schedule
from designspace.util.atomic import atomic_write_text
from designspace.util.usage import UserError

__all__ = ["PYCLS_DATASETS", "ExportSource", "data_keys", "export_sweep", "model_config", "schedule_keys"]

PYCLS_DATASETS = {"cifar10": (10, 1, 32, 32), "imagenet": (1000, 2, 224, 256)}
"""The datasets pycls reads: classes, stem stride, TRAIN.IM_SIZE, TEST.IM_SIZE (its resize before the center crop)."""
TEST_CROP_RATIO = 0.875  # pycls and our image folders test on a center crop of 224 out of 256


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, Mapping):
            _merge(into.setdefault(key, {}), value)
        else:
            into[key] = value


def schedule_keys(schedule: Schedule) -> tuple[dict[str, Any], list[str]]:
    """pycls's keys for `schedule` (OPTIM, TRAIN.BATCH_SIZE, TEST.BATCH_SIZE, BN), and what does not map."""
    s = schedule
    optim: dict[str, Any] = {"BASE_LR": float(s.base_lr), "LR_POLICY": "cos", "MAX_EPOCH": int(s.epochs),
                             "MOMENTUM": float(s.momentum), "NESTEROV": bool(s.nesterov and s.momentum > 0),
                             "WEIGHT_DECAY": float(s.weight_decay), "WARMUP_EPOCHS": 0}
    bn: dict[str, Any] = {"USE_PRECISE_STATS": s.precise_bn_samples > 0, "ZERO_INIT_FINAL_GAMMA": bool(s.zero_init_last_bn)}
    unmapped = ["the learning rate changes every step here, once an epoch in pycls"]
    if s.lr_policy != "cos":
        unmapped.append(f"lr_policy {s.lr_policy} (pycls: cos, exp, steps; cos written)")
    if s.final_lr_ratio:
        unmapped.append(f"final_lr_ratio {s.final_lr_ratio:g} (pycls's cosine ends at 0)")
    if s.warmup_epochs and float(s.warmup_epochs).is_integer():
        optim.update(WARMUP_EPOCHS=int(s.warmup_epochs), WARMUP_FACTOR=float(s.warmup_factor))
    elif s.warmup_epochs:
        unmapped.append(f"warm-up of {s.warmup_epochs:g} epochs (pycls warms up whole epochs; none written)")
    if s.precise_bn_samples > 0:
        bn["NUM_SAMPLES_PRECISE"] = int(s.precise_bn_samples)
    if s.no_wd_bn_bias:
        bn.update(USE_CUSTOM_WEIGHT_DECAY=True, CUSTOM_WEIGHT_DECAY=0.0)
        unmapped.append("no_wd_bn_bias: pycls exempts the BN parameters only, biases (head, SE) still decay")
    for key, value, why in (("label_smoothing", s.label_smoothing, "no label smoothing in pycls 0.1.1"),
                            ("ema_decay", s.ema_decay, "no EMA of the weights in pycls 0.1.1"),
                            ("train_subset", s.train_subset, "pycls trains on the whole split"),
                            ("test_subset", s.test_subset, "pycls tests on the whole split")):
        if value:
            unmapped.append(f"{key} {value:g} ({why})")
    keys = {"OPTIM": optim, "TRAIN": {"BATCH_SIZE": int(s.batch_size)}, "TEST": {"BATCH_SIZE": int(s.eval_batch_size)},
            "BN": bn}
    return keys, unmapped


def data_keys(spec: NetSpec, dataset: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str], int]:
    """(TRAIN/TEST dataset and input size keys, what does not map, TRAIN.IM_SIZE) for `spec`'s stem; `dataset`: the
    identity the sweep trained on (name, resolution), when known."""
    trained = dict(dataset or {})
    name = trained.get("name")
    for pycls_name, (classes, stride, train_size, test_size) in PYCLS_DATASETS.items():
        if (spec.num_classes, spec.stem_stride) != (classes, stride):
            continue
        if name == pycls_name and trained.get("resolution"):
            train_size = int(trained["resolution"])
            test_size = train_size if pycls_name == "cifar10" else round(train_size / TEST_CROP_RATIO)
        keys = {"TRAIN": {"DATASET": pycls_name, "IM_SIZE": train_size},
                "TEST": {"DATASET": pycls_name, "IM_SIZE": test_size,
                         **({"SPLIT": "test"} if pycls_name == "cifar10" else {})}}
        moved = [f"trained here on {name} at {trained.get('resolution')}px"] if name and name != pycls_name else []
        return keys, moved, train_size
    size = int(trained.get("resolution") or (224 if spec.stem_stride == 2 else 32))
    known = ", ".join(f"{n} ({c} classes, stem stride {s})" for n, (c, s, _, _) in PYCLS_DATASETS.items())
    return ({"TRAIN": {"IM_SIZE": size}, "TEST": {"IM_SIZE": size}},
            [f"no pycls dataset has {spec.num_classes} classes on a stride-{spec.stem_stride} stem (pycls reads {known}):"
             " set TRAIN.DATASET and TEST.DATASET"], size)


def model_config(spec: NetSpec, regnet: Mapping[str, Any] | None, schedule: Schedule | None, seed: int | None,
                 dataset: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str], int]:
    """The pycls config of one model (nested upper-case keys), what does not map, and its TRAIN.IM_SIZE."""
    cfg = to_pycls(spec, regnet)
    data, unmapped, size = data_keys(spec, dataset)
    if schedule is not None:
        keys, more = schedule_keys(schedule)
        _merge(cfg, keys)
        unmapped += more
    else:
        unmapped.append("no training schedule (the sweep has not trained and none was given): pycls's OPTIM defaults")
    _merge(cfg, data)
    if seed is not None:
        cfg["RNG_SEED"] = int(seed)
    return cfg, unmapped, size


@dataclass
class ExportSource:
    """What every file of one sweep's export shares: the sweep, its training setup (or None) and the stem fields."""

    sweep: SweepDir
    setup: dict[str, Any] | None
    schedule: Schedule | None
    stem: dict[str, int]


def _row_spec(row: Mapping[str, Any], stem: Mapping[str, int]) -> tuple[NetSpec, dict[str, Any] | None]:
    spec = NetSpec.from_row(row).replace(**stem)
    return spec, regnet_params(row, spec)


def _header(model_id: str, src: ExportSource, row: Mapping[str, Any], spec: NetSpec, size: int,
            unmapped: list[str]) -> str:
    cx = complexity(spec, size)
    lines = [f"{model_id} of {src.sweep.root}: pycls config (python -m designspace.describe sweep_dir=... export=pycls)"]
    error = row.get("error")
    if isinstance(error, float) and math.isfinite(error) and src.setup is not None:
        lines.append(f"top-1 error there: {error:.2f}% ({setups.describe(src.setup)})")
    hparams = row_hparams(row)
    if hparams:
        lines.append("sampled with the model: " + ", ".join(f"{k} {v:.6g}" for k, v in hparams.items()))
    lines.append(f"complexity at {size}x{size}: {cx.flops:,} flops, {cx.params:,} params, {cx.acts:,} acts "
                 "(designspace.net.complexity)")
    lines.append("not mapped: " + ("; ".join(unmapped) if unmapped else "nothing"))
    return "".join(f"# {line}\n" for line in lines)


def export_model(src: ExportSource, row: Mapping[str, Any], out: Path) -> Path:
    """Write `row`'s model as out/<model_id>.yaml; returns the path."""
    model_id = check_model_id(str(row["model_id"]))
    spec, regnet = _row_spec(row, src.stem)
    schedule = model_schedule(src.schedule, row, f"model {model_id}") if src.schedule is not None else None
    seed = src.setup.get("seed") if src.setup is not None else None
    cfg, unmapped, size = model_config(spec, regnet, schedule, seed, (src.setup or {}).get("dataset"))
    if src.setup is not None and src.setup.get("precision", "fp32") != "fp32":
        unmapped.append(f"precision {src.setup['precision']} here (pycls 0.1.1 trains in fp32)")
    path = out / f"{model_id}.yaml"
    atomic_write_text(path, _header(model_id, src, row, spec, size, unmapped) + yaml.safe_dump(cfg, sort_keys=False))
    return path


def _rows(sweep: SweepDir, top: int | None) -> tuple[list[Any], dict[str, Any] | None]:
    """The rows to export (all of the samples table, or the `top` best trained with status ok) and the training
    setup of the sweep: the pinned one, else its records' (None while nothing is trained)."""
    from designspace.sweep.results import load, read_records

    table = load(sweep)
    setup = setups.pinned(sweep)
    if setup is None and table.attrs.get("setup_id"):  # records written before setups were pinned
        setup = setups.group(read_records(sweep, set_aside=False))[table.attrs["setup_id"]]["setup"]
    if top is None:
        return [r for _, r in table.iterrows()], setup
    ok = table[table["status"] == "ok"].sort_values("error", kind="stable")
    if ok.empty:
        raise UserError(f"top={top}: {sweep.root} has no trained model yet (train it, or leave top out to export "
                        "every model)")
    return [r for _, r in ok.head(top).iterrows()], setup


def export_sweep(sweep_dir: str | Path | SweepDir, out: str | Path, *, top: int | None = None,
                 stem: Mapping[str, int] | None = None, schedule: Schedule | None = None) -> list[Path]:
    """Write every model of the sweep (or the `top` best trained) as out/<model_id>.yaml (see the module docstring);
    every design goes on pycls's ImageNet stem (3 channels, stride 2, 1000 classes) with the fields of `stem` set
    over it (in_channels, stem_stride, num_classes); `schedule`: the training schedule, else the sweep's pinned
    one. Returns the paths written."""
    sweep = sweep_dir if isinstance(sweep_dir, SweepDir) else SweepDir(sweep_dir)
    sweep.require()
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise UserError(f"top={top!r} must be a whole number >= 1 (the best trained models), or null (every model)")
    rows, setup = _rows(sweep, top)
    if schedule is None and setup is not None:
        schedule = Schedule.from_dict(setup["schedule"])  # its sampled keys come from each row
    src = ExportSource(sweep, setup, schedule, {**IMAGENET_STEM, **(stem or {})})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [export_model(src, row, out) for row in rows]
