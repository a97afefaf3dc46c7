"""Helpers of the cluster tests: launching the CLI, waiting, SLURM and Ray commands, the end-of-sweep checks."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO / ".ci" / "cluster"
VENV_BIN = Path(sys.executable).parent
PARTITION = os.environ.get("DS_SLURM_PARTITION", "debug")


# --------------------------------------------------------------------------------------------
# helpers shared by the engine tests


def env() -> dict[str, str]:
    return {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin:/sbin"}


def launch(argv: list[str], log: Path) -> subprocess.Popen:
    """Start a command with stdout+stderr to `log` (a file: a pipe nobody reads could block it)."""
    f = log.open("w")
    try:
        return subprocess.Popen(argv, cwd=REPO, env=env(), stdout=f, stderr=subprocess.STDOUT, text=True)
    finally:
        f.close()


@contextlib.contextmanager
def launched(argv: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """`launch`, and kill the command on the way out if it is still running (a failed assertion included)."""
    proc = launch(argv, log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def finish(proc: subprocess.Popen, log: Path, timeout: float) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{proc.args[:4]} did not finish within {timeout:.0f}s:\n{tail(log)}") from None
    return log.read_text()


def tail(log: Path, n: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else "(no log)"


def wait_until(what: str, predicate: Callable[[], object], timeout: float, log: Path | None = None,
               proc: subprocess.Popen | None = None, poll: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the launcher ended (status {proc.returncode}) while waiting for {what}:\n"
                                 f"{tail(log) if log else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}:\n{tail(log) if log else ''}")
        time.sleep(poll)


def mid_model(sweep, exclude: set[str] = frozenset()) -> str | None:
    """A model that has checkpointed an epoch and has no record yet (training right now), if any."""
    from designspace.sweep.results import read_records

    if not sweep.checkpoints_dir.is_dir():
        return None
    done = {r["model_id"] for r in read_records(sweep).values()}
    for path in sorted(sweep.checkpoints_dir.glob("*.pt")):
        if path.stem not in done and path.stem not in exclude:
            return path.stem
    return None


@dataclass
class Held:
    """A training process stopped (SIGSTOP) just after its model checkpointed an epoch, and kept stopped.

    The tiny test models finish an epoch in a second or two, less than the ~1 s a scheduler command takes
    plus SLURM's KillWait (5 s here): left running, a model picked "mid-training" may well finish before the
    kill lands, and the test would test nothing. A real model is minutes into an epoch when it is preempted;
    holding the process still between its checkpoint and the kill is that case, made certain. A keeper thread
    stops it again at once should SLURM continue it (it may send SIGCONT before SIGTERM), until it is gone."""

    model: str
    pid: int
    job: str | None  # the scheduler task named in the model's claim (SLURM "J_i" or "J"), None outside SLURM
    _done: threading.Event
    _keeper: threading.Thread

    def release(self) -> None:
        """Let the process run again (if it still exists)."""
        self._done.set()
        self._keeper.join()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)

    def wait_gone(self, timeout: float) -> None:
        self._keeper.join(timeout)
        assert not self._keeper.is_alive(), f"pid {self.pid} still exists {timeout:.0f}s after it was killed"


def _keep_stopped(pid: int, done: threading.Event) -> None:
    while not done.wait(0.005):
        try:
            if _proc_state(pid) in (None, "Z"):
                return
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            return


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()[0]


def hold_mid_model(sweep, exclude: set[str] = frozenset()) -> Held | None:
    """Stop the process training a model that has checkpointed an epoch and has no record (see `Held`).

    None when there is no such model now, or when it finished in the instant before the stop (then the
    process runs on)."""
    from designspace.sweep.results import read_records

    model = mid_model(sweep, exclude)
    if model is None:
        return None
    claim = sweep.root / "claims" / f"{model}.claim"
    try:
        info = json.loads(claim.read_text())
        pid = int(info["pid"])
        os.kill(pid, signal.SIGSTOP)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the claim is gone (the model just finished) or the process is
    # stopped now: it cannot write a record or release its claim any more; check it had not done so already
    still = claim_pid(sweep, model) == pid and (sweep.checkpoints_dir / f"{model}.pt").exists()
    if not still or model in {r["model_id"] for r in read_records(sweep).values()}:
        os.kill(pid, signal.SIGCONT)
        return None
    done = threading.Event()
    keeper = threading.Thread(target=_keep_stopped, args=(pid, done), daemon=True)
    keeper.start()
    job = info.get("job")
    return Held(model, pid, job.get("id") if isinstance(job, dict) else None, done, keeper)


@contextlib.contextmanager
def holding() -> Iterator[list[Held]]:
    """A list to put `Held` processes in; each is released on the way out (a failed assertion included)."""
    held: list[Held] = []
    try:
        yield held
    finally:
        for h in held:
            h.release()


def assert_one_record_per_model(sweep, epochs: int | None = None) -> dict[str, dict]:
    """Exactly one `ok` record per model of the samples table, and no claim, takeover lock or checkpoint left."""
    from designspace.sweep.results import read_records

    ids = list(sweep.read_samples()["model_id"])
    records = read_records(sweep)
    counts = collections.Counter(r["model_id"] for r in records.values())
    assert sorted(counts) == sorted(ids), f"models {sorted(ids)} but records of {sorted(counts)}"
    assert set(counts.values()) == {1}, f"more than one record for {[m for m, c in counts.items() if c > 1]}"
    assert all(r["status"] == "ok" for r in records.values()), {m: r["status"] for m, r in records.items()}
    if epochs is not None:
        assert all(len(r["epochs"]) == epochs for r in records.values())
    claims = sweep.root / "claims"
    assert not (claims.is_dir() and list(claims.iterdir())), f"left in {claims}: {list(claims.iterdir())}"
    assert not list(sweep.checkpoints_dir.glob("*.pt")) if sweep.checkpoints_dir.is_dir() else True
    return {r["model_id"]: r for r in records.values()}


def claim_pid(sweep, model_id: str) -> int | None:
    """The pid in a model's claim file (DIR/claims/<id>.claim holds pid, host and a token)."""
    try:
        return int(json.loads((sweep.root / "claims" / f"{model_id}.claim").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------------------------
# SLURM


def run_cmd(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env())


def slurm_up() -> bool:
    if not (shutil.which("scontrol", path=env()["PATH"])):
        return False
    try:
        res = run_cmd(["scontrol", "ping"], timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and "UP" in res.stdout


@dataclass
class Slurm:
    partition: str
    start_s: float


def squeue(name: str) -> list[dict[str, str]]:
    """This job name's array tasks: job id, array index, state, reason and ARRAYID_INDEX."""
    res = run_cmd(["squeue", "-h", "-n", name, "-o", "%A|%K|%T|%r|%i"])
    assert res.returncode == 0, res.stderr
    rows = [line.split("|") for line in res.stdout.split()]
    return [{"id": r[0], "index": r[1], "state": r[2], "reason": r[3], "task": r[4]} for r in rows]


def sacct_states(job_id: str) -> list[str]:
    """Every state the job went through (-D: also the runs before each requeue)."""
    res = run_cmd(["sacct", "-D", "-X", "-n", "-P", "-j", job_id, "-o", "State"])
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def release_requeued(name: str) -> bool:
    """A requeued job waits ~120 s (Reason=BeginTime) before it may start again; let it start now.

    True once a task was released."""
    released = False
    for task in squeue(name):
        if task["state"] == "PENDING" and task["reason"] == "BeginTime":
            res = run_cmd(["scontrol", "update", f"JobId={task['id']}", "StartTime=now"])
            assert res.returncode == 0, f"scontrol update JobId={task['id']} StartTime=now: {res.stderr}"
            released = True
    return released


def scontrol(*args: str) -> None:
    res = run_cmd(["scontrol", *args])
    assert res.returncode == 0 and "error" not in res.stderr, f"scontrol {' '.join(args)}: {res.stderr}"


def scancel(job_id: str) -> None:
    """scancel, which exits 0 even when slurmctld refuses ("Invalid job id specified"): judged by its stderr."""
    res = run_cmd(["scancel", job_id])
    assert res.returncode == 0 and "error" not in res.stderr, f"scancel {job_id}: {res.stderr}"


# --------------------------------------------------------------------------------------------
# Ray


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RayHead:
    address: str
    start_s: float


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


TINY_SWEEP_EPOCHS = 3
TINY_SWEEP_SCHEDULE = ["schedule=fmnist_tiny", f"schedule.epochs={TINY_SWEEP_EPOCHS}", "schedule.train_subset=2048",
                       "schedule.test_subset=500", "schedule.precise_bn_samples=512"]
"""`schedule=fmnist_tiny`, 3 epochs of 16 steps: 3-8 s an epoch for a 2-5 MF model on one thread."""


def sample_sweep(root: Path, n: int = 6):
    """`python -m designspace.sample space=anynetx_c n=N budget=fmnist_tiny sweep_dir=ROOT`, as the README does."""
    from designspace.sweep.layout import SweepDir

    res = run_cmd([sys.executable, "-m", "designspace.sample", "space=anynetx_c", f"n={n}", "budget=fmnist_tiny",
                   f"sweep_dir={root}", "progress=false"], timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    sweep = SweepDir(root)
    assert len(sweep.read_samples()) == n
    return sweep
