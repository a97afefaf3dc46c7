"""Where the good training hyperparameters are: the good range of each schedule key a sweep sampled per model.

For a sweep that samples lr, weight decay, ... with the design (`designspace.space.hparams`), design-spec 7's
bootstrap of the best model - draw 25% of the models with replacement, keep the value of the lowest-error one,
10^4 times - gives each key's good range, as the paper reads its figures: the median and the 95% interval of the
best model's value (`good_ranges`). Keys drawn on a log scale (every value > 0) are bootstrapped on that scale,
so the interval's ends interpolate between log values; with lr and weight decay both sampled, their product
`lr_wd` (pycls's analysis metric of its `cifar_optim` sweep) is one more key. A `reference` value per key (the
schedule's own, the one a sweep without sampled keys trains with) is judged against the range: inside, below or
above it.

`range_hypotheses` scores narrower sampling ranges as `refine` scores restrictions of a space
(`designspace.analysis.suggest.score_masks`: the models inside a range against the rest, one-sided KS, Holm over
every range tried), and `sampling_range` writes the good range as the next sweep's `hparams.KEY=[low,high]`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from designspace.analysis._tables import Resolved, Table
from designspace.analysis.bootstrap import MIN_PER_DRAW, bootstrap_best, per_draw
from designspace.analysis.outcomes import ERROR, PENALTY, Policy
from designspace.analysis.suggest import holm, score_masks
from designspace.space.hparams import hparam_columns

__all__ = ["LABELS", "PRODUCT", "RANGE_COLUMNS", "good_ranges", "range_hypotheses", "sampling_range",
           "varying_hparams", "with_product"]

PRODUCT = "lr_wd"
LABELS = {"lr": "learning rate", "weight_decay": "weight decay", PRODUCT: "lr x weight decay",
          "momentum": "momentum", "final_lr_ratio": "final lr / lr", "warmup_factor": "warm-up factor",
          "label_smoothing": "label smoothing", "ema_decay": "EMA decay"}
"""Axis labels of the sampled keys (and of the product)."""
RANGE_COLUMNS = ["space", "param", "n", "per_draw", "median", "low", "high", "log_scale", "reference", "verdict"]


def with_product(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with column `lr_wd` = lr * weight_decay when it has both (else `frame` itself)."""
    if "lr" not in frame or "weight_decay" not in frame or PRODUCT in frame:
        return frame
    return frame.assign(**{PRODUCT: frame["lr"].astype(np.float64) * frame["weight_decay"].astype(np.float64)})


def varying_hparams(frame: pd.DataFrame) -> list[str]:
    """The sampled keys of a sweep table that take at least two values (then `lr_wd` too, if lr and weight_decay
    both do), in `HPARAM_KEYS` order: the keys a report shows error against."""
    keys = [k for k in hparam_columns(frame.columns)
            if frame[k].astype(np.float64).replace([np.inf, -np.inf], np.nan).dropna().nunique() >= 2]
    return keys + [PRODUCT] if {"lr", "weight_decay"} <= set(keys) else keys


def _groups(frame: Table, policy: Policy, penalty: float) -> list[tuple[str, pd.DataFrame]]:
    resolved = frame if isinstance(frame, Resolved) else Resolved.of(frame, policy, penalty)
    return [(name, with_product(used)) for name, used, counts in resolved.groups if counts.used]


def good_ranges(frame: Table, params: Sequence[str] | None = None, reference: Mapping[str, float] | None = None,
                frac: float = 0.25, draws: int = 10_000, seed: int = 0, ci: float = 0.95,
                policy: Policy = "penalize", penalty: float = PENALTY,
                min_per_draw: int = MIN_PER_DRAW) -> pd.DataFrame:
    """Per space and sampled key: the good range, i.e. the bootstrap median [low, high] of the best model's value.

    Columns `RANGE_COLUMNS`: n (models with the key), per_draw, median, low, high, log_scale (bootstrapped on
    ln x), reference (`reference[key]`, NaN when not given) and verdict ('inside' / 'below' / 'above' the
    interval, '' without a reference). `params`: the keys (default `varying_hparams` of each space). A space
    whose draws would hold fewer than `min_per_draw` models is skipped: attrs["too_few"] maps it to its n."""
    reference = dict(reference or {})
    if PRODUCT not in reference and {"lr", "weight_decay"} <= set(reference):
        reference[PRODUCT] = reference["lr"] * reference["weight_decay"]
    rows, too_few = [], {}
    for name, used in _groups(frame, policy, penalty):
        keys = list(params) if params is not None else varying_hparams(used)
        if keys and per_draw(len(used), frac) < min_per_draw:
            too_few[name] = len(used)
            continue
        for key in keys:
            if key not in used:
                continue
            sub = used[np.isfinite(used[key].to_numpy(dtype=np.float64))]
            if per_draw(len(sub), frac) < min_per_draw:
                too_few.setdefault(name, len(sub))
                continue
            x = sub[key].to_numpy(dtype=np.float64)
            log = bool((x > 0).all())
            res = bootstrap_best(np.log(x) if log else x, sub[ERROR].to_numpy(), frac, draws, seed, ci)
            med, lo, hi = (math.exp(v) for v in res[:3]) if log else res[:3]
            ref = float(reference[key]) if key in reference else math.nan
            verdict = "" if math.isnan(ref) else "inside" if lo <= ref <= hi else "below" if ref < lo else "above"
            rows.append({"space": name, "param": key, "n": len(sub), "per_draw": per_draw(len(sub), frac),
                         "median": med, "low": lo, "high": hi, "log_scale": log, "reference": ref,
                         "verdict": verdict})
    out = pd.DataFrame(rows, columns=RANGE_COLUMNS)
    out.attrs["too_few"] = too_few
    return out


