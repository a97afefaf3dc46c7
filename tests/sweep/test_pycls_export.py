"""A sweep as pycls config files: pycls 0.1.1 (installed for the tests) loads every file, builds the network, and
its own complexity counter gives ours for the sampled design on the chosen stem; the sampled lr and weight decay
and the schedule are pycls's keys; the K best trained models; the command line and its user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from designspace.net.complexity import complexity
from designspace.net.export import on_target_stem
from designspace.space.sampler import draw, spec_of
from designspace.sweep.layout import SweepDir
from designspace.sweep.pycls_export import export_sweep
from designspace.sweep.results import build_record, write_record
from designspace.training.schedule import Schedule
from designspace.training.trainer import TrainOutcome
from tests.helpers.train import REPO, TINY_SCHEDULE

pytest.importorskip("pycls", reason="pycls is the oracle of these tests (pip install pycls==0.1.1 --no-deps)")

BUDGET = "fmnist32_50mf"
LAWS = {"lr": [0.05, 0.8], "weight_decay": [1e-5, 1e-3]}
DATASET = {"name": "fashion_mnist", "resolution": 32, "channels": 1, "num_classes": 10, "stem_stride": 1,
           "train_size": 60000, "test_size": 10000}


def _sweep(root: Path, space: str, n: int, hparams: dict | None = None) -> SweepDir:
    frame = draw(space, n, 1, BUDGET, hparams=hparams).frame
    sweep = SweepDir(root)
    sweep.write_samples(frame, yaml.safe_dump({"space": space, "budget": BUDGET, "n": n, "seed": 1}))
    return sweep


def _pycls(path: Path) -> tuple[object, dict[str, int]]:
    """pycls's config after reading `path` (its yacs merge refuses unknown keys and mistyped values), and the
    complexity pycls's own counter gives the model it builds."""
    import pycls.core.builders as builders
    import pycls.core.net as net
    from pycls.core.config import cfg, reset_cfg

    reset_cfg()
    cfg.merge_from_file(str(path))
    return cfg, net.complexity(builders.get_model())


def _ours(row: pd.Series, size: int, **stem: int) -> tuple[int, int, int]:
    cx = complexity(on_target_stem(spec_of(row), **stem), size)
    return cx.flops, cx.params, cx.acts


def test_every_model_of_a_regnet_sweep_loads_in_pycls_with_our_complexity(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "regnet", "regnet", 6, LAWS)
    paths = export_sweep(sweep, tmp_path / "cfg", schedule=Schedule.from_dict(TINY_SCHEDULE))
    samples = sweep.read_samples()
    assert [p.name for p in paths] == [f"{m}.yaml" for m in samples["model_id"]]
    for path, (_, row) in zip(paths, samples.iterrows()):
        cfg, theirs = _pycls(path)
        assert (theirs["flops"], theirs["params"], theirs["acts"]) == _ours(row, 224)
        optim, regnet = cfg["OPTIM"], cfg["REGNET"]  # pycls's CfgNode, as it read the file
        assert cfg["MODEL"]["TYPE"] == "regnet" and (regnet["DEPTH"], regnet["WM"]) == (row["depth"], row["wm"])
        assert (optim["BASE_LR"], optim["WEIGHT_DECAY"]) == (row["lr"], row["weight_decay"])
        assert (cfg.OPTIM.MAX_EPOCH, cfg.TRAIN.BATCH_SIZE, cfg.TRAIN.DATASET, cfg.TRAIN.IM_SIZE, cfg.TEST.IM_SIZE) == (
            1, 64, "imagenet", 224, 256)
        header = [line for line in path.read_text().splitlines() if line.startswith("#")]
        assert any(line.startswith("# not mapped: ") and "train_subset 2048" in line for line in header)
        assert f"# sampled with the model: lr {row['lr']:.6g}, weight_decay {row['weight_decay']:.6g}" in header


