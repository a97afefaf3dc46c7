"""`python -m designspace.sample space=NAME n=N`: draw a samples table, into a sweep directory or a file.

    python -m designspace.sample space=anynetx_c n=500 [seed=0] [budget=400mf] [out=PATH.parquet|.csv]
                                 [sweep_dir=DIR] [budget.flops=[3.6e8,4e8]] [budget.resolution=32]
    python -m designspace.sample space=regnet n=40 hparams.lr=[0.05,0.8] hparams.weight_decay=[1e-5,1e-3]

The sampler is `designspace.space.sampler` (its docstring states the law and the table's columns). A sweep
directory that already holds the same space, budget and seed for a smaller n grows (its models are the
first rows of the new table, so every result stays); different samples are refused unless overwrite=true,
which moves the records of models not in the new table to results/superseded/. Two `sample` commands on one
sweep directory never interleave: the second is refused while the first holds the sweep's lock
(`SweepDir.store_samples`). `hparams.KEY=[low,high]` draws that schedule key per model beside the design
(`designspace.space.hparams`); the sweep's training then takes each model's own values. Options: configs/sample.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from designspace.space.sampler import SamplingError, draw, summary

if TYPE_CHECKING:
    import pandas as pd


def _flag(value: Any, name: str) -> bool:
    """A true/false option; anything else (overwrite=no, a string) is a user error, never read as true."""
    if not isinstance(value, bool):
        from designspace.util.usage import UserError

        raise UserError(f"{name}={value!r} must be true or false")
    return value


def _blocking_file(path: Path) -> Path | None:
    """The first existing part of `path`'s parents that is not a folder (so nothing can be made under it)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _out_path(value: Any) -> Path | None:
    """out=: a .parquet or .csv file that can be made, or None."""
    from designspace.util.usage import UserError

    if not value:
        return None
    out = Path(value)
    if out.suffix not in (".parquet", ".csv"):
        raise UserError(f"out={value}: the file must end in .parquet or .csv")
    blocking = _blocking_file(out)
    if blocking is not None:
        raise UserError(f"out={value}: {blocking} is a file, not a folder; write the table to a path in a folder")
    if out.is_dir():
        raise UserError(f"out={value}: a folder; name a file in it, e.g. out={out / 'samples.parquet'}")
    return out


def _folder_path(key: str, value: Any) -> Path:
    """sweep_dir=: a folder (new or existing), not a file nor under one."""
    from designspace.util.usage import UserError

    path = Path(value)
    blocking = path if path.exists() and not path.is_dir() else _blocking_file(path)
    if blocking is not None:
        raise UserError(f"{key}={value}: {blocking} is a file, not a folder; name a sweep directory (new, or one "
                        "`sample` wrote)")
    return path


def _write_table(frame: pd.DataFrame, out: Path, key: str) -> None:
    """The table in `out`; a folder that cannot take it is one line naming `key`."""
    from designspace.util.atomic import atomic_write
    from designspace.util.usage import UserError

    if out.suffix == ".parquet":
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        data = frame.to_csv(index=False).encode()
    try:
        atomic_write(out, lambda fh: fh.write(data))
    except OSError as exc:
        raise UserError(f"{key}: cannot write {out.parent} ({exc.strerror or exc}); write the table to a folder of "
                        "yours") from None


def hparam_laws(config: Any) -> tuple[Any, ...]:
    """The laws of the `hparams` config, each bound checked as a value of its schedule key (lr > 0, momentum < 1,
    ...): a UserError names the first bad one."""
    from omegaconf import OmegaConf

    from designspace.space.hparams import parse_laws
    from designspace.training.schedule import Schedule
    from designspace.util.usage import UserError

    plain = OmegaConf.to_container(config, resolve=True) if OmegaConf.is_config(config) else config
    laws = parse_laws(plain)
    for law in laws:
        for bound in (law.low, law.high):
            try:
                Schedule(name="hparams", **{law.key: bound}).validate()
            except UserError:
                raise UserError(f"hparams.{law.key}: {bound:g} is not a valid {law.key} of a schedule") from None
    return laws


