"""`python -m designspace.train sweep_dir=DIR dataset=fashion_mnist schedule=fmnist_tiny`: train a sweep.

Trains every model of the sweep directory that has no result record yet (see `designspace.sweep.runner`);
rerun it after any interruption to finish the rest. Config: configs/train.yaml (+ configs/dataset,
configs/schedule). Parallel runs go through Hydra launchers, each job one shard:

    python -m designspace.train -m sweep_dir=DIR shard='range(0,4)' num_shards=4 threads=1 \\
        hydra/launcher=submitit_local          # or submitit_slurm (a SLURM job array), ray_cluster

Hydra's logs go to DIR/logs/train/<time>/ (DIR/logs/train-multirun/<time>/<job>/ for -m runs) when no one else
can write there, else to a private folder of this user (`log_dir`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from designspace.cli import _hydra, _structured
from designspace.sweep.from_config import training_setup
from designspace.sweep.layout import SAMPLES_FILE, SamplesError, SweepDir, SweepNotWritable
from designspace.sweep.runner import Interrupted, run_sweep
from designspace.sweep.setups import SetupMismatch
from designspace.training.data import DatasetError
from designspace.training.trainer import default_threads, resolve_device
from designspace.util.private import private_dir
from designspace.util.tables import text_table
from designspace.util.usage import UsageError

log = logging.getLogger(__name__)


def log_dir(sweep_dir: str | None, kind: str | None = None) -> str:
    """Hydra's output folder (its `kind` subfolder, e.g. `train`): DIR/logs for a sweep directory that only this
    user can write, else a per-user temp folder, private (0700) and checked to be this user's (never the cwd; a
    finished sweep on a read-only mount gets no write). Hydra opens its log files following links, so it never
    writes in a folder that someone else can write: a link planted there would make this user's run create or
    append to a file anywhere (docs/shared-sweeps.md)."""
    import os

    if sweep_dir is not None and SweepDir(sweep_dir).exists():
        sweep = SweepDir(Path(sweep_dir).resolve())
        folders = [sweep.logs_dir] + ([sweep.logs_dir / kind] if kind else [])
        if os.access(sweep.logs_dir if sweep.logs_dir.is_dir() else sweep.root, os.W_OK) \
                and _only_mine(sweep.root) and all(_only_mine(f, create=True) for f in folders):
            return str(folders[-1])
    private = private_dir(Path(tempfile.gettempdir()) / f"designspace-logs-{os.getuid()}")
    return str(private_dir(private / kind) if kind else private)


def _only_mine(folder: Path, create: bool = False) -> bool:
    """Whether `folder` is a folder (not a link) of this user that no one else can write; created (0755) first
    when `create` and it is missing."""
    import os
    import stat

    try:
        if create and not os.path.lexists(folder):
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, 0o755)
        info = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not stat.S_IMODE(info.st_mode) & (stat.S_IWGRP | stat.S_IWOTH))


# Registered on import, not in main(): a launcher's job process (submitit, Ray) composes the config again after
# unpickling the task, which imports this module, and `hydra.run.dir` / `hydra.sweep.dir` in configs/train.yaml
# use the resolver there too.
OmegaConf.register_new_resolver("ds_logdir", log_dir, replace=True)
_structured.register()  # the typed schedule/dataset schemas, for the same reason


def run(cfg: DictConfig) -> dict[str, Any]:
    """Validate the config, then run the sweep; returns the run's summary (a dict)."""
    if cfg.sweep_dir is None:
        raise UsageError(
            "sweep_dir is required: python -m designspace.train sweep_dir=DIR [dataset=...] [schedule=...], "
            "where DIR was written by `python -m designspace.sample ... sweep_dir=DIR`"
        )
    sweep = SweepDir(to_absolute_path(str(cfg.sweep_dir)))
    if not sweep.exists():
        raise UsageError(
            f"sweep_dir={cfg.sweep_dir}: {sweep.root} is not a sweep directory (no {SAMPLES_FILE} in it). "
            "Create one with `python -m designspace.sample space=... n=... sweep_dir=DIR`."
        )
    config = OmegaConf.to_container(cfg, resolve=True)
    dataset, schedule, options = training_setup(config, to_absolute_path)
    options = options.replace(threads=_threads(cfg))
    try:
        resolve_device(options.device)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(
            f"device={cfg.device}: {exc}. (Under hydra/launcher=submitit_local, GPUs are hidden unless "
            "hydra.launcher.gpus_per_node is set.)"
        ) from None
    summary = run_sweep(sweep, dataset, schedule, options)
    return summary.as_dict()


def local_processes(num_shards: int, launcher: str | None) -> int:
    """How many shards train on this machine at once: all of them under a local launcher (submitit_local,
    joblib), one under a cluster launcher (each job has its own allocation) or Hydra's sequential one."""
    return num_shards if launcher in ("submitit_local", "joblib") else 1


def _threads(cfg: DictConfig) -> int | None:
    """threads=N as given; null: the default rule (`designspace.training.trainer.default_threads`)."""
    if cfg.threads is not None or str(cfg.device).startswith("cuda") or isinstance(cfg.threads, bool):
        return cfg.threads
    from hydra.core.hydra_config import HydraConfig

    launcher = HydraConfig.get().runtime.choices.get("hydra/launcher") if HydraConfig.initialized() else None
    return default_threads(local_processes(int(cfg.num_shards), launcher))


def _train(cfg: DictConfig) -> dict[str, Any]:
    """The task of each Hydra job (module level: a launcher's job process imports this module to run it,
    which also registers `ds_logdir` there before its config is composed again)."""
    try:
        summary = run(cfg)
    except KeyboardInterrupt as exc:
        what = "SIGTERM" if isinstance(exc, Interrupted) else "an interrupt"
        log.warning("stopped by %s: nothing was recorded for the model in training; run the same command "
                    "again to resume (from its last checkpoint, if any)", what)
        sys.exit(143 if isinstance(exc, Interrupted) else 130)
    print(summary_text(summary))
    return summary


def summary_text(summary: dict[str, Any]) -> str:
    """The closing summary of one shard as a short table: models, what was done before, trained and how."""
    minutes, seconds = divmod(round(float(summary.get("seconds", 0.0))), 60)
    header = ["shard", "models", "done before", "trained", "ok", "diverged", "failed", "held elsewhere", "time"]
    row = [f"{summary['shard']}/{summary['num_shards']}", *(str(summary[k]) for k in (
        "models_in_shard", "already_done", "trained", "ok", "diverged", "failed", "held_elsewhere")),
        f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"]
    return text_table(header, [row])


def main() -> None:
    _hydra.run("train", "designspace.train", _train, (UsageError, DatasetError, SamplesError, SetupMismatch, SweepNotWritable))


if __name__ == "__main__":
    main()
