"""The network stage: `NetSpec` (spec), the block types (blocks/), the RegNet generator and its inverse
(regnet, regnet_stages, widthfit), the published models (zoo), the exact counter (complexity), the
stage table (describe) and the torch network built from a spec (anynet, imported on first use).

Nothing here imports torch until a network is built: `build_model` and `AnyNet` load `anynet` lazily.
"""

from __future__ import annotations

from typing import Any

from designspace.net import export, zoo
from designspace.net.blocks.bottleneck import make_compatible
from designspace.net.complexity import Complexity, complexity, complexity_arrays, complexity_frame
from designspace.net.regnet import regnet_spec, regnet_widths
from designspace.net.spec import NetSpec

_TORCH = ("AnyNet", "build_model")

__all__ = ["Complexity", "NetSpec", "complexity", "complexity_arrays", "complexity_frame", "export",
           "make_compatible", "regnet_spec", "regnet_widths", "zoo", *_TORCH]


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from designspace.net import anynet

        return getattr(anynet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