def _stored_config(cfg: Any) -> str:
    """The config as the sweep keeps it (config.yaml): without `hparams` when nothing is sampled, so a sweep
    without sampled keys keeps the config it had before they existed."""
    from omegaconf import OmegaConf

    from designspace.cli._structured import drop_unset

    plain = OmegaConf.to_container(cfg, resolve=False)
    plain["space"] = drop_unset(plain["space"])  # what the space's files set (the schema sets nothing)
    sampled = {k: v for k, v in (plain.pop("hparams", None) or {}).items() if v is not None}
    if sampled:
        plain["hparams"] = sampled
    return OmegaConf.to_yaml(OmegaConf.create(plain))


def run(cfg: Any, space_source: str = "<config>", overrides: tuple[str, ...] = (),
        budget_source: str | None = None) -> str:
    """Run the CLI on a composed config (Hydra's choices of space and budget, and the command-line
    overrides, name the files in error messages); returns the text to print."""
    import pandas  # noqa: F401 - imported up front so that the reported sampling time is sampling
    from omegaconf import OmegaConf

    from designspace.cli._hydra import source_file
    from designspace.cli._structured import given
    from designspace.space import budgets
    from designspace.space.compose import SPACE_DIR, compose_file
    from designspace.space.schema import SpaceError, from_config
    from designspace.sweep.layout import SweepDir
    from designspace.util.usage import UserError

    out = _out_path(cfg.out)
    path = source_file("space", space_source) or SPACE_DIR / f"{space_source}.yaml"
    source = str(path) if path.is_file() else f"space/{space_source}.yaml (Hydra search path)"
    composed = given(cfg.space)
    space_ovs = [o for o in overrides if o.lstrip("+~").startswith("space.")]
    try:
        space = from_config(composed, source, None, space_ovs)
    except SpaceError:
        if not path.is_file():
            raise
        # name the file of the defaults chain that set the bad key: only now is the chain worth reading
        space = from_config(composed, source, compose_file(path)[1], space_ovs)
    budget_ovs = [o for o in overrides if o.lstrip("+~").startswith("budget.")]
    budget_file = (source_file("budget", budget_source)
                   or budgets.BUDGET_DIR / f"{budget_source or cfg.budget.get('name')}.yaml")
    budget = budgets.from_config(OmegaConf.to_container(cfg.budget, resolve=True), (
        str(budget_file) if budget_file.is_file() else f"budget {cfg.budget.get('name')!r}")
        + (f" with command-line overrides {budget_ovs}" if budget_ovs else ""))
    sweep = None
    if cfg.sweep_dir or out is None:
        sweep = SweepDir(_folder_path("sweep_dir", cfg.sweep_dir or f"sweeps/{space.name}-{budget.name}-n{cfg.n}-"
                                      f"s{cfg.seed}"))
    overwrite = _flag(cfg.overwrite, "overwrite")
    laws = hparam_laws(cfg.get("hparams"))
    result = draw(space, cfg.n, cfg.seed, budget, max_draws=cfg.max_draws, progress=cfg.progress, hparams=laws)
    wrote = []
    if sweep is not None:
        try:
            wrote.append(sweep.store_samples(result.frame, _stored_config(cfg), overwrite))
        except OSError as exc:
            if exc.errno is None:  # a worded refusal (different samples already there): its own line
                raise
            raise UserError(f"sweep_dir={sweep.root}: cannot write {exc.filename or sweep.root} ({exc.strerror}); "
                            "name a sweep directory in a folder of yours") from None
    if out is not None:
        _write_table(result.frame, out, f"out={cfg.out}")
        wrote.insert(0, f"wrote {out}")
    return summary(result, budget, "\n".join(wrote))


def _sample(cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    choices = hc.runtime.choices
    print(run(cfg, choices.get("space") or "<config>", tuple(hc.overrides.task), choices.get("budget")))


def main() -> None:
    from designspace.cli import _hydra

    _hydra.run("sample", "designspace.sample", _sample, (SamplingError,))


if __name__ == "__main__":
    main()
