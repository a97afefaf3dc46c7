"""Analysis of design spaces: error EDFs, normalized EDFs, KS distances, where the good models are,
random-search efficiency and the linear width rule (design-spec section 7).

Plain functions on arrays (re-exported from `edf`, `bootstrap`, `widthfit`, `outcomes`) and the
per-space tables built from them, on the sweep table (one row per model; `space` labels the design
space, `error` is the final top-1 error in percent, `status` the training outcome). Every table
applies one explicit policy to diverged/failed models (`outcomes`: by default counted at 100%)
and reports how many there were.
"""

from __future__ import annotations

from designspace.analysis._result import MIN_PER_BIN, Analysis, AnalysisSettings
from designspace.analysis._tables import (
    COMPLEXITY_METRICS,
    TREND_PARAMS,
    Resolved,
    add_derived,
    best_models,
    best_ranges,
    edf_table,
    efit_table,
    ks_table,
    param_columns,
    random_search_table,
    space_groups,
    summary_table,
    trend_table,
)
from designspace.analysis.bootstrap import (
    MIN_PER_DRAW,
    BootstrapResult,
    best_rank_distribution,
    bootstrap_best,
    per_draw,
)
from designspace.analysis.collect import load_sweep, load_sweeps, sweep_info
from designspace.analysis.edf import (
    EDF,
    EmptyBinError,
    KSResult,
    complexity_bins,
    complexity_weights,
    default_ks,
    edf,
    ks_distance,
    ks_test,
    random_search_efficiency,
    random_search_quantiles,
    supported_k,
)
from designspace.analysis.ladder import (
    Effect,
    cheapest_agreeing_rung,
    headline_verdict,
    ladder_verdict,
    median_difference,
    spearman_effect,
)
from designspace.analysis.outcomes import ERROR, PENALTY, POLICIES, Counts, Policy, resolve_errors
from designspace.net.widthfit import (
    DEFAULT_WM_RANGE,
    LineFit,
    RegNetFit,
    block_widths_of,
    exact_regnet_params,
    fit_regnet,
    fit_regnet_many,
    fit_width_line,
    regnet_efit,
)

__all__ = [
    "Effect", "cheapest_agreeing_rung", "headline_verdict", "ladder_verdict", "median_difference", "spearman_effect",
    "COMPLEXITY_METRICS", "DEFAULT_WM_RANGE", "MIN_PER_BIN", "MIN_PER_DRAW", "TREND_PARAMS", "Analysis", "AnalysisSettings",
    "ERROR", "Policy", "Resolved", "default_ks", "per_draw", "EDF", "PENALTY", "POLICIES", "BootstrapResult", "Counts", "EmptyBinError",
    "KSResult", "LineFit", "RegNetFit", "add_derived", "best_models", "best_rank_distribution",
    "best_ranges", "block_widths_of", "bootstrap_best", "complexity_bins", "complexity_weights",
    "edf", "edf_table", "efit_table", "exact_regnet_params", "fit_regnet", "fit_regnet_many",
    "fit_width_line", "ks_distance", "ks_table", "ks_test", "load_sweep", "load_sweeps",
    "param_columns", "random_search_efficiency", "random_search_quantiles", "random_search_table", "supported_k",
    "regnet_efit", "resolve_errors", "space_groups", "summary_table", "sweep_info", "trend_table",
]
