"""Space files composed: a file found by name or path, read, and its `defaults` chain merged.

Files inherit with a Hydra defaults list (``defaults: [anynetx_a, _self_]``) that `compose` resolves the way
Hydra does for `python -m designspace.sample` (dicts merge, lists and scalars replace), so a new space is a new YAML
file; each parent is looked up beside the file, then among the built-in spaces (`SPACE_DIR`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from designspace.configs import CONFIG_DIR  # package data: found from a wheel too
from designspace.configs import read_yaml as _read_yaml
from designspace.space.schema import Chain, ConfigError, SpaceError

SPACE_DIR = CONFIG_DIR / "space"


def known(folder: Path) -> list[str]:
    """The config names of a folder (its YAML files)."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def find_file(ref: str | os.PathLike, folder: Path, what: str, base: Path | None = None,
              error: type[ConfigError] = SpaceError) -> Path:
    """A config file by path, or by name in `base` then in the built-in `folder`."""
    if not isinstance(ref, (str, os.PathLike)) or not os.fspath(ref):
        raise error(f"{what}: expected a name, a path or a config, got {ref!r}")
    text = os.fspath(ref)
    candidates = [Path(text)] if text.endswith((".yaml", ".yml")) or os.sep in text else []
    stem = text.removeprefix(f"/{what}/").removeprefix(f"{what}/")
    for folder_ in [base, folder] if base else [folder]:
        candidates += [folder_ / f"{stem}.yaml", folder_ / stem]
    for path in candidates:
        if path.is_file():
            return path
    raise error(f"unknown {what} {text!r}: no such file, and not one of: {', '.join(known(folder))}")


def read_yaml(path: Path) -> dict[str, Any]:
    """A space file's mapping (`designspace.configs.read_yaml`, errors as SpaceError)."""
    return _read_yaml(path, SpaceError)


def compose(data: dict[str, Any], source: str, base: Path, _seen: tuple[str, ...] = ()) -> tuple[dict, Chain]:
    """Resolve a Hydra-style `defaults` list (entries: other files of the group, and `_self_`).

    Returns the merged config (dicts merge, lists and scalars replace) and the chain of
    (source, data) it was merged from, in order - used to name the file a bad key comes from.
    """
    from omegaconf import OmegaConf

    if source in _seen:
        raise SpaceError(f"{source}: defaults form a cycle: {' -> '.join((*_seen, source))}")
    data = dict(data)
    defaults = data.pop("defaults", [])
    if not isinstance(defaults, list) or not all(isinstance(d, str) for d in defaults):
        raise SpaceError(f"{source}: defaults must be a list of config names, got {defaults!r}")
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]
    merged = OmegaConf.create({})
    chain: Chain = []
    for entry in defaults:
        if entry == "_self_":
            part, sub = data, [(source, data)]
        else:
            path = find_file(entry, SPACE_DIR, "space", base)
            part, sub = compose(read_yaml(path), str(path), path.parent, (*_seen, source))
        try:
            merged = OmegaConf.merge(merged, part)
        except Exception as exc:  # noqa: BLE001 - OmegaConf type clashes (dict over scalar, ...)
            raise SpaceError(f"{sub[-1][0]}: cannot merge into the inherited config: {exc}") from None
        chain += sub
    return OmegaConf.to_container(merged), chain


def compose_file(path: Path) -> tuple[dict, Chain]:
    """A space file's config, its defaults chain merged, and the chain."""
    return compose(read_yaml(path), str(path), path.parent)
