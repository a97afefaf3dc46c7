"""`python -m designspace.sample`: runs `designspace.cli.sample.main` (so does the console script `designspace-sample`)."""

import sys

from designspace.cli.sample import main

if __name__ == "__main__":
    sys.exit(main())
