"""Draw n models from a design space inside a complexity budget: `sample(space, n, seed, budget)`.

    python -m designspace.sample space=anynetx_c n=500 [seed=0] [budget=400mf] [out=PATH.parquet|.csv]
                                 [sweep_dir=DIR] [budget.flops=[3.6e8,4e8]] [budget.resolution=32]

The law is exactly the space's base distribution conditioned on its constraints and the budget
(rejection semantics, judged on the final network after compatibility). Candidates are drawn in
vectorized batches (`designspace.space.candidates`), counted with `complexity_arrays`, filtered, and
the first n distinct networks in draw order are kept. Each candidate uses a fixed number of
uniforms from numpy's PCG64(seed), so the same seed gives the same table bit for bit, whatever
the batch sizes, and a table for n is the first n rows of the table for any larger n.

Table columns: model_id (= NetSpec.id), the sampled raw parameters (AnyNet: raw_d1.., raw_w1..,
raw_b1.., raw_g1.. per stage, or d/w/b/g when drawn once; RegNet: depth, w0, wa, wm, b, g), the
`NetSpec.to_row()` columns (d1.., w1.., b1.., g1.., num_stages, se_ratio, stem_width, stem_stride,
num_classes, in_channels), then flops, params, acts and total_depth. A space with a non-default
block (``block: res_basic``) adds a `block` column after in_channels, and its budget is judged with
that block's cost; a block that takes only widths has no raw b or g columns (b = 1, g = w).
With `hparams` (`designspace.space.hparams`), the sampled schedule keys follow as columns (lr, weight_decay, ...)
and each row's model_id is that of its network and its values; without, the table is exactly as before.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from designspace.net import blocks
from designspace.net.complexity import complexity_arrays
from designspace.net.spec import SCALAR_FIELDS, NetSpec, stage_columns
from designspace.net.widthfit import fit_regnet_many
from designspace.space.budgets import Budget, load_budget
from designspace.space.candidates import Batch, draws_for
from designspace.space.hparams import HparamLaw, add_hparams, hparam_columns, parse_laws
from designspace.space.schema import FIT_BOUNDS, Space
from designspace.space.spaces import load
from designspace.util.tables import text_table

if TYPE_CHECKING:
    import pandas as pd


MAX_DRAWS = 20_000_000
MIN_BATCH = 4096
METRICS = ("flops", "params", "acts")


class SamplingError(RuntimeError):
    """The budget (with the space's constraints) is met too rarely to find n models."""


@dataclass
class SampleResult:
    frame: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def spec_of(row: Mapping[str, Any]) -> NetSpec:
    """The `NetSpec` of a sampled row (any mapping or pandas Series with the to_row columns)."""
    return NetSpec.from_row(row)


def raw_columns(space: Space) -> list[str]:
    """Names of the sampled raw-parameter columns of `space`'s tables."""
    drawn = ("b", "g") if not blocks.get(space.block).widths_only else ()
    if space.family == "regnet":
        return ["depth", "w0", "wa", "wm", *drawn]
    S = space.num_stages
    return [c for k in ("d", "w", *drawn)
            for c in ([f"raw_{k}{i}" for i in range(1, S + 1)] if not space.is_shared(k) else [k])]


def columns(space: Space) -> list[str]:
    """All columns of a sampled table, in order."""
    net = [c for names in stage_columns(space.num_stages).values() for c in names]
    block = ["block"] if space.block != blocks.DEFAULT else []
    return ["model_id", *raw_columns(space), *net, "num_stages", *SCALAR_FIELDS, *block, *METRICS, "total_depth"]


class _Accepted:
    """Accepted candidates in draw order, up to n; with `unique`, repeated networks are dropped."""

    def __init__(self, n: float, unique: bool = True) -> None:
        self.n, self.unique = n, unique
        self.seen: set[bytes] = set()
        self.parts: list[tuple[Batch, dict[str, np.ndarray]]] = []
        self.count = self.duplicates = 0

    def add(self, batch: Batch, metrics: dict[str, np.ndarray]) -> None:
        if self.unique:
            keys = np.concatenate([batch.depths, batch.widths, batch.ratios.view(np.int64), batch.groups], axis=1)
            keys = np.ascontiguousarray(keys)
            keys = keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
            keep = []
            for i, key in enumerate(keys.tolist()):
                if self.count + len(keep) >= self.n:
                    break
                if key in self.seen:
                    self.duplicates += 1
                    continue
                self.seen.add(key)
                keep.append(i)
            idx = np.array(keep, dtype=np.int64)
        else:
            idx = np.arange(min(len(batch.valid), self.n - self.count), dtype=np.int64)
        if len(idx):
            self.parts.append((batch.take(idx), {k: v[idx] for k, v in metrics.items()}))
            self.count += len(idx)


def within(values: np.ndarray, band: tuple[float | None, float | None]) -> np.ndarray:
    """Which values lie in the inclusive band [low, high] (None: open on that side)."""
    ok = np.ones(len(values), dtype=bool)
    if band[0] is not None:
        ok &= values >= band[0]
    if band[1] is not None:
        ok &= values <= band[1]
    return ok


def judge(space: Space, budget: Budget, batch: Batch) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Indices of the candidates meeting every constraint and the budget, and their metrics."""
    idx = np.flatnonzero(batch.valid)
    total_depth = batch.depths[idx].sum(axis=1)
    if "total_depth" in space.bounds:
        keep = within(total_depth, space.bounds["total_depth"])
        idx, total_depth = idx[keep], total_depth[keep]
    cx = complexity_arrays(
        batch.depths[idx], batch.widths[idx], batch.ratios[idx], batch.groups[idx],
        se_ratio=space.se_ratio, stem_width=space.stem_width, stem_stride=budget.stem_stride,
        num_classes=budget.num_classes, in_channels=budget.in_channels, resolution=budget.resolution,
        block=space.block,
    )
    metrics = {"flops": cx.flops, "params": cx.params, "acts": cx.acts, "total_depth": total_depth}
    keep = np.ones(len(idx), dtype=bool)
    for m in METRICS:
        keep &= within(metrics[m], budget.band(m))
        if m in space.bounds:
            keep &= within(metrics[m], space.bounds[m])
    if space.scaled_max:
        gf = budget.regime if budget.regime is not None else metrics["flops"] / 1e9
        for m, rule in space.scaled_max.items():
            keep &= metrics[m] < rule.limit(gf)
    for name in space.non_increasing:  # judged on the final network, by rejection (exact)
        keep &= (np.diff((batch.depths if name == "d" else batch.widths)[idx], axis=1) <= 0).all(axis=1)
    fit_bounds = [k for k in FIT_BOUNDS if k in space.bounds]
    if fit_bounds and keep.any():  # the quantized-linear fit, only for the candidates still in

        rows = np.flatnonzero(keep)
        fits = fit_regnet_many([np.repeat(w, d) for d, w in zip(batch.depths[idx[rows]], batch.widths[idx[rows]])])
        for k in fit_bounds:
            keep[rows] &= within(fits[k.removeprefix("fit_")].to_numpy(dtype=np.float64), space.bounds[k])
    return idx[keep], {k: v[keep] for k, v in metrics.items()}


def network_columns(space: Space, budget: Budget, final: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The table columns of networks of `space` given their final per-stage arrays (`final`: depths, widths,
    bottleneck_ratios, group_widths, each (n, S)): the stage columns, num_stages, the scalars the budget sets, the
    block when not the default, and model_id (`NetSpec.id`)."""
    S = space.num_stages
    n = len(final["depths"])
    table: dict[str, Any] = {}
    for name, cols in stage_columns(S).items():
        table.update({c: final[name][:, i] for i, c in enumerate(cols)})
    scalars = {"se_ratio": space.se_ratio, "stem_width": space.stem_width, "stem_stride": budget.stem_stride,
               "num_classes": budget.num_classes, "in_channels": budget.in_channels}
    table["num_stages"] = np.full(n, S, dtype=np.int64)
    for k, v in scalars.items():
        table[k] = np.full(n, v, dtype=np.float64 if k == "se_ratio" else np.int64)
    if space.block != blocks.DEFAULT:
        table["block"] = [space.block] * n
    keys = ("depths", "widths", "bottleneck_ratios", "group_widths")
    table["model_id"] = [NetSpec(d, w, b, g, **scalars, block=space.block).id
                         for d, w, b, g in zip(*(final[k].tolist() for k in keys))]
    return table


def _frame(space: Space, budget: Budget, acc: _Accepted) -> pd.DataFrame:
    import pandas as pd

    S = space.num_stages
    batches = [b for b, _ in acc.parts]

    def cat(get: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.concatenate([get(b) for b in batches]).astype(dtype) if batches else np.empty(shape, dtype)

    table: dict[str, Any] = {}
    for key in ("depth", "w0", "wa", "wm", "d", "w", "b", "g"):
        if batches and key in batches[0].raw:
            arr = cat(lambda b, k=key: b.raw[k], (0,), batches[0].raw[key].dtype)
            if arr.ndim == 2:
                table.update({f"raw_{key}{i + 1}": arr[:, i] for i in range(S)})
            else:
                table[key] = arr
    final = {
        "depths": cat(lambda b: b.depths, (0, S), np.int64),
        "widths": cat(lambda b: b.widths, (0, S), np.int64),
        "bottleneck_ratios": cat(lambda b: b.ratios, (0, S), np.float64),
        "group_widths": cat(lambda b: b.groups, (0, S), np.int64),
    }
    table.update(network_columns(space, budget, final))
    for k in (*METRICS, "total_depth"):
        table[k] = np.concatenate([m[k] for _, m in acc.parts]).astype(np.int64) if acc.parts else np.empty(0, np.int64)
    if not batches:
        table.update({c: np.empty(0) for c in raw_columns(space)})
    return pd.DataFrame(table)[columns(space)]


def draw(
    space: str | os.PathLike | Mapping[str, Any] | Space,
    n: int,
    seed: int = 0,
    budget: str | os.PathLike | Mapping[str, Any] | Budget | None = "400mf",
    *,
    max_draws: int = MAX_DRAWS,
    progress: bool = False,
    max_batch: int | None = None,
    hparams: Mapping[str, Any] | Sequence[HparamLaw] | None = None,
) -> SampleResult:
    """`sample` plus the run's statistics (draws, acceptance rate, duplicates, time).

    `max_batch` caps the candidates drawn at once (memory); the table does not depend on it. `hparams`: schedule
    keys drawn per model (`designspace.space.hparams.parse_laws`: ``{"lr": [0.05, 0.8]}``); the architecture's
    draws do not depend on them.
    """
    space, budget = load(space), load_budget(budget)
    laws = parse_laws(hparams)
    for name, value in (("n", n), ("max_draws", max_draws), ("max_batch", max_batch or 1)):
        _whole(name, value)
    _whole("seed", seed, minimum=0)
    start = time.perf_counter()
    gen = draws_for(space)
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    cap = max_batch or _default_batch(space)
    acc = _Accepted(int(n))
    drawn = accepted = 0
    bar = _progress(int(n), progress)
    try:
        while acc.count < n:
            if drawn >= max_draws or _hopeless(acc.count, n, drawn, max_draws):
                raise SamplingError(_failure(space, budget, n, acc, drawn, accepted, max_draws))
            rate = (acc.count + 1) / (drawn + 1) if drawn else 0.02
            m = int(min(cap, max_draws - drawn, max(MIN_BATCH, math.ceil(1.25 * (n - acc.count) / rate))))
            batch = gen.draw(rng.random((m, gen.n_uniforms)))
            idx, metrics = judge(space, budget, batch)
            drawn += m
            accepted += len(idx)
            before = acc.count
            acc.add(batch.take(idx), metrics)
            if bar is not None:
                bar.update(acc.count - before)
    finally:
        if bar is not None:
            bar.close()
    frame = add_hparams(_frame(space, budget, acc), laws, int(seed))
    seconds = time.perf_counter() - start
    rate = accepted / drawn
    stats = {
        "space": space.name, "budget": budget.name, "n": int(n), "seed": int(seed), "draws": drawn,
        "accepted": accepted, "duplicates": acc.duplicates, "acceptance_rate": rate,
        "order_mass": gen.order_mass, "base_acceptance_rate": rate * gen.order_mass,
        "seconds": seconds, "models_per_second": n / seconds if seconds > 0 else float("inf"),
        "hparams": [law.describe() for law in laws],
    }
    return SampleResult(frame, stats)  # (not in frame.attrs: parquet would store the timings)


def accepted(
    space: str | os.PathLike | Mapping[str, Any] | Space,
    draws: int,
    seed: int = 0,
    budget: str | os.PathLike | Mapping[str, Any] | Budget | None = "400mf",
) -> pd.DataFrame:
    """Every candidate among the first `draws` that meets the constraints and the budget, in draw
    order, repeats kept: an i.i.d. sample of the conditioned law (`sample` keeps the first n
    distinct rows of this stream)."""
    space, budget = load(space), load_budget(budget)
    _whole("draws", draws)
    _whole("seed", seed, minimum=0)
    gen = draws_for(space)
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    acc = _Accepted(math.inf, unique=False)
    for start in range(0, draws, _default_batch(space)):
        batch = gen.draw(rng.random((min(_default_batch(space), draws - start), gen.n_uniforms)))
        idx, metrics = judge(space, budget, batch)
        acc.add(batch.take(idx), metrics)
    return _frame(space, budget, acc)


def sample(
    space: str | os.PathLike | Mapping[str, Any] | Space,
    n: int,
    seed: int = 0,
    budget: str | os.PathLike | Mapping[str, Any] | Budget | None = "400mf",
    **kwargs: Any,
) -> pd.DataFrame:
    """n distinct models from `space` in `budget`, one row per model (see the module docstring).

    `space` and `budget` may be names, YAML paths, dicts (``{"name": "400mf", "resolution": 32}``
    overrides a named budget) or loaded objects. Keyword arguments: max_draws, progress, hparams.
    Raises SamplingError when n models cannot be found within max_draws candidates.
    """
    return draw(space, n, seed, budget, **kwargs).frame


def _whole(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be a whole number >= {minimum}")


def _default_batch(space: Space) -> int:
    """Candidates per batch at most: RegNet's per-block arrays are ~depth times wider."""
    return 1 << (16 if space.family == "regnet" else 18)


def _hopeless(found: int, n: int, drawn: int, max_draws: int) -> bool:
    """Even an optimistic rate (3 sigma above the observed one) cannot reach n within max_draws."""
    if drawn < min(1_000_000, max_draws // 20):
        return False
    optimistic = (found + 3 * math.sqrt(found) + 3) / drawn
    return found + optimistic * (max_draws - drawn) < n


def _failure(space: Space, budget: Budget, n: int, acc: _Accepted, drawn: int, accepted: int,
             max_draws: int) -> str:
    rate = accepted / drawn if drawn else 0.0
    lines = [
        f"too few models: found {acc.count} of {n} in {drawn:,} draws from space {space.name!r} "
        f"(acceptance rate {100 * rate:.4g}%"
        + (f", {acc.duplicates:,} repeated networks dropped" if acc.duplicates else "") + ")",
        f"budget {budget.describe()}",
    ]
    if acc.count:
        need = n / (acc.count / drawn)
        lines.append(f"At this rate {n} models need about {need:,.0f} draws; the limit is max_draws={max_draws:,}.")
    else:
        lines.append(f"No model met the budget; the limit is max_draws={max_draws:,}.")
    if acc.duplicates > acc.count:
        lines.append("Most accepted draws repeat a network: the budget may hold fewer than n distinct models.")
    lines.append("Widen the budget (e.g. budget.flops=[lo,hi]), choose another budget, lower n or raise max_draws.")
    return "\n".join(lines)


def _progress(n: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=n, desc="sampling", unit="model", disable=None, file=sys.stderr, leave=False)


# --- CLI -----------------------------------------------------------------------------------------
def summary(result: SampleResult, budget: Budget, where: str) -> str:
    """A one-screen account of a sampling run."""
    s, f = result.stats, result.frame
    lines = [
        f"{len(f)} models from {s['space']} in {budget.describe()}",
        f"  draws {s['draws']:,}, accepted {s['accepted']:,} (acceptance rate {100 * s['acceptance_rate']:.3g}%"
        + (f"; {100 * s['base_acceptance_rate']:.3g}% of plain independent draws, order constraints being "
           "sampled exactly" if s["order_mass"] < 1 else "") + ")",
        f"  repeated networks dropped: {s['duplicates']:,}",
        *(f"  sampled with each model: {h}" for h in s.get("hparams", ())),
        f"  time {s['seconds']:.2f} s ({s['models_per_second']:,.0f} models/s)",
        "",
    ]

    rows = []
    for col, scale, unit in (("flops", 1e6, "MF"), ("params", 1e6, "M"), ("acts", 1e6, "M"), ("total_depth", 1, "")):
        v = f[col].to_numpy() / scale
        fmt = ".2f" if scale != 1 else ".0f"
        rows.append([col.replace("total_", "") + (f" ({unit})" if unit else ""),
                     *(format(x, fmt) for x in (v.min(), np.median(v), v.max()))])
    for col in hparam_columns(f.columns):
        v = f[col].to_numpy(dtype=np.float64)
        rows.append([col, *(format(x, ".3g") for x in (v.min(), np.median(v), v.max()))])
    table = text_table(["", "min", "median", "max"], rows, fmt="plain")
    lines += ["  " + line for line in table.splitlines()]
    lines += ["", where]
    return "\n".join(lines)