def _nice_ends(x: np.ndarray, cuts: int) -> np.ndarray:
    """Two-significant-digit values near `cuts` evenly spaced quantiles of x (distinct, sorted)."""
    q = np.quantile(x, np.linspace(0, 1, cuts + 2)[1:-1])
    with np.errstate(divide="ignore"):
        mag = np.where(q != 0, 10.0 ** (np.floor(np.log10(np.abs(q))) - 1), 1.0)
    return np.unique(np.round(q / mag) * mag)


def range_hypotheses(used: pd.DataFrame, key: str, cuts: int = 7, min_kept: int = 5,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Narrower sampling ranges of `key` scored on the models of one space (`used`: rows with column `err`, as
    `outcomes.resolve_errors` gives): every range between two of `cuts` cut points (and each cut point to the
    end), its models against the rest (`suggest.score_masks`), Holm over the ranges tested. Best score first;
    columns param, low, high (NaN: open end), label, the statistics of `score_masks`, p_holm, significant."""
    used = with_product(used)
    x = used[key].to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    err, x = used[ERROR].to_numpy(dtype=np.float64)[finite], x[finite]
    columns = ["param", "low", "high", "label", "n", "n_kept", "frac_kept", "median_kept", "median_rest", "q25_kept",
               "q25_rest", "D", "D_rest", "p_value", "tested", "score", "p_holm", "significant"]
    if x.size < 2 * min_kept or np.unique(x).size < 2:
        return pd.DataFrame(columns=columns)
    ends = _nice_ends(x, cuts)
    pairs = [(math.nan, h) for h in ends] + [(lo, math.nan) for lo in ends]
    pairs += [(lo, h) for i, lo in enumerate(ends) for h in ends[i + 1:]]
    masks = np.stack([(np.isnan(lo) | (x >= lo)) & (np.isnan(h) | (x <= h)) for lo, h in pairs])
    keep = ~(masks.all(axis=1) | ~masks.any(axis=1))
    if not keep.any():
        return pd.DataFrame(columns=columns)
    pairs = [p for p, k in zip(pairs, keep) if k]
    stats = score_masks(err, masks[keep], min_kept)
    p = stats["p_value"].to_numpy()
    tested = np.isfinite(p)
    p_holm = np.full(p.size, np.nan)
    if tested.any():
        p_holm[tested] = holm(p[tested])
    stats["p_holm"] = p_holm
    stats["significant"] = np.nan_to_num(p_holm, nan=1.0) < alpha
    stats.insert(0, "label", [_label(key, lo, h) for lo, h in pairs])
    stats.insert(0, "high", [h for _, h in pairs])
    stats.insert(0, "low", [lo for lo, _ in pairs])
    stats.insert(0, "param", key)
    order = np.lexsort((-stats["frac_kept"].to_numpy(), -stats["score"].to_numpy()))
    return stats.iloc[order].reset_index(drop=True)[columns]


def _label(key: str, low: float, high: float) -> str:
    if math.isnan(low):
        return f"{key} <= {high:.3g}"
    if math.isnan(high):
        return f"{key} >= {low:.3g}"
    return f"{key} in [{low:.3g}, {high:.3g}]"


def sampling_range(low: float, high: float, digits: int = 2) -> tuple[float, float]:
    """[low, high] widened to `digits` significant digits (low down, high up): a range to sample next."""

    def rounded(v: float, up: bool) -> float:
        if v == 0 or not math.isfinite(v):
            return v
        step = 10.0 ** (math.floor(math.log10(abs(v))) - digits + 1)
        k = math.ceil(v / step - 1e-9) if up else math.floor(v / step + 1e-9)
        return float(f"{k * step:.{digits + 2}g}")

    return rounded(low, False), rounded(high, True)
