"""`python -m designspace.notebooks dest=DIR [overwrite=true]`: the notebooks shipped with the package, written out.

`edf_comparison.ipynb` (error EDFs, normalized EDFs, KS tests and random-search efficiency of sweeps) and
`width_rule.ipynb` (the linear width rule and e_fit). Left without sweep directories, each trains small demo
sweeps itself into a temporary folder it removes when its kernel exits. A notebook already in DIR is kept unless
`overwrite=true`. Config: configs/notebooks.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from designspace.cli import _hydra
from designspace.util.atomic import atomic_write_bytes
from designspace.util.usage import UsageError

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "reporting" / "notebooks"


def shipped() -> list[Path]:
    """The notebooks in the installed package."""
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def write_notebooks(dest: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy every shipped notebook into `dest`; refuses (UsageError naming them) to replace existing ones unless
    `overwrite`, before writing any."""
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"dest={dest}: exists and is not a folder")
    targets = [(nb, folder / nb.name) for nb in shipped()]
    there = [str(t) for _, t in targets if t.exists()]
    if there and not overwrite:
        raise UsageError(f"{', '.join(there)} exist(s) already: pass overwrite=true to replace, or choose another dest")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return [atomic_write_bytes(t, nb.read_bytes()) for nb, t in targets]
    except PermissionError:
        raise UsageError(f"dest={dest}: cannot write there (permission denied)") from None


def _notebooks(cfg: Any) -> None:
    from hydra.utils import to_absolute_path

    if cfg.dest is None:
        raise UsageError("dest is required: python -m designspace.notebooks dest=DIR")
    if not isinstance(cfg.overwrite, bool):
        raise UsageError(f"overwrite={cfg.overwrite!r} must be true or false")
    for path in write_notebooks(to_absolute_path(str(cfg.dest)), cfg.overwrite):
        print(path)


def main() -> None:
    _hydra.run("notebooks", "designspace.notebooks", _notebooks, (UsageError,))


if __name__ == "__main__":
    main()
