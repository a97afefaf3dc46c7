"""One analysis of one sweep table: the outcomes resolved once and every table of a report, each computed
once (on first use) with one set of settings. Reports, CSVs and figures all read from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis._tables import (
    COMPLEXITY_METRICS,
    TREND_PARAMS,
    Resolved,
    _family,
    add_derived,
    best_ranges,
    edf_table,
    efit_table,
    ks_table,
    param_columns,
    random_search_table,
    summary_table,
    trend_table,
)
from designspace.analysis.bootstrap import MIN_PER_DRAW
from designspace.analysis.edf import edf
from designspace.analysis.outcomes import ERROR, PENALTY, Counts, Policy
from designspace.net.widthfit import DEFAULT_WM_RANGE, block_widths_of

__all__ = ["MIN_PER_BIN", "Analysis", "AnalysisSettings"]

MIN_PER_BIN = 5
"""Fewest models per complexity bin, on average, in the smallest space: with fewer, one model's weight
1/(k m_j) dominates its normalized EDF (the tour's 20 models in 10 bins: one model carried ~40%)."""


@dataclass(frozen=True)
class AnalysisSettings:
    """How every table of an analysis is computed (one policy for diverged/failed models, one bootstrap)."""

    policy: Policy = "penalize"
    penalty: float = PENALTY
    bins: int = 10
    normalize: tuple[str, ...] = ("params", "flops")
    empty: str = "merge"
    min_per_draw: int = MIN_PER_DRAW
    frac: float = 0.25
    draws: int = 10_000
    seed: int = 0
    top: int = 20
    ks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    wm_range: tuple[float, float] = DEFAULT_WM_RANGE
    bulk: float = 95.0
    """Percentile of each space's trained-model errors that ends the error axes (the rest is marked at the edge)."""


class Analysis:
    """The tables of one sweep table under one `AnalysisSettings`, each computed at most once.

    `Analysis(frame, settings, **changes)`: `changes` replace fields of `settings`. The sweep table gets
    the derived columns (`add_derived`, with the width fit) once; every table reads the same resolved
    outcomes (`resolved`), so the policy and penalty are stated once, here.
    """

    def __init__(self, frame: pd.DataFrame, settings: AnalysisSettings | None = None, **changes: Any) -> None:
        s = settings or AnalysisSettings()
        self.settings = dataclasses.replace(s, **changes) if changes else s
        self._raw = frame
        self._normalized: dict[str, pd.DataFrame] = {}
        self._hparam_ranges: dict[tuple, pd.DataFrame] = {}

    # --- the models --------------------------------------------------------------------------------
    @cached_property
    def frame(self) -> pd.DataFrame:
        """The sweep table with total_depth, shared b/g and the quantized-linear fit (add_derived)."""
        return add_derived(self._raw, fit=True, wm_range=self.settings.wm_range)

    @cached_property
    def resolved(self) -> Resolved:
        """Per space: the models used with their error, and the outcome counts."""
        return Resolved.of(self.frame, self.settings.policy, self.settings.penalty)

    @cached_property
    def counts(self) -> dict[str, Counts]:
        return {name: c for name, _, c in self.resolved.groups}

    @cached_property
    def used(self) -> dict[str, pd.DataFrame]:
        """Per space: the models that enter the statistics, with column `err` (and `outcome`)."""
        return {name: u for name, u, _ in self.resolved.groups}

    @property
    def names(self) -> list[str]:
        """Every space, in order of appearance."""
        return list(self.counts)

    @property
    def trained(self) -> list[str]:
        """The spaces with at least one model used."""
        return [n for n, c in self.counts.items() if c.used]

    @property
    def untrained(self) -> list[str]:
        return [n for n, c in self.counts.items() if not c.used]

    def _trained_only(self) -> Resolved:
        r = self.resolved
        return dataclasses.replace(r, groups=tuple(g for g in r.groups if g[2].used))

    # --- the tables ---------------------------------------------------------------------------------
    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per space: models, outcomes, n used, min / median / mean error, the best model."""
        return summary_table(self.resolved)

    @cached_property
    def edf(self) -> pd.DataFrame:
        """The EDF step points of each space: space, error, F."""
        return edf_table(self.resolved)

    @cached_property
    def bins(self) -> int:
        """Complexity bins of the normalized EDFs: `settings.bins`, fewer when the smallest trained space has
        under MIN_PER_BIN models per bin on average (1: too few models to normalize at all)."""
        used = [g[2].used for g in self._trained_only().groups]
        return max(1, min(self.settings.bins, min(used) // MIN_PER_BIN)) if used else self.settings.bins

    def normalized_edf(self, by: str) -> pd.DataFrame:
        """The EDF normalized by complexity column `by` (`bins` equal bins over all spaces)."""
        if by not in self._normalized:
            self._normalized[by] = edf_table(self._trained_only(), by, self.bins, self.settings.empty)
        return self._normalized[by]

    @cached_property
    def ks(self) -> pd.DataFrame:
        """KS distance and p-value of every pair of trained spaces (and D normalized by the last `normalize`)."""
        s = self.settings
        return ks_table(self._trained_only(), s.normalize[-1] if s.normalize and self.bins > 1 else None, self.bins,
                        s.empty)

    @cached_property
    def random_search(self) -> pd.DataFrame:
        return random_search_table(self.resolved, self.settings.ks)

    @cached_property
    def best_ranges(self) -> pd.DataFrame:
        """Bootstrap of the best model's value of every structural parameter, per space."""
        s = self.settings
        return best_ranges(self._trained_only(), None, s.frac, s.draws, s.seed, min_per_draw=s.min_per_draw)

    @cached_property
    def regimes(self) -> dict[str, list[str]]:
        """Per design space (family): its sweeps (space labels), one per flop regime."""
        out: dict[str, list[str]] = {}
        for name in self.trained:
            out.setdefault(_family(self.used[name], name), []).append(name)
        return out

    @cached_property
    def trends(self) -> pd.DataFrame:
        """Best models' parameters per sweep against its median flops (reuses `best_ranges`' bootstraps)."""
        s = self.settings
        if "flops" not in self.frame:
            return pd.DataFrame(columns=["space", "family", "flops", "param", "column", "n", "median", "low", "high"])
        return trend_table(self._trained_only(), TREND_PARAMS, "flops", s.frac, s.draws, s.seed,
                           min_per_draw=s.min_per_draw, ranges=self.best_ranges)

    @cached_property
    def efit(self) -> pd.DataFrame:
        """Per space: e_fit over all and the top models, and the line w0 + wa*j through the top models."""
        if "e_fit" not in self.frame:
            return pd.DataFrame()
        return efit_table(self.resolved, self.settings.top)

    def width_line(self, name: str) -> tuple[float, float] | None:
        """(w0, wa) of the line through the block widths of the best models of `name` (`efit`), None without."""
        ef = self.efit
        row = ef[ef["space"] == name] if len(ef) else ef
        return (float(row["line_w0"].iat[0]), float(row["line_wa"].iat[0])) if len(row) else None

    @cached_property
    def efit_points(self) -> pd.DataFrame:
        """Every model with a width fit: its fit, e_fit and the error it enters the statistics with (NaN: not used)."""
        if "e_fit" not in self.frame:
            return pd.DataFrame(columns=["space", "e_fit", ERROR])
        frame = self.frame if "space" in self.frame else self.frame.assign(space=self.names[0])
        frame = frame[frame["e_fit"].notna()]
        cols = [c for c in ("space", "model_id", "total_depth", "fit_w0", "fit_wa", "fit_wm", "e_fit", "e_fit_exact",
                            "status", "error") if c in frame]
        err = pd.concat([u[ERROR] for u in self.used.values()]) if self.used else pd.Series(dtype=float)
        return frame[cols].assign(**{ERROR: err.reindex(frame.index)})

    @cached_property
    def efit_edf(self) -> pd.DataFrame:
        """The EDF of e_fit of each space's models with a width fit: space, e_fit, F."""
        parts = []
        if "e_fit" in self.frame:
            for name in self.names:
                rows = self.frame[(self.frame["space"].astype(str) == name) if "space" in self.frame else slice(None)]
                ef = rows["e_fit"].dropna().to_numpy(dtype=np.float64)
                if ef.size:
                    f = edf(ef)
                    parts.append(pd.DataFrame({"space": name, "e_fit": f.errors, "F": f.mass}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["space", "e_fit", "F"])

    # --- points behind the figures ---------------------------------------------------------------------
    @cached_property
    def complexity(self) -> pd.DataFrame:
        """space, model_id, flops, params, acts, err, outcome of every model used."""
        metrics = [m for m in COMPLEXITY_METRICS if m in self.frame]
        parts = [u[[c for c in ("model_id", *metrics) if c in u] + [ERROR, "outcome"]].assign(space=name)
                 for name, u in self.used.items() if len(u)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["space", *metrics, ERROR])

    def params(self, name: str) -> tuple[pd.DataFrame, dict[str, str]]:
        """The models of space `name` with their structural parameters and error; (points, column -> axis label)."""
        used = self.used[name]
        labels = dict(param_columns(used))
        keep = [c for c in ("model_id", *labels) if c in used]
        return used[keep + [ERROR, "outcome"]], labels

    def best(self, name: str) -> pd.DataFrame:
        """The `top` lowest-error models of `name` among those with per-stage widths (a width fit), best first."""
        used = self.used[name]
        if "e_fit" in used:
            used = used[used["e_fit"].notna()]
        return used.nsmallest(self.settings.top, ERROR, keep="first")

    def profiles(self, name: str) -> pd.DataFrame:
        """rank, model_id, err, j, width of every block of the `top` best models of `name`."""
        rows = []
        for rank, (_, r) in enumerate(self.best(name).iterrows(), start=1):
            rows += [{"rank": rank, "model_id": r.get("model_id"), "err": r[ERROR], "j": j, "width": int(x)}
                     for j, x in enumerate(block_widths_of(r))]
        return pd.DataFrame(rows, columns=["rank", "model_id", "err", "j", "width"])

    # --- training hyperparameters sampled per model -----------------------------------------------------------
    @cached_property
    def hparam_spaces(self) -> list[str]:
        """The trained spaces whose models sampled a training hyperparameter that varies (`hparams.varying_hparams`)."""
        from designspace.analysis.hparams import varying_hparams

        return [name for name in self.trained if varying_hparams(self.used[name])]

    def hparam_points(self, name: str) -> tuple[pd.DataFrame, list[str]]:
        """The models of space `name` with their sampled keys (and lr_wd), error and outcome; (points, keys)."""
        from designspace.analysis.hparams import varying_hparams, with_product

        used = self.used[name]
        keys, frame = varying_hparams(used), with_product(used)
        return frame[[c for c in ("model_id", *keys) if c in frame] + [ERROR, "outcome"]], keys

    def hparam_ranges(self, reference: Mapping[str, float] | None = None) -> pd.DataFrame:
        """The good range of every sampled key of the `hparam_spaces` (`hparams.good_ranges`, the settings'
        bootstrap), `reference` values judged against it; computed once per reference."""
        from designspace.analysis.hparams import good_ranges

        key = tuple(sorted((reference or {}).items()))
        if key not in self._hparam_ranges:
            s, r = self.settings, self.resolved
            groups = tuple(g for g in r.groups if g[0] in self.hparam_spaces)
            self._hparam_ranges[key] = good_ranges(dataclasses.replace(r, groups=groups), reference=reference,
                                                   frac=s.frac, draws=s.draws, seed=s.seed,
                                                   min_per_draw=s.min_per_draw)
        return self._hparam_ranges[key]

    # --- the sweeps ------------------------------------------------------------------------------------------
    @cached_property
    def damaged(self) -> dict[str, int]:
        """Folder of damaged records set aside -> how many, for each sweep of the table (`sweep_dir`) with any."""
        from designspace.analysis.collect import damaged_records

        return damaged_records(self._raw["sweep_dir"].dropna().unique()) if "sweep_dir" in self._raw else {}

    @cached_property
    def error_range(self) -> tuple[float, float]:
        """(lowest trained error, the largest over spaces of the `bulk` percentile of its trained errors)."""
        ok = [u.loc[u["outcome"] == "ok", ERROR].to_numpy(dtype=np.float64) for u in self.used.values()]
        ok = [e for e in ok if e.size]
        if not ok:
            return (0.0, self.settings.penalty)
        return (float(min(e.min() for e in ok)), float(max(np.percentile(e, self.settings.bulk) for e in ok)))
