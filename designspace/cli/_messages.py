"""Hydra's and OmegaConf's errors as one line naming the key (and the file that set it) and the fix.

Hydra's own messages span lines, name its internal config paths (`space/file-mine`) and suggest what does not
apply here (`+key=value` adds a key nothing reads; a comma-separated value is a multirun sweep). `message` rewrites
the ones a user meets: an unknown key or a wrong type in a typed group, on the command line or in a file; a missing
parent in a file's defaults list; a list written without brackets. Anything else is `one_line`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path

from designspace.configs import CONFIG_DIR

_IN_FILE = re.compile(r"^In '(?P<group>[\w.-]+)/(?P<option>[^']+)': (?P<rest>.*)$", re.S)
_RAISED = re.compile(r"^\w+ raised while composing config:\s*(?P<what>.*?)\n\s+full_key: (?P<key>\S+)", re.S)
_NOT_IN = re.compile(r"Key '[^']+' not in '\w+'")
_CONVERT = re.compile(r"Value '(?P<value>.*)' of type '\w+' could not be converted to (?P<kind>\w+)")
_NO_PARENT = re.compile(r"^Could not load '(?P<group>[\w.-]+)/(?P<name>[^']+)'")
_AMBIGUOUS = re.compile(r"Ambiguous value for argument '(?P<key>[^=']+)=(?P<value>[^']*)'")
_UNKNOWN = re.compile(r"Could not override '(?P<key>[^']+)'\.\s+To append to your config use \+")
_MERGING = re.compile(r"Error merging override (?P<key>[^=]+)=(?P<value>.*)$")


def one_line(exc: BaseException) -> str:
    """Hydra's and OmegaConf's messages, which span lines (the options of a group, the search path), in one."""
    text = str(exc)
    override = getattr(exc, "override", None)  # hydra.errors.OverrideParseException names the bad argument
    if isinstance(override, str) and override not in text:
        text = f"cannot parse the override {override!r}: {text}"
    head, _, rest = text.partition("\n")
    if "Available options in" in rest:
        options = [ln.strip() for ln in rest.split("Config search path")[0].splitlines()
                   if ln.strip() and not ln.startswith("Available options in")]
        return f"{head.strip()}; available: {', '.join(options)}"
    return " ".join(text.split("Config search path")[0].split()) or type(exc).__name__


def message(exc: BaseException, source_file: Callable[[str, str], Path | None] = lambda group, option: None) -> str:
    """The one line for an error Hydra or OmegaConf raised while composing a command's config; `source_file` gives
    the file a `group=PATH` override named for the option Hydra made of it (`designspace.cli._hydra.source_file`)."""
    return _in_file(exc, source_file) or _ambiguous(exc) or _override(exc) or one_line(exc)


def known_keys(full_key: str) -> list[str] | None:
    """The keys beside `full_key` in its typed group (`space.constraints.bounds.depth` -> total_depth, flops, ...);
    None outside the typed groups, and among a mapping's entries (a space's parameters take any name)."""
    from designspace.cli._structured import GROUPS, SKIP, config_class

    group, *path = full_key.split(".")
    if group not in GROUPS or group == "run_options" or not path:
        return None
    node: type | None = config_class(group)
    entries = False  # node is the value type of a mapping: the next part names an entry
    for part in path[:-1]:
        if entries:
            entries = False
            continue
        hint = typing.get_type_hints(node).get(part)
        entries = typing.get_origin(hint) is dict
        node = _dataclass_in(typing.get_args(hint)[1] if entries else hint)
        if node is None:
            return None
    if entries or node is None:
        return None
    skip = SKIP.get(group, ()) if len(path) == 1 else ()
    return [f.name for f in dataclasses.fields(node) if f.name not in skip]


def _dataclass_in(hint: object) -> type | None:
    """The dataclass of `X` or `X | None` (None for anything else)."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    found = [a for a in args if dataclasses.is_dataclass(a)]
    return found[0] if found else None  # type: ignore[return-value]


def _no_such_key(key: str) -> str:
    known = known_keys(key)
    return f"{key}: no such key ({'known: ' + ', '.join(known) if known else '--help lists the keys'})"


def _converted(key: str, value: str, kind: str) -> str:
    kind = {"Integer": "integer", "Float": "number", "Boolean": "true or false"}.get(kind, kind.lower())
    return f"{key}={value}: not {'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _in_file(exc: BaseException, source_file: Callable[[str, str], Path | None]) -> str | None:
    """An error in a group's file: a missing parent, an unknown key or a value of the wrong type."""
    m = _IN_FILE.match(str(exc))
    if not m:
        return None
    path = source_file(m["group"], m["option"]) or CONFIG_DIR / m["group"] / f"{m['option']}.yaml"
    where, rest = str(path) if path.is_file() else f"{m['group']}/{m['option']}", m["rest"]
    parent = _NO_PARENT.match(rest)
    if parent:
        from designspace.space.compose import known

        group = parent["group"]
        return (f"{where}: defaults: no {group} {parent['name']!r} (a parent is one of the {group}s: "
                f"{', '.join(known(CONFIG_DIR / group))})")
    raised = _RAISED.match(rest)
    if not raised:
        return f"{where}: {one_line(Exception(rest))}"
    key, what = raised["key"], raised["what"].strip()
    if _NOT_IN.match(what):
        return f"{where}: {_no_such_key(key)}"
    convert = _CONVERT.match(what)
    if convert:
        return f"{where}: {_converted(key, convert['value'], convert['kind'])}"
    return f"{where}: {key}: {what.splitlines()[0]}"


def _ambiguous(exc: BaseException) -> str | None:
    """`key=a,b`: Hydra reads it as a multirun sweep over a and b."""
    m = _AMBIGUOUS.search(str(exc))
    if not m:
        return None
    key, value = m["key"], m["value"]
    return (f"{key}={value}: a list is written in brackets, {key}=[{value}] (quote it in the shell: "
            f"'{key}=[{value}]'); a comma-separated value is a multirun sweep (-m)")


def _override(exc: BaseException) -> str | None:
    """A command-line override of an unknown key, or of a typed key with a value of the wrong type."""
    unknown = _UNKNOWN.match(str(exc))
    if unknown:  # Hydra suggests +key=value, which adds a key nothing reads
        return _no_such_key(unknown["key"])
    cause = exc if getattr(exc, "full_key", None) else exc.__cause__
    key = getattr(cause, "full_key", None)
    if not key:
        return None
    text = str(cause).split("\n")[0]
    merging = _MERGING.match(str(exc))
    value = merging["value"] if merging else "?"
    convert = _CONVERT.match(text)
    if convert:
        return _converted(key, convert["value"], convert["kind"])
    if "is not a valid bool" in text:
        return f"{key}={value}: not true or false"
    if "is not Optional" in text:
        return f"{key}=null: {key} takes a value, not null (--help shows its type)"
    if "is not a ListConfig" in text:
        return f"{key}={value}: not a list; write {key}=[{value}]"
    if "Cannot convert" in text:
        return f"{key}={value}: not a string"
    return f"{key}={value}: {text}"
