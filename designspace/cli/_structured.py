"""Hydra structured configs (ConfigStore) for the schedule, dataset and budget groups: Hydra checks each key's
type when it composes a command's config, and names the key of a bad value (`schedule.lr=abc`).

The schemas are made from the dataclasses the stages read (`Schedule`, `DatasetConfig`, `Budget`), field by
field, so they cannot drift from them. A primary config puts one in front of its group option:

    defaults:
      - /schema/schedule@schedule
      - schedule: fmnist_tiny

Keys are closed too: Hydra refuses an unknown key, and `+key=value`, which would add one, is refused here.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Sequence
from typing import Any, Optional

from designspace.configs import CONFIG_DIR

SKIP = {"budget": ("source",)}  # fields a config file does not set


def _field_type(hint: Any) -> Any:
    """The hint in a form OmegaConf checks: X | None -> Optional[X]; tuple[X, ...] -> list[X]; bands -> list."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _field_type(rest[0]) if len(rest) == 1 else Any
        return Optional[inner] if type(None) in args else inner  # noqa: UP045 - OmegaConf reads typing forms
    if origin is tuple:
        return list[args[0]] if len(args) == 2 and args[1] is Ellipsis else list[Any]
    return hint


def schema(cls: type, skip: Sequence[str] = ()) -> type:
    """A mutable dataclass with `cls`'s fields, types and defaults (no default: required, `???`)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default
        if default is dataclasses.MISSING:
            spec = dataclasses.field(default="???")  # type: ignore[arg-type]
        elif isinstance(default, (list, tuple)):
            spec = dataclasses.field(default_factory=functools.partial(list, default))
        else:
            spec = dataclasses.field(default=default)
        out.append((f.name, _field_type(hints[f.name]), spec))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", out)


GROUPS = ("schedule", "dataset", "budget")


def _config_class(group: str) -> type:
    """The dataclass behind a group, imported on demand (the dataset's pulls in torch; `sample` needs only
    the budget's, and must not import torch)."""
    if group == "budget":
        from designspace.space.budgets import Budget

        return Budget
    if group == "dataset":
        from designspace.training.data import DatasetConfig

        return DatasetConfig
    from designspace.training.schedule import Schedule

    return Schedule


@functools.cache
def register(groups: tuple[str, ...] = GROUPS) -> None:
    """Store the schemas of `groups` as `schema/<group>` (package `<group>`) in Hydra's ConfigStore (once per
    process and set of groups)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group in groups:
        store.store(group="schema", name=group, node=schema(_config_class(group), SKIP.get(group, ())),
                    package=group)


def check_additions(args: Sequence[str]) -> None:
    """Refuse `+key=value` / `++key=value` for a key: every key a command reads exists already (its --help
    lists them), so an added one would be read by nothing. `+group=option` and `+hydra.*` stay allowed."""
    for arg in args:
        if not arg.startswith("+"):
            continue
        key = arg.lstrip("+").partition("=")[0]
        if key.startswith("hydra.") or (CONFIG_DIR / key).is_dir() or key.startswith("hydra/"):
            continue
        raise ValueError(f"{arg}: no key {key!r} to add; every key exists already (--help lists them), "
                         "so set one with key=value, without '+'")
