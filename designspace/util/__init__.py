"""Helpers every stage uses: atomic writes (`atomic`), the unknown-key check (`validation`) and the
command-line error rule, one line and exit status 2 (`usage`)."""
