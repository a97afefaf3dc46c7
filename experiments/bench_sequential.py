"""How many pairs each sequential test spends, how often it errs, and how far its forecast can be trusted
(design-spec 6c).

    python experiments/bench_sequential.py [--runs 2000] [--pairs 300] [--forecast-runs 300]

1. Type-I error: a and b under "b is no better" (one law for both - normal, lognormal, Cauchy, errors on 0.05
   steps - and a heteroscedastic pair centred alike with spreads 0.3 and 1.7), looked at after every one of
   `--pairs` pairs: the share of runs either bet decides, for the clipped and the sign test.
2. Pairs spent at paired differences of 0.3 / 0.5 / 0.7 points (paired sd 1.25), clean and with 5% of the pairs
   holding a diverged model (80 points off, either side): mean and 80th percentile (an undecided run counts
   `--pairs`), the share decided for b, beside the fixed-n paired t-test's n for 80% power.
3. Design choices of the clipped bet at 0.5 points: the clip level in robust sd and the stake grid.
4. The forecast (`analysis.forecast`) at 20 pairs with a cap of 60: its predicted share decided by the cap against
   how often the test then decided, and how often a stop on the forecast would give up a comparison that the
   test would have decided by the cap.

Writes experiments/results/sequential/bench_sequential.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from designspace.analysis import betting
from designspace.analysis.betting import clip_levels
from designspace.analysis.forecast import forecast
from designspace.analysis.sequential import decision_times

OUT = Path(__file__).parent / "results" / "sequential"
SD = 1.25


def _nulls(rng: np.random.Generator, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Paired differences a - b under the null, per law."""
    def pair(draw) -> np.ndarray:
        return draw() - draw()

    return {
        "normal": pair(lambda: rng.normal(12, 0.75, shape)),
        "lognormal": pair(lambda: rng.lognormal(2.5, 0.8, shape)),
        "cauchy": pair(lambda: 12 + rng.standard_cauchy(shape)),
        "ties (errors on 0.05 steps)": pair(lambda: np.round(rng.normal(12, 0.3, shape) / 0.05) * 0.05),
        "heteroscedastic (sd 0.3 vs 1.7)": rng.normal(12, 0.3, shape) - rng.normal(12, 1.7, shape),
    }


def _diverged(rng: np.random.Generator, d: np.ndarray, share: float) -> np.ndarray:
    hit = rng.random(d.shape) < share
    return np.where(hit, np.where(rng.random(d.shape) < 0.5, 80.0, -80.0), d)


