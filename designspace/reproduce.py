"""`python -m designspace.reproduce`: runs `designspace.cli.reproduce.main` (so does the console script `designspace-reproduce`)."""

import sys

from designspace.cli.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
