"""The paper's progression A -> B -> C -> D -> E -> RegNet: its spaces in order, their names, the five adjacent
comparisons with the kind of claim each is ('no_loss': the restriction costs nothing; 'improves'), and the
ordered claim over them."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PAPER_NAMES", "PROGRESSION", "STEPS", "chain_claim"]

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
