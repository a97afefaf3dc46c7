"""Packs: K models trained off one data stream give, bit for bit on CPU, the records they get alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from designspace.training import data as data_module
from designspace.training.data import load_dataset
from designspace.training.pack import PackTrainer, build_trainers, train_pack
from designspace.training.schedule import Schedule
from designspace.training.trainer import Trainer, adapt_spec, train_spec
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, StopInEpoch, make_image_folder

SCHEDULE = {**TINY_SCHEDULE, "epochs": 2, "batch_size": 32, "train_subset": 128, "test_subset": 96,
            "eval_batch_size": 64, "precise_bn_samples": 64, "ema_decay": 0.9}
"""Two epochs of 4 steps, EMA and precise BN on (every per-model state the pack must keep apart), tiny
because the test machine is shared."""


pytestmark = pytest.mark.usefixtures("one_thread")


def _curves(outcome) -> list[tuple]:
    """Everything of an outcome but the timings."""
    return [outcome.status, outcome.final_error, outcome.best_error, outcome.reason, outcome.resumed_from_epoch] + [
        (e["epoch"], e["train_loss"], e["train_error"], e["test_error"], e["lr"]) for e in outcome.epochs]


def _poison(trainer: Trainer) -> Trainer:
    """A non-finite weight: the first step's loss is NaN, so the model diverges."""
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    return trainer


class _FailAt:
    """Makes a trainer's step raise at (epoch, step)."""

    def __init__(self, trainer: Trainer, epoch: int, step: int) -> None:
        self.inner, self.at = trainer.train_step, (epoch, step)
        trainer.train_step = self  # type: ignore[method-assign]

    def __call__(self, x, y, epoch: int, step: int, tally) -> None:
        if (epoch, step) == self.at:
            raise RuntimeError("injected failure")
        self.inner(x, y, epoch, step, tally)


def test_pack_gives_each_model_its_record_alone(fmnist) -> None:
    sched = Schedule.from_dict(SCHEDULE)
    specs = TINY_SPECS[:3]
    packed = train_pack(specs, fmnist, sched, seed=5, device="cpu")
    alone = [train_spec(s, fmnist, sched, seed=5, device="cpu") for s in specs]
    assert [_curves(o) for o in packed] == [_curves(o) for o in alone]
    assert len({o.final_error for o in alone}) > 1  # different networks: the comparison can tell them apart
    other_seed = train_spec(specs[0], fmnist, sched, seed=6, device="cpu")
    assert _curves(other_seed) != _curves(packed[0])


def test_mixed_pack_failed_diverged_and_resumed(fmnist, tmp_path: Path) -> None:
    """One model fails in epoch 2, one diverges at its first step, one resumes after epoch 1 (while the
    others start at epoch 0); the rest of the pack is as if each had been trained alone."""
    sched = Schedule.from_dict({**SCHEDULE, "epochs": 3})
    specs = TINY_SPECS[:4]  # healthy, fails, diverges, resumed
    ckpt = tmp_path / "resumed.pt"
    with pytest.raises(KeyboardInterrupt):
        Trainer(adapt_spec(specs[3], fmnist), fmnist, sched, seed=2, device="cpu",
                hooks=StopInEpoch(1)).fit(ckpt, checkpoint_every_s=0)
    assert ckpt.is_file()

    trainers = build_trainers(specs, fmnist, sched, seed=2, device="cpu")
    _FailAt(trainers[1], 1, 3)
    _poison(trainers[2])
    pack_ckpts = [tmp_path / "healthy.pt", None, None, ckpt]
    results = PackTrainer(trainers, pack_ckpts, checkpoint_every_s=0).fit()

    def alone(i: int) -> Trainer:
        return Trainer(adapt_spec(specs[i], fmnist), fmnist, sched, seed=2, device="cpu")

    healthy = alone(0).fit()
    diverged = _poison(alone(2)).fit()
    uninterrupted = alone(3).fit()
    assert _curves(results[0]) == _curves(healthy) and healthy.status == "ok"
    assert isinstance(results[1], str) and "injected failure" in results[1]
    assert _curves(results[2]) == _curves(diverged) and diverged.status == "diverged"
    assert results[3].resumed_from_epoch == 1
    assert _curves(results[3])[5:] == _curves(uninterrupted)[5:]
    assert results[3].final_error == uninterrupted.final_error
    assert (tmp_path / "healthy.pt").is_file()  # written after epochs 1 and 2, never after the last


def test_a_model_that_cannot_be_built_fails_alone(fmnist, monkeypatch) -> None:
    import designspace.net.anynet as anynet

    sched = Schedule.from_dict({**SCHEDULE, "epochs": 1})
    broken = adapt_spec(TINY_SPECS[1], fmnist)
    build = anynet.build_model

    def build_or_fail(spec, **kwargs):
        if spec == broken:
            raise MemoryError("cannot allocate the test's network")
        return build(spec, **kwargs)

    monkeypatch.setattr(anynet, "build_model", build_or_fail)
    out = train_pack([TINY_SPECS[0], TINY_SPECS[1]], fmnist, sched, seed=0, device="cpu")
    assert isinstance(out[1], str) and out[1].startswith("out of memory") and "test's network" in out[1]
    assert _curves(out[0]) == _curves(train_spec(TINY_SPECS[0], fmnist, sched, seed=0, device="cpu"))


def test_members_must_share_the_stream(fmnist) -> None:
    sched = Schedule.from_dict({**SCHEDULE, "epochs": 1})
    a, b = build_trainers(TINY_SPECS[:2], fmnist, sched, seed=0, device="cpu")
    c = Trainer(adapt_spec(TINY_SPECS[2], fmnist), fmnist, sched, seed=1, device="cpu", loader=a.loader)
    with pytest.raises(ValueError, match="share the loader, the seed"):
        PackTrainer([a, c])
    with pytest.raises(ValueError, match="at least one"):
        PackTrainer([])
    d = Trainer(adapt_spec(TINY_SPECS[2], fmnist), fmnist, sched, seed=0, device="cpu")
    with pytest.raises(ValueError, match="share the loader"):
        PackTrainer([b, d])


def test_image_folder_pack_decodes_each_batch_once(tmp_path: Path, monkeypatch) -> None:
    """Image folders: the pack's records equal each model's alone, and each image is decoded once per pass
    (training, precise BN and test) for the whole pack, not once per model."""
    make_image_folder(tmp_path)
    data = load_dataset({"name": "imagefolder", "format": "imagefolder", "root": str(tmp_path), "resolution": 16,
                         "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "workers": 0})
    sched = Schedule(name="t", epochs=2, batch_size=2, lr=0.05, precise_bn_samples=4, eval_batch_size=4)
    decode, decoded = data_module.decode_crop, []

    def counting(*args, **kwargs):
        decoded.append(args[0])
        return decode(*args, **kwargs)

    monkeypatch.setattr(data_module, "decode_crop", counting)
    alone = [train_spec(s, data, sched, seed=0, device="cpu") for s in TINY_SPECS[:3]]
    per_model = len(decoded) // 3
    decoded.clear()
    packed = train_pack(TINY_SPECS[:3], data, sched, seed=0, device="cpu")
    assert [_curves(o) for o in packed] == [_curves(o) for o in alone]
    assert len(decoded) == per_model > 0
