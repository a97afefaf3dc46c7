"""The progression's comparisons as sequential comparisons; the spaces, names and claims themselves are
`designspace.analysis.progression` (re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence

from designspace.analysis.progression import PAPER_NAMES, PROGRESSION, STEPS, chain_claim
from designspace.studies.decide import Comparison

__all__ = ["PAPER_NAMES", "PROGRESSION", "STEPS", "chain_claim", "progression_comparisons"]


def progression_comparisons(spaces: Sequence[str], margin: float | None) -> list[Comparison]:
    """The adjacent comparisons among `spaces`, as sequential comparisons (a: the earlier space)."""
    return [Comparison(a, b, margin) for a, b, _ in STEPS if a in spaces and b in spaces]
