"""One convention for command-line errors: a user error prints one line naming what is wrong and
exits with status 2; anything else is a bug and keeps its traceback.

A user error is a `UserError` (or a subclass: config, table, setup and sweep errors), a named file that is
missing or in the way, or a path that cannot be written. A `ValueError` from a library (numpy's LinAlgError,
pandas's MergeError, a JSON decoding error) is a bug, whatever its class says.
"""

from __future__ import annotations

import errno
import sys
import unicodedata
from pathlib import Path
from typing import Any, NoReturn

EXIT_USAGE = 2
_WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)
_PACKAGE = Path(__file__).resolve().parents[1]


class UserError(ValueError):
    """A problem with the command line, a config, or the files it names (exit status 2, one line).

    A ValueError, so that callers catching ValueError around a config still catch it.
    """


UsageError = UserError
"""The former name, kept for callers."""


def _raised_by_designspace(exc: BaseException) -> bool:
    """True when a plain ValueError was raised by this package's own code (not by a library it called).

    Modules written before `UserError` existed raise ValueError for bad input; a ValueError subclass of a
    library (LinAlgError, MergeError, JSONDecodeError) or one raised inside a library is a bug.
    """
    if type(exc) is not ValueError:
        return type(exc).__module__.startswith("designspace.")
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def is_user_error(exc: BaseException) -> bool:
    """Bad input rather than a bug: a UserError, a ValueError raised by this package on bad input, a missing
    or existing file, or a path that cannot be written (read-only, no permission, full)."""
    if isinstance(exc, UserError):
        return True
    if isinstance(exc, ValueError):
        return _raised_by_designspace(exc)
    if isinstance(exc, (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)):
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


def terminal_safe(text: str) -> str:
    """`text` with every control character but newline and tab shown as an escape (\\x1b, \\u009b, ...): names and
    reasons printed from someone else's sweep cannot move the cursor, recolour or retitle the terminal."""
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
                   else ch.encode("unicode_escape").decode("ascii") for ch in text)


def warnings_on_one_line(prog: str) -> None:
    """Show every warning as `prog: warning: <one line>` on stderr (a damaged record skipped, a config not read: one
    line naming the file), not as Python's two lines of source file, line number and source code."""
    import warnings

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        print(terminal_safe(f"{prog}: warning: {' '.join(str(message).split())}"), file=file or sys.stderr)

    warnings.showwarning = show


def exit_usage(prog: str, exc: BaseException) -> NoReturn:
    """Print `prog: <one line>` on stderr and exit with status 2."""
    print(terminal_safe(f"{prog}: {message(exc)}"), file=sys.stderr)
    sys.exit(EXIT_USAGE)
