"""`python -m designspace.analyze`: runs `designspace.cli.analyze.main` (so does the console script `designspace-analyze`)."""

import sys

from designspace.cli.analyze import main

if __name__ == "__main__":
    sys.exit(main())
