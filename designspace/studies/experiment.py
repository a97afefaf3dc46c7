"""An experiment file (configs/experiment/NAME.yaml) as validated objects, and the arithmetic of its budget
ladder: what `reproduce` plans from and what its report reads back. No stage is imported here, so the study
(`reproduce`) and its report (`reproduce_report`, `ladder_report`) both import it without a cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from designspace.configs import CONFIG_DIR
from designspace.space import budgets as budget_lib
from designspace.space import spaces as space_lib
from designspace.util.usage import UserError
from designspace.util.validation import reject_unknown_keys

EXPERIMENTS_DIR = CONFIG_DIR / "experiment"


class ExperimentError(UserError):
    """An experiment config that cannot run; the message names the key."""


@dataclass(frozen=True)
class ZooPick:
    space: str
    candidates: int
    tolerance: float


@dataclass(frozen=True)
class Sequential:
    """The longest rung decides (design-spec 6c): after the first `models` of each space, the undecided comparison
    of the progression with the cheapest forecast decision gets `step` more models a side, round after round,
    until each is decided, at `cap` models a side, stopped on its forecast, or `budget_core_hours` of added
    one-epoch models are spent (`analysis.decisions`; the test `test` at level `alpha`, "equivalent" within
    +-`margin` points for the steps that claim no loss)."""

    cap: int
    step: int = 2
    margin: float | None = None
    alpha: float = 0.05
    budget_core_hours: float | None = None
    test: str = "clipped"

    def plan(self, start: int) -> Any:
        """The `analysis.decisions.Plan` of this protocol after `start` fixed models per space."""
        from designspace.analysis.decisions import Plan

        budget = None if self.budget_core_hours is None else self.budget_core_hours * 3600
        return Plan(start=start, step=self.step, cap=self.cap, alpha=self.alpha, budget_s=budget, test=self.test)


@dataclass(frozen=True)
class Twins:
    """Twin comparisons at the longest rung (issue 39): each step of the progression also compares the earlier
    space's models there with their own restrictions to the later space (`space.twins`), `step` more pairs a round
    until decided or `cap` pairs (the test, level and margin of `sequential`)."""

    cap: int
    step: int = 2


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
    twins: Twins | None = None

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
        reject_unknown_keys(cfg, ("models", "rungs", "seed_offset", "longest_test_subset", "sequential", "twins"),
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
    sequential = _sequential(cfg.get("sequential"), n, models)
    return Fidelity(models, tuple(int(k) for k in rungs), seed_offset, test, sequential,
                    _twins(cfg.get("twins"), sequential))


def _twins(cfg: Any, sequential: Sequential | None) -> Twins | None:
    if not cfg:
        return None
    try:
        reject_unknown_keys(cfg, ("cap", "step"), "experiment.fidelity.twins")
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    if sequential is None:
        raise ExperimentError("experiment.fidelity.twins needs fidelity.sequential (its test, alpha and margin)")
    cap, step = cfg.get("cap"), cfg.get("step", 2)
    if not _positive_int(cap) or cap > sequential.cap:
        raise ExperimentError(f"experiment.fidelity.twins.cap={cap!r} must be an integer between 1 and "
                              f"fidelity.sequential.cap={sequential.cap} (the earlier space's models at the longest rung)")
    if not _positive_int(step):
        raise ExperimentError(f"experiment.fidelity.twins.step={step!r} must be a positive integer")
    return Twins(int(cap), int(step))


def _sequential(cfg: Any, n: int, models: int) -> Sequential | None:
    if not cfg:
        return None
    try:
        reject_unknown_keys(cfg, ("cap", "step", "margin", "alpha", "budget_core_hours", "test"),
                            "experiment.fidelity.sequential")
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    cap, step, margin, alpha = cfg.get("cap"), cfg.get("step", 2), cfg.get("margin"), cfg.get("alpha", 0.05)
    budget, test = cfg.get("budget_core_hours"), cfg.get("test", "clipped")
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
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0):
        raise ExperimentError(f"experiment.fidelity.sequential.budget_core_hours={budget!r} must be a number of "
                              "core-hours > 0 or null (no budget)")
    from designspace.analysis.sequential import TESTS

    if test not in TESTS:
        raise ExperimentError(f"experiment.fidelity.sequential.test={test!r} must be one of {', '.join(TESTS)}")
    return Sequential(int(cap), int(step), None if margin is None else float(margin), float(alpha),
                      None if budget is None else float(budget), str(test))


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
