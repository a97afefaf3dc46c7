"""Claim-level fidelity of a short-schedule proxy on a budget ladder (design-spec 6b).

A proxy is trusted where its claims survive longer training, not where it ranks single models well.
Each claim is an *effect* with a bootstrap confidence interval, computed on the same statistic at every
rung of the ladder (the proxy, then the same models trained on k times its images):

- a space comparison: the median error difference in percentage points (positive: the claimed direction),
  beside the one-sided KS distance D in that direction, both with percentile-bootstrap intervals (each
  space's models resampled on their own);
- the width rule: Spearman rho(e_fit, error) over a space's models, bootstrap over models.

`ladder_verdict` then compares the proxy's effect with the longest rung's interval and says whether the
claim holds, holds but shrinks, shrinks to within noise (a proxy effect), reverses, is not shown, or
whether the long rung has too few models to tell - with the models per space that would tell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from designspace.analysis.power import ks_distances

__all__ = ["DRAWS", "LADDER_COLUMNS", "LONG_VERDICTS", "MIN_MODELS", "Effect", "cheapest_agreeing_rung", "convergence_table",
           "headline_verdict", "ladder_verdict", "median_difference", "models_to_resolve", "spearman_effect"]

DRAWS = 4000
MIN_MODELS = 5
"""Fewest models per space at a rung for its interval to be read at all (as `findings.MIN_MODELS`)."""
MAX_FACTOR = 8
"""A difference that would need more than this many times the long rung's models is 'not shown'."""
LONG_VERDICTS = ("holds", "holds, smaller", "appears", "shrinks", "reverses", "not shown", "too few models to tell")
LADDER_COLUMNS = ("claim", "comparison", "rung", "images", "n_a", "n_b", "effect", "low", "high",
                  "ks_d", "ks_low", "ks_high")


@dataclass(frozen=True)
class Effect:
    """A claim's effect at one rung (positive: in the claimed direction) with its bootstrap interval."""

    point: float
    low: float
    high: float
    n_a: int
    n_b: int
    ks_d: float = float("nan")
    ks_low: float = float("nan")
    ks_high: float = float("nan")

    @property
    def n(self) -> int:
        """Models in the smaller group."""
        return min(self.n_a, self.n_b)

    def text(self, unit: str = " pts") -> str:
        return f"{self.point:+.2f}{unit} [{self.low:+.2f}, {self.high:+.2f}] (n = {self.n_a}, {self.n_b})"


def _interval(samples: np.ndarray, ci: float) -> tuple[float, float]:
    tail = (1 - ci) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def median_difference(worse: np.ndarray, better: np.ndarray, draws: int = DRAWS, seed: int = 0,
                      ci: float = 0.95) -> Effect:
    """median(worse) - median(better) in the errors' unit, and the one-sided KS distance D (`better`'s EDF
    above `worse`'s), each with a percentile-bootstrap interval; both samples resampled independently."""
    a, b = np.asarray(worse, float), np.asarray(better, float)
    if a.size == 0 or b.size == 0:
        return Effect(float("nan"), float("nan"), float("nan"), int(a.size), int(b.size))
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, a.size, (draws, a.size))]
    db = b[rng.integers(0, b.size, (draws, b.size))]
    diffs = np.median(da, axis=1) - np.median(db, axis=1)
    d = ks_distances(db, da, "greater")  # sup (F_better - F_worse)
    return Effect(float(np.median(a) - np.median(b)), *_interval(diffs, ci), int(a.size), int(b.size),
                  float(ks_distances(b, a, "greater")[0]), *_interval(d, ci))


def _rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / den, np.nan)  # NaN: a constant resample


