"""designspace: the design-space methodology of "Designing Network Design Spaces" (RegNet).

configs -> samples -> results -> analysis. `NetSpec` describes one network; `complexity` counts it
exactly; `regnet_spec` generates RegNets; `zoo` holds the published models.
"""

from designspace.net import (
    Complexity,
    NetSpec,
    complexity,
    complexity_arrays,
    complexity_frame,
    make_compatible,
    regnet_spec,
    regnet_widths,
)

__version__ = "0.1.0"
__all__ = [
    "Complexity", "NetSpec", "complexity", "complexity_arrays", "complexity_frame",
    "make_compatible", "regnet_spec", "regnet_widths",
]
