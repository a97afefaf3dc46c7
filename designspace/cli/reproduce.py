"""`python -m designspace.reproduce experiment=NAME [stage=all|sample|train|analyze]`: the paper's progression.

The study is `designspace.studies.reproduce`; options: configs/reproduce.yaml and configs/experiment/."""

from __future__ import annotations

from typing import Any

from designspace.cli import _structured
from designspace.studies.experiment import ExperimentError
from designspace.studies.reproduce import run

_structured.register()  # launcher job processes compose the config again after importing this module


def _reproduce(cfg: Any) -> None:
    import sys

    from designspace.sweep.runner import Interrupted

    try:
        print(run(cfg))
    except KeyboardInterrupt as exc:  # SIGTERM or Ctrl-C: the model in training keeps its checkpoint, no record
        what = "SIGTERM" if isinstance(exc, Interrupted) else "an interrupt"
        print(f"designspace.reproduce: stopped by {what}; nothing was recorded for the models in training (their "
              "checkpoints are kept): run the same command again to resume", file=sys.stderr)
        sys.exit(143 if isinstance(exc, Interrupted) else 130)


def main() -> None:
    from designspace.cli import _hydra
    from designspace.sweep.results import ResultsError
    from designspace.training.data import DatasetError

    _hydra.run("reproduce", "designspace.reproduce", _reproduce, (ExperimentError, DatasetError, ResultsError))


if __name__ == "__main__":
    main()
