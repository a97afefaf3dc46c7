"""The NDS data-release reader, on fixture files written in that format (tests/data/nds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from designspace import analysis as an
from designspace.analysis.nds import nds_curves, nds_spaces, read_nds, read_nds_file

NDS = Path(__file__).resolve().parents[1] / "data" / "nds"


def test_spaces_and_residual_records():
    assert nds_spaces(NDS) == ["DARTS", "ResNeXt-A", "ResNeXt-B_in", "ResNet_reruns"]
    f = read_nds(NDS, ["ResNeXt-A"])
    assert len(f) == 3 and set(f["space"]) == {"ResNeXt-A"}
    r = f.iloc[0]
    assert (r["d1"], r["d2"], r["d3"], r["w1"], r["w3"], r["num_stages"]) == (1, 2, 3, 64, 256, 3)
    # NDS bot_mul 0.25 -> inner width 16 -> the RegNet paper's b = 64 / 16 = 4; group width = 16 / 1 group
    assert (r["b1"], r["g1"], r["b2"], r["g2"], r["b3"], r["g3"]) == (4.0, 16.0, 2.0, 32.0, 1.0, 64.0)
    assert r["num_groups3"] == 4 and r["stride2"] == 2
    assert r["error"] == r["best_error"] == 12.5 and r["final_error"] == 13.0
    assert (r["flops"], r["params"], r["status"], r["dataset"]) == (50_000_000, 400_000, "ok", "cifar10")
    assert (r["base_lr"], r["weight_decay"], r["epochs"], r["family"]) == (0.1, 5e-4, 4, "res_bottleneck_block")


def test_final_error_option_and_imagenet_and_reruns():
    f = read_nds(NDS, ["ResNeXt-A", "ResNeXt-B_in", "ResNet_reruns"], error="final")
    np.testing.assert_array_equal(f.loc[f["space"] == "ResNeXt-A", "error"], [13.0, 9.5, 11.5])
    assert (f.loc[f["space"] == "ResNeXt-B_in", "dataset"] == "imagenet").all()
    reruns = f[f["space"] == "ResNet_reruns"]
    assert list(reruns["subset"]) == ["top", "mid"]
    assert (reruns["b1"] == 1.0).all() and (reruns["g1"] == 16.0).all()  # no bot_muls/num_gs: b = 1, 1 group
    with pytest.raises(ValueError, match="error="):
        read_nds(NDS, error="last")


def test_cell_records_and_curves():
    f = read_nds_file(NDS / "DARTS.json", curves=True)
    r = f.iloc[0]
    assert (r["family"], r["depth"], r["width"], r["error"]) == ("nas_cell", 20, 32, 6.5)
    curves = nds_curves(read_nds(NDS, ["ResNeXt-A"], curves=True))
    assert len(curves) == 12 and list(curves["epoch"][:4]) == [1, 2, 3, 4]
    assert np.isnan(curves["train_loss"].iloc[9])  # NaN losses of the release are kept
    assert curves["test_top1_error"].iloc[3] == 13.0


def test_analysis_runs_on_nds_tables():
    f = read_nds(NDS, ["ResNeXt-A", "ResNet_reruns"])
    table = an.summary_table(f).set_index("space")
    assert table.loc["ResNeXt-A", "min_error"] == 9.5
    fits = an.fit_regnet_many(f)
    assert (fits["e_fit"] >= 0).all()


def test_malformed_files(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"top": 3}))
    with pytest.raises(ValueError, match="list of model records"):
        read_nds_file(tmp_path / "bad.json")
    (tmp_path / "nonet.json").write_text(json.dumps([{"flops": 1}]))
    with pytest.raises(ValueError, match="no 'net'"):
        read_nds_file(tmp_path / "nonet.json")
    with pytest.raises(FileNotFoundError, match="no NDS file"):
        read_nds(NDS, ["ResNeXt-C"])


@pytest.mark.slow
def test_report_on_nds_data(tmp_path):
    from omegaconf import OmegaConf

    from designspace.cli.analyze import run

    cfg = OmegaConf.load(Path(__file__).resolve().parents[2] / "configs" / "analyze.yaml")
    cfg.merge_with({"nds": {"dir": str(NDS)}, "out": str(tmp_path / "r"), "formats": ["png"], "draws": 200, "bins": 2})
    md = run(cfg).read_text()
    assert "| DARTS | 1 | 1 | 0 | 0 | 0 | 1 | 6.50 |" in re.sub(" +", " ", md)  # a NAS-cell space: errors, no width analysis
    assert (tmp_path / "r" / "figures" / "widths_ResNeXt-A.png").is_file()
    assert not (tmp_path / "r" / "figures" / "widths_DARTS.png").exists()
