"""`python -m designspace.spaces`: runs `designspace.cli.spaces.main` (so does the console script `designspace-spaces`)."""

import sys

from designspace.cli.spaces import main

if __name__ == "__main__":
    sys.exit(main())
