"""Twin sweeps: each model of an earlier space's sweep beside its own restriction to a later space (issue 39).

A twin sweep is a real sweep (samples table, config, records, claims: `train`, `analyze` and shared workers treat
it as any other). Its samples are the twins `space.twins.twins` makes of a source sweep's models, in the order the
models are paired, each row naming its source model(s) in `twin_of` (';'-separated when two source models share
one twin); the models whose twin cannot be brought into the budget band are listed in its config with the reason,
never replaced. `twin_arms` pairs the source model i with its twin for `analysis.sequential.compare`: the twin
design estimates "the effect of imposing the restriction on a model of the earlier space at equal flops" - not
the EDF comparison of independent draws (`ESTIMAND`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from designspace.analysis.decisions import Comparison
from designspace.analysis.progression import STEPS
from designspace.space.twins import twins
from designspace.studies.decide import Arm, table_order
from designspace.sweep.layout import SweepDir
from designspace.util.usage import UserError

__all__ = ["ESTIMAND", "TwinSweepError", "skipped_models", "twin_arms", "twin_comparisons", "twin_map",
           "write_twin_sweep"]

ESTIMAND = ("the effect of imposing {later}'s restriction on a model of {earlier} at equal flops (each model against "
            "its own twin) - not the comparison of independent draws of the two spaces")


class TwinSweepError(UserError):
    """A twin sweep that does not match its source (another source, order or space)."""


def _config_text(earlier: str, later: str, later_config: Any, budget: Any, source: SweepDir,
                 skipped: pd.DataFrame) -> str:
    from omegaconf import OmegaConf

    config = {"space": later, "space_config": later_config, "budget": budget, "kind": "twin", "twin_of": earlier,
              "source": str(source.root), "n": None,
              "skipped": [{"model_id": str(r.model_id), "reason": str(r.reason)} for r in skipped.itertuples()]}
    return OmegaConf.to_yaml(config)


def write_twin_sweep(source: SweepDir, earlier: str, later: str, later_config: dict[str, Any], budget: Any,
                     dest: SweepDir, order: Sequence[str]) -> SweepDir:
    """Write (once) the twin sweep `dest` of `source`'s models taken in `order`: `later` (a space name, its composed
    definition `later_config`) restricts `earlier`; `budget` the budget's dict. An existing twin sweep is kept when
    its twins are those of the same models in the same order (a rerun resumes it), refused otherwise."""
    frame = source.read_samples()
    ids = [str(m) for m in frame["model_id"]]
    position = {m: i for i, m in enumerate(ids)}
    missing = [m for m in order if m not in position]
    if missing:
        raise TwinSweepError(f"{source.root}: the order names {len(missing)} model(s) the sweep does not hold")
    rows = frame.iloc[[position[m] for m in order]].reset_index(drop=True)
    result = twins(rows, _space_of(source, earlier), later_config, budget)
    table = _unique(result.frame)
    if dest.exists():
        held = dest.read_samples()
        if "twin_of" not in held or list(held["twin_of"].astype(str)) != list(table["twin_of"].astype(str)):
            raise TwinSweepError(f"{dest.root} holds other twins than those of {source.root} in this order: "
                                 "move it away or name another twin sweep")
        return dest
    dest.write_samples(table, _config_text(earlier, later, later_config, budget, source, result.skipped))
    return dest


def _space_of(sweep: SweepDir, name: str) -> Any:
    """The earlier space as its sweep recorded it (its composed definition), else by name."""
    cfg = sweep.read_config()
    recorded = cfg.get("space_config")
    if recorded is None and isinstance(cfg.get("space"), dict):
        recorded = cfg["space"]
    return recorded if isinstance(recorded, dict) else name


def _unique(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per twin network: source models that share a twin are joined in its `twin_of` (';')."""
    joined = frame.groupby("model_id", sort=False)["twin_of"].agg(lambda s: ";".join(map(str, s)))
    out = frame.drop_duplicates("model_id").set_index("model_id")
    out["twin_of"] = joined
    return out.reset_index()


def twin_map(twin_sweep: SweepDir) -> dict[str, str]:
    """source model id -> its twin's model id."""
    table = twin_sweep.read_samples()
    return {src: str(m) for m, of in zip(table["model_id"], table["twin_of"].astype(str)) for src in of.split(";")}


def twin_arms(source_name: str, source: SweepDir, twin_name: str, twin_sweep: SweepDir,
              order: Sequence[str]) -> tuple[Arm, Arm]:
    """The source arm (its models in `order` that have a twin) and the twin arm (their twins, in the same order)."""
    mapping = twin_map(twin_sweep)
    kept = [m for m in order if m in mapping]
    return Arm(source_name, source, tuple(kept)), Arm(twin_name, twin_sweep, tuple(mapping[m] for m in kept))


def skipped_models(twin_sweep: SweepDir) -> list[dict[str, str]]:
    """The source models whose twin could not be brought into the band, with the reason (from the config)."""
    skipped = twin_sweep.read_config().get("skipped") or []
    return [dict(s) for s in skipped if isinstance(s, dict)]


def twin_comparisons(twin_jobs: Sequence[Any], longest: Sequence[Any], sequential: Any) -> tuple[
        list[Arm], list[Comparison], dict[str, Any]]:
    """For the reproduction's twin jobs (`studies.reproduce.Job`, kind 'twin') beside the longest rung's jobs: the
    arms (each earlier space's longest-rung models that have a twin, and the twins), the comparisons (earlier space
    vs 'twin:<later>'; the no-loss steps with the sequential margin) and the job of every arm."""
    by_space = {j.space: j for j in longest}
    kinds = {(a, b): kind for a, b, kind in STEPS}
    arms, comparisons, jobs = [], [], {}
    for t in twin_jobs:
        if not t.sweep.exists():
            continue
        source = by_space[t.twin_of]
        name = f"twin:{t.space}"
        a, b = twin_arms(t.twin_of, source.sweep, name, t.sweep, table_order(source.sweep))
        arms += [a, b]
        jobs.update({t.twin_of: source, name: t})
        margin = sequential.margin if kinds[(t.twin_of, t.space)] == "no_loss" else None
        comparisons.append(Comparison(t.twin_of, name, margin))
    return arms, comparisons, jobs
