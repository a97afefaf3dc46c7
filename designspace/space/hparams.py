"""Training hyperparameters sampled with the design: per-model values of schedule keys, and the model id.

    python -m designspace.sample space=regnet n=40 hparams.lr=[0.05,0.8] hparams.weight_decay=[1e-5,1e-3]

draws each named schedule key once per model, beside the architecture, as pycls's sweep tool does
(`configs/sweeps/cifar/cifar_optim.yaml` samples OPTIM.BASE_LR and OPTIM.WEIGHT_DECAY), with pycls's laws:

- `log_uniform` (the default): exp(U(ln low, ln high)); with a quantum q, pycls's quantized form
  q * ceil(exp(U(ln(low - min(q, low/2)), ln high)) / q), on the grid {low, low + q, ..., high};
- `uniform`: U(low, high); with a quantum q, q * floor(U(low, high + q) / q).

A key is given as `[low, high]` (log-uniform) or `{range: [low, high], law: uniform, quantum: 0.01}`. Each key
has a random stream of its own (seeded by the sweep's seed and the key's place in `HPARAM_KEYS`), drawn in row
order: a key's values do not depend on which other keys are sampled, and the table for n is the first n rows of
the table for any larger n, as the architecture's is. Sampled values are columns named as the schedule keys,
after total_depth; the architecture columns and their law are untouched.

A model is what is trained: the network and these values. A row with sampled values has the id
`model_id(net_id, values)` - the first 12 hex digits of the SHA-1 of the canonical JSON
``{"hparams":{"lr":0.1,...},"net":"<NetSpec.id>"}`` (keys sorted, no spaces, floats as Python writes them) - so
two rows of one network at two learning rates never share an id; a row without any keeps its network's id
(`NetSpec.id`), so every sweep without sampled keys keeps its ids, records and tables.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from designspace.space.distributions import as_fraction
from designspace.util.usage import UserError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HPARAM_KEYS", "LAWS", "HparamLaw", "add_hparams", "draw_hparams", "hparam_columns", "model_id",
           "parse_laws", "row_hparams", "row_model_id"]

HPARAM_KEYS = ("lr", "weight_decay", "momentum", "final_lr_ratio", "warmup_factor", "label_smoothing", "ema_decay")
"""Schedule keys a sweep may sample per model: numbers whose valid range does not depend on another key, and that
a pack's members may differ in (not the data stream's batch size, subsets or precise-BN samples)."""
LAWS = ("log_uniform", "uniform")
STREAM = 0x68706172
"""Entropy word ("hpar") that keeps the hyperparameter streams apart from the architecture's."""


@dataclass(frozen=True)
class HparamLaw:
    """How one schedule key is drawn per model: `law` between `low` and `high`, on multiples of `quantum` if set."""

    key: str
    low: float
    high: float
    law: str = "log_uniform"
    quantum: float | None = None

    def __post_init__(self) -> None:
        what = f"hparams.{self.key}"
        if self.key not in HPARAM_KEYS:
            raise UserError(f"{what}: not a schedule key a sweep samples; one of {', '.join(HPARAM_KEYS)}")
        if self.law not in LAWS:
            raise UserError(f"{what}: law={self.law!r} must be one of {', '.join(LAWS)}")
        for name in ("low", "high", "quantum"):
            value = getattr(self, name)
            if value is None and name == "quantum":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"{what}: {name}={value!r} must be a finite number")
            object.__setattr__(self, name, float(value))
        if self.low > self.high:
            raise UserError(f"{what}: the range [{self.low:g}, {self.high:g}] must have low <= high")
        if self.law == "log_uniform" and self.low <= 0:
            raise UserError(f"{what}: a log_uniform range needs low > 0, got [{self.low:g}, {self.high:g}]")
        q = self.quantum
        if q is not None:
            if q <= 0:
                raise UserError(f"{what}: quantum={q:g} must be > 0")
            if as_fraction(self.low) % as_fraction(q) or as_fraction(self.high) % as_fraction(q):
                raise UserError(f"{what}: low={self.low:g} and high={self.high:g} must be multiples of quantum={q:g}")

    def draw(self, u: np.ndarray) -> np.ndarray:
        """The values for uniforms `u` in [0, 1) (inverse CDF; see the module docstring)."""
        u = np.asarray(u, dtype=np.float64)
        lo, hi, q = self.low, self.high, self.quantum
        if self.law == "log_uniform":
            start = math.log(lo - min(q, lo / 2)) if q is not None else math.log(lo)
            values = np.exp(start + u * (math.log(hi) - start))
            return np.clip(values, lo, hi) if q is None else _on_grid(values, lo, hi, q, np.ceil)
        if q is None:
            return lo + u * (hi - lo)
        return _on_grid(lo + u * (hi + q - lo), lo, hi, q, np.floor)

    def override(self) -> str:
        """The command-line override that draws this law: 'hparams.lr=[0.05,0.8]', or with law and quantum
        'hparams.momentum={range:[0.8,0.95],law:uniform,quantum:0.05}'."""
        bounds = f"[{self.low:g},{self.high:g}]"
        if self.law == "log_uniform" and self.quantum is None:
            return f"hparams.{self.key}={bounds}"
        return (f"hparams.{self.key}={{range:{bounds},law:{self.law}"
                + (f",quantum:{self.quantum:g}" if self.quantum is not None else "") + "}")

    def describe(self) -> str:
        """'lr log-uniform in [0.05, 0.8]' (with ', quantum 0.01' when set)."""
        law = self.law.replace("_", "-")
        return f"{self.key} {law} in [{self.low:g}, {self.high:g}]" + (f", quantum {self.quantum:g}" if self.quantum
                                                                       else "")