def test_pycls_builds_the_same_network(tmp_path: Path) -> None:
    import pycls.core.builders as builders

    from designspace.net.anynet import build_model

    sweep = _sweep(tmp_path / "regnet", "regnet", 1, LAWS)
    (path,) = export_sweep(sweep, tmp_path / "cfg")
    _pycls(path)
    theirs = builders.build_model()
    ours = build_model(on_target_stem(spec_of(sweep.read_samples().iloc[0])))
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.parameters())


def test_anynet_designs_on_the_cifar_stem_and_no_schedule(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "anynet", "anynetx_c", 4)
    paths = export_sweep(sweep, tmp_path / "cfg", stem={"in_channels": 3, "stem_stride": 1, "num_classes": 10})
    for path, (_, row) in zip(paths, sweep.read_samples().iterrows()):
        cfg, theirs = _pycls(path)
        assert cfg.MODEL.TYPE == "anynet" and cfg.ANYNET.STEM_TYPE == "res_stem_cifar" and cfg.MODEL.NUM_CLASSES == 10
        assert (cfg.TRAIN.DATASET, cfg.TRAIN.IM_SIZE, cfg.TEST.IM_SIZE, cfg.TEST.SPLIT) == ("cifar10", 32, 32, "test")
        assert (theirs["flops"], theirs["params"], theirs["acts"]) == _ours(row, 32, stem_stride=1, num_classes=10)
        text = path.read_text()
        assert "OPTIM" not in yaml.safe_load(text) and "no training schedule" in text


def _record(sweep: SweepDir, row: pd.Series, error: float, status: str = "ok") -> None:
    spec = spec_of(row)
    hparams = {k: float(row[k]) for k in ("lr", "weight_decay")}
    schedule = {**Schedule.from_dict(TINY_SCHEDULE).to_dict(), **hparams}
    trained = spec.replace(num_classes=10, in_channels=1, stem_stride=1)
    outcome = TrainOutcome(status, [{"epoch": 1, "test_error": error}], error if status == "ok" else None, error, 1.0,
                           "cpu", 1)
    write_record(sweep, build_record(row["model_id"], spec, trained, DATASET, schedule, 3, outcome=outcome,
                                     hparams=hparams))


def test_the_best_trained_models_with_the_records_setup(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "regnet", "regnet", 5, LAWS)
    samples = sweep.read_samples()
    for (_, row), error in zip(samples.iterrows(), [30.0, 20.0, 25.0, 10.0]):  # the fifth is not trained
        _record(sweep, row, error, "diverged" if error == 10.0 else "ok")
    paths = export_sweep(sweep, tmp_path / "cfg", top=2)
    assert [p.stem for p in paths] == [samples["model_id"][1], samples["model_id"][2]]  # 20%, 25%; not the diverged
    cfg, _ = _pycls(paths[0])
    row = samples.iloc[1]
    assert (cfg["OPTIM"]["BASE_LR"], cfg["RNG_SEED"], cfg["TRAIN"]["BATCH_SIZE"]) == (row["lr"], 3, 64)
    assert "# top-1 error there: 20.00% (fashion_mnist 32px" in paths[0].read_text()


def _describe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "designspace.describe", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_the_command_line(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "regnet", "regnet", 3, LAWS)
    ok = _describe(f"sweep_dir={sweep.root}", "export=pycls", f"out={tmp_path / 'cfg'}", "schedule=fmnist_cpu",
                   "schedule.lr=0.3")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"wrote 3 pycls config files to {tmp_path / 'cfg'}"
    cfg = yaml.safe_load((tmp_path / "cfg" / f"{sweep.read_samples()['model_id'][0]}.yaml").read_text())
    assert cfg["OPTIM"]["BASE_LR"] == sweep.read_samples()["lr"][0] and cfg["TRAIN"]["BATCH_SIZE"] == 64
    for args, words in ((["top=2", "export=pycls"], "without model_id"),
                        ([f"out={tmp_path / 'x'}", "export=timm"], "out= writes pycls config files"),
                        ([f"out={tmp_path / 'y'}", "export=pycls", "top=1"], "has no trained model yet"),
                        (["export=pycls", "model_id=abc", "schedule=fmnist_cpu"], "schedule= is written")):
        bad = _describe(f"sweep_dir={sweep.root}", *args)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and words in bad.stderr, bad.stderr
