"""The sweep directory: one folder per study, the unit that flows samples -> results -> analysis.

`SweepDir` is the one owner of every path a sweep holds and of the operations on them; no other module
builds a sweep path. Layout::

    DIR/config.yaml            the resolved config that produced the samples (space, budget, n, seed)
    DIR/samples.parquet        one row per model (NetSpec.to_row() columns + model_id + sampled params
                               + flops/params/acts); written once, atomically, under DIR/.sample.lock
    DIR/setup.json             the training setup of the sweep, pinned by the first run that trains
    DIR/results/<id>.json      one record per trained model, written atomically by the trainer
    DIR/results/damaged/       records that read but do not parse, set aside (kept, never deleted nor replaced)
    DIR/results/superseded/    records of models a resampled table no longer holds (sample overwrite=true), and
                               failed records retrained (retry_failed): each under a fresh name, never replaced
    DIR/checkpoints/<id>.pt    in-progress training state (deleted when the model's record is written)
    DIR/claims/<id>.claim      which process trains a model (see `designspace.sweep.runner`)
    DIR/logs/                  Hydra's logs of single runs (never the launcher's job files: those are private)
    .<name>.tmp-<pid>@<machine>-<random>   a temporary of an atomic write, in the folder of its file

A model id is the 12-hex-digit `NetSpec.id`; a path is built only from a checked id (`check_model_id`), so no
table or record can name a file outside the sweep.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import secrets
import stat
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from designspace.configs import MAX_YAML_BYTES, yaml_problem
from designspace.util.atomic import atomic_write, atomic_write_text, is_temp, orphaned_temp
from designspace.util.files import FileRefused, Identity, NotTheFileRead, move_aside, read_limited
from designspace.util.usage import UserError

if TYPE_CHECKING:
    import pandas as pd

SAMPLES_FILE = "samples.parquet"
CONFIG_FILE = "config.yaml"
CONFIG_KEY = b"designspace.config"
"""The samples table's parquet metadata key holding the config it was published with."""
SETUP_FILE = "setup.json"
LOCK_FILE = ".sample.lock"
RESULTS_DIR = "results"
CHECKPOINTS_DIR = "checkpoints"
CLAIMS_DIR = "claims"
DAMAGED_DIR = "damaged"
SUPERSEDED_DIR = "superseded"
LOGS_DIR = "logs"
STALE_TEMP_S = 24 * 3600.0
"""A temporary of another machine is removed once this old (by the file server's clock): a write takes seconds."""
MODEL_ID = re.compile(r"[0-9a-f]{12}")


class InvalidModelId(UserError):
    """A model id that is not 12 hex digits (it would name a path outside the sweep)."""


def check_model_id(model_id: Any) -> str:
    """`model_id` if it is a 12-hex-digit id (NetSpec.id), else InvalidModelId."""
    if not isinstance(model_id, str) or MODEL_ID.fullmatch(model_id) is None:
        raise InvalidModelId(f"model_id {str(model_id)[:80]!r} is not a model id (12 hex digits, NetSpec.id)")
    return model_id


class SweepBusy(UserError):
    """Another `sample` command is writing this sweep's samples."""


class SamplesError(UserError):
    """A sweep's samples table cannot be read."""


