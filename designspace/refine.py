"""`python -m designspace.refine`: runs `designspace.cli.refine.main` (so does the console script `designspace-refine`)."""

import sys

from designspace.cli.refine import main

if __name__ == "__main__":
    sys.exit(main())
