"""`python -m designspace.reproduce experiment=NAME`: sample every space, train every model, analyse.

An experiment (experiments/experiment/NAME.yaml) lists spaces x budgets, n models each, a dataset and
a schedule, and optionally `zoo_pick` (the paper's one-model-per-regime procedure: the best of
`candidates` random models within +-`tolerance` of each regime's flops). The run directory holds
one sweep directory per (space, budget) under sweeps/, the zoo candidates under zoo/, and the
report under report/. Every stage is resumable: samples are written once, trained models are
skipped, and the report is rebuilt from whatever results exist.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designspace.configs import CONFIG_DIR
from designspace.sweep.layout import SweepDir
from designspace.util.usage import UserError
from designspace.util.validation import reject_unknown_keys

EXPERIMENTS_DIR = CONFIG_DIR / "experiment"
STAGES = ("all", "sample", "train", "analyze")


class ExperimentError(UserError):
    """An experiment config that cannot run; the message names the key."""


@dataclass(frozen=True)
class ZooPick:
    space: str
    candidates: int
    tolerance: float


@dataclass(frozen=True)
class Sequential:
    """The longest rung decides (design-spec 6c): after the first `models` of each space, each undecided
    comparison of the progression gets `step` more models a side until its sequential test decides or `cap`
    models a side (`analysis.sequential.compare`, at level `alpha`, "equivalent" within +-`margin` points)."""

    cap: int
    step: int = 2
    margin: float | None = None
    alpha: float = 0.05


@dataclass(frozen=True)
class Fidelity:
    """The proxy's fidelity protocol (design-spec 6b): the first `models` rows of each space's sweep trained
    again at every rung of a budget ladder - `rungs` are multiples of the proxy's training images - and,
    when `seed_offset` is set, once more at the proxy's budget with seed + `seed_offset` (seed noise).

    A rung of k trains k times the proxy's images: more distinct images while the training set has them
    (the schedule's `train_subset` times k, up to the whole set), then more epochs (`rung_schedule`).
    """

    models: int = 10
    rungs: tuple[int, ...] = (4, 16)
    seed_offset: int | None = None
    longest_test_subset: int | None | str = "schedule"  # the longest rung's test images: "schedule" keeps the proxy's
    sequential: Sequential | None = None

    @property
    def longest_models(self) -> int:
        """Models of each space sampled into the longest rung: the cap when it decides sequentially."""
        return self.sequential.cap if self.sequential else self.models


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    spaces: tuple[str, ...]
    budgets: tuple[str, ...]
    n: int
    seed: int = 0
    zoo_pick: ZooPick | None = None
    cost: str = ""
    fidelity: Fidelity | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Experiment:
        try:
            reject_unknown_keys(cfg, ("name", "description", "spaces", "budgets", "n", "seed", "zoo_pick", "cost",
                                      "fidelity"), "experiment")
        except ValueError as exc:
            raise ExperimentError(str(exc)) from None
        for key in ("name", "spaces", "budgets", "n"):
            if cfg.get(key) in (None, "", []):
                raise ExperimentError(f"experiment.{key} is required")
        spaces, budgets = _names(cfg["spaces"], "spaces"), _names(cfg["budgets"], "budgets")
        n, seed = cfg["n"], cfg.get("seed", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ExperimentError(f"experiment.n={n!r} must be a positive integer")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ExperimentError(f"experiment.seed={seed!r} must be an integer")
        pick = cfg.get("zoo_pick")
        zoo = None
        if pick:
            extra = set(pick) - {"space", "candidates", "tolerance"}
            if extra:
                raise ExperimentError(f"experiment.zoo_pick has unknown key(s) {sorted(extra)}")
            zoo = ZooPick(str(pick.get("space", "regnetx")), int(pick.get("candidates", 25)),
                          float(pick.get("tolerance", 0.01)))
            if zoo.candidates < 1 or not 0 < zoo.tolerance < 1:
                raise ExperimentError(f"experiment.zoo_pick={dict(pick)} needs candidates >= 1 and 0 < tolerance < 1")
        fidelity = _fidelity(cfg.get("fidelity"), n)
        from designspace.space import budgets as budget_lib
        from designspace.space import spaces as space_lib

        for s in (*spaces, *([zoo.space] if zoo else [])):
            space_lib.load(s)  # fails early, naming the file and key
        for b in budgets:
            budget_lib.load_budget(b)
        return cls(str(cfg["name"]), str(cfg.get("description", "")), spaces, budgets, n, seed, zoo,
                   str(cfg.get("cost", "")), fidelity)


def _fidelity(cfg: Any, n: int) -> Fidelity | None:
    if not cfg:
        return None
    try:
        reject_unknown_keys(cfg, ("models", "rungs", "seed_offset", "longest_test_subset", "sequential"),
                            "experiment.fidelity")
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    models, seed_offset = cfg.get("models", Fidelity.models), cfg.get("seed_offset")
    rungs = cfg.get("rungs", Fidelity.rungs)
    if not _positive_int(models):
        raise ExperimentError(f"experiment.fidelity.models={models!r} must be a positive integer")
    if models > n:
        raise ExperimentError(f"experiment.fidelity.models={models} exceeds experiment.n={n}")
    if seed_offset is not None and not _positive_int(seed_offset):
        raise ExperimentError(f"experiment.fidelity.seed_offset={seed_offset!r} must be a positive integer or null")
    if (isinstance(rungs, str) or not isinstance(rungs, Sequence) or not rungs
            or not all(_positive_int(k) and k >= 2 for k in rungs) or list(rungs) != sorted(set(rungs))):
        raise ExperimentError(f"experiment.fidelity.rungs={rungs!r} must be increasing integers >= 2 "
                              "(multiples of the proxy's training images)")
    test = cfg.get("longest_test_subset", "schedule")
    if test not in ("schedule", None) and not _positive_int(test):
        raise ExperimentError(f"experiment.fidelity.longest_test_subset={test!r} must be a positive integer, null "
                              "(the whole test set) or 'schedule' (the proxy's)")
    return Fidelity(models, tuple(int(k) for k in rungs), seed_offset, test, _sequential(cfg.get("sequential"), n,
                                                                                           models))


def _sequential(cfg: Any, n: int, models: int) -> Sequential | None:
    if not cfg:
        return None
    try:
        reject_unknown_keys(cfg, ("cap", "step", "margin", "alpha"), "experiment.fidelity.sequential")
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    cap, step, margin, alpha = cfg.get("cap"), cfg.get("step", 2), cfg.get("margin"), cfg.get("alpha", 0.05)
    if not _positive_int(cap) or cap < models or cap > n:
        raise ExperimentError(f"experiment.fidelity.sequential.cap={cap!r} must be an integer between "
                              f"fidelity.models={models} and experiment.n={n}")
    if not _positive_int(step):
        raise ExperimentError(f"experiment.fidelity.sequential.step={step!r} must be a positive integer")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0):
        raise ExperimentError(f"experiment.fidelity.sequential.margin={margin!r} must be a number of points >= 0 "
                              "or null")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ExperimentError(f"experiment.fidelity.sequential.alpha={alpha!r} must lie strictly between 0 and 1")
    return Sequential(int(cap), int(step), None if margin is None else float(margin), float(alpha))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def rung_schedule(schedule: Any, factor: int, train_size: int) -> Any:
    """`schedule` with `factor` times the training images: a larger `train_subset` while the training set
    (`train_size` images) has them, then more epochs; the warm-up stays the same share of the budget."""
    from dataclasses import replace

    if factor == 1:
        return schedule
    subset = schedule.train_subset if schedule.train_subset is not None else train_size
    subset = min(subset, train_size)
    images = factor * subset * schedule.epochs
    new_subset = min(factor * subset, train_size)
    epochs = max(schedule.epochs, round(images / new_subset))
    return replace(schedule, name=f"{schedule.name}_x{factor}", epochs=epochs,
                   train_subset=None if new_subset >= train_size else new_subset,
                   warmup_epochs=schedule.warmup_epochs * epochs / schedule.epochs)


def training_images(train_subset: int | None, batch_size: int, epochs: int, train_size: int) -> int:
    """Images one run trains on: steps x batch per epoch (the last partial batch dropped) x epochs."""
    subset = min(train_subset or train_size, train_size)
    return (subset // batch_size) * batch_size * epochs


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ExperimentError(f"experiment.{key} must be a list of names, got {value!r}")
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Job:
    """One sweep of the experiment: a space in a budget (kind 'space'), zoo candidates ('zoo'), or the
    fidelity subset of a space sweep trained with another seed ('seed') or on a rung of the budget
    ladder ('rung': `schedule_factor` times the proxy's training images)."""

    kind: str
    space: str
    budget: str
    budget_spec: Any
    n: int
    seed: int
    sweep: SweepDir
    source: SweepDir | None = None  # fidelity jobs: the space sweep whose first n rows they retrain
    seed_offset: int = 0  # added to the training seed
    schedule_factor: int = 1  # rung jobs: training images multiplied by this
    test_subset: int | None | str = "schedule"  # the longest rung may test on more images than the proxy
    longest: bool = False  # a job of the longest rung

    @property
    def label(self) -> str:
        if self.kind == "rung":
            return f"x{self.schedule_factor} {self.space}"
        return {"space": self.space, "zoo": f"zoo {self.budget}"}.get(self.kind, f"{self.kind} {self.space}")

    def schedule_of(self, schedule: Any, train_size: int) -> Any:
        """The schedule this job trains with: the experiment's, or its rung of the ladder."""
        from dataclasses import replace

        rung = rung_schedule(schedule, self.schedule_factor, train_size)
        return rung if self.test_subset == "schedule" else replace(rung, test_subset=self.test_subset)


def plan(exp: Experiment, out: Path) -> list[Job]:
    """Every sweep the experiment needs, in a fixed order."""
    from designspace.space.budgets import load_budget

    jobs = [Job("space", s, b, b, exp.n, exp.seed, SweepDir(out / "sweeps" / f"{s}-{b}"))
            for b in exp.budgets for s in exp.spaces]
    if exp.zoo_pick:
        for b in exp.budgets:
            budget = load_budget(b)
            target = budget.flops[1]
            if target is None:
                raise ExperimentError(f"zoo_pick needs a flops target, but budget {b} has no upper flops bound")
            tol = exp.zoo_pick.tolerance
            spec = {"name": b, "flops": [target * (1 - tol), target * (1 + tol)], "regime_gf": budget.regime}
            jobs.append(Job("zoo", exp.zoo_pick.space, b, spec, exp.zoo_pick.candidates, exp.seed + 1,
                            SweepDir(out / "zoo" / b)))
    if exp.fidelity:
        fid = exp.fidelity
        space_jobs = [j for j in jobs if j.kind == "space"]
        if fid.seed_offset is not None:
            jobs += [Job("seed", j.space, j.budget, j.budget_spec, fid.models, j.seed,
                         SweepDir(out / "fidelity" / "seed" / j.sweep.root.name), j.sweep, seed_offset=fid.seed_offset)
                     for j in space_jobs]
        for k in fid.rungs:  # shortest rung first: a stopped run has the cheaper evidence complete
            last = k == fid.rungs[-1]
            jobs += [Job("rung", j.space, j.budget, j.budget_spec, fid.longest_models if last else fid.models, j.seed,
                         SweepDir(out / "fidelity" / f"x{k}" / j.sweep.root.name), j.sweep, schedule_factor=k,
                         test_subset=fid.longest_test_subset if last else "schedule", longest=last)
                     for j in space_jobs]
    return jobs


def _composed_space(space: str) -> dict[str, Any]:
    """The space's definition as composed now (defaults merged), recorded with its samples so that the
    report reads what was sampled, not a YAML file edited since."""
    from designspace.space import spaces

    path = spaces.find_file(space, spaces.SPACE_DIR, "space")
    cfg, _ = spaces.compose(spaces.read_yaml(path), str(path), path.parent)
    return cfg


def sample_all(jobs: Sequence[Job], progress: bool = True) -> list[str]:
    """Write the samples of every job that has none yet; returns one line per job."""
    from omegaconf import OmegaConf

    from designspace.space.budgets import load_budget
    from designspace.space.sampler import draw

    lines = []
    for job in jobs:
        if job.sweep.exists():
            lines.append(f"{job.label:>12} @ {job.budget}: samples exist ({job.sweep.root})")
            continue
        config = {"space": job.space, "space_config": _composed_space(job.space),
                  "budget": load_budget(job.budget_spec).to_dict(), "n": job.n, "seed": job.seed, "kind": job.kind}
        if job.source is not None:  # a fidelity subset: the same models as the first rows of its space sweep
            frame = job.source.read_samples().head(job.n)
            config.update(source=str(job.source.root), seed_offset=job.seed_offset, schedule_factor=job.schedule_factor)
            job.sweep.write_samples(frame, OmegaConf.to_yaml(config))
            lines.append(f"{job.label:>12} @ {job.budget}: the first {len(frame)} models of {job.source.root.name}")
            continue
        result = draw(job.space, job.n, job.seed, job.budget_spec, progress=progress)
        job.sweep.write_samples(result.frame, OmegaConf.to_yaml(config))
        rate = result.stats.get("acceptance_rate")
        lines.append(f"{job.label:>12} @ {job.budget}: sampled {len(result.frame)} models"
                     + (f" (acceptance {rate:.3%})" if rate is not None else ""))
    return lines


def train_all(jobs: Sequence[Job], dataset: Any, schedule: Any, seed: int = 0, sequential: Sequential | None = None,
              fidelity_models: int = 0, **kwargs: Any) -> list[dict[str, Any]]:
    """Train this shard of every sweep (models with a record are skipped); `seed`: initialisation and data order.

    With `sequential`, the longest rung's sweeps of the progression are trained by `train_until_decided`
    instead (every process works on any unclaimed model of the round: shards do not apply there)."""
    from designspace.sweep.runner import run_sweep
    from designspace.training.data import load_dataset

    data = load_dataset(dataset)  # once: the rungs' schedules depend on the training set's size
    summaries = []
    deciding = [j for j in jobs if j.longest and j.kind == "rung"] if sequential else []
    for job in jobs:
        if job in deciding:
            continue
        job.sweep.require()
        print(f"training {job.label} @ {job.budget} ({job.sweep.root})", file=sys.stderr)
        summaries.append(run_sweep(job.sweep, data, job.schedule_of(schedule, data.train_size),
                                   seed=seed + job.seed_offset, **kwargs).as_dict())
    if deciding:
        train_until_decided(deciding, data, schedule, sequential, fidelity_models, seed=seed, **kwargs)
    return summaries


def train_until_decided(jobs: Sequence[Job], data: Any, schedule: Any, sequential: Sequential, start: int,
                        seed: int = 0, **kwargs: Any) -> dict[Any, Any]:
    """Train the longest rung's models round by round until each comparison of the progression is decided or at
    its cap (`studies.decide`); the models of a space are taken in its samples' order (independent draws)."""
    from designspace.studies.decide import Arm, Plan, run_until_decided, table_order
    from designspace.studies.progression import progression_comparisons
    from designspace.sweep.runner import run_sweep

    for key in ("shard", "num_shards", "limit"):
        kwargs.pop(key, None)
    by_space = {j.space: j for j in jobs}
    arms = [Arm(j.space, j.sweep.require(), table_order(j.sweep)) for j in jobs]
    comparisons = progression_comparisons(list(by_space), sequential.margin)
    plan = Plan(start=start, step=sequential.step, cap=sequential.cap, alpha=sequential.alpha)

    def train(arm: Any, model_ids: list[str], wait: bool) -> None:
        job = by_space[arm.name]
        if not wait:
            print(f"training {job.label} @ {job.budget}: {len(model_ids)} model(s) of the sequential rung",
                  file=sys.stderr)
        run_sweep(job.sweep, data, job.schedule_of(schedule, data.train_size), seed=seed + job.seed_offset,
                  models=model_ids, limit=None if wait else len(model_ids), **kwargs)

    def look(results: dict[Any, Any], trained: dict[str, int]) -> None:
        states = "; ".join(f"{c.b} vs {c.a}: {r.decision} ({r.n} pairs)" for c, r in results.items())
        print(f"sequential rung: {trained} trained; {states}", file=sys.stderr)

    return run_until_decided(arms, comparisons, plan, train, look)


def run(cfg: Any) -> str:
    """Run the stages the config asks for; returns the text to print."""
    from hydra.utils import to_absolute_path
    from omegaconf import OmegaConf

    from designspace.training.data import DatasetConfig
    from designspace.training.trainer import Schedule

    if cfg.stage not in STAGES:
        raise ExperimentError(f"stage={cfg.stage!r} must be one of {', '.join(STAGES)}")
    pack, graphs = cfg.get("pack", 1), cfg.get("graphs", False)
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise ExperimentError(f"pack={pack!r} must be an integer >= 1 (models trained together off one data stream)")
    if not isinstance(graphs, bool):
        raise ExperimentError(f"graphs={graphs!r} must be true or false")
    if cfg.stage in ("all", "train"):  # every run option checked before anything is sampled or written
        from designspace.sweep.runner import check_run_options

        threads = cfg.threads
        check_run_options(claim_timeout_s=cfg.claim_timeout_s, pack=pack, graphs=graphs, threads=threads,
                          checkpoint_every_s=cfg.checkpoint_every_s, shard=cfg.shard, num_shards=cfg.num_shards)
    exp = Experiment.from_config(OmegaConf.to_container(cfg.experiment, resolve=True))
    out = Path(to_absolute_path(cfg.out or f"runs/{exp.name}"))
    jobs = plan(exp, out)
    lines = [f"experiment {exp.name}: {exp.description}", f"run directory: {out}"]
    if cfg.stage in ("all", "sample"):
        lines += sample_all(jobs, progress=bool(cfg.progress))
    if cfg.stage in ("all", "train"):
        dataset_cfg = OmegaConf.to_container(cfg.dataset, resolve=True)
        if dataset_cfg.get("root") is not None:
            dataset_cfg["root"] = to_absolute_path(str(dataset_cfg["root"]))
        dataset = DatasetConfig.from_dict(dataset_cfg)
        schedule = Schedule.from_dict(OmegaConf.to_container(cfg.schedule, resolve=True))
        fid = exp.fidelity
        train_all(jobs, dataset, schedule, seed=exp.seed, sequential=fid.sequential if fid else None,
                  fidelity_models=fid.models if fid else 0, shard=cfg.shard, num_shards=cfg.num_shards, device=str(cfg.device),
                  threads=cfg.threads, progress=bool(cfg.progress), checkpoint_every_s=cfg.checkpoint_every_s,
                  claim_timeout_s=cfg.claim_timeout_s, pack=pack, graphs=graphs)
        lines.append(f"trained shard {cfg.shard}/{cfg.num_shards} of {len(jobs)} sweeps")
    if cfg.stage in ("all", "analyze"):
        from designspace.studies.reproduce_report import write_report

        config_text = OmegaConf.to_yaml(cfg)
        report = write_report(exp, jobs, out / "report", alpha=float(cfg.alpha), config_text=config_text,
                              zero_init_last_bn=bool(cfg.schedule.get("zero_init_last_bn", False)))
        lines.append(f"report: {report}")
    return "\n".join(lines)
