"""Config validation shared by every `from_dict`: unknown keys are named, never ignored, and every value has
the type its dataclass field declares (an integer field refuses 2.5 and 1e3, a float field refuses inf)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from designspace.util.usage import UserError


def reject_unknown_keys(cfg: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    """Raise UserError naming the keys of `cfg` that are not in `known` (and listing the known ones)."""
    known = set(known)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise UserError(f"{what}: unknown key(s) {unknown}; known: {sorted(known)}")


def _fits(value: Any, hint: Any) -> bool:
    """Whether `value` has the type `hint` (int, float, bool, str, None, unions, tuple[X, ...])."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if origin is tuple:
        args = typing.get_args(hint)
        return isinstance(value, tuple) and all(_fits(v, args[0]) for v in value)
    if hint is str:
        return isinstance(value, str)
    return True  # a type this check does not know: left to the class's own validation


def check_field_types(obj: Any, what: str) -> None:
    """Raise UserError naming every field of the dataclass `obj` whose value is not of its declared type
    (one line: `what: batch_size=1000.0 must be an integer, epochs=2.5 must be an integer`)."""
    hints = typing.get_type_hints(type(obj))
    bad = []
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        if not _fits(value, hint):
            bad.append(f"{f.name}={value!r} must be {_name(hint)}")
    if bad:
        raise UserError(f"{what}: {', '.join(bad)}")


def _name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_name(h) for h in args)
    if typing.get_origin(hint) is tuple:
        return f"a list of {_name(args[0])}s"
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "a string",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))
