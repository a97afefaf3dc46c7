"""Train models of several sweeps until their comparisons are decided (design-spec 6c).

Each sweep is an `Arm`: its models in a fixed order, set before any is trained (a seeded random
permutation of the samples, or the samples' own order when they were drawn independently) - never the
proxy's best first, so every prefix is a uniform random subset and the EDFs stay unbiased. The i-th models
of two arms form the i-th pair of their `analysis.sequential.compare`. Rounds: every arm first trains its
first `start` models; then each undecided comparison below the cap asks both its arms for `step` more;
a decided comparison asks for nothing (its decision, taken at the first pair that decided it, no longer
changes). Training goes through the sweep's fenced claims and records (`run_sweep`), so several processes
can run the same loop on the same sweeps and a rerun resumes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.analysis.sequential import SequentialResult, compare
from designspace.sweep.layout import SweepDir

__all__ = ["Arm", "Comparison", "Plan", "random_order", "run_until_decided", "state", "targets", "trained_errors"]


@dataclass(frozen=True)
class Arm:
    """One sweep's models in the order they are trained and paired."""

    name: str
    sweep: SweepDir
    order: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    margin: float | None = None


@dataclass(frozen=True)
class Plan:
    """How many models: `start` per arm before any decision is looked at, then `step` more per round for
    each undecided comparison, at most `cap` per arm; decisions at level `alpha`."""

    start: int
    step: int
    cap: int
    alpha: float = 0.05


def random_order(sweep: SweepDir, seed: int) -> tuple[str, ...]:
    """The sweep's model ids in a random order fixed by `seed` and the sweep's folder name (not by results)."""
    ids = list(dict.fromkeys(str(m) for m in sweep.read_samples()["model_id"]))
    rng = np.random.default_rng([seed, zlib.crc32(sweep.root.name.encode())])
    return tuple(ids[i] for i in rng.permutation(len(ids)))


def table_order(sweep: SweepDir) -> tuple[str, ...]:
    """The samples' own order: already random when the rows were drawn independently (the sampler's)."""
    return tuple(dict.fromkeys(str(m) for m in sweep.read_samples()["model_id"]))


def trained_errors(arm: Arm) -> np.ndarray:
    """Errors (percent; a diverged or failed model counts as `outcomes.PENALTY`) of the longest prefix of
    the arm's order whose models all have a record."""
    from designspace.sweep import results

    frame = results.load(arm.sweep)
    rows, _ = resolve_errors(frame)
    err = dict(zip(rows["model_id"].astype(str), rows[ERROR].to_numpy(float)))
    out = []
    for model_id in arm.order:
        if model_id not in err:
            break
        out.append(err[model_id])
    return np.asarray(out, float)


def state(errors: Mapping[str, np.ndarray], comparisons: Sequence[Comparison], alpha: float,
          cap: int | None = None) -> dict[Comparison, SequentialResult]:
    """Each comparison on the pairs trained so far (at most `cap` pairs)."""
    out = {}
    for c in comparisons:
        a, b = errors[c.a], errors[c.b]
        if cap is not None:
            a, b = a[:cap], b[:cap]
        out[c] = compare(a, b, alpha=alpha, margin=c.margin)
    return out


def targets(errors: Mapping[str, np.ndarray], results: Mapping[Comparison, SequentialResult],
            plan: Plan) -> dict[str, int]:
    """Leading models of each arm that must be trained for the next look."""
    need = {name: min(plan.start, plan.cap) for name in errors}
    for c, res in results.items():
        pairs = min(errors[c.a].size, errors[c.b].size)
        if res.decided or pairs >= plan.cap:
            continue
        more = min(plan.cap, max(plan.start, pairs + plan.step))
        need[c.a], need[c.b] = max(need[c.a], more), max(need[c.b], more)
    return need


def run_until_decided(arms: Sequence[Arm], comparisons: Sequence[Comparison], plan: Plan,
                      train: Callable[[Arm, list[str], bool], None],
                      on_look: Callable[[dict[Comparison, SequentialResult], dict[str, int]], None] | None = None,
                      ) -> dict[Comparison, SequentialResult]:
    """Train round by round until every comparison is decided or at its cap; returns the final state.

    `train(arm, model_ids, wait)` trains those models of the arm's sweep that no other process holds, and with
    `wait` also waits for those held elsewhere (taking over a stale claim); every arm is served without waiting
    first, so processes sharing the loop do not idle at each arm;
    `on_look(results, trained)` is called at every look. Stops also when a round adds no record (a model
    that cannot be trained here, e.g. held by a process that never finishes), returning the state so far.
    """
    by_name = {a.name: a for a in arms}
    for c in comparisons:
        for name in (c.a, c.b):
            if name not in by_name:
                raise ValueError(f"comparison {c.a} vs {c.b} names no arm {name!r}")
    for arm in arms:
        if len(arm.order) < plan.cap:
            raise ValueError(f"{arm.name} has {len(arm.order)} models, fewer than the cap of {plan.cap}")
    last = None
    while True:
        errors = {a.name: trained_errors(a) for a in arms}
        results = state(errors, comparisons, plan.alpha, plan.cap)
        if on_look is not None:
            on_look(results, {k: v.size for k, v in errors.items()})
        need = targets(errors, results, plan)
        todo = {name: [m for m in by_name[name].order[errors[name].size:n]] for name, n in need.items()
                if n > errors[name].size}
        trained_now = sum(v.size for v in errors.values())
        if not todo or trained_now == last:
            return results
        last = trained_now
        for wait in (False, True):  # first what nobody holds, in every arm; then wait for models held elsewhere
            for name, ids in todo.items():
                train(by_name[name], ids, wait)
