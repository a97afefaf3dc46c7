"""`python -m designspace.describe model=RegNetY-800MF`: a network's stages and exact complexity.

    python -m designspace.describe model=RegNetY-800MF [resolution=224] [num_classes=1000] [stem_stride=2]
    python -m designspace.describe sweep_dir=DIR model_id=ID     # a sampled model of a sweep
    python -m designspace.describe model=RegNetX-200MF export=timm  # its timm (or pycls) config, as YAML
    python -m designspace.describe sweep_dir=DIR export=pycls out=CFG_DIR [top=K] [schedule=NAME]

The last writes every model of a sweep (or the K best trained) as CFG_DIR/<model_id>.yaml, a config file pycls's
`tools/train_net.py` reads, with its sampled lr and weight decay and the training schedule where it maps
(`designspace.sweep.pycls_export`). `list=true` prints the whole zoo. Options: configs/describe.yaml."""

from __future__ import annotations

from typing import Any

from designspace.cli import _hydra
from designspace.net import zoo
from designspace.net.describe import describe, describe_zoo, export_yaml
from designspace.net.export import IMAGENET_STEM
from designspace.net.spec import NetSpec

EXPORTS = ("pycls", "timm")


def sweep_model(sweep_dir: str, model_id: str) -> tuple[NetSpec, dict[str, Any]]:
    """The spec and samples row of `model_id` (or a unique prefix of it) in a sweep directory."""
    from designspace.space.sampler import spec_of
    from designspace.sweep.layout import SweepDir

    frame = SweepDir(sweep_dir).read_samples()
    if "model_id" not in frame.columns:
        raise ValueError(f"{sweep_dir}: its samples table has no model_id column (not written by `sample`?)")
    hits = frame[frame["model_id"].astype(str).str.startswith(str(model_id))]
    if len(hits) != 1:
        what = "no model" if hits.empty else f"{len(hits)} models"
        raise ValueError(f"model_id={model_id}: {what} of {sweep_dir} has this id (it has {len(frame)} models)")
    row = hits.iloc[0].to_dict()
    return spec_of(row), row


def sweep_resolution(sweep_dir: str) -> int:
    """The input size the sweep's budget counts at (its config.yaml), 224 where it says none."""
    from designspace.configs import read_yaml
    from designspace.sweep.layout import SweepDir

    path = SweepDir(sweep_dir).config_path
    budget = read_yaml(path).get("budget") if path.is_file() else None
    return int(budget.get("resolution") or 224) if isinstance(budget, dict) else 224


TARGET_STEM = IMAGENET_STEM  # what timm and pycls build for ImageNet: an export goes on it unless a field is set


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _stem(cfg: Any) -> dict[str, int]:
    """The stem fields a model goes on: those set on the command line, and for an export the target's ImageNet
    stem (3 channels, stride 2, 1000 classes) for the rest - what a researcher takes to timm or pycls is the design
    (depths, widths, bottlenecks, groups, SE), to train on ImageNet."""
    for key in TARGET_STEM:
        value = cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{key}={value!r} must be a positive integer")
    wanted = {k: cfg.get(k) for k in TARGET_STEM if cfg.get(k) is not None}
    return {**TARGET_STEM, **wanted} if cfg.get("export") else wanted


def _on_stem(spec: Any, cfg: Any) -> Any:
    """A sweep model on the stem `_stem` gives; says so in one line when an export moves it."""
    import dataclasses
    import sys

    moved = {k: v for k, v in _stem(cfg).items() if getattr(spec, k) != v}
    if not moved:
        return spec
    if cfg.get("export"):
        was = ", ".join(f"{k}={getattr(spec, k)}" for k in moved)
        now = ", ".join(f"{k}={v}" for k, v in moved.items())
        print(f"designspace.describe: exported on {cfg.export}'s ImageNet stem ({now}; sampled with {was}): the "
              "design - depths, widths, bottleneck ratios, group widths, SE - is as sampled", file=sys.stderr)
    return dataclasses.replace(spec, **moved)


