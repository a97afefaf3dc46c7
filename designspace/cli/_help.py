"""`--help` and `--version` of every command, and output that survives a closed pipe (`... --help | head`).

The help is written from the command's docstring (what it does, examples) and its primary config
`configs/<command>.yaml`: one line per key (its default and the comment beside it) and the config groups
with their options, so it cannot drift from the keys the command reads.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Sequence

from designspace.configs import CONFIG_DIR

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w]*):(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")
_GROUP = re.compile(r"^ *- (?P<group>[\w/]+): *(?P<option>[^#\s]*)")


def version() -> str:
    """The installed distribution's version (the package's own when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    from designspace import __version__

    try:
        return dist_version("designspace")
    except PackageNotFoundError:
        return __version__


def options(group: str) -> list[str]:
    """The options of a config group (the YAML files of `configs/<group>/`)."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def _keys(config_name: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The primary config's groups (`group=default (options)`) and keys (key, default, comment)."""
    groups, keys, parent = [], [], ""
    in_defaults = in_hydra = False
    for line in (CONFIG_DIR / f"{config_name}.yaml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _KEY.match(line)
        if m and not m["indent"]:
            in_defaults, in_hydra = m["key"] == "defaults", m["key"] == "hydra"
        if in_defaults:
            g = _GROUP.match(line)
            if g and not g["group"].startswith(("override", "hydra")):
                groups.append(f"{g['group']}={g['option']}".replace("=???", "=NAME (required)"))
            continue
        if in_hydra or not m or len(m["indent"]) > 2:
            continue
        value = m["value"].strip()
        if not m["indent"]:
            parent = m["key"] if not value else ""
            if value:
                keys.append((m["key"], value, m["comment"] or ""))
            elif m["comment"]:
                keys.append((m["key"], "", m["comment"]))
        elif parent:
            keys.append((f"{parent}.{m['key']}", value, m["comment"] or ""))
    return groups, keys


_TYPED_GROUPS = ("schedule", "dataset", "budget")  # groups with a typed schema (designspace.cli._structured)


def _type_name(hint: object) -> str:
    """'int', 'float|null', 'list[float]' ... as a user types them on the command line."""
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return "|".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin in (tuple, list):
        return f"list[{_type_name(args[0])}]" if args else "list"
    if hint is typing.Any:
        return "any"
    return getattr(hint, "__name__", str(hint))


def _run_option_types() -> dict[str, str]:
    """Types of the run options, from `RunOptions` (the keys train, reproduce and compare share)."""
    import typing

    from designspace.sweep.options import RunOptions

    return {k: _type_name(v) for k, v in typing.get_type_hints(RunOptions).items()}


def _literal_type(value: str) -> str:
    """The type a YAML default implies (null: any value or null)."""
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return "str"
    if parsed is None:
        return "value|null"
    return {bool: "bool", int: "int", float: "float", list: "list", dict: "map"}.get(type(parsed), "str")


def _path_type(key: str) -> str | None:
    """Keys that name folders or files."""
    if key.endswith("_dirs"):
        return "list[path]"
    if key.endswith(("_dir", "_file")) or key in ("out", "root", "dest"):
        return "path|null"
    return None


def _field_comments(cls: type) -> dict[str, str]:
    """The comment beside each field in the dataclass's source (`lr: float = 0.1  # what it does`)."""
    import inspect

    out = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"^\s+(\w+):\s*[^=#]+(?:=[^#]*)?#\s?(.*)$", line)
        if m:
            out[m[1]] = m[2].strip()
    return out


def _group_keys(group: str, option: str) -> list[tuple[str, str, str]]:
    """(group.key=VALUE, type, comment) for every key of a typed group, VALUE as the default option sets it."""
    import dataclasses
    import typing

    import yaml

    from designspace.cli._structured import SKIP, _config_class

    cls = _config_class(group)
    hints, comments = typing.get_type_hints(cls), _field_comments(cls)
    path = CONFIG_DIR / group / f"{option}.yaml"
    values = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    out = []
    for f in dataclasses.fields(cls):
        if f.name in SKIP.get(group, ()):
            continue
        value = values.get(f.name, f.default if f.default is not dataclasses.MISSING else "???")
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        out.append((f"{group}.{f.name}={shown}", _type_name(hints[f.name]), comments.get(f.name, "")))
    return out


def _installed_paths(text: str) -> str:
    """Repository paths in a command's text replaced by where the files are installed."""
    return (text.replace("experiments/experiment/", f"{CONFIG_DIR}/experiment/")
            .replace("configs/", f"{CONFIG_DIR}/"))


def help_text(config_name: str, doc: str | None, prog: str, hydra: bool = True) -> str:
    """The `--help` of the command whose primary config is `config_name`: every key with its type and default,
    the keys of its typed config groups (schedule.*, dataset.*, budget.*) at the default option's values, and
    paths as installed."""
    lines = [_installed_paths((doc or prog).strip()), ""]
    groups, keys = _keys(config_name)
    typed: list[tuple[str, str, str]] = []
    if groups:
        lines.append("Config groups (group=OPTION; a group's keys are set as group.key=VALUE):")
        for item in groups:
            group, option = item.split("=", 1)
            found = options(group)
            lines.append(f"  {item}" + (f"  options: {', '.join(found)}" if found else "")
                         + (f"  ({CONFIG_DIR / group})" if found else ""))
            if group in _TYPED_GROUPS and found:
                typed += _group_keys(group, option)
        lines.append("")
    run_types = _run_option_types() if any(k in ("threads", "pack", "checkpoint_every_s") for k, _, _ in keys) else {}
    rows = [(f"{k}={v}" if v else k, run_types.get(k) or _path_type(k) or (_literal_type(v) if v else ""), c)
            for k, v, c in keys]
    lines.append("Keys (key=VALUE, its type; the default, then what it does):")
    width = max((len(left) for left, _, _ in rows + typed), default=10) + 2
    twidth = max((len(t) for _, t, _ in rows + typed), default=4) + 2
    for left, kind, comment in rows:
        lines.append(f"  {left.ljust(width)}{kind.ljust(twidth)}{_installed_paths(comment)}".rstrip())
    if typed:
        lines += ["", "Keys of the config groups (at the default options above; another option sets its own):"]
        for left, kind, comment in typed:
            lines.append(f"  {left.ljust(width)}{kind.ljust(twidth)}{comment}".rstrip())
    lines += ["", "A wrong key or value prints one line and exits with status 2."
              + (f" `{prog} --cfg job` prints the composed config." if hydra else ""), f"designspace {version()}"]
    return "\n".join(lines)


def quiet_broken_pipe() -> None:
    """After the reader of stdout left (`| head`): send the rest to /dev/null, so exit does not complain."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def emit(text: str) -> None:
    """Print `text`; a closed pipe ends it quietly."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        quiet_broken_pipe()


def handled(args: Sequence[str], config_name: str, doc: str | None, prog: str, hydra: bool = True) -> bool:
    """Answer --help / -h / --version (True when one was answered and the command should stop)."""
    if "--version" in args:
        emit(f"designspace {version()}")
        return True
    if {"--help", "-h"} & set(args):
        emit(help_text(config_name, doc, prog, hydra))
        return True
    return False
