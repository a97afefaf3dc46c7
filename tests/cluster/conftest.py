"""Real cluster engines for the `cluster` tests: a one-node SLURM cluster and a local Ray head on 127.0.0.1.

They run with `make test-cluster` (or `pytest -m cluster tests/cluster`); a plain `pytest` or `make test`
deselects them. Each fixture starts its engine, and stops it at the end whatever happened (an engine that
was already running before the tests is left running by the SLURM fixture; `ray stop --force` stops every
Ray process of this machine).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from tests.helpers.cluster import (
    CLUSTER_DIR,
    PARTITION,
    VENV_BIN,
    RayHead,
    Slurm,
    free_port,
    run_cmd,
    slurm_up,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without an explicit -m, deselect the cluster tests (they install and start real engines)."""
    if config.getoption("markexpr"):
        return
    keep = [item for item in items if item.get_closest_marker("cluster") is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("cluster")])
        items[:] = keep


@pytest.fixture(scope="session")
def slurm() -> Iterator[Slurm]:
    """The one-node SLURM cluster of .ci/cluster/slurm-up.sh, stopped at the end (slurm-down.sh)."""
    was_up = slurm_up()
    if was_up:  # a running cluster (this script's, or a real one: DS_SLURM_PARTITION names its partition)
        started = Slurm(PARTITION, 0.0)
    elif os.geteuid() != 0:
        pytest.skip("the SLURM tests need root to install and start munge, slurmdbd, slurmctld and slurmd, or a "
                    "SLURM cluster already running here (README: Clusters: SLURM and Ray, as tested)")
    else:
        t0 = time.monotonic()
        res = run_cmd([str(CLUSTER_DIR / "slurm-up.sh")], timeout=900)
        if res.returncode != 0:
            last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
            pytest.fail(f"could not start the one-node SLURM cluster (.ci/cluster/slurm-up.sh): {last}", pytrace=False)
        started = Slurm(PARTITION, time.monotonic() - t0)
        print(f"\n{res.stdout.strip()} (fixture: {started.start_s:.1f}s)")
    try:
        yield started
    finally:
        if not was_up:
            down = run_cmd([str(CLUSTER_DIR / "slurm-down.sh")], timeout=180)
            print(down.stdout.strip())
            assert not slurm_up(), "slurmctld still answers after .ci/cluster/slurm-down.sh"


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """`ray start --head` on 127.0.0.1 (2 CPUs, no dashboard); `ray stop --force` at the end whatever happened."""
    try:
        import hydra_plugins.hydra_ray_launcher  # noqa: F401
        import ray  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"Ray tests: {exc.name} is not installed: pip install -e '.[cluster]' (make test-cluster does)",
                    pytrace=False)
    ray_bin = VENV_BIN / "ray"
    if not ray_bin.is_file():
        pytest.fail(f"Ray tests: no `ray` command next to {sys.executable}: pip install -e '.[cluster]'", pytrace=False)
    port = free_port()
    cmd = [str(ray_bin), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
           "--include-dashboard=false", "--num-cpus=2", "--object-store-memory=200000000", "--disable-usage-stats"]
    t0 = time.monotonic()
    try:
        res = run_cmd(cmd, timeout=180)
        if res.returncode != 0:
            last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
            pytest.fail(f"could not start a Ray head ({' '.join(cmd[1:])}): {last}", pytrace=False)
        head = RayHead(f"127.0.0.1:{port}", time.monotonic() - t0)
        print(f"\nray head at {head.address} up in {head.start_s:.1f}s")
        yield head
    finally:
        stop = run_cmd([str(ray_bin), "stop", "--force"], timeout=120)
        print((stop.stdout.strip() or stop.stderr.strip() or "ray stop: no output").splitlines()[-1])
        with socket.socket() as probe:  # the head's GCS port no longer accepts connections
            still_up = probe.connect_ex(("127.0.0.1", port)) == 0
        assert stop.returncode == 0 and not still_up, f"the Ray head still answers on port {port} after ray stop " \
            f"--force: {stop.stderr.strip()[-500:]}"
