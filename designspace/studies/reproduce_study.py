"""Reading a reproduction run into one `analysis.study.Study`: every space sweep's models, the spaces' recorded
definitions, the zoo candidates, the budget ladder's rungs and the longest rung's sequential arms (independent pairs
and twins). This is the one place that reads the run's sweeps for the report; every statistic is the Study's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from designspace.analysis import findings as fd
from designspace.analysis.collect import load_sweep
from designspace.analysis.outcomes import resolve_errors
from designspace.analysis.progression import PAPER_NAMES, STEPS, progression_comparisons
from designspace.analysis.reproduction import Decisions, Ladder, Rung
from designspace.analysis.study import Study
from designspace.studies.decide import Arm, table_order, trained
from designspace.studies.experiment import ExperimentError, training_images
from designspace.studies.twin_sweeps import skipped_models, twin_comparisons
from designspace.sweep.results import read_records

__all__ = ["build_ladder", "read_study", "recorded_space"]


def recorded_space(sweep: Any) -> dict[str, Any] | None:
    """The composed space definition a sweep recorded in its config.yaml (None for older sweeps)."""
    cfg = sweep.read_config()
    value = cfg.get("space_config")
    if value is None and isinstance(cfg.get("space"), dict):
        value = cfg["space"]  # sweeps written by `python -m designspace.sample` hold the composed space there
    return value if isinstance(value, dict) else None


def _resolved(frame: pd.DataFrame) -> pd.DataFrame:
    rows, _ = resolve_errors(frame)
    return rows


def _images(sweep: Any) -> int | None:
    """Training images per model of a sweep, from its first record's schedule and dataset."""
    for record in read_records(sweep, set_aside=False).values():
        sched, data = record.get("schedule") or {}, record.get("dataset") or {}
        try:
            return training_images(sched.get("train_subset"), int(sched["batch_size"]), int(sched["epochs"]),
                                   int(data["train_size"]))
        except (KeyError, TypeError, ValueError):
            return None
    return None


def build_ladder(jobs: Sequence[Any], frame: pd.DataFrame, label_of: Callable[[Any], str]) -> Ladder:
    """The ladder of a run: `frame` is the report's table of every space sweep (with `space_key` and
    `budget`); `label_of(job)` names a space sweep's group as the report does."""
    space_jobs = [j for j in jobs if j.kind == "space" and j.sweep.exists()]
    fid_jobs = [j for j in jobs if j.kind in ("rung", "seed") and j.sweep.exists()]
    if not fid_jobs:
        return Ladder([])
    subset_ids: dict[Any, list[str]] = {}
    for j in fid_jobs:  # the fixed subset: the fewest rows any rung of that space holds (the longest may hold more)
        ids = [str(m) for m in j.sweep.read_samples()["model_id"]]
        if j.source.root not in subset_ids or len(ids) < len(subset_ids[j.source.root]):
            subset_ids[j.source.root] = ids
    models = max((len(v) for v in subset_ids.values()), default=0)
    x1 = []
    for j in space_jobs:
        ids = subset_ids.get(j.sweep.root, [])
        x1.append(frame[(frame["sweep_dir"] == str(j.sweep.root)) & frame["model_id"].isin(ids)])
    x1_frame = pd.concat(x1, ignore_index=True) if x1 else frame.iloc[:0]
    rungs = [Rung(1, _images(space_jobs[0].sweep) if space_jobs else None, _resolved(x1_frame),
                  float(x1_frame["wall_time_s"].fillna(0).sum()))]
    seed = None
    by_factor: dict[int, list[pd.DataFrame]] = {}
    images: dict[int, int | None] = {}
    for j in fid_jobs:
        source = next(s for s in space_jobs if s.sweep.root == j.source.root)
        part = load_sweep(j.sweep.root, label_of(source)).assign(space_key=source.space)
        if j.kind == "seed":
            seed = part if seed is None else pd.concat([seed, part], ignore_index=True)
            continue
        by_factor.setdefault(j.schedule_factor, []).append(part)
        images.setdefault(j.schedule_factor, _images(j.sweep))
    for k in sorted(by_factor):
        part = pd.concat(by_factor[k], ignore_index=True)
        rungs.append(Rung(k, images[k], _resolved(part), float(part["wall_time_s"].fillna(0).sum())))
    return Ladder(rungs, None if seed is None else _resolved(seed), models,
                  frozenset(m for ids in subset_ids.values() for m in ids))


