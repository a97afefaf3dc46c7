"""The RegNet generator: quantized linear per-block widths (design-spec section 4).

u_j = w0 + wa * j; k_j = round(ln(u_j / w0) / ln(wm)); w_j = q * round(w0 * wm**k_j / q), all
rounding half-to-even. Runs of equal w_j form the stages. `regnet_widths_batch` does this for
many parameter vectors at once (blocks padded to the largest depth and masked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from designspace.net.blocks.bottleneck import make_compatible
from designspace.net.regnet_stages import exponent
from designspace.net.spec import NetSpec

QUANTUM = 8


@dataclass(frozen=True)
class RegNetWidths:
    """What the generator produced for one (depth, w0, wa, wm)."""

    block_widths: tuple[int, ...]
    exponents: tuple[int, ...]
    stage_widths: tuple[int, ...]
    stage_depths: tuple[int, ...]

    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    @property
    def skips_exponent(self) -> bool:
        """True if the exponents k_j jump by more than one between consecutive blocks."""
        return any(b - a > 1 for a, b in zip(self.exponents, self.exponents[1:]))


@dataclass(frozen=True)
class RegNetBatch:
    """Generator output for n parameter vectors, stages padded to `max_stages` with zeros."""

    stage_widths: np.ndarray  # (n, max_stages) int64, 0 where a model has fewer stages
    stage_depths: np.ndarray  # (n, max_stages) int64
    num_stages: np.ndarray  # (n,) int64: number of runs of equal block widths
    num_exponents: np.ndarray  # (n,) int64: number of distinct k_j
    skips_exponent: np.ndarray  # (n,) bool


def validate_regnet_params(depth: Any, w0: Any, wa: Any, wm: Any, q: int = QUANTUM) -> None:
    """Raise ValueError naming the first invalid generator parameter (scalars or arrays)."""
    depth, w0, wa, wm = (np.asarray(x) for x in (depth, w0, wa, wm))
    checks = [
        ("depth", depth, (depth >= 1) & (depth == np.floor(depth)), "a whole number >= 1"),
        ("w0", w0, (w0 > 0) & (np.mod(w0, q) == 0), f"a positive multiple of {q}"),
        ("wa", wa, np.isfinite(wa) & (wa >= 0), ">= 0"),
        ("wm", wm, np.isfinite(wm) & (wm > 1), "> 1"),
    ]
    for name, value, ok, rule in checks:
        ok = np.asarray(ok)
        if not ok.all():
            bad = value.flat[int(np.flatnonzero(~ok.ravel())[0])] if value.ndim else value
            raise ValueError(f"RegNet parameter {name}={bad!r} must be {rule}")


def _block_widths(depth: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, q: int):
    """Per-block exponents and widths, shape (n, max_depth); padded blocks are masked out."""
    j = np.arange(int(depth.max()))[None, :]
    mask = j < depth[:, None]
    k = exponent(j, w0[:, None], wa[:, None], wm[:, None])  # the one copy of the generator's formula
    w = q * np.round(w0[:, None] * np.power(wm[:, None], k) / q)
    return k.astype(np.int64), w.astype(np.int64), mask


def regnet_widths_batch(depth: Any, w0: Any, wa: Any, wm: Any, q: int = QUANTUM) -> RegNetBatch:
    """Run the generator on arrays of parameters (shape (n,)), vectorized over models."""
    depth, w0, wa, wm = np.broadcast_arrays(*(np.atleast_1d(np.asarray(x)) for x in (depth, w0, wa, wm)))
    validate_regnet_params(depth, w0, wa, wm, q)
    depth = depth.astype(np.int64)
    w0, wa, wm = (x.astype(np.float64) for x in (w0, wa, wm))
    k, w, mask = _block_widths(depth, w0, wa, wm, q)
    n, max_d = w.shape
    # A new stage starts at block 0 and wherever the width changes (within the model's depth).
    starts = np.ones_like(mask)
    starts[:, 1:] = w[:, 1:] != w[:, :-1]
    starts &= mask
    stage_idx = np.cumsum(starts, axis=1) - 1  # stage of each block
    num_stages = starts.sum(axis=1)
    max_s = int(num_stages.max())
    rows = np.broadcast_to(np.arange(n)[:, None], (n, max_d))
    widths = np.zeros((n, max_s), dtype=np.int64)
    depths = np.zeros((n, max_s), dtype=np.int64)
    widths[rows[mask], stage_idx[mask]] = w[mask]
    np.add.at(depths, (rows[mask], stage_idx[mask]), 1)
    k_steps = np.diff(k, axis=1) * mask[:, 1:]
    num_exponents = 1 + (k_steps > 0).sum(axis=1)
    skips = (k_steps > 1).any(axis=1)
    return RegNetBatch(widths, depths, num_stages, num_exponents, skips)


def regnet_widths(depth: int, w0: float, wa: float, wm: float, q: int = QUANTUM) -> RegNetWidths:
    """Per-block widths, exponents and the stages they form for one parameter vector."""
    validate_regnet_params(depth, w0, wa, wm, q)
    k, w, _ = _block_widths(
        np.array([int(depth)]), np.array([float(w0)]), np.array([float(wa)]), np.array([float(wm)]), q
    )
    blocks = tuple(int(x) for x in w[0])
    stage_widths: list[int] = []
    stage_depths: list[int] = []
    for x in blocks:
        if stage_widths and stage_widths[-1] == x:
            stage_depths[-1] += 1
        else:
            stage_widths.append(x)
            stage_depths.append(1)
    return RegNetWidths(blocks, tuple(int(x) for x in k[0]), tuple(stage_widths), tuple(stage_depths))


def regnet_spec(
    depth: int,
    w0: float,
    wa: float,
    wm: float,
    group_width: int,
    bottleneck_ratio: float = 1,
    se_ratio: float = 0.0,
    **netspec_fields: Any,
) -> NetSpec:
    """The `NetSpec` of a RegNet: generated stage widths, made compatible with (b, g).

    Extra keyword arguments (stem_width, stem_stride, num_classes, in_channels) go to NetSpec.
    """
    if not (isinstance(group_width, (int, np.integer)) and group_width >= 1):
        raise ValueError(f"RegNet parameter group_width={group_width!r} must be an integer >= 1")
    if not (np.isfinite(bottleneck_ratio) and bottleneck_ratio > 0):
        raise ValueError(f"RegNet parameter bottleneck_ratio={bottleneck_ratio!r} must be > 0")
    gen = regnet_widths(depth, w0, wa, wm)
    s = gen.num_stages
    widths, brs, gws = make_compatible(gen.stage_widths, [bottleneck_ratio] * s, [group_width] * s)
    return NetSpec(gen.stage_depths, widths, brs, gws, se_ratio=se_ratio, **netspec_fields)
