"""The trainer: real training on the bundled Fashion-MNIST, schedules, determinism, resume, divergence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from designspace.training.data import load_dataset
from designspace.training.schedule import Schedule
from designspace.training.trainer import EMA, Trainer, adapt_spec, describe_failure, train_spec
from tests.helpers.train import REPO, TINY_SCHEDULE, TINY_SPECS, StopInEpoch, make_image_folder

pytestmark = pytest.mark.usefixtures("one_thread")


def _curves(outcome) -> list[tuple]:
    return [(e["epoch"], e["train_loss"], e["train_error"], e["test_error"], e["lr"]) for e in outcome.epochs]


def test_half_cosine_with_warmup() -> None:
    s = Schedule(epochs=10, lr=0.4)
    assert [s.lr_at(t) for t in (0, 5, 10)] == pytest.approx([0.4, 0.2, 0.0])
    assert s.lr_at(2.5) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi / 4)))
    w = Schedule(epochs=10, lr=0.4, warmup_epochs=2, warmup_factor=0.1)
    assert w.lr_at(0) == pytest.approx(0.04)
    assert w.lr_at(1) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi / 10)) * 0.55)
    assert w.lr_at(2) == pytest.approx(s.lr_at(2))
    assert Schedule(epochs=1, lr=0.1, lr_reference_batch=128, batch_size=1024).base_lr == pytest.approx(0.8)
    with pytest.raises(ValueError, match="unknown key.*'lrr'"):
        Schedule.from_dict({"lrr": 0.1})
    with pytest.raises(ValueError, match="momentum=1.5"):
        Schedule.from_dict({"momentum": 1.5})


def test_schedule_configs() -> None:
    folder = REPO / "configs" / "schedule"
    schedules = {p.stem: Schedule.from_dict(yaml.safe_load(p.read_text())) for p in folder.glob("*.yaml")}
    assert {"paper_10ep", "paper_25ep", "paper_100ep", "cifar_short", "fmnist_short", "fmnist_tiny"} <= set(schedules)
    assert all(s.name == name for name, s in schedules.items())
    p10, p25, p100 = schedules["paper_10ep"], schedules["paper_25ep"], schedules["paper_100ep"]
    assert (p10.epochs, p10.batch_size, p10.base_lr, p10.momentum, p10.nesterov, p10.weight_decay) == \
        (10, 128, 0.05, 0.9, True, 5e-5)
    assert (p25.epochs, p25.base_lr, p25.weight_decay, p25.warmup_epochs) == (25, 0.1, 5e-5, 0)
    assert (p100.epochs, p100.warmup_epochs, p100.weight_decay) == (100, 5, 5e-5)
    assert Schedule(**{**p100.to_dict(), "batch_size": 1024}).base_lr == pytest.approx(0.8)


@pytest.mark.slow
def test_training_falls_well_below_chance(fmnist) -> None:
    tiny = Schedule.from_dict(yaml.safe_load((REPO / "configs" / "schedule" / "fmnist_tiny.yaml").read_text()))
    out = train_spec(TINY_SPECS[1], fmnist, tiny, seed=0, device="cpu")
    assert out.status == "ok" and out.device == "cpu" and len(out.epochs) == tiny.epochs
    assert out.final_error < 45.0, out.epochs  # chance is 90% (a <1 MF toy network; zero-init of the last BN on)
    assert out.epochs[-1]["train_loss"] < math.log(10)
    assert out.best_error == min(e["test_error"] for e in out.epochs)


@pytest.mark.slow
def test_same_seed_same_error(fmnist) -> None:
    sched = Schedule.from_dict(TINY_SCHEDULE)
    a = train_spec(TINY_SPECS[0], fmnist, sched, seed=3, device="cpu")
    b = train_spec(TINY_SPECS[0], fmnist, sched, seed=3, device="cpu")
    c = train_spec(TINY_SPECS[0], fmnist, sched, seed=4, device="cpu")
    assert _curves(a) == _curves(b)
    assert _curves(a) != _curves(c)


@pytest.mark.slow
def test_resume_inside_a_model_matches_uninterrupted(fmnist, tmp_path: Path) -> None:
    sched = Schedule.from_dict({**TINY_SCHEDULE, "epochs": 3, "ema_decay": 0.9})
    spec = adapt_spec(TINY_SPECS[2], fmnist)
    ckpt = tmp_path / "m.pt"
    full = Trainer(spec, fmnist, sched, seed=1, device="cpu").fit()
    with pytest.raises(KeyboardInterrupt):
        Trainer(spec, fmnist, sched, seed=1, device="cpu", hooks=StopInEpoch(2)).fit(ckpt, checkpoint_every_s=0)
    assert ckpt.is_file()
    resumed = Trainer(spec, fmnist, sched, seed=1, device="cpu").fit(ckpt, checkpoint_every_s=0)
    assert resumed.resumed_from_epoch == 2
    assert _curves(resumed) == _curves(full)
    assert resumed.wall_time_s >= sum(e["seconds"] for e in resumed.epochs) * 0.99


def test_checkpoint_of_another_seed_is_not_resumed(fmnist, tmp_path: Path) -> None:
    sched = Schedule.from_dict({**TINY_SCHEDULE, "epochs": 2, "train_subset": 512})
    spec = adapt_spec(TINY_SPECS[0], fmnist)
    ckpt = tmp_path / "m.pt"
    with pytest.raises(KeyboardInterrupt):
        Trainer(spec, fmnist, sched, seed=1, device="cpu", hooks=StopInEpoch(1)).fit(ckpt, checkpoint_every_s=0)
    other = Trainer(spec, fmnist, sched, seed=2, device="cpu").fit(ckpt, checkpoint_every_s=0)
    assert other.resumed_from_epoch is None and len(other.epochs) == 2
    ckpt.write_bytes(b"garbage")
    assert not Trainer(spec, fmnist, sched, seed=1, device="cpu").restore(ckpt)


def test_nonfinite_loss_is_diverged(fmnist) -> None:
    sched = Schedule.from_dict({**TINY_SCHEDULE, "name": "absurd", "lr": 1e6})
    out = train_spec(TINY_SPECS[0], fmnist, sched, seed=0, device="cpu")
    assert out.status == "diverged" and out.final_error is None
    assert "non-finite training loss" in out.reason


def test_adapt_spec_to_the_data(fmnist) -> None:
    from designspace.net import zoo

    spec = zoo.get("RegNetX-200MF")
    adapted = adapt_spec(spec, fmnist)
    assert (adapted.num_classes, adapted.in_channels, adapted.stem_stride) == (10, 1, 1)
    assert adapted.widths == spec.widths and adapted.depths == spec.depths


def test_ema_is_a_moving_average() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(model, decay=0.75)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(4.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update()
    now, live = ema.module.state_dict(), model.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.running_mean"):
        assert torch.allclose(now[key], 0.75 * before[key] + 0.25 * live[key])
    assert int(now["1.num_batches_tracked"]) == 7


def test_failure_reasons() -> None:
    try:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    except Exception as exc:  # noqa: BLE001
        reason = describe_failure(exc)
    assert reason.startswith("out of memory: OutOfMemoryError") and "test_trainer.py" in reason
    assert describe_failure(ValueError("bad")).startswith("ValueError: bad")


def test_batch_larger_than_the_data_is_an_error(fmnist) -> None:
    with pytest.raises(ValueError, match="exceeds the 100 training images"):
        Trainer(adapt_spec(TINY_SPECS[0], fmnist), fmnist, Schedule(train_subset=100, batch_size=128), device="cpu")


def test_trains_on_an_image_folder(tmp_path: Path) -> None:
    make_image_folder(tmp_path)
    data = load_dataset({"name": "imagefolder", "format": "imagefolder", "root": str(tmp_path), "resolution": 16,
                         "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "workers": 0})
    sched = Schedule(name="t", epochs=2, batch_size=2, lr=0.05, precise_bn_samples=4, eval_batch_size=4)
    out = train_spec(TINY_SPECS[0], data, sched, seed=0, device="cpu")
    assert out.status == "ok" and len(out.epochs) == 2 and 0 <= out.final_error <= 100
