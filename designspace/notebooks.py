"""`python -m designspace.notebooks`: runs `designspace.cli.notebooks.main` (so does the console script `designspace-notebooks`)."""

import sys

from designspace.cli.notebooks import main

if __name__ == "__main__":
    sys.exit(main())
