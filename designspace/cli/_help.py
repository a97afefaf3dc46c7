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


def help_text(config_name: str, doc: str | None, prog: str, hydra: bool = True) -> str:
    """The `--help` of the command whose primary config is `config_name`."""
    lines = [(doc or prog).strip(), ""]
    groups, keys = _keys(config_name)
    if groups:
        lines.append("Config groups (group=OPTION; a group's keys are set as group.key=VALUE):")
        for item in groups:
            group = item.split("=")[0]
            found = options(group)
            lines.append(f"  {item}" + (f"  options: {', '.join(found)}" if found else ""))
        lines.append("")
    lines.append("Keys (key=VALUE; the default, then what it does):")
    width = max((len(k) + len(v) for k, v, _ in keys), default=10) + 3
    for key, value, comment in keys:
        left = f"{key}={value}" if value else key
        lines.append(f"  {left.ljust(width)}{comment}".rstrip())
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
