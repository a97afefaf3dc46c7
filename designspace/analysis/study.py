"""A reproduction study's statistics behind one result object, `Study`: the findings, the budget ladder's verdicts,
the sequential decisions at the longest rung (independent pairs and twins), the power of each comparison at the
proxy, the proxy zoo, the exact space sizes and the analyses behind the EDF figures (at the proxy, at the longest
rung) - each computed once, on data a study reader (`studies.reproduce_study`) loaded from a run's sweeps.
`studies.reproduce_report` only draws and writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis import findings as fd
from designspace.analysis._result import Analysis
from designspace.analysis.decisions import Standing
from designspace.analysis.ladder import cheapest_agreeing_rung
from designspace.analysis.outcomes import ERROR
from designspace.analysis.power import median_difference_detectable
from designspace.analysis.reproduction import (
    Claims,
    Decisions,
    Judged,
    Ladder,
    judge,
    progression_claims,
    regime_claims,
)
from designspace.analysis.study_tables import (
    power_table,
    progression_findings,
    regime_findings,
    sizes_table,
    zoo_table,
)

__all__ = ["Study"]


@dataclass
class Study:
    """One study's statistics, each computed once. `frame`: every space sweep's models (column `space_key`: the
    space, `budget`: the regime, `space`: the group label); `budgets`: the regimes in order (more than one: a
    regime study); `recorded`: space -> the definition its samples recorded; `zoo_frames`: regime -> its zoo
    candidates' models; `ladder`: the budget ladder's rungs; `decisions` / `twins`: the sequential comparisons of
    independent pairs and of twins at the longest rung."""

    frame: pd.DataFrame
    budgets: Sequence[str]
    alpha: float = 0.05
    recorded: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    zoo_frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    ladder: Ladder = field(default_factory=lambda: Ladder([]))
    decisions: Decisions | None = None
    twins: Decisions | None = None

    @property
    def regimes(self) -> bool:
        return len(set(self.budgets)) > 1

    @cached_property
    def by_space(self) -> dict[str, pd.DataFrame]:
        keys = dict.fromkeys(self.frame["space_key"])
        return {k: self.frame[self.frame["space_key"] == k] for k in keys}

    @cached_property
    def findings(self) -> list[fd.Finding]:
        """The findings at the proxy (every sampled model)."""
        if self.regimes:
            return regime_findings(self.frame, self.budgets, self.alpha)
        return progression_findings(self.by_space, self.alpha)

    @cached_property
    def claims(self) -> Claims:
        """What the ladder recomputes at every rung."""
        if self.regimes:
            return regime_claims(self.budgets, self.frame, self.alpha)
        return progression_claims(list(self.by_space), self.alpha)

    @cached_property
    def standings(self) -> dict[str, Standing]:
        """claim -> its sequential comparison of independent pairs at the longest rung ({} if none)."""
        return {} if self.decisions is None or self.regimes else self.decisions.standings()

    @cached_property
    def twin_standings(self) -> dict[str, Standing]:
        """claim -> its sequential comparison of twins (each model against its own restriction) ({} if none)."""
        return {} if self.twins is None or self.regimes else self.twins.standings()

    @cached_property
    def judged(self) -> Judged:
        """Each finding's verdict after the ladder and the decisions, and the tables behind them."""
        return judge(self.findings, self.frame, self.ladder, self.claims,
                     {k: s.result for k, s in self.standings.items()}, self.alpha)

    @cached_property
    def ladder_power(self) -> tuple[float, int, float]:
        """At the longest rung: the median within-space standard deviation of the errors, the fixed models per
        space, and the difference of medians those detect with 80% power at alpha 0.05 (NaN when unmeasured)."""
        longest, n = self.ladder.longest if self.ladder.rungs else None, self.ladder.models
        if longest is None or not len(longest.frame):
            return float("nan"), n, float("nan")
        spread = float(longest.frame.groupby("space")["error"].std().median())
        mde = median_difference_detectable(spread, n, n) if n and np.isfinite(spread) else float("nan")
        return spread, n, mde

    @cached_property
    def agreeing_rung(self) -> str | None:
        """The cheapest rung whose every claim's effect lies inside the longest rung's interval."""
        table = self.judged.ladder
        comp = table[table["rung"] != "proxy (all models)"] if len(table) else table
        return cheapest_agreeing_rung(comp, [r.label for r in self.ladder.rungs]) if len(comp) else None

    @cached_property
    def proxy_analysis(self) -> Analysis:
        """Every sampled model at the proxy, analysed once (its EDFs, legends, error range; the full analysis)."""
        return Analysis(self.frame.drop(columns=["space_key"]))

    @cached_property
    def longest_analysis(self) -> Analysis | None:
        """The models trained at the longest rung, analysed (what the verdicts are read on); None unmeasured."""
        if not self.ladder.measured or not len(self.ladder.longest.frame):
            return None
        frame = self.ladder.longest.frame
        return Analysis(frame.drop(columns=[c for c in ("space_key", ERROR, "outcome") if c in frame]))

    @cached_property
    def power(self) -> pd.DataFrame:
        return pd.DataFrame() if self.regimes else power_table(self.by_space, self.alpha)

    @cached_property
    def sizes(self) -> pd.DataFrame:
        return sizes_table(list(self.by_space), self.recorded)

    @cached_property
    def zoo(self) -> pd.DataFrame:
        return zoo_table(dict(self.zoo_frames))
