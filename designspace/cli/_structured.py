"""Hydra structured configs (ConfigStore) for the schedule, dataset, budget and space groups and for the run options:
Hydra checks each key's type when it composes a command's config, and names the key of a bad value
(`schedule.lr=abc`).

The schemas are made from the dataclasses the stages read (`Schedule`, `DatasetConfig`, `Budget`, the space file
format `SpaceConfig`, `RunOptions`), field by field, so they cannot drift from them. A primary config puts one in
front of its group option:

    defaults:
      - /schema/schedule@schedule
      - schedule: fmnist_tiny

The space's schema sets no value: a key no file sets stays unset (`???`), and `given` leaves it out, so the
composed space is what its files say (as a sweep's config.yaml records it) and `designspace.space.schema` judges
what is missing. The run options (`schema/run_options`) are typed nodes at the top level of `train`, `reproduce`
and `compare`, each with `RunOptions`' default, the one place it is stated (`- /schema/run_options` first in the
defaults list; a primary config or an experiment may set another value after it).

Keys are closed too: Hydra refuses an unknown key, and `+key=value`, which would add one, is refused here.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, Optional

from designspace.configs import CONFIG_DIR

SKIP = {"budget": ("source",)}  # fields a config file does not set
GROUPS = ("schedule", "dataset", "budget", "space", "run_options")
UNSET = ("space",)  # groups whose schema sets no value (see the module docstring)
MISSING = "???"


def _field_type(hint: Any, unset: bool = False) -> Any:
    """The hint in a form OmegaConf checks: X | None -> Optional[X]; int | float -> Any; tuple[X, ...] and list[X] ->
    list[X]; bands -> list; dict[str, X] -> dict[str, X]; a dataclass -> its schema."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _field_type(rest[0], unset) if len(rest) == 1 else Any
        return Optional[inner] if type(None) in args and inner is not Any else inner  # noqa: UP045 - typing forms
    if origin is tuple:
        return list[_field_type(args[0], unset)] if len(args) == 2 and args[1] is Ellipsis else list[Any]
    if origin is list:
        return list[_field_type(args[0], unset)]
    if origin is dict:
        return dict[args[0], _field_type(args[1], unset)]
    if dataclasses.is_dataclass(hint):
        return schema(hint, unset=unset)
    return hint


@functools.cache
def schema(cls: type, skip: Sequence[str] = (), unset: bool = False) -> type:
    """A mutable dataclass with `cls`'s fields and types, and its defaults (no default: required, `???`); with
    `unset`, no default at all (every key `???` until a file sets it)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default
        if unset or (default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
            spec = dataclasses.field(default=MISSING)  # type: ignore[arg-type]
        elif default is dataclasses.MISSING:
            spec = dataclasses.field(default_factory=f.default_factory)
        elif isinstance(default, (list, tuple)):
            spec = dataclasses.field(default_factory=functools.partial(list, default))
        else:
            spec = dataclasses.field(default=default)
        out.append((f.name, _field_type(hints[f.name], unset), spec))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", out)


def run_options() -> Any:
    """The run options as typed nodes (an int stays an int, `threads=abc` is refused naming the key), each with
    `RunOptions`' default. A flag stays untyped here: Hydra would read `no`, `off` or 2 as a bool, where `RunOptions`
    refuses anything but true or false."""
    from omegaconf import AnyNode, FloatNode, IntegerNode, OmegaConf, StringNode

    from designspace.sweep.options import RunOptions

    kinds = {int: IntegerNode, float: FloatNode, str: StringNode}
    hints = typing.get_type_hints(RunOptions)
    nodes = {}
    for f in dataclasses.fields(RunOptions):
        args = typing.get_args(hints[f.name]) or (hints[f.name],)
        kind = next(a for a in args if a is not type(None))
        nodes[f.name] = kinds[kind](f.default, is_optional=type(None) in args) if kind in kinds else AnyNode(f.default)
    return OmegaConf.create(nodes)


def config_class(group: str) -> type:
    """The dataclass behind a group, imported on demand (the dataset's pulls in torch; `sample` needs only
    the budget's and the space's, and must not import torch)."""
    if group == "budget":
        from designspace.space.budgets import Budget

        return Budget
    if group == "space":
        from designspace.space.schema import SpaceConfig

        return SpaceConfig
    if group == "run_options":
        from designspace.sweep.options import RunOptions

        return RunOptions
    if group == "dataset":
        from designspace.training.data import DatasetConfig

        return DatasetConfig
    from designspace.training.schedule import Schedule

    return Schedule


def named(text: str) -> tuple[str, ...]:
    """The schemas a primary config's text puts in its defaults list (`- /schema/<group>`)."""
    return tuple(g for g in GROUPS if re.search(rf"/schema/{g}(@|\s|$)", text))


@functools.cache
def register(groups: tuple[str, ...] = GROUPS) -> None:
    """Store the schemas of `groups` as `schema/<group>` (package `<group>`; the run options' at the top level) in
    Hydra's ConfigStore (once per process and set of groups)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group in groups:
        if group == "run_options":
            store.store(group="schema", name=group, node=run_options(), package="_global_")
        else:
            store.store(group="schema", name=group, node=schema(config_class(group), SKIP.get(group, ()),
                                                                   unset=group in UNSET), package=group)


def drop_unset(data: Any) -> Any:
    """Plain config data without the keys that are unset (`???`: no file or override set them)."""
    if isinstance(data, dict):
        return {k: drop_unset(v) for k, v in data.items() if v != MISSING}
    if isinstance(data, list):
        return [drop_unset(v) for v in data]
    return data


def given(node: Any) -> Any:
    """A composed config node as plain data (interpolations resolved), without its unset keys."""
    from omegaconf import OmegaConf

    return drop_unset(OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node)


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
