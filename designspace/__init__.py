"""designspace: the design-space methodology of "Designing Network Design Spaces" (RegNet).

configs -> samples -> results -> analysis. `NetSpec` describes one network; `complexity` counts it
exactly; `regnet_spec` generates RegNets; `zoo` holds the published models; `build_model` builds the torch
network (torch is imported on first use); `export` takes a spec and its weights to pycls and timm;
`demo_sweeps` samples and trains small sweeps for a first look (the notebooks).
`python -m designspace` lists the commands.
"""

from __future__ import annotations

from typing import Any

from designspace.net import (
    Complexity,
    NetSpec,
    complexity,
    complexity_arrays,
    complexity_frame,
    export,
    make_compatible,
    regnet_spec,
    regnet_widths,
    zoo,
)

__version__ = "0.1.0"
_TORCH = ("AnyNet", "build_model")
_LAZY = {"demo_sweeps": "designspace.cli.demo"}  # imports the training stack
__all__ = [
    "Complexity", "NetSpec", "complexity", "complexity_arrays", "complexity_frame", "export",
    "make_compatible", "regnet_spec", "regnet_widths", "zoo", *_TORCH, *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        import designspace.net

        return getattr(designspace.net, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
