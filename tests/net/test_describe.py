"""The describe CLI prints the network table with the exact totals."""

from __future__ import annotations

import subprocess
import sys

from designspace.net import zoo
from designspace.net.describe import describe, describe_zoo
from tests.helpers.paths import read_zoo_reference


def test_table_lists_every_stage_and_the_exact_totals():
    row = next(r for r in read_zoo_reference() if r["name"] == "RegNetY-800MF")
    text = describe(zoo.get("RegNetY-800MF"))
    assert f"{int(row['flops']):,} flops" in text and f"{int(row['params']):,} params" in text
    assert "0.80 GF" in text and "6.26 M" in text
    lines = {ln.split()[0]: ln.split() for ln in text.splitlines() if ln.startswith(("stage", "stem", "head"))}
    assert [lines[f"stage{i}"][2] for i in range(1, 5)] == row["stage_widths"].split()
    assert [lines[f"stage{i}"][1] for i in range(1, 5)] == row["stage_depths"].split()
    assert lines["stage1"][6] == "8/16"  # SE widths round(0.25 * w_in): 32 -> 8, 64 -> 16


def test_zoo_listing_has_all_models():
    text = describe_zoo()
    assert all(name in text for name in zoo.names())


def test_cli_runs_and_rejects_unknown_keys():
    ok = subprocess.run([sys.executable, "-m", "designspace.describe", "model=RegNetX-200MF"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "199,040,872 flops" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "designspace.describe", "modle=RegNetX-200MF"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "modle" in bad.stderr + bad.stdout
    unknown = subprocess.run([sys.executable, "-m", "designspace.describe", "model=RegNetQ"],
                             capture_output=True, text=True, check=False)
    assert unknown.returncode != 0 and "unknown zoo model 'RegNetQ'" in unknown.stderr
