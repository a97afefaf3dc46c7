"""`python -m designspace.describe`: runs `designspace.cli.describe.main` (so does the console script `designspace-describe`)."""

import sys

from designspace.cli.describe import main

if __name__ == "__main__":
    sys.exit(main())
