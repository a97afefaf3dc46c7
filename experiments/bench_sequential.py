"""How many models the sequential comparison spends, against a fixed-n design (design-spec 6c).

For paired errors whose difference gives P(b better) = p, simulate `--runs` sequences of `--pairs` pairs,
monitor after every pair and report, per betting scheme: the type-I error under the null (p = 0.5, several
error distributions), and for each effect the share decided correctly, the median and 80th-percentile pairs
spent, beside the pairs a fixed-n two-sided sign test needs for 80% power. The stakes of
`designspace.analysis.sequential.STAKES` were chosen from this table.

    python experiments/bench_sequential.py [--runs 4000] [--pairs 400]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from designspace.analysis.sequential import STAKES, fixed_n_sign_test, sign_wealth

OUT = Path(__file__).parent / "results" / "sequential"


def _plugin_wealth(x: np.ndarray, cap: float = 0.75) -> np.ndarray:
    """Kelly plug-in stake from the past (smoothed win rate), for comparison with the mixture."""
    wins = np.cumsum(x > 0, axis=-1) - (x > 0)
    seen = np.arange(x.shape[-1])
    lam = np.clip(2 * (wins + 1) / (seen + 2) - 1, 0, cap)
    return np.exp(np.cumsum(np.log1p(lam * x), axis=-1))


def _stops(d: np.ndarray, scheme: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """First pair at which either bet at m = 0 reaches 2/alpha (index, or -1) and which side."""
    if scheme == "plugin":
        up = _plugin_wealth(np.where(d > 0, 1.0, -1.0))
        down = _plugin_wealth(np.where(d < 0, 1.0, -1.0))
    else:
        stakes = STAKES if scheme == "mixture" else np.array([float(scheme)])
        up, down = (w[..., 0] for w in sign_wealth(d, np.array([0.0]), stakes))
    hit = (up >= 2 / alpha) | (down >= 2 / alpha)
    first = np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)
    side = np.where(first >= 0, np.where(up[np.arange(d.shape[0]), first] >= 2 / alpha, 1, -1), 0)
    return first, side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    schemes = ("mixture", "0.3", "0.5", "plugin")
    shape = (args.runs, args.pairs)
    nulls = {"normal": rng.normal(size=shape) - rng.normal(size=shape),
             "lognormal": rng.lognormal(0, 1.5, shape) - rng.lognormal(0, 1.5, shape),
             "cauchy": rng.standard_cauchy(shape) - rng.standard_cauchy(shape),
             "ties (errors on 0.05 steps)": np.round(rng.normal(0, 0.75, shape) / 0.05) * 0.05
             - np.round(rng.normal(0, 0.75, shape) / 0.05) * 0.05}
    out: dict = {"runs": args.runs, "pairs": args.pairs, "alpha": args.alpha, "null": {}, "effects": {}}
    print(f"type-I error (either side decided) over {args.pairs} pairs, {args.runs} runs, alpha {args.alpha}")
    for name, d in nulls.items():
        rates = {s: float((_stops(d, s, args.alpha)[0] >= 0).mean()) for s in schemes}
        out["null"][name] = rates
        print(f"  {name:28s} " + "  ".join(f"{s} {r:.4f}" for s, r in rates.items()))
    print("\nP(b better)  fixed-n sign test (80% power) | per scheme: decided right, median and 80th pct pairs")
    from scipy.stats import norm

    for p in (0.6, 0.68, 0.76, 0.85):
        shift = norm.ppf(p) * np.sqrt(2)  # a - b ~ N(shift, 2): P(a - b > 0) = p
        d = rng.normal(shift, np.sqrt(2), shape)
        row = {"fixed_n": fixed_n_sign_test(p, args.alpha)}
        cells = []
        for s in schemes:
            first, side = _stops(d, s, args.alpha)
            spent = np.where(first >= 0, first + 1, args.pairs)
            row[s] = {"right": float((side == 1).mean()), "median": float(np.median(spent)),
                      "p80": float(np.percentile(spent, 80))}
            cells.append(f"{s} {row[s]['right']:.2f} {row[s]['median']:.0f}/{row[s]['p80']:.0f}")
        out["effects"][str(p)] = row
        print(f"  {p:.2f}  fixed n = {row['fixed_n']}  | " + "  ".join(cells))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_sequential.json").write_text(json.dumps(out, indent=1))
    print(f"\nwritten {OUT / 'bench_sequential.json'}")


if __name__ == "__main__":
    main()
