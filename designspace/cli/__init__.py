"""The commands: one module per verb, each a Hydra main on `pkg://designspace.configs` whose user errors
go through `designspace.util.usage` (one line, exit status 2). `python -m designspace.<verb>`, the
console script `designspace-<verb>` and `python -m designspace <verb>` all run `designspace.cli.<verb>.main`."""

COMMANDS = {
    "describe": "a network's stages and exact complexity (zoo models, a sweep's models); export=pycls|timm",
    "spaces": "exact sizes of design spaces (the paper's Table 1)",
    "sample": "draw models from a design space within a complexity budget, into a sweep directory",
    "train": "train every model of a sweep directory (rerun to resume; shards for clusters)",
    "analyze": "EDFs, KS tests, best-model ranges and width fits of trained sweeps: a report",
    "refine": "candidate restrictions of a trained sweep's space, written as space files",
    "compare": "train two sweeps alternately until an anytime-valid test decides which space is better",
    "notebooks": "write the notebooks shipped with the package (EDF comparison, the width rule) into a folder",
    "reproduce": "the paper's progression A -> B -> C -> D -> E -> RegNet, with a report of its findings",
}
"""Every command, in the order of a first session, with what it does in one line."""
