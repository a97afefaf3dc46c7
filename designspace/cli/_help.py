"""`--help` and `--version` of every command, and output that survives a closed pipe (`... --help | head`).

The help is written from the command's docstring (what it does, examples) and its primary config
`configs/<command>.yaml`: one line per key (the comment beside it) and the config groups with their options, so it
cannot drift from the keys the command reads. The values shown are those of the config as the command would compose
it from the same command line (`reproduce experiment=fmnist_cpu --help` shows that experiment's keys and the
schedule it really runs); a key without a default says "required".
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Sequence

from designspace.cli._help_schema import composed_value, group_rows, run_option_rows, run_option_types, shown
from designspace.cli._structured import named
from designspace.configs import CONFIG_DIR, DOCS_DIR

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


_TYPED_GROUPS = ("schedule", "dataset", "budget", "space")  # groups with a typed schema (designspace.cli._structured)


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


def _composed(config_name: str, args: Sequence[str]) -> object | None:
    """The command's config composed from the overrides in `args` (None when it does not compose: the help then
    shows the files' defaults)."""
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        from designspace.cli._structured import register

        register(named((CONFIG_DIR / f"{config_name}.yaml").read_text()))
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name, overrides=overrides, return_hydra_config=True)
    except Exception:  # a bad override: the command itself will name it
        return None


def _flat(prefix: str, node: object) -> list[tuple[str, str]]:
    """(prefix.key, value) for every leaf of a composed mapping."""
    from omegaconf import OmegaConf

    out = []
    data = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
    for k, v in (data or {}).items():
        if isinstance(v, dict):
            out += _flat(f"{prefix}.{k}", v)
        else:
            out.append((f"{prefix}.{k}", shown(v)))
    return out


def _installed_paths(text: str) -> str:
    """Repository paths in a command's text replaced by where the files are installed."""
    return (text.replace("experiments/experiment/", f"{CONFIG_DIR}/experiment/")
            .replace("configs/", f"{CONFIG_DIR}/").replace("docs/", f"{DOCS_DIR}/"))


def _table(rows: list[tuple[str, str, str]], width: int) -> list[str]:
    """key=VALUE, type and comment in columns (paths in comments as installed)."""
    twidth = max((len(kind) for _, kind, _ in rows), default=4) + 2
    return [f"  {left.ljust(width - 2)}  {kind.ljust(twidth)}{_installed_paths(comment)}".rstrip()
            for left, kind, comment in rows]


def help_text(config_name: str, doc: str | None, prog: str, hydra: bool = True, args: Sequence[str] = ()) -> str:
    """The `--help` of the command whose primary config is `config_name`: every key with its type and value as
    composed from `args` (the defaults when none), the keys of its typed config groups (schedule.*, dataset.*,
    budget.*) and of a chosen experiment, and paths as installed."""
    lines = [_installed_paths((doc or prog).strip()), ""]
    groups, keys = _keys(config_name)
    cfg = _composed(config_name, args)
    chosen = {} if cfg is None else _choices(cfg)
    typed: list[tuple[str, str, str]] = []
    if groups:
        lines.append("Config groups (group=OPTION; a group's keys are set as group.key=VALUE):")
        for item in groups:
            group, option = item.split("=", 1)
            option = chosen.get(group, option)
            item = f"{group}={option}"
            found = options(group)
            lines.append(f"  {item}" + (f"  options: {', '.join(found)}" if found else "")
                         + (f"  ({CONFIG_DIR / group})" if found else ""))
            if group in _TYPED_GROUPS and found:
                typed += group_rows(group, option, cfg)
        lines.append("")
    run_options = "run_options" in named((CONFIG_DIR / f"{config_name}.yaml").read_text())
    run_types = run_option_types() if run_options else {}
    rows = []
    for k, v, c in keys:
        value = composed_value(cfg, k, v) if v else v
        kind = run_types.get(k) or _path_type(k) or (_literal_type(v) if v else "")
        kind = kind.replace("|null", "") if value == "???" else kind
        rows.append((f"{k}={'VALUE (required)' if value == '???' else value}" if v else k, kind, c))
    if run_options:  # RunOptions' fields, with its defaults: the primary config does not repeat them
        rows += run_option_rows(cfg, {k for k, _, _ in keys})
    if cfg is not None and "experiment" in cfg and cfg.experiment is not None:
        name = chosen.get("experiment", "")
        typed += [(f"{k}={v}", "", "") for k, v in _flat("experiment", cfg.experiment)]
        typed.insert(0, (f"(experiment={name}; `experiment=NAME --help` shows another)", "", ""))
    lines.append("Keys (key=VALUE, its type; the default, then what it does):")
    width = min(max((len(left) for left, _, _ in rows + typed), default=10), 36) + 2
    lines += _table(rows, width)
    if typed:
        lines += ["", "Keys of the config groups (as composed from this command line; another option sets its own):"]
        lines += _table(typed, width)
    lines += ["", f"A wrong key or value prints one line and exits with status 2. `{prog} --cfg job` prints the "
              "composed config.", f"designspace {version()}"]
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


def _choices(cfg: object) -> dict[str, str]:
    """The option chosen for each config group, from the composed config's Hydra runtime choices."""
    try:
        choices = cfg.hydra.runtime.choices  # type: ignore[attr-defined]
        return {str(k): str(v) for k, v in choices.items() if v is not None and not str(k).startswith("hydra")}
    except Exception:
        return {}


def handled(args: Sequence[str], config_name: str, doc: str | None, prog: str, hydra: bool = True) -> bool:
    """Answer --help / -h / --version (True when one was answered and the command should stop)."""
    if "--version" in args:
        emit(f"designspace {version()}")
        return True
    if {"--help", "-h"} & set(args):
        emit(help_text(config_name, doc, prog, hydra, args))
        return True
    return False
