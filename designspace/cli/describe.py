"""`python -m designspace.describe model=RegNetY-800MF`: a zoo model's stages and exact complexity.

`list=true` prints the whole zoo. Options: configs/describe.yaml."""

from __future__ import annotations

from typing import Any

from designspace.cli import _hydra
from designspace.net import zoo
from designspace.net.describe import describe, describe_zoo


def _describe(cfg: Any) -> None:
    if cfg.list:
        print(describe_zoo(cfg.resolution))
        return
    if not isinstance(cfg.resolution, int) or isinstance(cfg.resolution, bool) or cfg.resolution < 1:
        raise ValueError(f"resolution={cfg.resolution!r} must be a positive integer (pixels)")
    try:
        spec = zoo.get(cfg.model, num_classes=cfg.num_classes, stem_stride=cfg.stem_stride,
                       in_channels=cfg.in_channels)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    e = zoo.entry(cfg.model)
    title = (f"{e.name}: d={e.depth} w0={e.w0} wa={e.wa} wm={e.wm} g={e.group_width}"
             f"{' SE=' + format(e.se_ratio, 'g') if e.se_ratio else ''}  "
             f"({cfg.resolution}x{cfg.resolution}, {cfg.num_classes} classes)\n")
    print(describe(spec, cfg.resolution, title))


def main() -> None:
    _hydra.run("describe", "designspace.describe", _describe)


if __name__ == "__main__":
    main()