def _spent(d: np.ndarray, test: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    first, decision = decision_times(d, alpha, test=test)
    return np.where(first > 0, first, d.shape[1]), decision


def _fixed_t(delta: float, alpha: float, power: float = 0.8) -> int:
    """Pairs a fixed-n two-sided paired t-test needs for `power` at a mean difference delta (sd SD)."""
    from scipy.stats import nct, t

    for n in range(3, 2000):
        crit = t.isf(alpha / 2, n - 1)
        if nct.sf(crit, n - 1, delta / SD * np.sqrt(n)) >= power:
            return n
    return -1


def _variant(d: np.ndarray, scale: float, stakes: np.ndarray, alpha: float) -> float:
    """Mean pairs spent by the clipped bet with another clip level or stake grid."""
    c = clip_levels(d, scale)
    x = np.clip(d, -c, c) / c
    threshold = np.log(2 / alpha)
    hit = np.zeros(d.shape, bool)
    for sign in (1.0, -1.0):
        logs = np.cumsum(np.log1p(sign * x[..., None] * stakes), axis=1)
        top = logs.max(-1)
        hit |= top + np.log(np.exp(logs - top[..., None]).mean(-1)) >= threshold
    first = np.where(hit.any(1), hit.argmax(1) + 1, d.shape[1])
    return float(first.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--forecast-runs", type=int, default=300)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.runs, args.pairs)
    t0 = time.perf_counter()
    out: dict = {"runs": args.runs, "pairs": args.pairs, "alpha": args.alpha, "paired_sd": SD,
                 "clip_scale": betting.CLIP_SCALE, "clip_stakes": betting.CLIP_STAKES.tolist(), "null": {},
                 "effects": {}, "variants": {}, "forecast": {}}

    print(f"1. type-I error (either side decided) over {args.pairs} pairs, {args.runs} runs, alpha {args.alpha}")
    for name, d in _nulls(rng, shape).items():
        rates = {test: float((decision_times(d, args.alpha, test=test)[0] > 0).mean()) for test in ("clipped", "sign")}
        out["null"][name] = rates
        print(f"  {name:34s} clipped {rates['clipped']:.4f}  sign {rates['sign']:.4f}")

    print(f"\n2. pairs spent (mean / 80th pct, undecided = {args.pairs}), paired sd {SD}")
    for delta in (0.3, 0.5, 0.7):
        clean = rng.normal(delta, SD, shape)
        for label, d in (("clean", clean), ("5% diverged", _diverged(rng, clean, 0.05))):
            row = {"fixed_t_test": _fixed_t(delta, args.alpha)}
            cells = []
            for test in ("clipped", "sign"):
                spent, decision = _spent(d, test, args.alpha)
                row[test] = {"mean": float(spent.mean()), "p80": float(np.percentile(spent, 80)),
                             "median": float(np.median(spent)), "right": float((decision == "b").mean()),
                             "wrong": float((decision == "a").mean())}
                cells.append(f"{test} {row[test]['mean']:.1f}/{row[test]['p80']:.0f} (b {row[test]['right']:.2f})")
            out["effects"][f"{delta} {label}"] = row
            print(f"  {delta:.1f} points, {label:12s} t-test n = {row['fixed_t_test']:3d} | " + "  ".join(cells))

    print("\n3. the clipped bet's choices at 0.5 points (mean pairs; clean / 5% diverged)")
    clean = rng.normal(0.5, SD, (min(args.runs, 1000), args.pairs))
    dirty = _diverged(rng, clean, 0.05)
    grids = {"0.35,0.5,0.65 (3)": np.array([0.35, 0.5, 0.65]), "0.5 alone": np.array([0.5]),
             "0.3..0.75 (4)": np.linspace(0.3, 0.75, 4), "0.1..0.9 (9)": np.linspace(0.1, 0.9, 9),
             "0.05..0.95 (19)": np.linspace(0.05, 0.95, 19)}
    for scale in (1.0, 1.25, 1.5, 2.0, 3.0):
        cells = {g: (_variant(clean, scale, st, args.alpha), _variant(dirty, scale, st, args.alpha))
                 for g, st in grids.items()}
        out["variants"][str(scale)] = {g: {"clean": c, "diverged": v} for g, (c, v) in cells.items()}
        print(f"  clip {scale:4.2f} sd | " + "  ".join(f"{g} {c:.1f}/{v:.1f}" for g, (c, v) in cells.items()))

    print(f"\n4. the forecast at 20 pairs, cap 60 ({args.forecast_runs} comparisons per difference)")
    for delta in (0.0, 0.3, 0.5, 0.7):
        d = rng.normal(delta, SD, (args.forecast_runs, 60))
        first, _ = decision_times(d, args.alpha, after=20)
        decided = first > 0
        fcs = [forecast(row[:20], np.zeros(20), limit=60, alpha=args.alpha) for row in d]
        p = np.array([f.p_decided for f in fcs])
        futile = np.array([f.futile for f in fcs])
        row = {"forecast_p_decided": float(p.mean()), "decided_by_cap": float(decided.mean()),
               "stopped_on_forecast": float(futile.mean()),
               "stopped_but_would_decide": float((futile & decided).mean()),
               "pairs_saved_per_comparison": float(np.where(futile, 40, 0).mean())}
        out["forecast"][str(delta)] = row
        print(f"  {delta:.1f} points: forecast P(decided by 60) {row['forecast_p_decided']:.2f}, actual "
              f"{row['decided_by_cap']:.2f}; stopped on the forecast {row['stopped_on_forecast']:.2f}, of which would "
              f"have decided {row['stopped_but_would_decide']:.2f}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_sequential.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwritten {OUT / 'bench_sequential.json'} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
