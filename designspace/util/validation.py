"""Config validation shared by every `from_dict`: unknown keys are named, never ignored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def reject_unknown_keys(cfg: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    """Raise ValueError naming the keys of `cfg` that are not in `known` (and listing the known ones)."""
    known = set(known)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {unknown}; known: {sorted(known)}")
