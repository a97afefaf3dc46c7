"""Reading files that someone else may have written (a shared sweep's records, claims, setup and config): regular
files only, a size limit, JSON of bounded depth. A file that fails any of this raises `FileRefused` (one line
naming the file), never a hang (a FIFO), a read without end (a link to /dev/zero) or a RecursionError (JSON nested
a thousand levels deep); the caller treats it as damage. Moving such a file aside is `move_aside`: one rename to a
fresh name, and the file put back if it is not the one that was read."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designspace.util.usage import UserError

__all__ = ["MAX_JSON_DEPTH", "Contents", "FileRefused", "NotTheFileRead", "identity", "json_depth", "move_aside",
           "parse_json", "read_json", "read_limited", "regular_file"]

MAX_JSON_DEPTH = 32
"""The deepest nesting a sweep's JSON files have is 3 (a record's epochs: a list of objects); 32 leaves room."""

Identity = tuple[int, int]
"""A file as (device, inode): what `move_aside` compares to know that it moves the file that was read."""


class FileRefused(UserError):
    """A file that is not read: not a regular file, too large, or JSON nested too deep or malformed."""

    def __init__(self, message: str, identity: Identity | None = None) -> None:
        super().__init__(message)
        self.identity = identity


class NotTheFileRead(FileExistsError):
    """The file at a path is not the one read there (another process replaced it meanwhile): left in place."""


@dataclass(frozen=True)
class Contents:
    """A file's bytes and the identity of the file they were read from."""

    data: bytes
    identity: Identity


def identity(info: os.stat_result) -> Identity:
    return info.st_dev, info.st_ino


def regular_file(path: str | os.PathLike, limit: int | None = None, info: os.stat_result | None = None
                 ) -> os.stat_result:
    """The stat of `path` (a link followed) if it is a regular file of at most `limit` bytes; FileRefused for a
    FIFO, device, socket or folder (opening a FIFO waits for a writer, reading /dev/zero never ends) or a larger
    file; OSError when it cannot be stat'ed. `info`: a stat already made (of an open file)."""
    info = os.stat(path) if info is None else info
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{path}: not a regular file ({_kind(info.st_mode)})", identity(info))
    if limit is not None and info.st_size > limit:
        raise FileRefused(f"{path}: {info.st_size} bytes, more than the {limit} such a file may have", identity(info))
    return info


def read_limited(path: str | os.PathLike, limit: int) -> Contents:
    """The bytes of the regular file at `path` (a link to one is followed), at most `limit` of them: FileRefused
    otherwise (`regular_file`, judged before opening and again on what was opened); OSError when it cannot be
    read."""
    path = Path(path)
    regular_file(path, limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = regular_file(path, limit, os.fstat(fd))  # what was opened, should the name have changed meanwhile
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grown since the fstat
            raise FileRefused(f"{path}: more than the {limit} bytes such a file may have", identity(info))
        return Contents(b"".join(chunks), identity(info))
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a file")


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
"""A JSON string, or an unterminated one to the end (possessive: linear time on any input)."""
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of JSON text nest (brackets inside strings not counted), without parsing."""
    import numpy as np

    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    opening = brackets.count(b"[") + brackets.count(b"{")
    if opening <= 1:
        return opening
    steps = np.frombuffer(brackets, np.uint8)
    return int(np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1)).max())


def parse_json(data: bytes, where: str | os.PathLike, file_identity: Identity | None = None) -> Any:
    """JSON text as Python values; FileRefused naming `where` when it is not JSON or nests deeper than
    MAX_JSON_DEPTH (refused before parsing: the parser would recurse once per level)."""
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise FileRefused(f"{where}: JSON nested {depth} levels deep, more than the {MAX_JSON_DEPTH} allowed",
                          file_identity)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FileRefused(f"{where}: not JSON ({' '.join(str(exc).split())[:200]})", file_identity) from None


def read_json(path: str | os.PathLike, limit: int) -> tuple[Any, Identity]:
    """The JSON value in the file at `path` (`read_limited`, then `parse_json`) and the file's identity."""
    contents = read_limited(path, limit)
    return parse_json(contents.data, path, contents.identity), contents.identity


def move_aside(path: str | os.PathLike, folder: str | os.PathLike, expected: Identity | None = None) -> Path:
    """Move the file at `path` into `folder` under a fresh name (`<stem>.<utc time>.<random><suffix>`: nothing
    there is ever replaced) and return its new path.

    With `expected` (the identity of the file that was read), only that file moves: it is renamed, compared,
    and put back when it is another one (a record another worker published meanwhile), raising NotTheFileRead.
    FileNotFoundError when nothing is at `path`."""
    path, folder = Path(path), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = _fresh_name(folder, path)
    os.replace(path, target)  # to a fresh name: nothing there to replace
    if expected is None:
        return target
    try:
        moved = identity(os.stat(target))
    except OSError:
        moved = None
    if moved != expected:
        _put_back(target, path)
        raise NotTheFileRead(f"{path} is not the file that was read there (another process replaced it): left "
                             "in place")
    return target


def _fresh_name(folder: Path, path: Path) -> Path:
    """`folder/<stem>.<utc time>.<8 random hex digits><suffix>`, a name not in use."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for _ in range(100):
        target = folder / f"{path.stem}.{stamp}.{secrets.token_hex(4)}{path.suffix}"
        if not os.path.lexists(target):
            return target
    raise FileExistsError(f"no free name for {path.name} in {folder}")


def _put_back(moved: Path, path: Path) -> None:
    """Return a file taken by mistake to `path`, never over a file that appeared there since (then it stays in
    its new folder: kept, not lost)."""
    try:
        os.link(moved, path, follow_symlinks=False)
    except FileExistsError:
        return
    except OSError:  # no hard links here (or not allowed to link another user's file): rename, if still free
        if not os.path.lexists(path):
            with contextlib.suppress(OSError):
                os.replace(moved, path)
        return
    with contextlib.suppress(OSError):
        os.unlink(moved)
