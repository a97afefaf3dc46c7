"""PyTorch networks built from a `designspace.spec.NetSpec`."""

from models.anynet import AnyNet, Bottleneck, ResBasic, SqueezeExcite, Stem, Vanilla, build_model

__all__ = ["AnyNet", "Bottleneck", "ResBasic", "SqueezeExcite", "Stem", "Vanilla", "build_model"]
