"""The config groups (space, budget, dataset, schedule, experiment, hydra/launcher) and one primary config per
command, shipped as package data; Hydra finds them as pkg://designspace.configs.

`read_yaml` is the one reader of a config file outside Hydra's composition (a space or budget given by path,
the dataset files refine matches against): a malformed file is one line naming the file, line and column.
`yaml_problem` tells YAML text that must not reach a loader at all (a sweep's config.yaml may be someone else's):
too long, aliases that expand past a bound (1.3 KB of nested aliases is gigabytes to OmegaConf), or nested too
deep for the parser's recursion."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
DOCS_DIR = CONFIG_DIR.parent / "docs"
"""The guides (docs/*.md), shipped with the package: messages cite them by this installed path."""
MAX_YAML_BYTES = 1 << 20
"""The largest config text read (a sweep's config.yaml is about 1 KB)."""
MAX_YAML_NODES = 100_000
"""The most values a config may hold once its aliases are expanded (a config holds hundreds)."""
MAX_YAML_DEPTH = 64
"""The deepest nesting of mappings and lists read (a config nests 4 levels)."""


def yaml_problem(text: str) -> str | None:
    """Why YAML `text` must not be loaded - longer than MAX_YAML_BYTES, aliases expanding to more than
    MAX_YAML_NODES values, or deeper than MAX_YAML_DEPTH - or None. Judged on the parser's events, which expand
    nothing and do not recurse; malformed YAML is left to the loader, which names the line."""
    import yaml

    if len(text) > MAX_YAML_BYTES:
        return f"{len(text)} characters, more than the {MAX_YAML_BYTES} a config may have"
    try:
        return _event_problem(yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError:  # libyaml stops at 1000 levels, as malformed: the Python parser walks on and says why
        try:
            return _event_problem(yaml.parse(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            return None


def _event_problem(events: Iterable[Any]) -> str | None:
    """`yaml_problem` on a stream of parser events."""
    import yaml

    open_counts: list[int] = [0]  # values of each open mapping or list so far, the document's first
    open_anchors: list[str | None] = []
    sizes: dict[str, int] = {}  # values of each anchored node, its aliases expanded
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_counts.append(1)
            open_anchors.append(event.anchor)
            if len(open_anchors) > MAX_YAML_DEPTH:
                return f"nested more than {MAX_YAML_DEPTH} levels deep"
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size, anchor = open_counts.pop(), open_anchors.pop()
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            size, anchor = sizes.get(event.anchor, 1), None
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        open_counts[-1] += size
        if sum(open_counts) > MAX_YAML_NODES:
            return f"its aliases expand to more than {MAX_YAML_NODES} values"
    return None


def read_yaml(path: str | os.PathLike, error: type[Exception] = ValueError) -> dict[str, Any]:
    """The mapping in a YAML file, interpolations resolved; `error` (one line, naming the file) otherwise."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:  # a FIFO: never waits for a writer
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise error(f"{path}: not a regular file")
            text = f.read(MAX_YAML_BYTES + 1).decode("utf-8", errors="replace")
        problem = yaml_problem(text)
        if problem:
            raise error(f"{path}: not read: {problem}")
        data = OmegaConf.to_container(OmegaConf.create(text), resolve=True)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = " ".join(str(exc.problem or exc.context or "malformed").split())
        raise error(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    except OmegaConfBaseException as exc:  # interpolations and OmegaConf's own checks
        raise error(f"{path}: {' '.join(str(exc).splitlines()[0].split())}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: the file must hold a mapping of keys, got {type(data).__name__}")
    return data
