"""`python -m designspace`: the commands and what each does; `python -m designspace VERB ARGS...` runs one."""

from __future__ import annotations

import importlib
import sys

from designspace.cli import COMMANDS
from designspace.cli._help import emit, version

USAGE = "usage: python -m designspace VERB [key=value ...]   (or python -m designspace.VERB, designspace-VERB)"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--version":
        emit(f"designspace {version()}")
        return 0
    if args and args[0] in COMMANDS:
        sys.argv = [f"designspace-{args[0]}", *args[1:]]
        return importlib.import_module(f"designspace.cli.{args[0]}").main() or 0
    if args and args[0] not in ("-h", "--help"):
        print(f"designspace: unknown command {args[0]!r}; one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    width = max(map(len, COMMANDS)) + 2
    emit("\n".join([f"designspace {version()}: the design-space methodology of 'Designing Network Design Spaces'",
                    USAGE, "", "commands:", *(f"  {verb.ljust(width)}{what}" for verb, what in COMMANDS.items()), "",
                    "Each command's --help lists its keys; python -m designspace --version prints the version."]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