def _export_sweep(cfg: Any) -> None:
    """`sweep_dir=DIR export=pycls out=CFG_DIR [top=K]`: every model (or the K best trained) as a pycls config."""
    import sys

    from omegaconf import OmegaConf

    from designspace.sweep.pycls_export import export_sweep
    from designspace.training.schedule import Schedule

    if cfg.export != "pycls":
        raise ValueError(f"out= writes pycls config files; export={cfg.export} prints one model (with model_id=ID)")
    schedule = cfg.get("schedule")
    schedule = Schedule.from_dict(OmegaConf.to_container(schedule, resolve=True)) if schedule is not None else None
    stem = _stem(cfg)
    paths = export_sweep(str(cfg.sweep_dir), str(cfg.out), top=cfg.top, stem=stem, schedule=schedule)
    print(f"designspace.describe: every design on the stem {', '.join(f'{k}={v}' for k, v in stem.items())} "
          "(what pycls builds for ImageNet unless set); each file's header says what does not map", file=sys.stderr)
    print(f"wrote {len(paths)} pycls config file{'s' * (len(paths) != 1)} to {cfg.out}"
          + (f" (the {len(paths)} best trained)" if cfg.top is not None else ""))


def _describe(cfg: Any) -> None:
    if cfg.get("out") is not None or cfg.get("top") is not None:
        if cfg.get("sweep_dir") is None or cfg.get("model_id") is not None or cfg.get("out") is None:
            raise ValueError("out=CFG_DIR [top=K] exports a whole sweep: give sweep_dir=DIR export=pycls out=CFG_DIR "
                             "without model_id")
        _export_sweep(cfg)
        return
    if cfg.get("schedule") is not None:
        raise ValueError("schedule= is written into the config files of a sweep export (sweep_dir=DIR export=pycls "
                         "out=CFG_DIR); it describes nothing else")
    if cfg.resolution is None:  # a sweep model at its budget's size, unless it moves to the ImageNet stem
        own = cfg.get("model_id") and cfg.get("sweep_dir") and not cfg.get("export") and cfg.get("stem_stride") is None
        cfg.resolution = sweep_resolution(str(cfg.sweep_dir)) if own else 224
    if cfg.list:
        print(describe_zoo(cfg.resolution))
        return
    if not isinstance(cfg.resolution, int) or isinstance(cfg.resolution, bool) or cfg.resolution < 1:
        raise ValueError(f"resolution={cfg.resolution!r} must be a positive integer (pixels)")
    if cfg.get("export") not in (None, *EXPORTS):
        raise ValueError(f"export={cfg.export!r}: one of {', '.join(EXPORTS)}")
    if cfg.get("model_id") is not None:
        if cfg.get("sweep_dir") is None:
            raise ValueError("model_id= needs sweep_dir=DIR, the sweep directory the model was sampled into")
        spec, row = sweep_model(str(cfg.sweep_dir), str(cfg.model_id))
        spec = _on_stem(spec, cfg)
        source: Any = row
        from designspace.space.hparams import row_hparams

        sampled = "".join(f", {k} {v:.4g}" for k, v in row_hparams(row).items())
        title = (f"{row['model_id']} of {cfg.sweep_dir}  ({cfg.resolution}x{cfg.resolution}, {spec.num_classes} "
                 f"classes{sampled})\n")
    else:
        try:
            spec = zoo.get(cfg.model, num_classes=_or(cfg.num_classes, 1000), stem_stride=_or(cfg.stem_stride, 2),
                           in_channels=_or(cfg.in_channels, 3))
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        e = zoo.entry(cfg.model)
        source = e.name
        title = (f"{e.name}: d={e.depth} w0={e.w0} wa={e.wa} wm={e.wm} g={e.group_width}"
                 f"{' SE=' + format(e.se_ratio, 'g') if e.se_ratio else ''}  "
                 f"({cfg.resolution}x{cfg.resolution}, {spec.num_classes} classes)\n")
    if cfg.get("export"):
        print(export_yaml(spec, cfg.export, source), end="")
        return
    print(describe(spec, cfg.resolution, title))


def main() -> None:
    _hydra.run("describe", "designspace.describe", _describe)


if __name__ == "__main__":
    main()