class SweepNotWritable(UserError):
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

    @property
    def claims_dir(self) -> Path:
        return self.root / CLAIMS_DIR

    @property
    def damaged_dir(self) -> Path:
        return self.results_dir / DAMAGED_DIR

    @property
    def superseded_dir(self) -> Path:
        return self.results_dir / SUPERSEDED_DIR

    @property
    def logs_dir(self) -> Path:
        return self.root / LOGS_DIR

    @property
    def setup_path(self) -> Path:
        return self.root / SETUP_FILE

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    def result_path(self, model_id: str) -> Path:
        return self.results_dir / f"{check_model_id(model_id)}.json"

    def checkpoint_path(self, model_id: str) -> Path:
        return self.checkpoints_dir / f"{check_model_id(model_id)}.pt"

    def claim_path(self, model_id: str) -> Path:
        return self.claims_dir / f"{check_model_id(model_id)}.claim"

    def takeover_path(self, model_id: str) -> Path:
        """The short-lived lock under which a stale claim is taken over."""
        return self.claims_dir / f"{check_model_id(model_id)}.takeover"

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
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for truncated or foreign files
            raise SamplesError(
                f"{path} is damaged or not a parquet table ({type(exc).__name__}: {str(exc)[:200]}). The results in "
                f"{self.results_dir} are kept; rewrite the table with the command in {self.config_path} "
                "(`python -m designspace.sample ... sweep_dir=DIR overwrite=true`, same space, budget, n and seed: "
                "the sampler reproduces the same models bit for bit)"
            ) from None
        if "model_id" in frame.columns:
            repeated = frame["model_id"].astype(str).duplicated()
            if repeated.any():  # rows appended twice: each model counts once, everywhere (train, load, analyze)
                warnings.warn(f"{path}: {int(repeated.sum())} row(s) repeat a model id already in the table; each "
                              "model is counted once", stacklevel=2)
                frame = frame[~repeated].reset_index(drop=True)
        return frame

    def write_samples(self, samples: pd.DataFrame, config_yaml: str) -> None:
        """Publish the samples table and its config as one unit: the table carries the config in its parquet
        metadata and is renamed into place first, config.yaml (the readable copy) after it. A failure or a kill
        before the table's rename leaves the old pair; one after it leaves the new table, whose config wins
        over a stale config.yaml (`read_config_text`), and the next `sample` rewrites config.yaml."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.root.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(samples, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), CONFIG_KEY: config_yaml.encode()})

        def write(f: Any) -> None:
            buf = io.BytesIO()
            pq.write_table(table, buf)
            f.write(buf.getvalue())

        atomic_write(self.samples_path, write)
        atomic_write_text(self.config_path, config_yaml)

    def embedded_config(self) -> str | None:
        """The config the samples table was published with (None for tables written before it carried one, and
        for one longer than a config may be: it is not read)."""
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(self.samples_path).metadata or {}
        except Exception:  # missing or damaged: read_samples says so where it matters
            return None
        value = meta.get(CONFIG_KEY)
        if value is not None and len(value) > MAX_YAML_BYTES:
            warnings.warn(f"{self.samples_path}: its embedded config has {len(value)} bytes, more than a config may "
                          "have; not read", stacklevel=2)
            return None
        return value.decode(errors="replace") if value is not None else None

    def require_writable(self, why: str) -> SweepDir:
        """Raise SweepNotWritable naming the folder unless a file can be created in the sweep's folders.

        Tried for real (a temp file, removed at once): permission bits do not tell root or a
        read-only mount apart.
        """
        import tempfile

        for folder in (self.root, self.results_dir, self.claims_dir, self.checkpoints_dir):
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
        """The sweep's config: the one its samples table was published with (a config.yaml left behind by a
        publish cut short never disagrees with the samples), else config.yaml."""
        embedded = self.embedded_config() if self.samples_path.is_file() else None
        if embedded is not None:
            return embedded
        return self._config_file_text() or ""

    def _config_file_text(self) -> str | None:
        """config.yaml's text; None when it is missing, or (with a warning naming it) not a regular file of at most
        MAX_YAML_BYTES (a FIFO, a link to /dev/zero) or unreadable."""
        try:
            return read_limited(self.config_path, MAX_YAML_BYTES).data.decode(errors="replace")
        except FileNotFoundError:
            return None
        except (FileRefused, OSError) as exc:
            warnings.warn(f"{exc if isinstance(exc, FileRefused) else f'{self.config_path}: {exc.strerror}'}; "
                          "not read", stacklevel=3)
            return None

    def config_in_step(self) -> bool:
        """Whether config.yaml says what the samples table was published with."""
        embedded = self.embedded_config()
        return embedded is None or embedded == self._config_file_text()

    def read_config(self) -> dict[str, Any]:
        """DIR/config.yaml as a dict, interpolations unresolved; {} when it is missing or unreadable
        (what it records - names, budget, space definition - is then simply unknown). Text that must not be
        loaded (`configs.yaml_problem`: aliases expanding without bound, nesting too deep) is named in a warning
        and never reaches a YAML or OmegaConf loader."""
        text = self.read_config_text()
        if not text:
            return {}
        problem = yaml_problem(text)
        if problem:
            where = self.samples_path if self.embedded_config() is not None else self.config_path
            warnings.warn(f"{where}: its config is not read: {problem}; the sweep's names and budget are unknown "
                          "here", stacklevel=2)
            return {}
        try:
            from omegaconf import OmegaConf

            cfg = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
        except Exception:  # a damaged config: OmegaConf/YAML raise several types
            return {}
        return cfg if isinstance(cfg, dict) else {}

    def result_ids(self) -> set[str]:
        """Ids of the models that have a result record file (readable or not)."""
        return {p.stem for p in self.record_files()}

    def record_files(self) -> list[Path]:
        """The result record files, sorted; files whose name is not `<model id>.json` are not records."""
        if not self.results_dir.is_dir():
            return []
        return sorted(p for p in self.results_dir.glob("*.json") if MODEL_ID.fullmatch(p.stem))

    # --- operations ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold DIR/.sample.lock (an flock: the kernel, or the NFS lock manager, drops it when its holder dies)
        while the samples are compared and written; SweepBusy when another process holds it."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        try:  # never through a link: it would create (or open) a file anywhere, with this user's rights
            fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise UserError(f"{self.lock_path} is a symbolic link, which the lock never follows: remove it, then "
                            "rerun") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UserError(f"{self.lock_path} is not a regular file: remove it, then rerun")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SweepBusy(f"another `sample` command is writing {self.root} (it holds {self.lock_path}); "
                                "wait for it to finish, then rerun") from None
            yield
        finally:
            os.close(fd)

    def store_samples(self, samples: pd.DataFrame, config_yaml: str, overwrite: bool) -> str:
        """Write a samples table under the lock: unchanged, grown, or (overwrite) replaced; returns what it did.

        A table for a larger n with the same space, budget and seed starts with the same models (the sampler
        guarantees it), so it extends the sweep and every result stays. Different samples are refused unless
        `overwrite`; then the records of models not in the new table move to results/superseded/.
        """
        unchanged = f"sweep directory already holds these samples, left unchanged:\n{self.root}"
        if self.exists() and not overwrite and self.read_samples().equals(samples) and self._config_is(config_yaml):
            return unchanged  # nothing to write: no lock either (a read-only sweep stays untouched)
        with self.lock():
            if self.exists() and not overwrite:
                old = self.read_samples()
                if old.equals(samples):
                    if self._config_is(config_yaml):
                        return unchanged
                    self.write_samples(samples, config_yaml)  # a publish cut short (or an old table): made whole
                    return f"sweep directory already holds these samples; its config made whole:\n{self.root}"
                if len(old) < len(samples) and samples.head(len(old)).reset_index(drop=True).equals(
                        old.reset_index(drop=True)):
                    self.write_samples(samples, config_yaml)
                    self.clean()
                    return (f"sweep directory grown from {len(old)} to {len(samples)} models (the first {len(old)} "
                            f"are the same models; their results are kept):\n{self.root}")
                raise FileExistsError(
                    f"{self.root} already holds different samples ({len(old)} models, not the first rows of this "
                    "table); choose another sweep_dir= or pass overwrite=true (records of models not in the new "
                    f"table then move to {RESULTS_DIR}/{SUPERSEDED_DIR}/)")
            moved = self.supersede(set(samples["model_id"])) if self.exists() else 0
            self.write_samples(samples, config_yaml)
            self.clean()
        return (f"sweep directory (samples.parquet, config.yaml):\n{self.root}"
                + (f"\n{moved} result records of models not in the new table moved to {RESULTS_DIR}/"
                   f"{SUPERSEDED_DIR}/" if moved else ""))

    def _config_is(self, config_yaml: str) -> bool:
        """Whether both the table's embedded config and config.yaml are `config_yaml`."""
        on_disk = self._config_file_text()
        return self.embedded_config() in (config_yaml, None) and on_disk == config_yaml  # None: a table from before

    def supersede(self, keep: set[str]) -> int:
        """Move the records of models not in `keep` to results/superseded/ (kept, not deleted: each under a fresh
        name, so a record superseded before is never replaced); how many moved."""
        moved = 0
        for p in self.record_files():
            if p.stem not in keep:
                with contextlib.suppress(FileNotFoundError):
                    move_aside(p, self.superseded_dir)
                    moved += 1
        return moved

    def set_aside(self, path: Path, reason: str, identity: Identity | None = None) -> Path | None:
        """Move a damaged record into results/damaged/ (under a fresh name) with a warning naming it; None if it
        cannot move. With `identity` (the damaged file's, as read), only that file moves: a record another worker
        published there meanwhile stays.

        On a read-only directory the file stays where it is; it is skipped all the same (with the warning).
        """
        try:
            target = move_aside(path, self.damaged_dir, identity)
        except (FileNotFoundError, NotTheFileRead):  # another process set it aside (or retrained it) first
            return None
        except OSError as exc:
            warnings.warn(f"{reason}; skipped (cannot move it aside: {exc.strerror})", stacklevel=3)
            return None
        warnings.warn(f"{reason}; moved to {target}, and the model counts as not trained", stacklevel=3)
        return target

    def damaged_count(self) -> int:
        """How many records of the sweep have been set aside as damaged."""
        return sum(1 for _ in self.damaged_dir.glob("*.json")) if self.damaged_dir.is_dir() else 0

    def server_now(self) -> float:
        """The file server's clock, read as the mtime of a file touched now in DIR/claims/ (claim ages are
        mtimes set by that clock, so they are compared with it, never with this machine's). The probe has an
        unpredictable name and is created exclusively, never through a link (a link planted at a predictable name
        would make this process create or touch a file anywhere)."""
        self.claims_dir.mkdir(parents=True, exist_ok=True)
        probe = self.claims_dir / f".clock-{secrets.token_hex(8)}"
        try:
            fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
        except OSError:
            return time.time()
        try:
            os.utime(fd)  # times=None: the server's time, also over NFS
            return os.fstat(fd).st_mtime
        except OSError:
            return time.time()
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)

    def temporaries(self) -> list[Path]:
        """Temporaries of atomic writes in the sweep's folders (finished, abandoned or in progress)."""
        folders = (self.root, self.results_dir, self.checkpoints_dir, self.claims_dir)
        return sorted(p for f in folders if f.is_dir() for p in f.iterdir() if is_temp(p))

    def clean(self) -> int:
        """Remove temporaries whose writer is gone (killed on this machine, or older than a day elsewhere); how
        many were removed. A temporary being written right now is never touched."""
        removed = 0
        now = None
        for path in self.temporaries():
            stale = orphaned_temp(path)
            if not stale:
                now = self.server_now() if now is None else now
                with contextlib.suppress(OSError):
                    stale = now - path.stat().st_mtime > STALE_TEMP_S
            if stale:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        return removed