def _on_grid(values: np.ndarray, lo: float, hi: float, q: float, rounding: Any) -> np.ndarray:
    """`values` rounded to multiples of q (pycls's `quantize`, in decimal), kept on the grid [lo, hi]."""
    k = np.clip(rounding(values / q), round(lo / q), round(hi / q)).astype(np.int64)
    step = Decimal(repr(q))
    return np.array([float(Decimal(int(i)) * step) for i in k], dtype=np.float64)


def parse_laws(config: Mapping[str, Any] | Iterable[HparamLaw] | None) -> tuple[HparamLaw, ...]:
    """The laws of a `hparams` config, in `HPARAM_KEYS` order: each key null (not sampled: the schedule's value),
    `[low, high]` (log-uniform) or `{range: [low, high], law: ..., quantum: ...}`. A UserError names a bad one."""
    if config is None:
        return ()
    if not isinstance(config, Mapping):
        laws = tuple(config)
        if not all(isinstance(law, HparamLaw) for law in laws):
            raise UserError("hparams must map schedule keys to [low, high] ranges")
        return tuple(sorted(laws, key=lambda law: HPARAM_KEYS.index(law.key)))
    unknown = sorted(str(k) for k in config if k not in HPARAM_KEYS)
    if unknown:
        raise UserError(f"hparams: {', '.join(unknown)} not a schedule key a sweep samples; one of "
                        f"{', '.join(HPARAM_KEYS)}")
    return tuple(_law(key, config[key]) for key in HPARAM_KEYS if config.get(key) is not None)


def _law(key: str, value: Any) -> HparamLaw:
    what = f"hparams.{key}={_shown(value)}"
    if isinstance(value, Mapping):
        extra = sorted(str(k) for k in value if k not in ("range", "law", "quantum"))
        if extra:
            raise UserError(f"{what}: unknown key(s) {extra}; known: law, quantum, range")
        bounds, law, quantum = value.get("range"), value.get("law", "log_uniform"), value.get("quantum")
    else:
        bounds, law, quantum = value, "log_uniform", None
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
        raise UserError(f"{what}: give the range as [low, high] (or {{range: [low, high], law: ..., quantum: ...}})")
    return HparamLaw(key, bounds[0], bounds[1], law, quantum)


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return "[" + ",".join(_shown(v) for v in value) + "]"
    return str(value)


def draw_hparams(laws: Sequence[HparamLaw], n: int, seed: int) -> dict[str, np.ndarray]:
    """n values of each law's key, each key from its own stream (the sweep's seed and the key's place)."""
    out = {}
    for law in laws:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([STREAM, int(seed),
                                                                          HPARAM_KEYS.index(law.key)])))
        out[law.key] = law.draw(rng.random(int(n)))
    return out


def add_hparams(frame: pd.DataFrame, laws: Sequence[HparamLaw], seed: int) -> pd.DataFrame:
    """The samples table with a column per sampled key (after the architecture's) and each row's model id made
    of its network's and its values (`model_id`); `frame` itself when nothing is sampled."""
    if not laws:
        return frame
    out = frame.copy()
    values = draw_hparams(laws, len(out), seed)
    for key, column in values.items():
        out[key] = column
    out["model_id"] = [model_id(net, {k: values[k][i] for k in values}) for i, net in enumerate(out["model_id"])]
    return out


def hparam_columns(columns: Iterable[Any]) -> list[str]:
    """The sampled-hyperparameter columns among a table's columns, in `HPARAM_KEYS` order."""
    present = set(columns)
    return [k for k in HPARAM_KEYS if k in present]


def row_hparams(row: Mapping[str, Any]) -> dict[str, float]:
    """The sampled values of a samples row (a mapping or a pandas Series): {key: value}, NaN and null left out."""
    out = {}
    for key in HPARAM_KEYS:
        value = row.get(key) if hasattr(row, "get") else None
        if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{key}={value!r} is not a number")
        if not math.isfinite(float(value)):
            raise ValueError(f"{key}={value!r} is not a finite number")
        out[key] = float(value)
    return out


def model_id(net_id: str, hparams: Mapping[str, float]) -> str:
    """The id of a model: its network's id when it has no sampled values, else the 12-hex-digit SHA-1 of both."""
    if not hparams:
        return net_id
    canonical = json.dumps({"hparams": {k: float(v) for k, v in hparams.items()}, "net": net_id}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha1(canonical.encode()).hexdigest()[:12]


def row_model_id(row: Mapping[str, Any]) -> str:
    """The model id a samples row must carry: of its network (`NetSpec.from_row`) and its sampled values."""
    from designspace.net.spec import NetSpec

    return model_id(NetSpec.from_row(row).id, row_hparams(row))
