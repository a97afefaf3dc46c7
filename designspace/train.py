"""`python -m designspace.train`: runs `designspace.cli.train.main` (so does the console script `designspace-train`)."""

import sys

from designspace.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
