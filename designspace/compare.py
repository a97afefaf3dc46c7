"""`python -m designspace.compare`: runs `designspace.cli.compare.main` (so does the console script `designspace-compare`)."""

import sys

from designspace.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
