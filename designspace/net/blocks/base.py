"""What every block file uses: `BlockType`, the cost of one conv / BN (exact, vectorized), the torch conv-BN pair.

Counting rules (design-spec section 2): a flop is one multiply-add; a k x k conv producing c_out channels of
h_out x h_out, each output seeing c_in_per_group inputs, costs k*k*c_in_per_group*c_out*h_out^2 flops
(+ c_out*h_out^2 for a bias); BN has 2*c params and no flops; acts are the output elements of every conv.
Every function works on Python ints (one network) and on NumPy int64 arrays (many networks) alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Cost = tuple  # (flops, params, acts): plain tuples, so one network costs microseconds


@dataclass(frozen=True)
class BlockType:
    """A block type: its exact vectorized cost and its torch module, side by side in one file.

    - cost(w_in, w, h_in, stride, *, b, g, se_ratio, rnd) -> (flops, params, acts) of ONE block with input
      width w_in and size h_in, output width w; arguments are ints or NumPy arrays of shape (n,) (one value
      per network); rnd rounds half-to-even (int or array).
    - build(w_in, w, stride, *, b, g, se_ratio) -> the torch module (torch is imported only here). A residual
      block's module has a `last_bn` attribute (the BN before the add) for zero-init.
    - validate(spec) raises ValueError for per-stage values the block cannot take.
    - compatible(widths, b, g) -> (widths, b, g) arrays the block accepts (the App. D rule, or b = 1, g = w).
    - cells(w_in, w, b, g, se_ratio) -> the strings describe shows under b, group_w, groups, se_w.
    - widths_only: the block ignores b, g and SE (plain convs: b = 1, group width = width, one group).
    """

    name: str
    summary: str
    cost: Callable[..., Cost]
    build: Callable[..., Any]
    validate: Callable[[Any], None]
    compatible: Callable[[Any, Any, Any], tuple[Any, Any, Any]]
    cells: Callable[..., tuple[str, str, str, str]]
    widths_only: bool = False


def total(*parts: Cost) -> Cost:
    """Sum of (flops, params, acts) triples."""
    f = p = a = 0
    for cf, cp, ca in parts:
        f, p, a = f + cf, p + cp, a + ca
    return (f, p, a)


def scale(cx: Cost, k: Any) -> Cost:
    """k copies of a part (k may be an array: one count per network)."""
    return (cx[0] * k, cx[1] * k, cx[2] * k)


def conv(c_in_per_group: Any, c_out: Any, k: int, h_out: Any, bias: bool = False) -> Cost:
    """A k x k conv producing c_out channels of h_out x h_out, each seeing c_in_per_group inputs."""
    hw = h_out * h_out
    params = k * k * c_in_per_group * c_out
    if bias:
        return (params * hw + c_out * hw, params + c_out, c_out * hw)
    return (params * hw, params, c_out * hw)


def bn(c: Any) -> Cost:
    """BatchNorm over c channels: scale and shift, no flops, no acts."""
    return (0, 2 * c, 0)


def out_size(h_in: Any, stride: Any) -> Any:
    """Output size of a conv with padding (k-1)//2: (h - 1) // s + 1."""
    return (h_in - 1) // stride + 1


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> list[Any]:
    """[Conv2d (no bias, padding (k-1)//2), BatchNorm2d] - the torch side of `conv` + `bn`."""
    from torch import nn

    layer = nn.Conv2d(c_in, c_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=False)
    return [layer, nn.BatchNorm2d(c_out)]


def export(module: str, *classes: type) -> dict[str, type]:
    """Name classes built inside a function as module-level ones (so pickle and reprs find them)."""
    for cls in classes:
        cls.__module__, cls.__qualname__ = module, cls.__name__
    return {cls.__name__: cls for cls in classes}


def lazy_classes(module: str, make: Callable[[], dict[str, type]], *names: str) -> Callable[[str], Any]:
    """A module `__getattr__` giving the torch classes `names`, which `make()` defines on first use: no torch at
    import, nor when the import system probes other attributes."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return make()[name]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def two_convs(w_in: Any, w: Any, h_out: Any) -> Cost:
    """Cost of 3x3 conv w_in->w + BN, then 3x3 conv w->w + BN, at output size h_out (the V and R blocks' body)."""
    return total(conv(w_in, w, 3, h_out), bn(w), conv(w, w, 3, h_out), bn(w))


# --- blocks that take only widths (plain convs): b = 1, group width = width, no SE -----------------------------
def validate_widths_only(spec: Any, block: str) -> None:
    """Reject b != 1, group width != width and SE for a block that takes only widths."""
    if spec.se_ratio:
        raise ValueError(f"NetSpec.se_ratio={spec.se_ratio:g}: block {block!r} has no squeeze-excitation; use 0")
    for i, (w, b, g) in enumerate(zip(spec.widths, spec.bottleneck_ratios, spec.group_widths)):
        if b != 1:
            raise ValueError(f"NetSpec.bottleneck_ratios[{i}]={b:g} must be 1: block {block!r} takes only widths")
        if g != w:
            raise ValueError(f"NetSpec.group_widths[{i}]={g} must equal widths[{i}]={w}: block {block!r} uses "
                             "plain convs (one group); see designspace.net.blocks.plain_fields")


def compatible_widths_only(widths: Any, bottleneck_ratios: Any, group_widths: Any) -> tuple[Any, Any, Any]:
    """Widths unchanged (no compatibility rounding), b = 1, group width = width."""
    import numpy as np

    w = np.asarray(widths).astype(np.int64)
    return w.copy(), np.ones(w.shape, dtype=np.float64), w.copy()


def cells_widths_only(w_in: int, w: int, b: float, g: int, se_ratio: float) -> tuple[str, str, str, str]:
    return ("-", "-", "-", "-")
