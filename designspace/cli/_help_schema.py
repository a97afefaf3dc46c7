"""The `--help` rows of the typed keys: a group's (`schedule.*`, `dataset.*`, `budget.*`, `space.*`) and the run
options, each as (key=VALUE, type, comment) read from the dataclass behind it (`designspace.cli._structured`).

VALUE is the value as composed from the command line; a key the composition leaves unset shows the dataclass's
default, or `???` (required) where it has none. The comment is the one beside the field in the dataclass's source.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

from designspace.configs import CONFIG_DIR

Row = tuple[str, str, str]


def type_name(hint: object) -> str:
    """'int', 'float|null', 'list[float]', 'number', '{base,coef,power}' ... as a user types them."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        kinds = "number" if set(rest) == {int, float} else "|".join(type_name(a) for a in rest)
        return kinds + ("|null" if type(None) in args else "")
    if origin in (tuple, list):
        return f"list[{type_name(args[0])}]" if args else "list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "map"
    if hint is typing.Any:
        return "any"
    return getattr(hint, "__name__", str(hint))


def field_comments(cls: type) -> dict[str, str]:
    """The comment beside each field in the dataclass's source (`lr: float = 0.1  # what it does`)."""
    import inspect

    out = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"^\s+(\w+):\s*[^=#]+(?:=[^#]*)?#\s?(.*)$", line)
        if m:
            out[m[1]] = m[2].strip()
    return out


def shown(value: object) -> str:
    """A value as a user types it: null, true/false, lists in brackets, mappings in braces."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=False)
    if value is None:
        return "null"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def composed_value(cfg: object, key: str, default: str) -> str:
    """The composed value of a dotted key ("???": required), or `default` when not composed or unset."""
    from omegaconf import OmegaConf

    if cfg is None:
        return default
    try:
        if OmegaConf.is_missing(OmegaConf.select(cfg, key.rsplit(".", 1)[0]) if "." in key else cfg,
                                key.rsplit(".", 1)[-1]):
            return default
        return shown(OmegaConf.select(cfg, key, throw_on_missing=False))
    except Exception:
        return default


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "???"


def dataclass_rows(prefix: str, cls: type, values: dict[str, Any] | None, cfg: object = None,
                   skip: tuple[str, ...] = ()) -> list[Row]:
    """A row per field of `cls` under `prefix` (a nested dataclass: a row per field of it), its value as `cfg`
    composes it, else as `values` (a file's) sets it, else the field's default."""
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        key, hint = f"{prefix}{f.name}", hints[f.name]
        value = values.get(f.name, _default(f)) if values is not None else _default(f)
        if dataclasses.is_dataclass(hint):
            out += dataclass_rows(f"{key}.", hint, value if isinstance(value, dict) else None, cfg)
            continue
        comment, inner = comments.get(f.name, ""), _mapping_of(hint)
        if inner is not None:  # a mapping of dataclasses (a space's parameters): its keys, a row per entry
            comment = "{" + ",".join(g.name for g in dataclasses.fields(inner)) + "}: " + comment
            if typing.get_origin(hint) is dict and isinstance(value, dict) and value:
                out += [(f"{key}.{k}={shown(v)}", "map|null", comment) for k, v in value.items()]
                continue
        value = composed_value(cfg, key, shown(value))
        out.append((f"{key}={'VALUE (required)' if value == '???' else value}", type_name(hint), comment))
    return out


def _mapping_of(hint: object) -> type | None:
    """The dataclass of a `dict[str, X | None]` or `X | None` hint (None for anything else)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is dict:
        hint = args[1]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    inner = [a for a in args if a is not type(None)] if origin in (typing.Union, types.UnionType) else [hint]
    return inner[0] if len(inner) == 1 and dataclasses.is_dataclass(inner[0]) else None


def _option_values(group: str, option: str) -> dict[str, Any] | None:
    """What the option's file sets (a space's with its defaults chain merged); None when there is no such file."""
    path = CONFIG_DIR / group / f"{option}.yaml"
    if not path.is_file():
        return None
    if group == "space":
        from designspace.space.compose import compose_file

        return compose_file(path)[0]
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def group_rows(group: str, option: str, cfg: object = None) -> list[Row]:
    """(group.key=VALUE, type, comment) for every key of a typed group."""
    from designspace.cli._structured import SKIP, config_class, given

    values = _option_values(group, option)
    if cfg is not None and group in cfg:  # type: ignore[operator]
        values = given(cfg[group])  # type: ignore[index]
    return dataclass_rows(f"{group}.", config_class(group), values, None, SKIP.get(group, ()))


def run_option_rows(cfg: object, listed: set[str]) -> list[Row]:
    """A row per run option (`RunOptions`) the primary config does not list itself, its value as composed."""
    from designspace.sweep.options import RunOptions

    return [row for row in dataclass_rows("", RunOptions, None, cfg) if row[0].split("=", 1)[0] not in listed]


def run_option_types() -> dict[str, str]:
    """Types of the run options, from `RunOptions` (the keys train, reproduce and compare share)."""
    from designspace.sweep.options import RunOptions

    return {k: type_name(v) for k, v in typing.get_type_hints(RunOptions).items()}
