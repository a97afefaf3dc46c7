"""The config groups (space, budget, dataset, schedule, experiment, hydra/launcher) and one primary config per
command, shipped as package data; Hydra finds them as pkg://designspace.configs.

`read_yaml` is the one reader of a config file outside Hydra's composition (a space or budget given by path,
the dataset files refine matches against): a malformed file is one line naming the file, line and column."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
DOCS_DIR = CONFIG_DIR.parent / "docs"
"""The guides (docs/*.md), shipped with the package: messages cite them by this installed path."""


def read_yaml(path: str | os.PathLike, error: type[Exception] = ValueError) -> dict[str, Any]:
    """The mapping in a YAML file, interpolations resolved; `error` (one line, naming the file) otherwise."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
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
