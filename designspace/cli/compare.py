"""`python -m designspace.compare sweep_dirs=[A,B] max_models=N [margin=M]`: decide which space is better.

Trains the two sweeps' models alternately, each in a random order fixed before any result, until the
anytime-valid sequential comparison (`designspace.analysis.sequential`) decides or N models a side are
trained; prints one line per pair, the forecast of the pairs still needed after the first pairs and at the end,
the decision naming the better space, its interval and the models spent, and writes compare.csv/.json/.png.
Config: configs/compare.yaml (+ configs/dataset, configs/schedule). The study is `designspace.studies.compare`.
The run options are train's, but shard, num_shards and limit keep their defaults (the comparison picks the models;
several processes running the same command share the work through claims).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from designspace.analysis.collect import sweep_info
from designspace.analysis.forecast import MIN_PAIRS
from designspace.cli import _hydra, _structured
from designspace.cli import train as _train_cli  # noqa: F401  registers ds_logdir, used by configs/compare.yaml
from designspace.studies.compare import (
    CompareOptions,
    arms_of,
    beyond_cap,
    check_sweeps,
    run_compare,
    write_outcome,
)
from designspace.studies.twin_sweeps import ESTIMAND
from designspace.sweep.from_config import training_setup
from designspace.sweep.layout import SamplesError, SweepNotWritable
from designspace.sweep.options import RunOptions
from designspace.sweep.runner import Interrupted, run_sweep
from designspace.sweep.setups import SetupMismatch
from designspace.training.data import DatasetError, load_dataset
from designspace.util.names import file_slug, one_line
from designspace.util.usage import UsageError, UserError, terminal_safe

log = logging.getLogger(__name__)
_structured.register()
PICKED = ("shard", "num_shards", "limit")  # run options that pick the models: the comparison picks them


def _names(paths: list[str]) -> list[str]:
    names = [one_line(sweep_info(p)["space"] or Path(p).name) for p in paths]
    return names if names[0] != names[1] else [one_line(Path(p).name) for p in paths]


def _check_picked(options: RunOptions) -> None:
    """The comparison picks the models to train: shard, num_shards and limit, which pick them in `train`, must keep
    their defaults (workers share a comparison through claims)."""
    for key in PICKED:
        if getattr(options, key) != getattr(RunOptions(), key):
            raise UsageError(f"{key}={getattr(options, key)}: compare picks the models it trains, so "
                             f"{', '.join(PICKED)} keep their defaults; to share the work, run the same command in "
                             "several processes")


def run(cfg: DictConfig) -> str:
    raw = cfg.sweep_dirs
    if raw is None:
        raise UsageError("sweep_dirs is required: python -m designspace.compare sweep_dirs=[A,B] max_models=N")
    paths = [raw] if isinstance(raw, str) else list(OmegaConf.to_container(raw, resolve=True))
    options = CompareOptions(cfg.max_models, cfg.margin, cfg.alpha, cfg.order_seed, cfg.test, cfg.pairing)
    paths = [to_absolute_path(str(p)) for p in paths]
    sweeps = check_sweeps(paths, options.max_models, options.pairing)
    config = OmegaConf.to_container(cfg, resolve=True)
    dataset, schedule, run_options = training_setup(config, to_absolute_path)
    _check_picked(run_options)
    names = _names(paths)
    twin = options.pairing == "twin"
    if twin:
        names = [names[0], f"{names[1]} twins"]
    out = Path(to_absolute_path(cfg.out)) if cfg.out else sweeps[0].root.parent / file_slug(
        f"compare-{sweeps[0].root.name}-vs-{sweeps[1].root.name}" + ("-twins" if twin else ""))
    data = load_dataset(dataset)
    arms = arms_of(sweeps, names, options, to_absolute_path(cfg.twin_dir) if cfg.twin_dir else None)
    estimand = ESTIMAND.format(earlier=names[0], later=names[1].removesuffix(" twins")) if twin else \
        "the difference between independent draws of the two spaces"
    if twin:
        print(terminal_safe(f"compare: {len(arms[0].order)} models of {names[0]} have an in-band twin in the twin "
                            f"sweep {arms[1].sweep.root}; estimand: {estimand}"), file=sys.stderr)

    def train(arm: Any, model_ids: list[str], wait: bool) -> None:
        run_sweep(arm.sweep, data, schedule, run_options.replace(limit=None if wait else len(model_ids)),
                  models=model_ids)

    def look(standing: Any, trained: dict[str, int]) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in trained.items())
        line = f"compare: {counts} trained; {standing.result.text(names)}"
        if not standing.result.decided and standing.pairs == MIN_PAIRS:
            line += f"; forecast: {standing.forecast.text()}"
        print(terminal_safe(line), file=sys.stderr)

    standing = run_compare(arms, options, train, look)
    result = standing.result
    files = write_outcome(standing, names, out, estimand)
    lines = [result.text(names).split(":")[0] + f" (after {result.n} pair(s) of {options.max_models} at most)",
             f"location of {names[0]} - {names[1]}: [{result.low:+.2f}, {result.high:+.2f}] points (anytime-valid, "
             f"alpha {options.alpha:g}, test {options.test}: {result.estimand})", f"pairs: {options.pairing}; "
             f"estimand: {estimand}", f"why: {result.reason}"]
    if not result.decided and standing.pairs >= MIN_PAIRS:
        lines.append(f"forecast: {beyond_cap(standing, arms, options).text()}")
    lines.append(f"written: {', '.join(str(f) for f in files)}")
    return "\n".join(lines)


def _compare(cfg: DictConfig) -> None:
    try:
        print(terminal_safe(run(cfg)))
    except KeyboardInterrupt as exc:
        what = "SIGTERM" if isinstance(exc, Interrupted) else "an interrupt"
        log.warning("stopped by %s: nothing was recorded for the model in training; run the same command again "
                    "to resume", what)
        sys.exit(143 if isinstance(exc, Interrupted) else 130)


def main() -> None:
    _hydra.run("compare", "designspace.compare", _compare,
               (UsageError, UserError, DatasetError, SamplesError, SetupMismatch, SweepNotWritable))


if __name__ == "__main__":
    main()
