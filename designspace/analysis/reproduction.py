"""The verdicts of a reproduction (design-spec 6b, 6c): every finding recomputed on the fidelity subset of each
space at every rung of the budget ladder - the proxy (x1), then the same models trained on k times its images - a
second verdict per finding from the longest rung (`analysis.ladder`), and the sequential decisions that settle the
space comparisons there (`analysis.decisions`).

`judge` turns the proxy's findings, the ladder and the decisions into the report's rows (the headline verdict is
reproduced only when the finding holds at the longest rung) and the tables behind them: ladder.csv (effect,
interval and n per claim and rung), convergence.csv, fidelity.csv (per-model rank diagnostics) and
fidelity_models.csv (every fidelity model's error at every rung). The rungs are data (`Ladder`): reading them from
a run's sweeps is `studies.reproduce_study`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis import findings as fd
from designspace.analysis.decisions import Comparison, Plan, Standing, standings
from designspace.analysis.fidelity import fidelity_table
from designspace.analysis.ladder import (
    Effect,
    convergence_table,
    headline_verdict,
    ladder_rows,
    ladder_verdict,
    median_difference,
    spearman_effect,
)
from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.analysis.progression import PAPER_NAMES, PROGRESSION, STEPS, chain_claim
from designspace.analysis.study_tables import (
    progression_findings,
    regime_comparisons,
    regime_findings,
    regime_groups,
)
from designspace.net.widthfit import fit_regnet_many

__all__ = ["MAPPED", "Claims", "Decisions", "Judged", "Ladder", "Rung", "judge", "progression_claims",
           "regime_claims"]


@dataclass
class Rung:
    """One rung: its factor, training images per model, the fidelity models' rows (resolved errors) and cost."""

    factor: int
    images: int | None
    frame: pd.DataFrame
    wall_s: float

    @property
    def label(self) -> str:
        return f"x{self.factor}"


@dataclass
class Ladder:
    """The rungs of a run (x1 first) and the seed-noise reruns, if any."""

    rungs: list[Rung]
    seed: pd.DataFrame | None = None
    models: int = 0
    fixed_ids: frozenset[str] = frozenset()  # the first `models` of each space: every rung trains them

    @property
    def measured(self) -> bool:
        return len(self.rungs) > 1 and any(len(r.frame) for r in self.rungs[1:])

    @property
    def longest(self) -> Rung:
        return self.rungs[-1]


@dataclass
class Claims:
    """What the ladder tests: the space comparisons (group a, group b, kind) and, optionally, the width rule."""

    group: Callable[[pd.DataFrame], dict[str, pd.DataFrame]]
    comparisons: list[tuple[str, str, str]]
    findings_of: Callable[[pd.DataFrame], list[fd.Finding]]
    width_rule_group: str | None = None
    chain: tuple[str, tuple[str, ...]] | None = None  # (claim, groups in the claimed order): the ordered chain


@dataclass
class Judged:
    """The report's findings after the ladder, and the tables behind them."""

    findings: pd.DataFrame
    ladder: pd.DataFrame = field(default_factory=pd.DataFrame)
    convergence: pd.DataFrame = field(default_factory=pd.DataFrame)
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    models: pd.DataFrame = field(default_factory=pd.DataFrame)


def _resolved(frame: pd.DataFrame) -> pd.DataFrame:
    rows, _ = resolve_errors(frame)
    return rows


@dataclass(frozen=True)
class Decisions:
    """The inputs of a set of sequential comparisons at the longest rung: each arm's errors and core-seconds in
    its pairing order, the comparisons (with the claim each settles) and the plan they ran under."""

    errors: Mapping[str, np.ndarray]
    seconds: Mapping[str, np.ndarray]
    claims: Mapping[Comparison, str]
    plan: Plan
    skipped: Mapping[str, int] = field(default_factory=dict)  # claim -> models left out (twins: no in-band twin)

    def standings(self) -> dict[str, Standing]:
        """claim -> where its comparison stands (test, forecast, why it stopped)."""
        return {self.claims[c]: s for c, s in standings(self.errors, self.seconds, list(self.claims),
                                                        self.plan).items()}


