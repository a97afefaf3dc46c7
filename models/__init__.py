"""Deprecated: the torch networks moved to `designspace.net.anynet` (`from designspace.net import build_model`).

This shim keeps `from models import build_model` working from a checkout for one release; it is not installed
(a package named `models` in site-packages would shadow everyone else's)."""

import warnings

from designspace.net.anynet import AnyNet, Bottleneck, ResBasic, SqueezeExcite, Stem, Vanilla, build_model

warnings.warn("`models` is deprecated: use `designspace.net.anynet` (from designspace.net import build_model)",
              DeprecationWarning, stacklevel=2)

__all__ = ["AnyNet", "Bottleneck", "ResBasic", "SqueezeExcite", "Stem", "Vanilla", "build_model"]
