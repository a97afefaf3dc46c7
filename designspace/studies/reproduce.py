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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designspace.analysis.decisions import Plan
from designspace.analysis.progression import STEPS, progression_comparisons
from designspace.space.budgets import load_budget
from designspace.space.compose import SPACE_DIR, compose_file, find_file
from designspace.space.sampler import draw
from designspace.studies.decide import Arm, run_until_decided, table_order
from designspace.studies.experiment import Experiment, ExperimentError, Sequential, Twins, rung_schedule
from designspace.studies.reproduce_report import write_report
from designspace.studies.reproduce_study import read_study
from designspace.studies.twin_sweeps import skipped_models, twin_comparisons, write_twin_sweep
from designspace.sweep.from_config import training_setup
from designspace.sweep.layout import SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.runner import run_sweep
from designspace.training.data import load_dataset

STAGES = ("all", "sample", "train", "analyze")


@dataclass(frozen=True)
class Job:
    """One sweep of the experiment: a space in a budget (kind 'space'), zoo candidates ('zoo'), the
    fidelity subset of a space sweep trained with another seed ('seed') or on a rung of the budget
    ladder ('rung': `schedule_factor` times the proxy's training images), or the twins of the longest rung's models
    of the space before it in the progression ('twin': `twin_of` names that space; `source` is its rung sweep)."""

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
    twin_of: str | None = None  # twin jobs: the earlier space

    @property
    def label(self) -> str:
        if self.kind == "rung":
            return f"x{self.schedule_factor} {self.space}"
        if self.kind == "twin":
            return f"x{self.schedule_factor} {self.space} twins of {self.twin_of}"
        return {"space": self.space, "zoo": f"zoo {self.budget}"}.get(self.kind, f"{self.kind} {self.space}")

    def schedule_of(self, schedule: Any, train_size: int) -> Any:
        """The schedule this job trains with: the experiment's, or its rung of the ladder."""
        from dataclasses import replace

        rung = rung_schedule(schedule, self.schedule_factor, train_size)
        return rung if self.test_subset == "schedule" else replace(rung, test_subset=self.test_subset)


def plan(exp: Experiment, out: Path) -> list[Job]:
    """Every sweep the experiment needs, in a fixed order."""
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
        if fid.twins is not None:
            last = fid.rungs[-1]
            longest = {j.space: j for j in jobs if j.kind == "rung" and j.longest}
            jobs += [Job("twin", b, longest[a].budget, longest[a].budget_spec, fid.twins.cap, longest[a].seed,
                         SweepDir(out / "fidelity" / f"x{last}-twins" / f"{b}-of-{a}-{longest[a].budget}"),
                         longest[a].sweep, schedule_factor=last, test_subset=fid.longest_test_subset, twin_of=a)
                     for a, b, _ in STEPS if a in longest and b in longest]
    return jobs


def _composed_space(space: str) -> dict[str, Any]:
    """The space's definition as composed now (defaults merged), recorded with its samples so that the
    report reads what was sampled, not a YAML file edited since."""
    return compose_file(find_file(space, SPACE_DIR, "space"))[0]


def sample_all(jobs: Sequence[Job], progress: bool = True) -> list[str]:
    """Write the samples of every job that has none yet; returns one line per job."""
    from omegaconf import OmegaConf

    lines = []
    for job in jobs:
        if job.sweep.exists():
            lines.append(f"{job.label:>12} @ {job.budget}: samples exist ({job.sweep.root})")
            continue
        config = {"space": job.space, "space_config": _composed_space(job.space),
                  "budget": load_budget(job.budget_spec).to_dict(), "n": job.n, "seed": job.seed, "kind": job.kind}
        if job.kind == "twin":  # the twins of the longest rung's models of the earlier space, in their order
            source = job.source.require()
            write_twin_sweep(source, job.twin_of, job.space, _composed_space(job.space),
                             load_budget(job.budget_spec).to_dict(), job.sweep, table_order(source))
            lines.append(f"{job.label:>12} @ {job.budget}: {len(job.sweep.read_samples())} twins, "
                         f"{len(skipped_models(job.sweep))} models without an in-band twin")
            continue
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


def train_all(jobs: Sequence[Job], dataset: Any, schedule: Any, options: RunOptions | None = None,
              sequential: Sequential | None = None, fidelity_models: int = 0,
              twins: Twins | None = None) -> list[dict[str, Any]]:
    """Train this shard of every sweep (models with a record are skipped); `options.seed`: initialisation and data
    order (each rung adds its seed offset).

    With `sequential`, the longest rung's sweeps of the progression are trained by `train_until_decided`
    instead (every process works on any unclaimed model of the round: shards do not apply there), then the twin
    sweeps by `train_twins_until_decided`."""
    options = options if options is not None else RunOptions()
    data = load_dataset(dataset)  # once: the rungs' schedules depend on the training set's size
    summaries = []
    deciding = [j for j in jobs if j.longest and j.kind == "rung"] if sequential else []
    twin_jobs = [j for j in jobs if j.kind == "twin"]
    for job in jobs:
        if job in deciding or job in twin_jobs:
            continue
        job.sweep.require()
        print(f"training {job.label} @ {job.budget} ({job.sweep.root})", file=sys.stderr)
        summaries.append(run_sweep(job.sweep, data, job.schedule_of(schedule, data.train_size),
                                   options.replace(seed=options.seed + job.seed_offset)).as_dict())
    if deciding:
        train_until_decided(deciding, data, schedule, sequential, fidelity_models, options)
    if twin_jobs and twins is not None:
        train_twins_until_decided(twin_jobs, deciding, data, schedule, sequential, twins, fidelity_models, options)
    return summaries


