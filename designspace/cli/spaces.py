"""`python -m designspace.spaces [spaces=[NAME_OR_PATH,...]]`: exact size of design spaces (the paper's Table 1).

Without `spaces=`, the spaces of Table 1 (A to E, RegNet, RegNetX, RegNetY). Options: configs/spaces.yaml."""

from __future__ import annotations

from typing import Any


def _spaces(cfg: Any) -> None:
    from omegaconf import ListConfig

    from designspace.space.spaces import TABLE1, table

    chosen = cfg.spaces
    if chosen is None:
        chosen = list(TABLE1)
    elif isinstance(chosen, str):
        chosen = [chosen]
    elif isinstance(chosen, ListConfig):
        chosen = [str(s) for s in chosen]
    else:
        raise ValueError(f"spaces={chosen!r}: give a space name, a YAML path or a list of them")
    print(table(chosen))


def main() -> None:
    from designspace.cli import _hydra

    _hydra.run("spaces", "designspace.spaces", _spaces)


if __name__ == "__main__":
    main()