def progression_claims(space_keys: Sequence[str], alpha: float) -> Claims:
    """What the ladder recomputes for the A -> ... -> RegNet progression."""

    def group(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {PAPER_NAMES.get(k, k): frame[frame["space_key"] == k] for k in space_keys
                if (frame["space_key"] == k).any()}

    def findings_of(frame: pd.DataFrame) -> list[fd.Finding]:
        return progression_findings({k: frame[frame["space_key"] == k] for k in space_keys}, alpha)

    comparisons = [(PAPER_NAMES[a], PAPER_NAMES[b], kind) for a, b, kind in STEPS if a in space_keys and b in space_keys]
    width = PAPER_NAMES["anynetx_e"] if "anynetx_e" in space_keys else None
    order = tuple(PAPER_NAMES[s] for s in PROGRESSION if s in space_keys)
    return Claims(group, comparisons, findings_of, width, (chain_claim(order), order) if len(order) >= 3 else None)


def regime_claims(budgets: Sequence[str], frame: pd.DataFrame, alpha: float) -> Claims:
    """What the ladder recomputes for a regime study."""
    return Claims(lambda f: regime_groups(f, budgets), regime_comparisons(budgets, frame),
                  lambda f: regime_findings(f, budgets, alpha))


def _effect(groups: dict[str, pd.DataFrame], a: str, b: str, kind: str, seed: int) -> Effect:
    ea = groups[a][ERROR].to_numpy(float) if a in groups else np.array([])
    eb = groups[b][ERROR].to_numpy(float) if b in groups else np.array([])
    # improves: a's median minus b's (b better > 0); no_loss: the loss, b's median minus a's
    return median_difference(ea, eb, seed=seed) if kind == "improves" else median_difference(eb, ea, seed=seed)


def _width_effect(groups: dict[str, pd.DataFrame], name: str, seed: int) -> Effect:
    rows = groups.get(name)
    if rows is None or len(rows) < 3:
        n = 0 if rows is None else len(rows)
        return Effect(float("nan"), float("nan"), float("nan"), n, n)
    efit = fit_regnet_many(rows)["e_fit"].to_numpy(float)
    return spearman_effect(efit, rows[ERROR].to_numpy(float), seed=seed)


MAPPED = {"reproduced": "holds", "not reproduced": "not shown", "inconclusive": "too few models to tell"}


def _decided_verdict(kind: str, result: Any, proxy_shown: bool) -> tuple[str, str]:
    """The longest rung's verdict of a comparison from its sequential decision (design-spec 6c)."""
    spent = f"decided by the sequential test: {result.text()}" if result.decided else f"sequential test: {result.text()}"
    if result.decision == "undecided":
        return "too few models to tell", spent
    if kind == "no_loss":  # a: the larger space, b: the restricted one
        return ("reverses", spent) if result.decision == "a" else ("holds", spent)
    if result.decision == "b":
        return ("holds" if proxy_shown else "appears"), spent
    if result.decision == "a":
        return "reverses", spent
    return "not shown", spent  # equivalent: any improvement is smaller than the margin


def _chain_long(found: fd.Finding, claims: Claims, ladder: Ladder, alpha: float) -> tuple[str, str]:
    """The chain's verdict at the longest rung, on the fixed first models of each space only: models added
    while deciding the pairwise comparisons depend on their outcomes and would bias the chain's p-value."""
    claim, order = claims.chain  # type: ignore[misc]
    frame = ladder.longest.frame
    fixed = frame[frame["model_id"].astype(str).isin(ladder.fixed_ids)]
    groups = claims.group(fixed)
    errors = {name: groups[name][ERROR].to_numpy(float) for name in order if name in groups}
    long = fd.ordered_chain(claim, errors, alpha)
    mapped = MAPPED[long.verdict]
    if mapped == "holds" and found.verdict != "reproduced":
        mapped = "appears"
    return mapped, (f"at {ladder.longest.label} ({ladder.longest.images} images), on the first {ladder.models} models "
                    f"of each space (fixed before training): {long.evidence}")


def judge(found: list[fd.Finding], proxy: pd.DataFrame, ladder: Ladder, claims: Claims,
          decisions: dict[str, Any] | None = None, alpha: float = fd.ALPHA) -> Judged:
    """Each finding's longer-training verdict, and its headline verdict (reproduced only if it holds at
    the longest rung); without a ladder the proxy's verdict stands, marked as not tested.

    decisions: claim -> the sequential comparison (`analysis.sequential`) run at the longest rung; a
    comparison that has one takes its longer-training verdict from it."""
    decisions = decisions or {}
    if not ladder.measured:
        rows = [{"claim": f.claim, "verdict": f.verdict, "proxy_verdict": f.verdict,
                 "longer_training": "not affected (a count)" if not f.from_training else "not measured",
                 "evidence": f.evidence, "longer_training_evidence": ""} for f in found]
        return Judged(pd.DataFrame(rows))
    longest = ladder.longest
    long_found = {f.claim: f for f in claims.findings_of(longest.frame)}
    full, per_rung = claims.group(_resolved(proxy)), [(r, claims.group(r.frame)) for r in ladder.rungs]
    effects: dict[str, tuple[str, Effect, list[tuple[str, int, Effect]]]] = {}
    for i, (a, b, kind) in enumerate(claims.comparisons):
        claim = fd.comparison_claim(a, b, kind)
        steps = [(r.label, r.images, _effect(g, a, b, kind, i)) for r, g in per_rung]
        effects[claim] = (kind, _effect(full, a, b, kind, i), steps)
    if claims.width_rule_group:
        name = claims.width_rule_group
        steps = [(r.label, r.images, _width_effect(g, name, 0)) for r, g in per_rung]
        effects[fd.width_rule_claim(name)] = ("improves", _width_effect(full, name, 0), steps)
    if claims.chain:
        first, last = claims.chain[1][0], claims.chain[1][-1]
        steps = [(r.label, r.images, _effect(g, first, last, "improves", 99)) for r, g in per_rung]
        effects[claims.chain[0]] = ("chain", _effect(full, first, last, "improves", 99), steps)

    rows, ladder_table = [], []
    for f in found:
        row = {"claim": f.claim, "proxy_verdict": f.verdict, "evidence": f.evidence}
        if not f.from_training:
            row.update(verdict=f.verdict, longer_training="not affected (a count)", longer_training_evidence="")
        elif f.claim in effects:
            kind, at_proxy, steps = effects[f.claim]
            unit = "" if f.claim == fd.width_rule_claim(str(claims.width_rule_group)) else " pts"  # rho has none
            where = f"{longest.label} ({longest.images} images)"
            if kind == "chain":
                verdict, text = _chain_long(f, claims, ladder, alpha)
                comparison = f"chain: median drop {claims.chain[1][0]} -> {claims.chain[1][-1]}"  # type: ignore[index]
            else:
                verdict, text = ladder_verdict(at_proxy, steps[-1][2], kind, where, unit)
                if f.claim in decisions:
                    verdict, spent = _decided_verdict(kind, decisions[f.claim], at_proxy.low > 0)
                    text = f"{spent}; bootstrap at {where}: {steps[-1][2].text(unit)}"
                comparison = "width rule: " + claims.width_rule_group if f.claim == fd.width_rule_claim(
                    str(claims.width_rule_group)) else f.claim.split(":")[0]
            row.update(longer_training=verdict, longer_training_evidence=text, verdict=headline_verdict(verdict))
            ladder_table += ladder_rows(f.claim, comparison, [("proxy (all models)", ladder.rungs[0].images, at_proxy),
                                                              *steps])
        else:
            lf = long_found.get(f.claim)
            verdict = MAPPED[lf.verdict] if lf is not None else "too few models to tell"
            row.update(longer_training=verdict, verdict=headline_verdict(verdict),
                       longer_training_evidence=f"at {longest.label}: " + (lf.evidence if lf else "no models"))
        rows.append(row)
    groups = [(r, g) for r, g in per_rung]
    convergence = convergence_table(
        {name: {r.factor: g[name][["model_id", ERROR]].rename(columns={ERROR: "error"}) for r, g in groups
                if name in g} for name in groups[0][1]},
        {r.factor: r.images for r in ladder.rungs})
    return Judged(pd.DataFrame(rows), pd.DataFrame(ladder_table), convergence, _diagnostics(ladder, claims),
                  _models_table(ladder, claims))


def _diagnostics(ladder: Ladder, claims: Claims) -> pd.DataFrame:
    runs: dict[str, dict[str, pd.DataFrame]] = {}
    labelled = [(r.label, r.frame) for r in ladder.rungs] + ([("seed", ladder.seed)] if ladder.seed is not None else [])
    for label, frame in labelled:
        for name, rows in claims.group(frame).items():
            runs.setdefault(name, {})[label] = rows[["model_id", ERROR]].rename(columns={ERROR: "error"})
    return fidelity_table(runs)


def _models_table(ladder: Ladder, claims: Claims) -> pd.DataFrame:
    """Every fidelity model's error at every rung; `order`: its position in its sweep's samples (the sequential
    comparisons pair the i-th models of two spaces), `fixed`: one of the first models every rung trains."""
    parts = []
    for r in ladder.rungs:
        for name, rows in claims.group(r.frame).items():
            ids = rows["model_id"].astype(str).to_numpy()
            parts.append(pd.DataFrame({"space": name, "model_id": ids, "rung": r.label, "order": np.arange(len(rows)),
                                       "fixed": np.isin(ids, list(ladder.fixed_ids)),
                                       "training_images": r.images, "error": rows[ERROR].to_numpy(float),
                                       "status": rows["status"].to_numpy() if "status" in rows else None}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