def train_until_decided(jobs: Sequence[Job], data: Any, schedule: Any, sequential: Sequential, start: int,
                        options: RunOptions) -> dict[Any, Any]:
    """Train the longest rung's models round by round until no comparison of the progression goes on
    (`studies.decide`, `analysis.decisions`); the models of a space are taken in its samples' order (independent
    draws)."""
    options = options.replace(shard=0, num_shards=1, limit=None)  # any worker takes any unclaimed model of a round
    by_space = {j.space: j for j in jobs}
    arms = [Arm(j.space, j.sweep.require(), table_order(j.sweep)) for j in jobs]
    comparisons = progression_comparisons(list(by_space), sequential.margin)

    def look(standing: dict[Any, Any], trained: dict[str, int]) -> None:
        lines = [f"sequential rung: {trained} trained"]
        lines += [f"  {c.b} vs {c.a}: {s.result.decision} ({s.pairs} pairs); {s.why}" for c, s in standing.items()]
        print("\n".join(lines), file=sys.stderr)

    return run_until_decided(arms, comparisons, sequential.plan(start), _trainer(by_space, data, schedule, options),
                             look)


def _trainer(by_name: dict[str, Job], data: Any, schedule: Any, options: RunOptions) -> Any:
    """train(arm, model_ids, wait) for `run_until_decided`: the arm's job's schedule and seed."""

    def train(arm: Any, model_ids: list[str], wait: bool) -> None:
        job = by_name[arm.name]
        if not wait:
            print(f"training {job.label} @ {job.budget}: {len(model_ids)} model(s)", file=sys.stderr)
        run_sweep(job.sweep, data, job.schedule_of(schedule, data.train_size),
                  options.replace(seed=options.seed + job.seed_offset, limit=None if wait else len(model_ids)),
                  models=model_ids)

    return train


def train_twins_until_decided(twin_jobs: Sequence[Job], longest: Sequence[Job], data: Any, schedule: Any,
                              sequential: Sequential, twins: Twins, start: int, options: RunOptions) -> Any:
    """Train each step's twin comparison at the longest rung round by round until decided or at its cap
    (`twins.cap` pairs), reusing the earlier space's trained models."""
    options = options.replace(shard=0, num_shards=1, limit=None)
    arms, comparisons, jobs = twin_comparisons(twin_jobs, longest, sequential)
    if not comparisons:
        return {}
    cap = min(twins.cap, *(len(a.order) for a in arms))
    plan = Plan(start=min(start, cap), step=twins.step, cap=cap, alpha=sequential.alpha, test=sequential.test)

    def look(standing: dict[Any, Any], trained: dict[str, int]) -> None:
        lines = [f"twin rung: {trained} trained"]
        lines += [f"  {c.b} vs {c.a}: {s.result.decision} ({s.pairs} pairs); {s.why}" for c, s in standing.items()]
        print("\n".join(lines), file=sys.stderr)

    return run_until_decided(arms, comparisons, plan, _trainer(jobs, data, schedule, options), look)


def run(cfg: Any) -> str:
    """Run the stages the config asks for; returns the text to print."""
    from hydra.utils import to_absolute_path
    from omegaconf import OmegaConf

    if cfg.stage not in STAGES:
        raise ExperimentError(f"stage={cfg.stage!r} must be one of {', '.join(STAGES)}")
    config = OmegaConf.to_container(cfg, resolve=True)
    if cfg.stage in ("all", "train"):  # every run option, the dataset and the schedule checked before anything is written
        dataset, schedule, options = training_setup(config, to_absolute_path)
    exp = Experiment.from_config(OmegaConf.to_container(cfg.experiment, resolve=True))
    out = Path(to_absolute_path(cfg.out or f"runs/{exp.name}"))
    jobs = plan(exp, out)
    lines = [f"experiment {exp.name}: {exp.description}", f"run directory: {out}"]
    if cfg.stage in ("all", "sample"):
        lines += sample_all(jobs, progress=bool(cfg.progress))
    if cfg.stage in ("all", "train"):
        fid = exp.fidelity
        train_all(jobs, dataset, schedule, options, sequential=fid.sequential if fid else None,
                  fidelity_models=fid.models if fid else 0, twins=fid.twins if fid else None)
        lines.append(f"trained shard {cfg.shard}/{cfg.num_shards} of {len(jobs)} sweeps")
    if cfg.stage in ("all", "analyze"):

        study = read_study(exp, jobs, alpha=float(cfg.alpha))
        report = write_report(study, out / "report", exp=exp, config_text=OmegaConf.to_yaml(cfg),
                              zero_init_last_bn=bool(cfg.schedule.get("zero_init_last_bn", False)),
                              sources=[str(j.sweep.root) for j in jobs if j.kind == "space" and j.sweep.exists()])
        lines.append(f"report: {report}")
    return "\n".join(lines)
