"""The commands: one module per verb, each a Hydra main on `pkg://designspace.configs` whose user errors
go through `designspace.util.usage` (one line, exit status 2). `python -m designspace.<verb>` and the
console script `designspace-<verb>` both run `designspace.cli.<verb>.main`."""
