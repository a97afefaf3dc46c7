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
from designspace.sweep.layout import SweepDir
from designspace.util.atomic import atomic_write_text
from designspace.util.usage import UserError

__all__ = ["CompareOptions", "check_sweeps", "run_compare", "write_outcome"]


@dataclass(frozen=True)
class CompareOptions:
    max_models: int
    margin: float | None = None
    alpha: float = 0.05
    order_seed: int = 0
    test: str = "clipped"

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


def _budget(sweep: SweepDir) -> Any:
    cfg = sweep.read_config()
    return cfg.get("budget")


def check_sweeps(paths: Sequence[str | Path], max_models: int) -> list[SweepDir]:
    """Two distinct sweep directories of the same budget and training setup, each with at least
    `max_models` models; a UserError naming what is wrong otherwise."""
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
    pinned = [s.setup_path.read_text() if s.setup_path.exists() else None for s in sweeps]
    if pinned[0] is not None and pinned[1] is not None and json.loads(pinned[0]) != json.loads(pinned[1]):
        raise UserError(f"{paths[0]} and {paths[1]} are pinned to different training setups (their setup.json "
                        "differ): train both with one dataset, schedule and seed to compare them")
    for p, s in zip(paths, sweeps):
        n = s.read_samples()["model_id"].nunique()
        if n < max_models:
            raise UserError(f"max_models={max_models} but {p} holds only {n} models: sample more or lower max_models")
    return sweeps


def run_compare(sweeps: Sequence[SweepDir], names: Sequence[str], options: CompareOptions,
                train: Callable[[Arm, list[str], bool], None],
                on_look: Callable[[Standing, dict[str, int]], None] | None = None) -> Standing:
    """Train alternately (one model a side per round) until decided or `max_models` a side; the final standing
    (decision, interval, forecast)."""
    arms = [Arm(name, s, random_order(s, options.order_seed)) for name, s in zip(names, sweeps)]
    comparison = Comparison(names[0], names[1], options.margin)
    plan = Plan(start=1, step=1, cap=options.max_models, alpha=options.alpha, test=options.test)

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


def write_outcome(standing: Standing, names: Sequence[str], out: Path) -> list[Path]:
    """compare.csv (the interval and both e-values after every pair), compare.json (the decision, its estimand and
    the forecast) and compare.png/.pdf (the interval against models trained, with the margin and the zero line)."""
    from designspace.reporting.plots import plot_sequential, save

    result, fc = standing.result, standing.forecast
    out.mkdir(parents=True, exist_ok=True)
    result.history.to_csv(out / "compare.csv", index=False)
    summary = {"a": names[0], "b": names[1], "decision": result.decision, "verdict": result.text(names).split(":")[0],
               "test": result.test, "estimand": result.estimand, "pairs": result.n, "low": result.low,
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
