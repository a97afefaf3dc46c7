"""Vectorized candidate draws for a design space: uniforms (m, k) -> networks (m, S).

Each candidate consumes exactly `n_uniforms` uniforms (one per value drawn, inverse CDF), so a
stream of candidates does not depend on how it is cut into batches: the sampled table is a pure
function of the seed, and a longer table extends a shorter one.

AnyNet: parameters are drawn per stage or once (shared). Compatibility is applied to every
candidate; order constraints are judged on the final network. Two orders are sampled exactly
instead of by rejection (design-spec section 8):

- non-decreasing depths: backward messages over the depth pmf (compatibility leaves d alone);
- non-decreasing widths, when b and g are drawn once per model: compatibility is then one
  monotone map f_{b,g} for all stages, so the final widths are independent draws from the
  push-forward pmf p_f(v) = sum_{f(w) = v} p(w). (b, g) is drawn with weight p(b) p(g) Z(b, g),
  Z = P(final widths ordered | b, g); the ordered final widths by messages over p_f; each raw
  width from its preimage in proportion to p(w). This is exactly the base law conditioned on
  the final order (conditioning on the raw order would not be: rounding can order a raw-unordered
  tuple). Other orders fall back to plain rejection, which is exact too.

RegNet: (depth, w0, wa, wm, b, g) -> `regnet_widths_batch`; a candidate is valid when it has
exactly `num_stages` stages with no skipped exponent (distinct widths == max exponent + 1).

"Compatibility" is the space's block's (`designspace.net.blocks`): the App. D rule for the bottleneck
block; for a block that takes only widths, widths unchanged, b = 1, group width = width, and no raw
b or g in the batch (the space fixes them at 1; they are not sampled parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from designspace.net import blocks
from designspace.net.regnet import regnet_widths_batch
from designspace.net.regnet_stages import has_stages
from designspace.space.distributions import Chain, PushForward
from designspace.space.schema import Space


@dataclass
class Batch:
    """m candidates: raw draws by parameter ((m,) or (m, S)), final per-stage arrays, validity."""

    raw: dict[str, np.ndarray]
    depths: np.ndarray
    widths: np.ndarray
    ratios: np.ndarray
    groups: np.ndarray
    valid: np.ndarray

    def take(self, idx: np.ndarray) -> Batch:
        return type(self)({k: v[idx] for k, v in self.raw.items()}, self.depths[idx], self.widths[idx],
                          self.ratios[idx], self.groups[idx], self.valid[idx])


class _Layout:
    def __init__(self) -> None:
        self.cols: dict[str, slice] = {}
        self.size = 0

    def add(self, name: str, count: int) -> None:
        self.cols[name] = slice(self.size, self.size + count)
        self.size += count


class AnyNetDraws:
    """Candidate generator for the AnyNet family (per-stage d, w, b, g).

    `order_mass` is the base probability of the orders sampled exactly: a candidate's acceptance
    rate times it is the acceptance rate plain independent draws would have.
    """

    def __init__(self, space: Space) -> None:
        self.space, S = space, space.num_stages
        block = blocks.get(space.block)
        self.compatible, self.widths_only = block.compatible, block.widths_only
        p, nd = space.parameters, space.non_decreasing
        self.per_stage = {k: not space.is_shared(k) for k in ("d", "w", "b", "g")}
        self.ordered_d = "d" in nd and self.per_stage["d"]
        self.ordered_w = "w" in nd and self.per_stage["w"] and not (self.per_stage["b"] or self.per_stage["g"])
        lay = self.layout = _Layout()
        lay.add("d", S if self.per_stage["d"] else 1)
        if self.ordered_w:
            lay.add("bg", 1)
            lay.add("w", S)
            lay.add("w_raw", S)
        else:
            for k in ("w", "b", "g"):
                lay.add(k, S if self.per_stage[k] else 1)
        self.n_uniforms = lay.size
        mass = 1.0
        if self.ordered_d:
            self.d_chain = Chain(p["d"].pmf, S)
            mass *= self.d_chain.mass
        if self.ordered_w:
            w, b, g = p["w"], p["b"], p["g"]
            self.pushes, self.chains, weights = [], [], []
            for bi, bv in enumerate(b.values):
                for gi, gv in enumerate(g.values):
                    image, _, _ = self.compatible(w.values, np.full(w.size, bv), np.full(w.size, gv))
                    push = PushForward.of(w.pmf, image)
                    chain = Chain(push.pmf, S)
                    self.pushes.append(push)
                    self.chains.append(chain)
                    weights.append(b.pmf[bi] * g.pmf[gi] * chain.mass)
            weights = np.array(weights)
            mass *= weights.sum()
            self.combo_cdf = np.cumsum(weights) / weights.sum()
            self.combo_cdf[-1] = 1.0
        self.order_mass = float(mass)

    def _per_stage(self, name: str, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw draw, (m, S) per-stage values) for an independently drawn parameter."""
        grid = self.space.parameters[name]
        vals = grid.draw(u[:, self.layout.cols[name]])
        full = vals if self.per_stage[name] else np.repeat(vals, self.space.num_stages, axis=1)
        return (vals if self.per_stage[name] else vals[:, 0]), full

    def draw(self, u: np.ndarray) -> Batch:
        p, S, cols = self.space.parameters, self.space.num_stages, self.layout.cols
        raw: dict[str, np.ndarray] = {}
        if self.ordered_d:
            depths = raw["d"] = p["d"].values[self.d_chain.draw(u[:, cols["d"]])]
        else:
            raw["d"], depths = self._per_stage("d", u)
        if self.ordered_w:
            b_raw, g_raw, w_raw = self._ordered_widths(u)
            raw.update(w=w_raw, b=b_raw, g=g_raw)
            b_full, g_full = np.repeat(b_raw[:, None], S, 1), np.repeat(g_raw[:, None], S, 1)
        else:
            raw["w"], w_raw = self._per_stage("w", u)
            raw["b"], b_full = self._per_stage("b", u)
            raw["g"], g_full = self._per_stage("g", u)
        widths, ratios, groups = self.compatible(w_raw, b_full, g_full)
        if self.widths_only:
            del raw["b"], raw["g"]
        valid = np.ones(len(u), dtype=bool)
        for name in self.space.non_decreasing:
            final = depths if name == "d" else widths
            valid &= (np.diff(final, axis=1) >= 0).all(axis=1)
        return Batch(raw, depths, widths, ratios, groups, valid)

    def _ordered_widths(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, cols = self.space.parameters, self.layout.cols
        b, g, w = p["b"], p["g"], p["w"]
        combo = np.minimum(np.searchsorted(self.combo_cdf, u[:, cols["bg"].start], side="right"),
                           len(self.combo_cdf) - 1)
        w_raw = np.empty((len(u), self.space.num_stages), dtype=w.values.dtype)
        for c in np.unique(combo):
            rows = np.flatnonzero(combo == c)
            final = self.chains[c].draw(u[rows][:, cols["w"]])
            w_raw[rows] = w.values[self.pushes[c].raw_index(final, u[rows][:, cols["w_raw"]])]
        return b.values[combo // g.size], g.values[combo % g.size], w_raw


class RegNetDraws:
    """Candidate generator for the RegNet family (depth, w0, wa, wm, b, g)."""

    NAMES = ("depth", "w0", "wa", "wm", "b", "g")
    order_mass = 1.0

    def __init__(self, space: Space) -> None:
        self.space = space
        self.n_uniforms = len(self.NAMES)
        block = blocks.get(space.block)
        self.compatible, self.widths_only = block.compatible, block.widths_only

    def draw(self, u: np.ndarray) -> Batch:
        p, S, m = self.space.parameters, self.space.num_stages, len(u)
        raw = {k: p[k].draw(u[:, i]) for i, k in enumerate(self.NAMES)}
        depths = np.ones((m, S), dtype=np.int64)
        widths = np.full((m, S), self.space.width_quantum, dtype=np.int64)
        # Cheap exact pre-test (O(S) per candidate); the generator itself has the last word.
        valid = has_stages(raw["depth"], raw["w0"], raw["wa"], raw["wm"], S, self.space.width_quantum)
        rows = np.flatnonzero(valid)
        if len(rows):
            gen = regnet_widths_batch(raw["depth"][rows], raw["w0"][rows], raw["wa"][rows], raw["wm"][rows],
                                      self.space.width_quantum)
            ok = (gen.num_stages == S) & (gen.num_exponents == S) & ~gen.skips_exponent
            valid[rows] = ok
            if ok.any():
                depths[rows[ok]] = gen.stage_depths[ok][:, :S]
                widths[rows[ok]] = gen.stage_widths[ok][:, :S]
        b_full = np.repeat(raw["b"][:, None], S, 1)
        g_full = np.repeat(raw["g"][:, None], S, 1)
        widths, ratios, groups = self.compatible(widths, b_full, g_full)
        if self.widths_only:
            del raw["b"], raw["g"]
        return Batch(raw, depths, widths, ratios, groups, valid)


def draws_for(space: Space) -> AnyNetDraws | RegNetDraws:
    return RegNetDraws(space) if space.family == "regnet" else AnyNetDraws(space)
