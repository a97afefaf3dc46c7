"""Atomic file writes: temp file in the same folder, fsync, rename. A reader never sees half a file.

The temp file is created with mode 0666 and the kernel applies the umask (and a folder's default ACL), so the
file gets exactly the permissions `open` would give it - collaborators on a shared filesystem can read a sweep
- and the process umask is never touched (changing it, even for a moment, would change the files other
threads create meanwhile).

Temp files are named `.<name>.tmp-<pid>@<machine>-<random>`: a writer killed by SIGKILL leaves one, and
`orphaned_temp` tells which ones belong to a process that is gone (see `SweepDir.clean`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from designspace.util import procs

_TEMP = re.compile(r"^\..+\.tmp-(?P<pid>\d+)@(?P<machine>[0-9a-f]{8})-[0-9a-f]{8}$")


def temp_path(path: Path) -> Path:
    """A fresh temp file name beside `path`, naming this process and machine."""
    return path.parent / f".{path.name}.tmp-{os.getpid()}@{procs.machine_tag()}-{secrets.token_hex(4)}"


def orphaned_temp(path: Path) -> bool:
    """Whether `path` is a temp file of `atomic_write` whose writer, a process of this machine, is gone."""
    match = _TEMP.match(path.name)
    if match is None or match["machine"] != procs.machine_tag():
        return False
    return not procs.pid_alive(int(match["pid"]))


def is_temp(path: Path) -> bool:
    """Whether `path` is named as a temp file of `atomic_write`."""
    return _TEMP.match(path.name) is not None


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any],
                 check: Callable[[], None] | None = None) -> Path:
    """Call write(f) on a temp file beside `path`, fsync it, call `check()` (which may raise to cancel the
    write: a lost claim), then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = temp_path(path)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check()
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:  # a write through the file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc                # object: name the file
        raise
    _fsync_dir(path.parent)
    return path


def publish_new(path: str | os.PathLike, data: bytes, check: Callable[[], None] | None = None) -> Path:
    """Write `data` to a temp file beside `path`, fsync it, call `check()`, then publish it as `path` with a hard
    link, which fails if `path` exists: an existing file is never replaced, whoever is late (FileExistsError).
    A writer stalled between its check and its publish (a hung NFS mount) therefore cannot overwrite the file
    that another process published meanwhile. The temp file is removed either way."""
    path = Path(path)
    tmp = atomic_write_bytes(temp_path(path), data)
    try:
        if check is not None:
            check()
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, check: Callable[[], None] | None = None) -> Path:
    return atomic_write(path, lambda f: f.write(data), check)


def atomic_write_text(path: str | os.PathLike, text: str, check: Callable[[], None] | None = None) -> Path:
    return atomic_write_bytes(path, text.encode(), check)


def json_bytes(obj: Any) -> bytes:
    """`obj` as the indented, key-sorted JSON the sweep files use."""
    return (json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n").encode()


def atomic_write_json(path: str | os.PathLike, obj: Any, check: Callable[[], None] | None = None) -> Path:
    return atomic_write_bytes(path, json_bytes(obj), check)


def _jsonable(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
