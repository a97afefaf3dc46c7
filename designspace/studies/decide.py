"""Train models of several sweeps until their comparisons are decided (design-spec 6c).

Each sweep is an `Arm`: its models in a fixed order, set before any is trained (a seeded random
permutation of the samples, or the samples' own order when they were drawn independently) - never the
proxy's best first, so every prefix is a uniform random subset and the EDFs stay unbiased. The i-th models
of two arms form the i-th pair of their `analysis.sequential.compare`. Rounds: every arm first trains its
first `start` models; then the going comparison with the cheapest forecast decision asks its arms for `step`
more pairs (`analysis.decisions`); a comparison stops when decided, at its cap, on its forecast, or when the
budget is spent, and its decision, taken at the first pair that decided it, no longer changes. Training goes
through the sweep's fenced claims and records (`run_sweep`), so several processes can run the same loop on the
same sweeps and a rerun resumes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from designspace.analysis.decisions import Comparison, Plan, Standing, standings, targets
from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.sweep.layout import SweepDir

__all__ = ["Arm", "random_order", "run_until_decided", "table_order", "trained"]


@dataclass(frozen=True)
class Arm:
    """One sweep's models in the order they are trained and paired."""

    name: str
    sweep: SweepDir
    order: tuple[str, ...]


def random_order(sweep: SweepDir, seed: int) -> tuple[str, ...]:
    """The sweep's model ids in a random order fixed by `seed` and the sweep's folder name (not by results)."""
    ids = list(dict.fromkeys(str(m) for m in sweep.read_samples()["model_id"]))
    rng = np.random.default_rng([seed, zlib.crc32(sweep.root.name.encode())])
    return tuple(ids[i] for i in rng.permutation(len(ids)))


def table_order(sweep: SweepDir) -> tuple[str, ...]:
    """The samples' own order: already random when the rows were drawn independently (the sampler's)."""
    return tuple(dict.fromkeys(str(m) for m in sweep.read_samples()["model_id"]))


def trained(arm: Arm) -> tuple[np.ndarray, np.ndarray]:
    """Errors (percent; a diverged or failed model counts as `outcomes.PENALTY`) and core-seconds (wall time x
    threads; NaN where a record has none) of the longest prefix of the arm's order whose models all have a record."""
    from designspace.sweep import results

    frame = results.load(arm.sweep)
    rows, _ = resolve_errors(frame)
    err = dict(zip(rows["model_id"].astype(str), rows[ERROR].to_numpy(float)))
    wall = frame.get("wall_time_s")
    threads = frame.get("threads")
    cost = {} if wall is None else dict(zip(frame["model_id"].astype(str),
                                            np.asarray(wall, float) * (1.0 if threads is None else
                                                                       np.asarray(threads, float))))
    errors, seconds = [], []
    for model_id in arm.order:
        if model_id not in err:
            break
        errors.append(err[model_id])
        seconds.append(cost.get(model_id, np.nan))
    return np.asarray(errors, float), np.asarray(seconds, float)


def run_until_decided(arms: Sequence[Arm], comparisons: Sequence[Comparison], plan: Plan,
                      train: Callable[[Arm, list[str], bool], None],
                      on_look: Callable[[dict[Comparison, Standing], dict[str, int]], None] | None = None,
                      ) -> dict[Comparison, Standing]:
    """Train round by round until no comparison goes on; returns the final standings.

    `train(arm, model_ids, wait)` trains those models of the arm's sweep that no other process holds, and with
    `wait` also waits for those held elsewhere (taking over a stale claim); every arm is served without waiting
    first, so processes sharing the loop do not idle at each arm;
    `on_look(standings, trained)` is called at every look. Stops also when a round adds no record (a model
    that cannot be trained here, e.g. held by a process that never finishes), returning the standings so far.
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
        done = {a.name: trained(a) for a in arms}
        errors = {k: v[0] for k, v in done.items()}
        seconds = {k: v[1] for k, v in done.items()}
        standing = standings(errors, seconds, comparisons, plan)
        if on_look is not None:
            on_look(standing, {k: v.size for k, v in errors.items()})
        need = targets(errors, standing, plan)
        todo = {name: [m for m in by_name[name].order[errors[name].size:n]] for name, n in need.items()
                if n > errors[name].size}
        trained_now = sum(v.size for v in errors.values())
        if not todo or trained_now == last:
            return standing
        last = trained_now
        for wait in (False, True):  # first what nobody holds, in every arm; then wait for models held elsewhere
            for name, ids in todo.items():
                train(by_name[name], ids, wait)
