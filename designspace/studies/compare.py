"""`python -m designspace.compare sweep_dirs=[A,B]`: train two sweeps' models alternately until decided.

Each sweep's models are trained in a random order fixed before any result (a seeded permutation of its
samples), one of A then one of B, and after every pair `analysis.sequential.compare` looks at the errors:
it stops when one space is better, or (with a margin) when the location of the paired difference lies within
+-margin points, or when `max_models` models a side have been trained; `analysis.forecast` says after the first
pairs and at the end how many more pairs (and core-hours) a decision would need. Training goes through the sweeps'
fenced claims and records (`run_sweep`), so several workers can run the same command and a rerun resumes;
the models it trains are ordinary records of their sweeps, for `analyze` as any other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from designspace.analysis.decisions import Comparison, Plan, Standing
from designspace.analysis.forecast import Forecast, forecast
from designspace.analysis.sequential import TESTS
from designspace.studies.decide import Arm, random_order, run_until_decided, trained
from designspace.sweep import setups
from designspace.sweep.layout import SweepDir
from designspace.util.atomic import atomic_write_text
from designspace.util.names import file_slug, spreadsheet_safe
from designspace.util.usage import UserError

__all__ = ["PAIRINGS", "CompareOptions", "arms_of", "check_sweeps", "run_compare", "twin_sweep_of", "write_outcome"]

PAIRINGS = ("independent", "twin")


@dataclass(frozen=True)
class CompareOptions:
    max_models: int
    margin: float | None = None
    alpha: float = 0.05
    order_seed: int = 0
    test: str = "clipped"
    pairing: str = "independent"

    def __post_init__(self) -> None:
        if isinstance(self.max_models, bool) or not isinstance(self.max_models, int) or self.max_models < 1:
            raise UserError(f"max_models={self.max_models!r} must be an integer >= 1 (models per side at most)")
        m = self.margin
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m < 0):
            raise UserError(f"margin={m!r} must be a number of points >= 0, or null (no equivalence decision)")
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a < 1:
            raise UserError(f"alpha={a!r} must lie strictly between 0 and 1")
        if isinstance(self.order_seed, bool) or not isinstance(self.order_seed, int):
            raise UserError(f"order_seed={self.order_seed!r} must be an integer")
        if self.test not in TESTS:
            raise UserError(f"test={self.test!r} must be one of {', '.join(TESTS)} (clipped weighs each difference)")
        if self.pairing not in PAIRINGS:
            raise UserError(f"pairing={self.pairing!r} must be one of {', '.join(PAIRINGS)} (twin: each model of A "
                            "against its own restriction to B's space)")


def _budget(sweep: SweepDir) -> Any:
    cfg = sweep.read_config()
    return cfg.get("budget")


def check_sweeps(paths: Sequence[str | Path], max_models: int, pairing: str = "independent") -> list[SweepDir]:
    """Two distinct sweep directories of the same budget and training setup, each with at least
    `max_models` models (with twins, A only: B's sweep gives its space and budget); a UserError naming what is wrong
    otherwise."""
    if isinstance(paths, (str, bytes)) or len(paths) != 2:
        raise UserError(f"sweep_dirs must name exactly two sweep directories, got {list(paths) if paths else paths!r}")
    sweeps = [SweepDir(Path(p)) for p in paths]
    for p, s in zip(paths, sweeps):
        if not s.exists():
            raise UserError(f"sweep_dirs: {p} is not a sweep directory (no samples table in it)")
    if sweeps[0].root.resolve() == sweeps[1].root.resolve():
        raise UserError(f"sweep_dirs names {paths[0]} twice: a comparison needs two different sweeps")
    if _budget(sweeps[0]) != _budget(sweeps[1]):
        raise UserError(f"{paths[0]} and {paths[1]} were sampled in different budgets "
                        f"({_budget(sweeps[0])} vs {_budget(sweeps[1])}): their errors do not compare")
    pinned = [setups.pinned(s) for s in sweeps]  # read bounded; damage is one line naming the file
    if pinned[0] is not None and pinned[1] is not None and pinned[0] != pinned[1]:
        raise UserError(f"{paths[0]} and {paths[1]} are pinned to different training setups (their setup.json "
                        "differ): train both with one dataset, schedule and seed to compare them")
    for p, s in list(zip(paths, sweeps))[: 1 if pairing == "twin" else 2]:
        n = s.read_samples()["model_id"].nunique()
        if n < max_models:
            raise UserError(f"max_models={max_models} but {p} holds only {n} models: sample more or lower max_models")
    return sweeps


def twin_sweep_of(sweeps: Sequence[SweepDir], twin_dir: str | Path | None) -> SweepDir:
    """Where the twins of A's models in B's space live: `twin_dir`, or <parent of B>/<B>-twins-of-<A>."""
    return SweepDir(Path(twin_dir)) if twin_dir else SweepDir(
        sweeps[1].root.parent / file_slug(f"{sweeps[1].root.name}-twins-of-{sweeps[0].root.name}"))


def arms_of(sweeps: Sequence[SweepDir], names: Sequence[str], options: CompareOptions,
            twin_dir: str | Path | None = None) -> list[Arm]:
    """The two arms: each sweep in its random order (independent), or A in its random order beside the twins of
    its models in B's space (written to the twin sweep first, `studies.twin_sweeps`)."""
    if options.pairing == "independent":
        return [Arm(name, s, random_order(s, options.order_seed)) for name, s in zip(names, sweeps)]
    from designspace.studies.twin_sweeps import twin_arms, write_twin_sweep

    source, target = sweeps
    spec = target.read_config()
    later, definition = spec.get("space"), spec.get("space_config")
    if isinstance(later, dict):  # a `sample` sweep holds the composed space under `space`
        definition, later = later, later.get("name")
    if not isinstance(definition, dict):
        raise UserError(f"pairing=twin: {target.root} records no space definition to restrict to")
    twin = twin_sweep_of(sweeps, twin_dir)
    order = random_order(source, options.order_seed)
    write_twin_sweep(source, names[0], str(later), definition, spec.get("budget"), twin, order)
    return list(twin_arms(names[0], source, names[1], twin, order))


def run_compare(arms: Sequence[Arm], options: CompareOptions, train: Callable[[Arm, list[str], bool], None],
                on_look: Callable[[Standing, dict[str, int]], None] | None = None) -> Standing:
    """Train alternately (one model a side per round) until decided or `max_models` a side; the final standing
    (decision, interval, forecast)."""
    comparison = Comparison(arms[0].name, arms[1].name, options.margin)
    cap = min(options.max_models, *(len(a.order) for a in arms))
    plan = Plan(start=1, step=1, cap=cap, alpha=options.alpha, test=options.test)

    def look(standing: dict[Comparison, Standing], counts: dict[str, int]) -> None:
        if on_look is not None:
            on_look(standing[comparison], counts)

    return run_until_decided(arms, [comparison], plan, train, look)[comparison]


def beyond_cap(standing: Standing, arms: Sequence[Arm], options: CompareOptions) -> Forecast:
    """For a comparison that ended undecided: the forecast of going on past `max_models` (to 4x its pairs, at
    least 100 more), costed from the models' measured seconds."""
    done = [trained(arm) for arm in arms]
    n = standing.pairs
    return forecast(done[0][0], done[1][0], limit=n + max(3 * n, 100), alpha=options.alpha, margin=options.margin,
                    test=options.test, seconds_per_pair=standing.seconds_per_pair)


def write_outcome(standing: Standing, names: Sequence[str], out: Path, estimand: str = "") -> list[Path]:
    """compare.csv (the interval and both e-values after every pair), compare.json (the decision, its estimand and
    the forecast) and compare.png/.pdf (the interval against models trained, with the margin and the zero line)."""
    from designspace.reporting.ladder_plots import plot_sequential
    from designspace.reporting.plots import save

    result, fc = standing.result, standing.forecast
    out.mkdir(parents=True, exist_ok=True)
    spreadsheet_safe(result.history).to_csv(out / "compare.csv", index=False)
    summary = {"a": names[0], "b": names[1], "decision": result.decision, "verdict": result.text(names).split(":")[0],
               "test": result.test, "estimand": result.estimand, "pairs_estimand": estimand, "pairs": result.n, "low": result.low,
               "high": result.high, "certified_margin": result.certified_margin, "alpha": result.alpha,
               "margin": result.margin, "wealth_a": result.wealth_a, "wealth_b": result.wealth_b,
               "reason": result.reason, "seconds_per_pair": standing.seconds_per_pair,
               "forecast": None if result.decided or not fc.available else {
                   "pairs_more_median": fc.more_median, "pairs_more_p80": fc.more_p80, "limit": fc.limit,
                   "p_decided": fc.p_decided, "core_hours": fc.core_hours(), "text": fc.text()}}
    atomic_write_text(out / "compare.json", json.dumps(summary, indent=1, default=str) + "\n")
    paths = [out / "compare.csv", out / "compare.json"]
    if len(result.history):
        paths += save(plot_sequential(pd.DataFrame(result.history), names, result.margin,
                                      title=result.text(names).split(":")[0]), out / "compare")
    return paths
