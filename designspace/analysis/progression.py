"""The paper's progression A -> B -> C -> D -> E -> RegNet: its spaces in order, their names, the five adjacent
comparisons with the kind of claim each is ('no_loss': the restriction costs nothing; 'improves'), and the
ordered claim over them."""

from __future__ import annotations

from collections.abc import Sequence

from designspace.analysis.decisions import Comparison

__all__ = ["PAPER_NAMES", "PROGRESSION", "STEPS", "chain_claim", "progression_comparisons"]

PROGRESSION = ("anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnet")
PAPER_NAMES = {"anynetx_a": "AnyNetX_A", "anynetx_b": "AnyNetX_B", "anynetx_c": "AnyNetX_C",
               "anynetx_d": "AnyNetX_D", "anynetx_e": "AnyNetX_E", "regnet": "RegNet",
               "regnetx": "RegNetX", "regnety": "RegNetY"}
STEPS = (("anynetx_a", "anynetx_b", "no_loss"), ("anynetx_b", "anynetx_c", "no_loss"),
         ("anynetx_c", "anynetx_d", "improves"), ("anynetx_d", "anynetx_e", "improves"),
         ("anynetx_e", "regnet", "improves"))


def chain_claim(names: Sequence[str]) -> str:
    """The ordered claim over the spaces present, in the progression's order."""
    return f"the progression {' -> '.join(names)} holds as an ordered chain (error non-increasing)"


def progression_comparisons(spaces: Sequence[str], margin: float | None) -> list[Comparison]:
    """The adjacent comparisons among `spaces`, as sequential comparisons (a: the earlier space). `margin` is the
    equivalence margin of the 'no_loss' steps (the restriction costs nothing: an equivalence claim, design-spec 6c);
    an 'improves' step decides a direction only, so a step of half a point is not closed as 'equivalent' within a
    larger margin before its direction is known."""
    return [Comparison(a, b, margin if kind == "no_loss" else None) for a, b, kind in STEPS
            if a in spaces and b in spaces]
