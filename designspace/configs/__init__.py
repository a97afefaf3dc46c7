"""The config groups (space, budget, dataset, schedule, experiment, hydra/launcher) and one primary config per
command, shipped as package data; Hydra finds them as pkg://designspace.configs."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