def _decisions(exp: Any, jobs: Sequence[Any]) -> Decisions | None:
    """The longest rung's arms of the progression (errors and core-seconds in the samples' order), when the
    experiment decides sequentially."""
    seq = exp.fidelity.sequential if exp.fidelity else None
    longest = {j.space: j for j in jobs if j.kind == "rung" and j.longest and j.sweep.exists()}
    if seq is None or not longest:
        return None
    done = {s: trained(Arm(s, j.sweep, table_order(j.sweep))) for s, j in longest.items()}
    kinds = {(a, b): kind for a, b, kind in STEPS}
    claims = {c: fd.comparison_claim(PAPER_NAMES[c.a], PAPER_NAMES[c.b], kinds[(c.a, c.b)])
              for c in progression_comparisons(list(longest), seq.margin)}
    return Decisions({k: v[0] for k, v in done.items()}, {k: v[1] for k, v in done.items()}, claims,
                     seq.plan(exp.fidelity.models))


def _twins(exp: Any, jobs: Sequence[Any]) -> Decisions | None:
    """The twin arms at the longest rung (each earlier space's models that have a twin, and the twins), keyed by the
    claim of their step, when the experiment compares twins."""
    fid = exp.fidelity
    twin_jobs = [j for j in jobs if j.kind == "twin" and j.sweep.exists()]
    if fid is None or fid.twins is None or fid.sequential is None or not twin_jobs:
        return None
    longest = [j for j in jobs if j.kind == "rung" and j.longest and j.sweep.exists()]
    arms, comparisons, _ = twin_comparisons(twin_jobs, longest, fid.sequential)
    done = {a.name: trained(a) for a in arms}
    kinds = {(a, b): kind for a, b, kind in STEPS}
    claims = {c: fd.comparison_claim(PAPER_NAMES[c.a], PAPER_NAMES[c.b.removeprefix("twin:")],
                                     kinds[(c.a, c.b.removeprefix("twin:"))]) for c in comparisons}
    cap = min(fid.twins.cap, *(len(a.order) for a in arms))
    plan = replace(fid.sequential.plan(min(fid.models, cap)), cap=cap, step=fid.twins.step, budget_s=None)
    skipped = {c: len(skipped_models(next(j.sweep for j in twin_jobs if f"twin:{j.space}" == c.b)))
               for c in comparisons}
    return Decisions({k: v[0] for k, v in done.items()}, {k: v[1] for k, v in done.items()}, claims, plan,
                     skipped={claims[c]: n for c, n in skipped.items()})


def read_study(exp: Any, jobs: Sequence[Any], alpha: float = 0.05) -> Study:
    """The Study of a run planned by `reproduce.plan` (whatever of it has samples and records)."""
    space_jobs = [j for j in jobs if j.kind == "space" and j.sweep.exists()]
    if not space_jobs:
        raise ExperimentError(f"no sampled sweeps for experiment {exp.name}: run stage=sample (and stage=train) first")
    zoo_jobs = [j for j in jobs if j.kind == "zoo" and j.sweep.exists()]
    multi_budget = len({j.budget for j in space_jobs}) > 1

    def label_of(j: Any) -> str:
        return PAPER_NAMES.get(j.space, j.space) + (f"@{j.budget}" if multi_budget else "")

    frame = pd.concat([load_sweep(j.sweep.root, label_of(j)).assign(space_key=j.space) for j in space_jobs],
                      ignore_index=True)
    return Study(frame, [j.budget for j in space_jobs], alpha,
                 {j.space: recorded_space(j.sweep) for j in reversed(space_jobs)},
                 {j.budget: load_sweep(j.sweep.root, f"zoo {j.budget}") for j in zoo_jobs},
                 build_ladder(jobs, frame, label_of), None if multi_budget else _decisions(exp, jobs),
                 None if multi_budget else _twins(exp, jobs))
