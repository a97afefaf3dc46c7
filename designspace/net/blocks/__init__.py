"""Block types, each with a home: one file per block pairs its torch module with its exact vectorized cost.

    bottleneck  X block (Y with se_ratio > 0): residual bottleneck with group conv - the default
    vanilla     V block: two 3x3 conv-BN-ReLU, no shortcut
    res_basic   R block: two 3x3 convs with BN, residual, ReLU after the add

`NetSpec.block` names one; `designspace.net.complexity` (cost), `models.build_model` (module) and
`designspace.describe` (table) all look it up here, so a block's geometry is written once, in its file. The
cost side needs no torch: each file defines its torch classes on first use (`build`, or attribute access such
as `designspace.net.blocks.bottleneck.Bottleneck`). A new block type: a new file defining a `BlockType`, then
`register(BLOCK)` (the built-in ones are registered below).
"""

from __future__ import annotations

from designspace.net.blocks import bottleneck, res_basic, vanilla
from designspace.net.blocks.base import BlockType

DEFAULT = bottleneck.NAME
"""The block of every spec that names none (its id leaves the field out)."""

_REGISTRY: dict[str, BlockType] = {}


def register(block: BlockType) -> BlockType:
    """Add a block type; a second, different type under a taken name is an error."""
    if not isinstance(block, BlockType):
        raise TypeError(f"register expects a BlockType, got {type(block).__name__}")
    if _REGISTRY.get(block.name, block) is not block:
        raise ValueError(f"block {block.name!r} is already registered")
    _REGISTRY[block.name] = block
    return block


def get(name: str) -> BlockType:
    """The block type called `name`; ValueError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown block {name!r}; known: {', '.join(_REGISTRY)}") from None


def names() -> list[str]:
    """Registered block names, the default first."""
    return list(_REGISTRY)


def plain_fields(widths: list[int] | tuple[int, ...]) -> dict[str, tuple]:
    """bottleneck_ratios and group_widths of a spec whose block takes only widths (b = 1, one group)."""
    return {"bottleneck_ratios": (1,) * len(widths), "group_widths": tuple(widths)}


for _module in (bottleneck, vanilla, res_basic):
    register(_module.BLOCK)

__all__ = ["DEFAULT", "BlockType", "get", "names", "plain_fields", "register"]
