"""The sweep directory: one folder per study, the unit that flows samples -> results -> analysis.

Layout::

    DIR/config.yaml          the resolved config that produced the samples (space, budget, n, seed)
    DIR/samples.parquet      one row per model (NetSpec.to_row() columns + model_id + sampled params
                             + flops/params/acts); written once, atomically
    DIR/results/<id>.json    one record per trained model, written atomically by the trainer
    DIR/checkpoints/<id>.pt  in-progress training state (deleted when the model's record is written)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from designspace.util.atomic import atomic_write, atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

SAMPLES_FILE = "samples.parquet"
CONFIG_FILE = "config.yaml"
RESULTS_DIR = "results"
CHECKPOINTS_DIR = "checkpoints"


class SamplesError(ValueError):
    """A sweep's samples table cannot be read."""


class SweepNotWritable(ValueError):
    """A sweep directory (or a folder in it) cannot be written, and something must be written there."""


@dataclass(frozen=True)
class SweepDir:
    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def samples_path(self) -> Path:
        return self.root / SAMPLES_FILE

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def results_dir(self) -> Path:
        return self.root / RESULTS_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    def result_path(self, model_id: str) -> Path:
        return self.results_dir / f"{model_id}.json"

    def checkpoint_path(self, model_id: str) -> Path:
        return self.checkpoints_dir / f"{model_id}.pt"

    def exists(self) -> bool:
        return self.samples_path.is_file()

    def require(self) -> SweepDir:
        """Raise FileNotFoundError with a useful message unless this is a sweep directory."""
        if not self.samples_path.is_file():
            raise FileNotFoundError(
                f"{self.root} is not a sweep directory: no {SAMPLES_FILE} in it. "
                "Create one with `python -m designspace.sample space=... n=... sweep_dir=DIR`."
            )
        return self

    def read_samples(self) -> pd.DataFrame:
        """The samples table; a damaged file raises SamplesError naming it and what to do."""
        import pandas as pd

        path = self.require().samples_path
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for truncated or foreign files
            raise SamplesError(
                f"{path} is damaged or not a parquet table ({type(exc).__name__}: {str(exc)[:200]}). The results in "
                f"{self.results_dir} are kept; rewrite the table with the command in {self.config_path} "
                "(`python -m designspace.sample ... sweep_dir=DIR overwrite=true`, same space, budget, n and seed: "
                "the sampler reproduces the same models bit for bit)"
            ) from None

    def write_samples(self, samples: pd.DataFrame, config_yaml: str) -> None:
        """Write the samples table and its config atomically (config first, samples last)."""
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_path, config_yaml)

        def write(f: Any) -> None:
            buf = io.BytesIO()
            samples.to_parquet(buf, index=False)
            f.write(buf.getvalue())

        atomic_write(self.samples_path, write)

    def require_writable(self, why: str) -> SweepDir:
        """Raise SweepNotWritable naming the folder unless a file can be created in the sweep's folders.

        Tried for real (a temp file, removed at once): permission bits do not tell root or a
        read-only mount apart.
        """
        import tempfile

        for folder in (self.root, self.results_dir, self.root / "claims", self.checkpoints_dir):
            if not folder.is_dir():
                continue
            try:
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as exc:
                raise SweepNotWritable(f"cannot write in {folder} ({exc.strerror}): {why}. Make it writable, or "
                                       "copy the sweep directory somewhere writable and run there") from None
        return self

    def read_config_text(self) -> str:
        return self.config_path.read_text() if self.config_path.is_file() else ""

    def read_config(self) -> dict[str, Any]:
        """DIR/config.yaml as a dict, interpolations unresolved; {} when it is missing or unreadable
        (what it records - names, budget, space definition - is then simply unknown)."""
        text = self.read_config_text()
        if not text:
            return {}
        try:
            from omegaconf import OmegaConf

            cfg = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
        except Exception:  # a damaged config: OmegaConf/YAML raise several types
            return {}
        return cfg if isinstance(cfg, dict) else {}

    def result_ids(self) -> set[str]:
        """Ids of the models that have a result record."""
        if not self.results_dir.is_dir():
            return set()
        return {p.stem for p in self.results_dir.glob("*.json")}
