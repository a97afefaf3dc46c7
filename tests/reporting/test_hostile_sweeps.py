"""Someone else's sweep with a hostile space name, through `analyze` as a user runs it: the HTML report has no live
link, handler or script (parsed, not grepped) and the terminal gets no control sequence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from designspace.space.sampler import sample, spec_of
from designspace.sweep.layout import SweepDir
from designspace.sweep.results import write_record
from designspace.util.usage import terminal_safe
from tests.helpers.html import problems

HOSTILE = "[click](java&#115;cript:alert(document.domain))\x1b]0;pwned\x07\x1b[2J<img src=x onerror=alert(1)>"


def hostile_sweep(root: Path) -> SweepDir:
    frame = sample("anynetx_e", 8, 0, "fmnist_tiny", progress=False)
    sweep = SweepDir(root)
    sweep.write_samples(frame, f"space:\n  name: {HOSTILE!r}\nbudget:\n  name: fmnist_tiny\n".replace("'", '"'))
    rng = np.random.default_rng(0)
    for i, mid in enumerate(frame["model_id"]):
        spec = spec_of(frame.iloc[i]).to_dict()
        error = round(float(rng.uniform(10, 40)), 2)
        write_record(sweep, {"model_id": mid, "status": "ok", "spec": spec, "trained_spec": spec,
                             "complexity": {"flops": 1, "params": 1, "acts": 1, "resolution": 28},
                             "dataset": {"name": "fashion_mnist"}, "schedule": {"name": "test"}, "seed": 0,
                             "epochs": [], "final_error": error, "best_error": error})
    return sweep


@pytest.mark.slow
def test_analyze_a_hostile_sweep(tmp_path: Path) -> None:
    sweep = hostile_sweep(tmp_path / "s")
    assert "\x1b" in sweep.config_path.read_text() or "\\x1b" in sweep.config_path.read_text()
    out = tmp_path / "r"
    res = subprocess.run([sys.executable, "-m", "designspace.analyze", f"sweep_dirs=[{sweep.root}]", f"out={out}",
                          "title='[t](JAVASCRIPT:alert(1))'"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    page = (out / "report.html").read_text()
    assert "click" in page and problems(page) == []
    assert not any(ch in res.stdout + res.stderr for ch in "\x1b\x07")


def test_terminal_safe_escapes_controls_only():
    assert terminal_safe("a\x1b[31mb\x07\n\tc\u009bd") == "a\\x1b[31mb\\x07\n\tc\\x9bd"
    assert terminal_safe("AnyNetX_E 12.5% ü") == "AnyNetX_E 12.5% ü"
