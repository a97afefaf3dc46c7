"""`python -m designspace.analyze` end to end on two real sweep directories (sampler output,
hand-written result records), every reported number recomputed independently."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from designspace.net.regnet import regnet_widths
from designspace.net.widthfit import block_widths_of
from designspace.space.sampler import sample, spec_of
from designspace.sweep.layout import SweepDir
from designspace.sweep.results import write_record

ROOT = Path(__file__).resolve().parents[2]


def _make_sweep(root: Path, space: str, seed: int) -> dict[str, tuple[str, float | None]]:
    frame = sample(space, 12, seed, "fmnist_tiny", progress=False)
    sweep = SweepDir(root / space)
    sweep.write_samples(frame, f"space:\n  name: {space}\nbudget:\n  name: fmnist_tiny\n")
    rng = np.random.default_rng(seed)
    truth = {}
    for i, mid in enumerate(frame["model_id"]):
        status = "diverged" if i == 0 else "failed" if i == 1 else "pending" if i == 2 else "ok"
        error = round(float(rng.uniform(10, 40)), 2) if status == "ok" else None
        truth[mid] = (status, error)
        if status == "pending":
            continue
        spec = spec_of(frame.iloc[i]).to_dict()
        write_record(sweep, {
            "model_id": mid, "status": status, "spec": spec, "trained_spec": spec,
            "complexity": {"flops": 1, "params": 1, "acts": 1, "resolution": 28},
            "dataset": {"name": "fashion_mnist"}, "schedule": {"name": "test"}, "seed": 0,
            "epochs": [], "final_error": error, "best_error": error,
        })
    return truth


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyze")
    truth = {s: _make_sweep(tmp, s, i) for i, s in enumerate(("anynetx_e", "regnetx"))}
    out = tmp / "report"
    cmd = [sys.executable, "-m", "designspace.analyze", f"sweep_dirs=[{tmp / 'anynetx_e'},{tmp / 'regnetx'}]",
           f"out={out}", "formats=[png]", "draws=2000", "top=5", "bins=3",
           "min_per_draw=1"]  # small sweeps: the bootstrap's minimum is tested on its own
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, truth, tmp


def _used_errors(truth: dict) -> np.ndarray:
    return np.array([100.0 if s in ("diverged", "failed") else e for s, e in truth.values() if s != "pending"])


@pytest.mark.slow
def test_report_files(report):
    out, _, _ = report
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    images = re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", md)
    assert len(images) >= 8
    for rel in images + re.findall(r"\((data/[^)]+\.csv)\)", md):
        assert (out / rel).is_file(), rel
        assert rel in html
    for section in ("## Spaces", "## KS distances between spaces", "## Where the good models are",
                    "## The linear width rule", "## Trends across regimes"):
        assert section in md
    # one sweep per space: no trend figure, and the report says why
    assert "trends across regimes need at least two sweeps of one space" in md


def test_summary_numbers(report):
    out, truth, _ = report
    summary = pd.read_csv(out / "data" / "summary.csv").set_index("space")
    for space, t in truth.items():
        e = _used_errors(t)
        row = summary.loc[space]
        assert (row["models"], row["diverged"], row["failed"], row["untrained"], row["n"]) == (12, 1, 1, 1, 11)
        assert row["min_error"] == pytest.approx(e.min()) and row["mean_error"] == pytest.approx(e.mean())
        assert row["median_error"] == pytest.approx(np.median(e))
    md = (out / "report.md").read_text()
    unpadded = re.sub(" +", " ", md)  # table cells are padded to the column width
    assert f"| anynetx_e | 12 | 9 | 1 | 1 | 1 | 11 | {_used_errors(truth['anynetx_e']).min():.2f} |" in unpadded


def test_ks_and_random_search_numbers(report):
    out, truth, _ = report
    ks = pd.read_csv(out / "data" / "ks.csv")
    ref = stats.ks_2samp(_used_errors(truth["anynetx_e"]), _used_errors(truth["regnetx"]))
    assert ks.loc[0, "D"] == pytest.approx(ref.statistic) and ks.loc[0, "p_value"] == pytest.approx(ref.pvalue)
    rs = pd.read_csv(out / "data" / "random_search.csv")
    k1 = rs[(rs["space"] == "regnetx") & (rs["k"] == 1)]["expected_min_error"].iloc[0]
    assert k1 == pytest.approx(_used_errors(truth["regnetx"]).mean())


def test_best_ranges_follow_the_exact_law(report):
    out, truth, tmp = report
    ranges = pd.read_csv(out / "data" / "best_ranges.csv")
    samples = SweepDir(tmp / "regnetx").read_samples().set_index("model_id")
    ids = [m for m, (s, _) in truth["regnetx"].items() if s != "pending"]
    err = np.array([100.0 if truth["regnetx"][m][0] != "ok" else truth["regnetx"][m][1] for m in ids])
    x = samples.loc[ids, "depth"].to_numpy()
    order = np.argsort(err, kind="stable")
    n, m = len(ids), max(1, round(0.25 * len(ids)))
    p_rank = ((n - np.arange(n)) / n) ** m - ((n - np.arange(n) - 1) / n) ** m  # best-of-m rank law
    xs, ps = x[order], p_rank
    srt = np.argsort(xs, kind="stable")
    cdf = np.cumsum(ps[srt])
    def q(p):
        return xs[srt][np.searchsorted(cdf, p)]
    row = ranges[(ranges["space"] == "regnetx") & (ranges["param"] == "depth")]
    assert row.empty  # depth is reported as total_depth; RegNet's own depth column is the same number
    row = ranges[(ranges["space"] == "regnetx") & (ranges["param"] == "total_depth")].iloc[0]
    assert q(0.40) <= row["median"] <= q(0.60)
    assert row["low"] >= xs.min() and row["high"] <= xs.max()


def test_efit_numbers(report):
    out, _, _ = report
    pts = pd.read_csv(out / "data" / "efit.csv")
    samples = pd.concat([SweepDir(d).read_samples() for d in pts["space"].map(lambda s: report[2] / s).unique()])
    samples = samples.set_index("model_id")
    for _, r in pts.iterrows():
        w = block_widths_of(samples.loc[r["model_id"]])
        w_hat = np.asarray(regnet_widths(w.size, int(r["fit_w0"]), r["fit_wa"], r["fit_wm"]).block_widths, float)
        assert r["e_fit"] == pytest.approx(np.mean(np.abs(np.log(w_hat / w))), abs=1e-12)
        assert r["e_fit_exact"] == (r["e_fit"] == 0)
    summary = pd.read_csv(out / "data" / "efit_summary.csv").set_index("space")
    for space, part in pts.groupby("space"):
        assert summary.loc[space, "median_e_fit"] == pytest.approx(part["e_fit"].median())
        assert summary.loc[space, "exact_share"] == pytest.approx(part["e_fit_exact"].mean())


def test_cli_without_inputs_fails_with_a_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "designspace.analyze", f"out={tmp_path / 'r'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "nothing to analyse" in proc.stderr


def test_the_summary_shows_the_good_ranges_of_sampled_hyperparameters(tmp_path):
    import os
    import time

    from designspace.cli.analyze import summary_text

    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"space": ["RegNet"], "n": [40], "ok": [40], "diverged": [0], "failed": [0], "untrained": [0],
                  "median_error": [30.0], "min_error": [25.0], "best_model": ["0123456789ab"]}).to_csv(
        data / "summary.csv", index=False)
    pd.DataFrame({"space": ["RegNet"], "param": ["lr"], "n": [40], "median": [0.21], "low": [0.12],
                  "high": [0.39]}).to_csv(data / "hparam_ranges.csv", index=False)
    report = tmp_path / "report.md"
    assert "0.21 [0.12, 0.39]" in summary_text(report)
    old = time.time() - 60  # a file left by an earlier report into the same folder is not shown
    os.utime(data / "hparam_ranges.csv", (old, old))
    assert "0.21 [0.12, 0.39]" not in summary_text(report)
