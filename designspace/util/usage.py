"""One convention for command-line errors: a user error prints one line naming what is wrong and
exits with status 2; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import errno
import sys
from typing import NoReturn

EXIT_USAGE = 2
_WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


class UsageError(ValueError):
    """A problem with the command line, a config or the files it names (exit status 2)."""


def is_user_error(exc: BaseException) -> bool:
    """Bad input rather than a bug: a ValueError (configs, tables, setups), a missing/existing file, or a
    directory that cannot be written (read-only, no permission, full)."""
    if isinstance(exc, (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS


def message(exc: BaseException) -> str:
    """The one line for `exc`; for an unwritable path it names the path and why."""
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS and not isinstance(exc, FileNotFoundError):
        path = exc.filename or "a file"
        return f"cannot write {path}: {exc.strerror}" + (
            " (a read-only directory: write the output elsewhere)" if exc.errno in (errno.EROFS, errno.EACCES,
                                                                                    errno.EPERM) else "")
    return " ".join(str(exc).split()) or type(exc).__name__


def exit_usage(prog: str, exc: BaseException) -> NoReturn:
    """Print `prog: <one line>` on stderr and exit with status 2."""
    print(f"{prog}: {message(exc)}", file=sys.stderr)
    sys.exit(EXIT_USAGE)
