"""`python -m designspace.reproduce experiment=NAME [stage=all|sample|train|analyze]`: the paper's progression.

The study is `designspace.studies.reproduce`; options: configs/reproduce.yaml and configs/experiment/."""

from __future__ import annotations

from typing import Any

from designspace.cli import _structured
from designspace.studies.reproduce import ExperimentError, run

_structured.register()  # launcher job processes compose the config again after importing this module


def _reproduce(cfg: Any) -> None:
    print(run(cfg))


def main() -> None:
    from designspace.cli import _hydra
    from designspace.sweep.results import ResultsError
    from designspace.training.data import DatasetError

    _hydra.run("reproduce", "designspace.reproduce", _reproduce, (ExperimentError, DatasetError, ResultsError))


if __name__ == "__main__":
    main()
