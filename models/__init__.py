"""PyTorch networks built from a `designspace.spec.NetSpec`."""

from models.anynet import AnyNet, Bottleneck, SqueezeExcite, Stem, build_model

__all__ = ["AnyNet", "Bottleneck", "SqueezeExcite", "Stem", "build_model"]
