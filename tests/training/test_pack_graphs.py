"""The CUDA-graph fast path of a pack (off by default; these tests need a GPU and skip without one)."""

from __future__ import annotations

import pytest
import torch

from designspace.training.data import load_dataset
from designspace.training.pack import train_pack
from designspace.training.schedule import Schedule
from tests.helpers.train import TINY_SCHEDULE, TINY_SPECS, bundled_fmnist

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA graphs need a CUDA device (none here: the graph path is untested)")

SCHEDULE = {**TINY_SCHEDULE, "epochs": 2, "train_subset": 1024, "test_subset": 500, "precise_bn_samples": 256,
            "ema_decay": 0.9}


def test_graph_pack_trains_like_the_eager_pack() -> None:
    """bf16 kernels are not bit-reproducible across launch orders: the curves agree closely, not exactly."""
    data = load_dataset(bundled_fmnist())
    sched = Schedule.from_dict(SCHEDULE)
    eager = train_pack(TINY_SPECS[:3], data, sched, seed=0, device="cuda")
    graphs = train_pack(TINY_SPECS[:3], data, sched, seed=0, device="cuda", graphs=True)
    for e, g in zip(eager, graphs):
        assert g.status == e.status == "ok" and g.reason is None, g.reason
        for a, b in zip(e.epochs, g.epochs):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)
        assert abs(g.final_error - e.final_error) < 5.0


def test_a_failed_capture_trains_eagerly_and_says_so(monkeypatch) -> None:
    from designspace.training import graphs

    def fail(self) -> None:
        raise RuntimeError("capture refused for the test")

    monkeypatch.setattr(graphs.GraphStep, "capture", fail)
    data = load_dataset(bundled_fmnist())
    sched = Schedule.from_dict({**SCHEDULE, "epochs": 1})
    out = train_pack(TINY_SPECS[:2], data, sched, seed=0, device="cuda", graphs=True)
    eager = train_pack(TINY_SPECS[:2], data, sched, seed=0, device="cuda")
    for o, e in zip(out, eager):
        assert o.status == "ok" and "capture refused for the test" in o.reason
        assert o.final_error == pytest.approx(e.final_error, abs=5.0)
