"""Private folders (mode 0700, owned by this user): where files go that others must not read or replace -
the log fallback when a sweep is read-only, and the launcher's job files (pickles that a job process runs)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from designspace.util.usage import UserError


class UnsafeFolder(UserError):
    """A folder meant to be private is a link, or is not this user's, or others can write or read it."""


def private_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and its missing parents) with mode 0700 and return it; refuse one that exists but is a
    symbolic link, is owned by someone else, or is open to group or others (someone could have made it to
    read or replace what is written there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    problem = None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problem = "is a link or not a folder"
    elif info.st_uid != os.getuid():
        problem = f"belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})"
    elif stat.S_IMODE(info.st_mode) & 0o077:
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}, open to others (0700 expected)"
    if problem:
        raise UnsafeFolder(f"{path} {problem}: remove it, or point TMPDIR (or the setting that names it) at a "
                           "folder of your own")
    return path


def user_cache_dir(*parts: str) -> Path:
    """A private folder under $XDG_CACHE_HOME/designspace (~/.cache/designspace), created 0700 at each level
    this module creates."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "designspace"
    path = private_dir(base)
    for part in parts:
        path = private_dir(path / part)
    return path


def launcher_dir(command: str) -> Path:
    """A fresh private folder for one launch's job files (submitit's pickled jobs and their results): under
    `user_cache_dir("launcher")`, never in a shared sweep, where anyone who can write could replace a queued
    job's pickle and run code as the user who launched it."""
    import time

    return private_dir(user_cache_dir("launcher") / f"{command}-{time.strftime('%Y-%m-%d_%H-%M-%S')}-{os.getpid()}")
