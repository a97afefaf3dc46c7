"""models/ holds the published zoo in pycls's and timm's forms: current with models/export_zoo.py, and each file
reads back (designspace.net.export) to the zoo model it names."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from designspace.net import zoo
from designspace.net.export import from_pycls, from_timm

MODELS = Path(__file__).resolve().parents[2] / "models"


def _script():
    spec = importlib.util.spec_from_file_location("export_zoo", MODELS / "export_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_files_are_what_the_script_writes() -> None:
    expected = _script().files()
    assert len(expected) == 48
    stale = [p.name for p, text in expected.items() if not p.is_file() or p.read_text() != text]
    assert not stale, f"run python models/export_zoo.py: {stale}"
    extra = {p for p in MODELS.glob("*/*.yaml")} - set(expected)
    assert not extra, extra


@pytest.mark.parametrize("name", zoo.names())
def test_each_file_reads_back_to_its_zoo_model(name: str) -> None:
    pycls = yaml.safe_load((MODELS / "pycls" / f"{name}.yaml").read_text())
    timm = yaml.safe_load((MODELS / "timm" / f"{name}.yaml").read_text())
    assert from_pycls(pycls) == zoo.get(name) == from_timm(timm)
    assert pycls["REGNET"]["SE_ON"] == name.startswith("RegNetY")


def test_published_values_as_pycls_and_timm_give_them() -> None:
    # pycls configs/dds_baselines/regnety/RegNetY-800MF_dds_8gpu.yaml; timm model_cfgs["regnety_008"]
    y = yaml.safe_load((MODELS / "pycls" / "RegNetY-800MF.yaml").read_text())["REGNET"]
    assert (y["DEPTH"], y["W0"], y["WA"], y["WM"], y["GROUP_W"], y["SE_ON"]) == (14, 56, 38.84, 2.4, 16, True)
    t = yaml.safe_load((MODELS / "timm" / "RegNetX-32GF.yaml").read_text())
    assert t["model"] == "regnetx_320"
    assert {k: t["cfg"][k] for k in ("w0", "wa", "wm", "group_size", "depth")} == {
        "w0": 320, "wa": 69.86, "wm": 2.0, "group_size": 168, "depth": 23}