def spearman_effect(x: np.ndarray, y: np.ndarray, draws: int = DRAWS, seed: int = 0, ci: float = 0.95) -> Effect:
    """Spearman rho(x, y) with a percentile-bootstrap interval (pairs resampled); n_a = n_b = pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3:
        return Effect(float("nan"), float("nan"), float("nan"), int(x.size), int(x.size))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, (draws, x.size))
    rhos = _rowwise_spearman(x[idx], y[idx])
    return Effect(float(_rowwise_spearman(x, y)), *_interval(rhos[np.isfinite(rhos)], ci), int(x.size), int(x.size))


def models_to_resolve(effect: Effect) -> int | None:
    """Models per space whose interval would exclude zero at the observed effect: the half-width shrinks
    as 1/sqrt(n). None when the effect is zero or against the claim."""
    half = (effect.high - effect.low) / 2
    if not (effect.point > 0 and np.isfinite(half)) or effect.n < 1:
        return None
    return max(effect.n, math.ceil(effect.n * (half / effect.point) ** 2))


def ladder_verdict(proxy: Effect, long: Effect, kind: str = "improves", rung: str = "the longest rung",
                   unit: str = " pts") -> tuple[str, str]:
    """The longer-training verdict of one claim: the proxy's effect against the longest rung's interval.

    kind 'improves' (and any claim whose effect must be > 0, e.g. the width rule's rho): holds (the long
    interval excludes 0 and reaches the proxy's effect) / holds, smaller (excludes 0, lies below the proxy's
    effect) / appears (the proxy did not show it, the long rung does) / shrinks (the long interval contains 0
    and lies below the proxy's effect: a proxy effect) / reverses (the long interval lies below 0) / not shown
    (no effect in the claimed direction, or one too small for MAX_FACTOR x the models) / too few models to tell.
    kind 'no_loss' (the effect is the loss, b's median error minus a's; the claim is 'no loss'): holds unless
    the long interval lies above 0 ('reverses': the restriction costs).
    """
    if min(long.n_a, long.n_b) < MIN_MODELS or not np.isfinite(long.point):
        return "too few models to tell", (f"{rung}: {long.n_a} and {long.n_b} models, need {MIN_MODELS} per "
                                          "space to read an interval")
    where = f"at {rung}: {long.text(unit)}; proxy {proxy.text(unit)}"
    if kind == "no_loss":
        if long.low > 0:
            return "reverses", f"the restriction costs {long.point:.2f} points {where}"
        return "holds", f"no significant loss (at most {long.high:.2f} points) {where}"
    if long.high < 0:
        return "reverses", f"significantly the other way {where}"
    proxy_shown = proxy.low > 0
    if long.low > 0:
        if not proxy_shown:
            return "appears", f"not shown by the proxy, significant after longer training {where}"
        if long.high < proxy.point:
            return "holds, smaller", f"still significant, but smaller than the proxy said {where}"
        return "holds", where
    if proxy_shown and long.high < proxy.point:
        return "shrinks", f"the proxy's effect lies above the long interval, which contains 0 (a proxy effect) {where}"
    need = models_to_resolve(long)
    if need is None:
        return "not shown", f"no effect in the claimed direction {where}"
    if need > MAX_FACTOR * long.n:
        return "not shown", f"smaller than this run resolves (~{need} models per space would) {where}"
    return "too few models to tell", f"~{need} models per space would resolve the observed effect {where}"


HEADLINE = {"holds": "reproduced", "holds, smaller": "reproduced", "appears": "reproduced",
            "shrinks": "inconclusive", "too few models to tell": "inconclusive",
            "reverses": "not reproduced", "not shown": "not reproduced"}


def headline_verdict(long_verdict: str) -> str:
    """A finding is reproduced only when it holds at the longest rung (design-spec 6b)."""
    return HEADLINE[long_verdict]


def convergence_table(errors: Mapping[str, Mapping[int, pd.DataFrame]],
                      images: Mapping[int, int]) -> pd.DataFrame:
    """Per space and rung: n, median error, and the median paired change from the previous rung (same models).

    errors: space -> rung factor -> table with `model_id` and `error`; images: rung factor -> training images.
    """
    rows = []
    for space, by_rung in errors.items():
        previous = None
        for k in sorted(by_rung):
            frame = by_rung[k]
            row = {"space": space, "rung": f"x{k}", "images": images.get(k), "n": len(frame),
                   "median_error": float(frame["error"].median()) if len(frame) else float("nan"),
                   "median_shift": float("nan")}
            if previous is not None and len(frame):
                joined = previous.merge(frame, on="model_id", suffixes=("_prev", ""))
                if len(joined):
                    row["median_shift"] = float((joined["error"] - joined["error_prev"]).median())
            rows.append(row)
            previous = frame[["model_id", "error"]]
    return pd.DataFrame(rows, columns=["space", "rung", "images", "n", "median_error", "median_shift"])


def ladder_rows(claim: str, comparison: str, effects: Sequence[tuple[str, int, Effect]]) -> list[dict]:
    """Rows of ladder.csv for one claim: (rung label, training images, effect) at each rung."""
    return [{"claim": claim, "comparison": comparison, "rung": rung, "images": images, "n_a": e.n_a, "n_b": e.n_b,
             "effect": e.point, "low": e.low, "high": e.high, "ks_d": e.ks_d, "ks_low": e.ks_low, "ks_high": e.ks_high}
            for rung, images, e in effects]


def cheapest_agreeing_rung(table: pd.DataFrame, rungs: Sequence[str]) -> str | None:
    """The cheapest rung whose every claim's effect lies inside the longest rung's interval for that claim.

    table: ladder.csv rows (claim, rung, effect, low, high); rungs: labels from cheapest to longest. The
    longest rung agrees with itself, so the answer is None only when it has no finite interval.
    """
    longest = table[table["rung"] == rungs[-1]].set_index("claim")
    longest = longest[np.isfinite(longest["low"]) & np.isfinite(longest["high"])]
    if not len(longest):
        return None
    for rung in rungs:
        at = table[table["rung"] == rung].set_index("claim").reindex(longest.index)
        if np.all((at["effect"] >= longest["low"]) & (at["effect"] <= longest["high"])):
            return rung
    return rungs[-1]
