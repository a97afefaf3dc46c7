"""A command's training setup from its composed config: the dataset, the schedule and the run options, each
checked once (`train`, `reproduce` and `compare` share it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from designspace.sweep.options import RunOptions
from designspace.training.data import DatasetConfig
from designspace.training.schedule import Schedule
from designspace.util.usage import UserError

__all__ = ["training_setup"]


def _group(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = cfg.get(name)
    if not isinstance(value, Mapping):
        raise UserError(f"{name} must be a config group (e.g. {name}=...), got {value!r}")
    return dict(value)


def training_setup(cfg: Mapping[str, Any], absolute: Callable[[str], str] = os.path.abspath,
                   **overrides: Any) -> tuple[DatasetConfig, Schedule, RunOptions]:
    """The dataset (its root made absolute with `absolute`: Hydra's `to_absolute_path` on the command line),
    schedule and `RunOptions` a resolved config (a plain mapping) sets, `overrides` over its run keys. Every
    value is checked before anything is read or written; a bad one is a `UserError` naming its key."""
    dataset_cfg = _group(cfg, "dataset")
    if dataset_cfg.get("root") is not None:
        dataset_cfg["root"] = absolute(str(dataset_cfg["root"]))
    try:
        dataset = DatasetConfig.from_dict(dataset_cfg)
        schedule = Schedule.from_dict(_group(cfg, "schedule"))
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    return dataset, schedule, RunOptions.from_config(cfg, **overrides)
