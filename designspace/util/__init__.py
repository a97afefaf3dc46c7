"""Helpers every stage uses: atomic writes (`atomic`), the unknown-key check (`validation`), the command-line
error rule, one line and exit status 2 (`usage`), bounded reads of files someone else wrote (`files`) and names made
safe for each place they are shown (`names`)."""
