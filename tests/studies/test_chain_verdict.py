"""The report's verdicts at the longest rung: the ordered chain on the fixed models, pairs from their decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from designspace.analysis.ordered import jonckheere
from designspace.analysis.outcomes import ERROR
from designspace.analysis.progression import PAPER_NAMES
from designspace.analysis.reproduction import Ladder, Rung, judge, progression_claims
from designspace.analysis.sequential import compare
from designspace.analysis.study_tables import progression_findings

SPACES = ("anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d")  # no AnyNetX_E: its width rule needs real specs


def frame(medians: dict[str, float], n: int, rng: np.random.Generator, sd: float = 0.5) -> pd.DataFrame:
    parts = []
    for key in SPACES:
        e = rng.normal(medians[key], sd, n)
        parts.append(pd.DataFrame({"space_key": key, "space": PAPER_NAMES[key], "model_id": [f"{key}{i}" for i in range(n)],
                                   "status": "ok", "error": e, ERROR: e}))
    return pd.concat(parts, ignore_index=True)


def run(long_medians: dict[str, float], fixed: int, extra: int, seed: int = 0, decisions: dict | None = None):
    rng = np.random.default_rng(seed)
    proxy = frame({"anynetx_a": 40, "anynetx_b": 36, "anynetx_c": 34, "anynetx_d": 30}, 30, rng)
    long = frame(long_medians, fixed + extra, rng)
    ids = frozenset(f"{k}{i}" for k in SPACES for i in range(fixed))
    claims = progression_claims(list(SPACES), 0.05)
    found = progression_findings({k: proxy[proxy["space_key"] == k] for k in SPACES}, 0.05)
    x1 = proxy[proxy["model_id"].isin(ids)]
    ladder = Ladder([Rung(1, 4096, x1, 0.0), Rung(16, 60_000, long, 0.0)], models=fixed, fixed_ids=ids)
    judged = judge(found, proxy, ladder, claims, decisions or {}, 0.05).findings.set_index("claim")
    return judged, long, ids, claims


def test_the_chain_is_read_on_the_fixed_models_at_the_longest_rung():
    judged, long, ids, claims = run({"anynetx_a": 14, "anynetx_b": 13.5, "anynetx_c": 13, "anynetx_d": 12.5}, 10, 6)
    chain = judged.loc[claims.chain[0]]
    fixed = long[long["model_id"].isin(ids)]
    p = jonckheere([fixed[fixed["space_key"] == k][ERROR].to_numpy() for k in SPACES]).p
    assert p < 0.05 and chain["verdict"] == "reproduced" and chain["longer_training"] == "holds"
    assert f"p = {p:.2g}" in chain["longer_training_evidence"] and "first 10 models" in chain["longer_training_evidence"]
    # no order at the longest rung: not reproduced, whatever the proxy said
    judged, long, ids, claims = run({k: 13.0 for k in SPACES}, 10, 0, seed=3)
    fixed = long[long["model_id"].isin(ids)]
    p = jonckheere([fixed[fixed["space_key"] == k][ERROR].to_numpy() for k in SPACES]).p
    assert (judged.loc[claims.chain[0], "verdict"] == "reproduced") == (p < 0.05)
    assert judged.loc[claims.chain[0], "proxy_verdict"] == "reproduced"


def test_too_few_fixed_models_cannot_tell():
    judged, _, _, claims = run({"anynetx_a": 14, "anynetx_b": 13, "anynetx_c": 12, "anynetx_d": 11}, 3, 20)
    assert judged.loc[claims.chain[0], "longer_training"] == "too few models to tell"


@pytest.mark.slow
def test_a_pair_takes_its_verdict_from_its_sequential_decision():
    rng = np.random.default_rng(1)
    claim = "AnyNetX_D improves on AnyNetX_C"
    better = compare(rng.normal(14, 0.5, 40), rng.normal(12, 0.5, 40))
    worse = compare(rng.normal(12, 0.5, 40), rng.normal(14, 0.5, 40))
    tie = compare(rng.normal(12, 0.2, 200), rng.normal(12, 0.2, 200), margin=0.5)
    undecided = compare([1.0, 2.0], [2.0, 1.0])
    medians = {"anynetx_a": 14, "anynetx_b": 13, "anynetx_c": 12, "anynetx_d": 11}
    expected = {"b": ("holds", "reproduced"), "a": ("reverses", "not reproduced"),
                "equivalent": ("not shown", "not reproduced"), "undecided": ("too few models to tell", "inconclusive")}
    for res in (better, worse, tie, undecided):
        judged, *_ = run(medians, 10, 0, decisions={claim: res})
        row = judged.loc[claim]
        assert (row["longer_training"], row["verdict"]) == expected[res.decision], res.decision
        assert "sequential test" in row["longer_training_evidence"]
    # a restriction that costs nothing: equivalent within the margin, or better, holds; worse reverses
    no_loss = "AnyNetX_B ~ AnyNetX_A: the restriction costs nothing"
    for res, verdict in ((tie, "holds"), (better, "holds"), (worse, "reverses")):
        judged, *_ = run(medians, 10, 0, decisions={no_loss: res})
        assert judged.loc[no_loss, "longer_training"] == verdict
