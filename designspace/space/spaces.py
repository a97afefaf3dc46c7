"""Design spaces by name: the built-in files (`configs/space/*.yaml`), `load` into a `Space`, and Table 1.

The file format and its validation are `designspace.space.schema`; a file's `defaults` chain is resolved by
`designspace.space.compose`. ``python -m designspace.spaces`` prints the paper's Table 1 (dimensions and exact size
of A -> E -> RegNet).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from designspace.space.compose import SPACE_DIR, compose, compose_file, find_file, known
from designspace.space.schema import Space, from_config
from designspace.util.tables import text_table

TABLE1 = ("anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnet", "regnetx", "regnety")
PAPER_SIZES = {"anynetx_a": "1.8e+18", "anynetx_b": "6.8e+16", "anynetx_c": "3.2e+14", "anynetx_d": "1.3e+13",
               "anynetx_e": "5.5e+11", "regnet": "3.0e+08"}  # the paper's Table 1 (approximate counts)


def names() -> list[str]:
    """The built-in spaces (files in configs/space)."""
    return known(SPACE_DIR)


def load(space: str | os.PathLike | Mapping[str, Any] | Space) -> Space:
    """A `Space` from a built-in name, a YAML path, a config dict (may have `defaults`) or a Space."""
    if isinstance(space, Space):
        return space
    if isinstance(space, Mapping):
        cfg, chain = compose(dict(space), "<dict>", SPACE_DIR)
        return from_config(cfg, "<dict>", chain)
    path = find_file(space, SPACE_DIR, "space")
    cfg, chain = compose_file(path)
    return from_config(cfg, str(path), chain)


# --- Table 1 -------------------------------------------------------------------------------------
def table(spaces: Sequence[str | os.PathLike | Space] = TABLE1) -> str:
    """The paper's Table 1: restriction, degrees of freedom and exact size of each space."""
    loaded = [load(s) for s in spaces]
    rows = [("space", "restriction", "dim.", "size", "exact count", "networks", "paper")]
    notes = []
    for sp in loaded:
        n = sp.cardinality()
        nets = sp.networks(progress=sys.stderr.isatty())
        mark = "*" if sp.grid_note() else ""
        rows.append((sp.name, sp.description, str(sp.dims), f"{n:.2e}{mark}" if n else "0", f"{n:,}",
                     "-" if nets is None else f"{nets:.2e} ({nets:,})",
                     PAPER_SIZES.get(sp.name, "") if sp.source.startswith(str(SPACE_DIR)) else ""))
        if mark and sp.grid_note() not in notes:
            notes.append(sp.grid_note())

    cols = 7 if any(r[6] for r in rows[1:]) else 6
    lines = [text_table(rows[0][:cols], [r[:cols] for r in rows[1:]], left=2)]
    lines.append("\nsize: configurations of the sampled parameters that satisfy the space's structural constraints")
    lines.append("(judged on the final, compatible network), before any complexity budget or limit.")
    lines.append("networks: distinct networks they build (per-stage d, w, b, g after compatibility), counted exactly")
    lines.append("for RegNet spaces (designspace.space.network_count); '-': not counted (AnyNet).")
    lines += [f"* counted {note}" for note in notes]
    if cols == 7:
        lines.append("paper: its approximations, (16*128)^4*3*6/(4!)^k for D/E and ~64 values per RegNet parameter;")
        lines.append("the exact counts are larger: orders allow ties, compatibility merges raw widths into")
        lines.append("ordered ones, and RegNet's wa/wm grid is finer.")
    return "\n".join(lines)
