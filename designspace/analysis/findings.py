"""The paper's findings as tests with verdicts: does a run reproduce them, by which statistics?

Each check returns a `Finding` (claim, verdict, evidence). Verdicts are never stronger than the
numbers: "reproduced", "not reproduced" (the data contradict the claim, or the claimed effect is
absent at this sample size) or "inconclusive" (too few models to test). Error comparisons use
one- and two-sided two-sample KS tests on top-1 errors (scipy), at level `alpha`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from designspace.analysis.bootstrap import MIN_PER_DRAW, bootstrap_best, per_draw
from designspace.analysis.edf import ks_test
from designspace.analysis.ladder import median_difference, spearman_effect
from designspace.analysis.ordered import jonckheere
from designspace.analysis.power import ks_critical, ks_power, n_for_power
from designspace.net.widthfit import fit_regnet_many, fit_width_line

ALPHA = 0.05
MIN_MODELS = 5


@dataclass(frozen=True)
class Finding:
    claim: str
    verdict: str  # "reproduced" | "not reproduced" | "inconclusive"
    evidence: str
    from_training: bool = True  # False: judged without trained errors (a count), so proxy fidelity cannot touch it

    def as_dict(self) -> dict[str, str]:
        return {"claim": self.claim, "verdict": self.verdict, "evidence": self.evidence}


def _ks(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    return tuple(ks_test(a, b, alternative))


def _summary(name: str, e: np.ndarray) -> str:
    return f"{name}: n={e.size}, median {np.median(e):.2f}%, best quartile mean {np.mean(np.sort(e)[: max(1, e.size // 4)]):.2f}%"


def _power_text(err_hi: np.ndarray, err_lo: np.ndarray, alpha: float, what: str) -> str:
    """Power of the one-sided test 'err_hi better than err_lo' (its EDF above), as evidence text."""
    d_min = ks_critical(err_hi.size, err_lo.size, alpha, "greater")
    power = ks_power(err_hi, err_lo, alpha, "greater")
    return (f"with n={err_hi.size} and m={err_lo.size} the smallest detectable one-sided KS distance is "
            f"{d_min:.3f}; power to detect the observed {what} {power:.2f} (bootstrap)")


def comparison_claim(name_a: str, name_b: str, kind: str) -> str:
    """The claim text of a space comparison: kind 'improves' (b better than a) or 'no_loss' (b no worse)."""
    if kind == "improves":
        return f"{name_b} improves on {name_a}"
    return f"{name_b} ~ {name_a}: the restriction costs nothing"


def no_loss(name_a: str, err_a: np.ndarray, name_b: str, err_b: np.ndarray, alpha: float = ALPHA) -> Finding:
    """Claim: restricting space a to b costs nothing (b's error distribution is not worse)."""
    claim = comparison_claim(name_a, name_b, "no_loss")
    if min(err_a.size, err_b.size) < MIN_MODELS:
        return Finding(claim, "inconclusive", f"too few models ({err_a.size}, {err_b.size})")
    d2, p2 = _ks(err_a, err_b, "two-sided")
    _, p_worse = _ks(err_b, err_a, "less")  # H1: b's EDF lies below a's somewhere (b worse)
    power = _power_text(err_a, err_b, alpha, "loss")
    stats_text = (f"KS D={d2:.3f}, two-sided p={p2:.3g}; one-sided p(b worse)={p_worse:.3g}; {power}. "
                  f"{_summary(name_a, err_a)}; {_summary(name_b, err_b)}")
    if p_worse < alpha:
        return Finding(claim, "not reproduced", f"{name_b} is significantly worse. {stats_text}")
    if p2 >= alpha:
        return Finding(claim, "reproduced", f"no significant difference. {stats_text}")
    return Finding(claim, "reproduced", f"{name_b} is no worse (significantly better). {stats_text}")


def improves(name_a: str, err_a: np.ndarray, name_b: str, err_b: np.ndarray, alpha: float = ALPHA) -> Finding:
    """Claim: space b's error EDF improves on space a's (b's errors stochastically smaller).

    Not significant splits three ways: the median against the claim ('not reproduced'); an effect in
    the claimed direction that a few times more models would detect ('inconclusive: too few models to
    tell', with that n); an effect too small for even 8x the models ('not reproduced': not shown).
    """
    claim = comparison_claim(name_a, name_b, "improves")
    if min(err_a.size, err_b.size) < MIN_MODELS:
        return Finding(claim, "inconclusive", f"too few models ({err_a.size}, {err_b.size})")
    d_better, p_better = _ks(err_b, err_a, "greater")  # H1: b's EDF lies above a's (b better)
    d_worse, p_worse = _ks(err_b, err_a, "less")
    power = _power_text(err_b, err_a, alpha, "improvement")
    stats_text = (f"one-sided KS D+={d_better:.3f}, p={p_better:.3g} (b better); D-={d_worse:.3f}, "
                  f"p={p_worse:.3g} (b worse); {power}. {_summary(name_a, err_a)}; {_summary(name_b, err_b)}")
    if p_better < alpha and p_worse >= alpha:
        return Finding(claim, "reproduced", stats_text)
    if p_worse < alpha and p_better >= alpha:
        return Finding(claim, "not reproduced", f"{name_b} is significantly worse. {stats_text}")
    if np.median(err_b) >= np.median(err_a):
        return Finding(claim, "not reproduced",
                       f"no significant improvement at this sample size (median difference against the claim). {stats_text}")
    needed = n_for_power(err_b, err_a, alpha, "greater", factors=(2, 4, 8))
    if needed is None:
        return Finding(claim, "not reproduced",
                       "no significant improvement at this sample size: the difference in the claimed direction is too "
                       f"small for even 8x the models to detect (not shown). {stats_text}")
    return Finding(claim, "inconclusive",
                   f"too few models to tell: the difference is in the claimed direction but not significant; about "
                   f"{needed} models per space would detect it with 80% power. {stats_text}")


def smaller_space(cardinalities: Mapping[str, int], big: str, small: str, orders: float = 9.0) -> Finding:
    """Claim: the small space is ~10 orders of magnitude smaller than the big one."""
    claim = f"{small} is ~10 orders of magnitude smaller than {big}"
    ratio = math.log10(cardinalities[big]) - math.log10(cardinalities[small])
    verdict = "reproduced" if ratio >= orders else "not reproduced"
    return Finding(claim, verdict, f"|{big}| = {cardinalities[big]:.3g}, |{small}| = {cardinalities[small]:.3g}: "
                                   f"{ratio:.1f} orders of magnitude (exact counts on the spaces' grids)",
                   from_training=False)


def best_value(name: str, x: np.ndarray, err: np.ndarray, claim: str, test: str, seed: int = 0) -> Finding:
    """Bootstrap (25% with replacement, 10^4 draws) of x of the best model, judged by `test`.

    test: 'eq:V' (95% interval is exactly V), 'gt:V' (median > V), 'near:V' (interval contains V and
    spans at most half the sampled range of x; a wider interval that contains V is 'inconclusive').
    """
    if x.size < MIN_MODELS or per_draw(x.size, 0.25) < MIN_PER_DRAW:
        return Finding(claim, "inconclusive", f"too few models to tell: {name} has n={x.size}, "
                                              f"{per_draw(x.size, 0.25)} per 25% draw; the best-model bootstrap "
                                              f"needs {MIN_PER_DRAW} per draw")
    res = bootstrap_best(x, err, seed=seed)
    kind, value = test.split(":")
    v = float(value)
    ok = {"eq": res.low == v == res.high, "gt": res.median > v, "near": res.low <= v <= res.high}[kind]
    verdict = "reproduced" if ok else "not reproduced"
    if kind == "near" and ok and res.high - res.low > 0.5 * float(np.ptp(x)):
        verdict = "inconclusive"
    return Finding(claim, verdict, f"{name}, n={x.size}: best model's value median {res.median:.3g}, "
                                   f"95% interval [{res.low:.3g}, {res.high:.3g}] (bootstrap, 25% x 10^4)")


def width_rule_claim(name: str) -> str:
    return f"the best {name} models follow the linear width rule (e_fit correlates with error)"


def width_rule(name: str, frame: pd.DataFrame, err: np.ndarray, alpha: float = ALPHA) -> tuple[Finding, dict]:
    """Claim: good models follow the quantized linear rule (lower error <-> lower e_fit)."""
    from scipy import stats

    claim = width_rule_claim(name)
    if len(frame) < MIN_MODELS:
        return Finding(claim, "inconclusive", f"too few models ({len(frame)})"), {}
    fits = fit_regnet_many(frame)
    rho, p = stats.spearmanr(fits["e_fit"].to_numpy(), err)
    order = np.argsort(err, kind="stable")
    top = frame.iloc[order[: min(20, len(frame))]]
    line = fit_width_line(top)
    q = max(1, len(frame) // 4)
    e_top, e_rest = fits["e_fit"].to_numpy()[order[:q]], fits["e_fit"].to_numpy()[order[q:]]
    evidence = (f"Spearman rho(e_fit, error) = {rho:.3f}, p = {p:.3g} (one-sided p = {p / 2 if rho > 0 else 1 - p / 2:.3g}); "
                f"mean e_fit of the best quarter {e_top.mean():.3f} vs the rest {e_rest.mean() if e_rest.size else float('nan'):.3f}; "
                f"top-{len(top)} line w_j = {line.w0:.1f} + {line.wa:.1f} j (rmse {line.rmse:.1f} channels)")
    verdict = "reproduced" if (rho > 0 and p / 2 < alpha) else "not reproduced"
    return Finding(claim, verdict, evidence), {"w0": line.w0, "wa": line.wa, "rmse": line.rmse, "rho": rho, "p": p}


def ordered_chain(claim: str, groups: Mapping[str, np.ndarray], alpha: float = ALPHA, seed: int = 0) -> Finding:
    """Claim: error does not increase along the groups' order (first to last), tested as one ordered
    alternative by Jonckheere-Terpstra (`analysis.ordered`), with the first-to-last median drop (bootstrap
    interval) and Spearman's rho of position against error as its effect."""
    names = list(groups)
    sizes = [np.asarray(groups[k]).size for k in names]
    if len(names) < 3 or min(sizes) < MIN_MODELS:
        return Finding(claim, "inconclusive", f"too few models to tell: {len(names)} spaces with "
                                              f"{', '.join(map(str, sizes))} models; need 3 spaces of {MIN_MODELS}")
    values = [np.asarray(groups[k], float) for k in names]
    jt = jonckheere(values, seed=seed)
    drop = median_difference(values[0], values[-1], seed=seed)
    position = np.concatenate([np.full(v.size, i, float) for i, v in enumerate(values)])
    rho = spearman_effect(position, np.concatenate(values), seed=seed)
    text = (f"Jonckheere-Terpstra over {len(names)} spaces (n = {', '.join(map(str, sizes))}): {jt.text()}; "
            f"median drop {names[0]} -> {names[-1]} {drop.point:+.2f} points [{drop.low:+.2f}, {drop.high:+.2f}]; "
            f"Spearman rho(position, error) {rho.point:+.2f} [{rho.low:+.2f}, {rho.high:+.2f}]")
    if jt.p < alpha:
        return Finding(claim, "reproduced", text)
    if drop.point <= 0:
        return Finding(claim, "not reproduced", f"no drop from first to last. {text}")
    return Finding(claim, "inconclusive", f"too few models to tell: in the claimed direction, not significant. {text}")
