"""A sweep shared by many workers and many people (issue 19): fenced claims, clocks and pid namespaces,
one setup per sweep, records that cannot be read, malformed rows and ids, the sample lock, temporaries left
by SIGKILL, private folders, escaped reports.

Stops, clocks, pids and namespaces are simulated by injection (no test waits on the wall clock). New names are
imported inside the tests, so that each test fails on its own on the code before the fix.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from designspace.sweep import runner
from designspace.sweep.claims import try_claim
from designspace.sweep.hooks import ClaimHooks
from designspace.sweep.layout import SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.results import build_record, load, read_records, write_record
from designspace.sweep.runner import run_sweep
from designspace.training.trainer import TrainOutcome
from tests.helpers.train import REPO, TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, make_sweep

QUICK = {**TINY_SCHEDULE, "train_subset": 256, "test_subset": 100, "precise_bn_samples": 0}
DATA_INFO = {"name": "fashion_mnist", "resolution": 28, "channels": 1, "num_classes": 10, "stem_stride": 1,
             "train_size": 100, "test_size": 50}


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _ok_record(spec, error: float = 12.5, info: dict | None = None) -> dict:
    """A whole `ok` record of `spec`, as another worker would write it (on data `info`)."""
    epochs = [{"epoch": 1, "train_loss": 1.0, "train_error": 20.0, "test_error": error, "lr": 0.1, "seconds": 1.0}]
    outcome = TrainOutcome("ok", epochs, error, error, 1.0, "cpu", 1)
    trained = spec.replace(num_classes=10, in_channels=1, stem_stride=1)
    return build_record(spec.id, spec, trained, info or DATA_INFO, QUICK, 0, outcome=outcome)


def _age(path: Path, seconds: float) -> None:
    then = os.stat(path).st_mtime - seconds
    os.utime(path, (then, then))


# --- 1. a worker that lost its claim writes nothing more ------------------------------------------------------


@pytest.mark.parametrize("wakes_with", ["a checkpoint", "a failure"])
def test_a_worker_stopped_past_the_timeout_writes_nothing_once_it_wakes(tmp_path: Path, monkeypatch,
                                                                         wakes_with: str) -> None:
    """Worker A is stopped mid-model past claim_timeout_s; worker B takes the claim over, checkpoints and writes
    `ok`; A resumes. Before the fix A's checkpoint and then its `failed` (or `ok`) record replaced B's."""
    spec = TINY_SPECS[0]
    sweep = make_sweep(tmp_path / "s", [spec])
    theirs = {}
    on_epoch = ClaimHooks.on_epoch

    def stopped_then_resumed(self, record):
        if not theirs:  # A is stopped here; its heartbeat stops too
            _age(sweep.root / "claims" / f"{spec.id}.claim", 3600)
            other = try_claim(sweep, spec.id, timeout_s=600)  # worker B, once the claim is stale
            assert other is not None
            checkpoint = sweep.checkpoint_path(spec.id)
            checkpoint.parent.mkdir(exist_ok=True)
            checkpoint.write_bytes(b"B's checkpoint")
            theirs["record"] = write_record(sweep, _ok_record(spec)).read_bytes()
            theirs["checkpoint"] = checkpoint.read_bytes()
        if wakes_with == "a failure":
            raise RuntimeError("a failure after waking")
        on_epoch(self, record)  # A wakes: its next heartbeat, then the checkpoint it would write

    monkeypatch.setattr(ClaimHooks, "on_epoch", stopped_then_resumed)
    summary = run_sweep(sweep, bundled_fmnist(), {**QUICK, "epochs": 2}, RunOptions(threads=1, progress=False, checkpoint_every_s=0))
    assert sweep.result_path(spec.id).read_bytes() == theirs["record"]  # B's `ok` record stands
    assert sweep.checkpoint_path(spec.id).read_bytes() == theirs["checkpoint"]  # and B's checkpoint
    assert summary.trained == 0 and summary.lost_claims == 1


def test_the_claim_is_checked_just_before_a_record_is_renamed(tmp_path: Path) -> None:
    """The last line of defence: write_record's check runs after the temp file is written, before the rename."""
    from designspace.sweep.claims import ClaimLost

    spec = TINY_SPECS[0]
    sweep = make_sweep(tmp_path / "s", [spec])
    claim = try_claim(sweep, spec.id)
    claim.path.write_text(json.dumps({"token": "someone else's"}))
    with pytest.raises(ClaimLost):
        write_record(sweep, _ok_record(spec), check=claim.check)
    assert not sweep.result_path(spec.id).exists() and not sweep.temporaries()


# --- 2. namespaces, clock skew, the timeout -------------------------------------------------------------------


def test_a_live_claim_of_another_pid_namespace_on_the_same_host_is_not_taken(tmp_path: Path) -> None:
    """Containers sharing a hostname (docker --net=host) but not pids: the pid means nothing here."""
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    mid = TINY_SPECS[0].id
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = sweep.root / "claims" / f"{mid}.claim"
    path.parent.mkdir()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip() if Path("/proc").is_dir() else "b"
    path.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "boot_id": boot,
                                "pidns": "pid:[4026530000]", "token": "theirs"}))  # fresh heartbeat
    assert try_claim(sweep, mid, timeout_s=600) is None
    assert json.loads(path.read_text())["token"] == "theirs"


@pytest.mark.parametrize("skew_s", [7200.0, -7200.0])
def test_clock_skew_between_this_machine_and_the_file_server_steals_no_claim(tmp_path: Path, monkeypatch,
                                                                              skew_s: float) -> None:
    """The claim's mtime is set by the file server's clock; this machine's clock is off by two hours."""
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    live, dead = TINY_SPECS[0].id, TINY_SPECS[1].id
    folder = sweep.root / "claims"
    folder.mkdir()
    for mid in (live, dead):
        (folder / f"{mid}.claim").write_text(json.dumps({"pid": 1, "host": "another-node", "token": mid}))
    _age(folder / f"{dead}.claim", 3600)  # its heartbeat stopped an hour ago, by the server's clock
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + skew_s)
    assert try_claim(sweep, live, timeout_s=600) is None  # fresh by the server's clock: left alone
    assert try_claim(sweep, dead, timeout_s=600) is not None  # stale by the server's clock: taken over


@pytest.mark.parametrize("timeout", [0, -5, 0.2, float("nan"), float("inf"), "600"])
def test_claim_timeout_is_validated(tmp_path: Path, timeout) -> None:
    from designspace.util.usage import UserError

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    with pytest.raises(UserError, match="claim_timeout_s"):
        run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False, claim_timeout_s=timeout))
    assert not sweep.result_ids()


def test_the_heartbeat_comes_at_least_four_times_per_timeout(tmp_path: Path) -> None:
    claim = try_claim(make_sweep(tmp_path / "s", TINY_SPECS[:1]), TINY_SPECS[0].id, timeout_s=8.0)
    assert claim.interval <= 2.0


# --- 3. one setup per sweep ------------------------------------------------------------------------------------


def test_two_setups_started_together_on_an_empty_sweep_do_not_both_write(tmp_path: Path, monkeypatch) -> None:
    """`train -m schedule=a,b`: both jobs pass the start check on the empty sweep; the first to train pins its
    setup, the second is refused. Simulated: job B's data loading lets job A run to the end first."""
    from designspace.sweep.setups import SetupMismatch

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    real = runner.load_dataset
    calls = []

    def job_a_runs_meanwhile(cfg):
        calls.append(cfg)
        if len(calls) == 1:
            run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))  # job A, schedule a
        return real(cfg)

    monkeypatch.setattr(runner, "load_dataset", job_a_runs_meanwhile)
    with pytest.raises(SetupMismatch, match="pinned"):
        run_sweep(sweep, bundled_fmnist(), {**QUICK, "name": "b", "lr": 0.05}, RunOptions(threads=1, progress=False))
    records = read_records(sweep)
    assert len(records) == 2 and {r["schedule"]["name"] for r in records.values()} == {QUICK["name"]}


def test_precision_is_part_of_the_setup_and_thread_count_is_not() -> None:
    import hashlib

    from designspace.sweep import setups

    base = {"dataset": DATA_INFO, "schedule": QUICK, "seed": 0, "threads": 1}
    cpu, gpu, two_threads = ({**base, "device": "cpu"}, {**base, "device": "cuda:0 (NVIDIA H200)"},
                             {**base, "device": "cpu", "threads": 2})
    ids = {name: setups.setup_id(setups.record_setup(r)) for name, r in
           (("cpu", cpu), ("gpu", gpu), ("two_threads", two_threads))}
    assert ids["cpu"] != ids["gpu"] and ids["cpu"] == ids["two_threads"]
    # fp32 setups keep the id they had before precision was part of the setup
    old = {"dataset": {k: DATA_INFO.get(k) for k in setups.DATASET_IDENTITY},
           "schedule": setups._full_schedule(QUICK), "seed": 0}
    text = json.dumps(old, sort_keys=True, separators=(",", ":"), default=str)
    assert ids["cpu"] == hashlib.sha1(text.encode()).hexdigest()[:8]


# --- 5. a record that cannot be read is not damage; analysis never moves files ----------------------------------


@pytest.mark.parametrize("errno_name", ["EACCES", "EIO", "ESTALE"])
def test_an_unreadable_record_is_left_alone_and_not_retrained(tmp_path: Path, monkeypatch, errno_name: str) -> None:
    """A collaborator's 0600 record (simulated: these tests may run as root), an I/O error, a stale NFS handle."""
    import errno

    spec = TINY_SPECS[0]
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    path = write_record(sweep, _ok_record(spec))
    before = path.read_bytes()
    code, real_open = getattr(errno, errno_name), os.open

    def refuse(file, *args, **kwargs):  # the record is opened, and refused, as a read-only mount or NFS would
        if os.fspath(file) == str(path):
            raise OSError(code, os.strerror(code), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
        table = load(sweep)
    monkeypatch.undo()
    assert summary.trained == 0 and path.read_bytes() == before  # not moved, not retrained
    assert not sweep.damaged_dir.exists()
    assert table["status"].tolist() == ["pending"]
    assert any(str(path) in str(w.message) for w in caught)


def test_analysis_never_moves_a_damaged_record(tmp_path: Path) -> None:
    spec = TINY_SPECS[0]
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    write_record(sweep, _ok_record(spec))
    bad = sweep.result_path(TINY_SPECS[1].id)
    bad.write_text('{"model_id": "trunc')
    with pytest.warns(UserWarning, match=bad.name):
        table = load(sweep)
    assert bad.is_file() and not (sweep.results_dir / "damaged").exists()
    assert sorted(table["status"]) == ["ok", "pending"]


# --- 7. malformed rows and records fail alone, named ------------------------------------------------------------


def test_a_record_with_fields_of_the_wrong_type_is_damage_named_by_its_file(tmp_path: Path) -> None:
    from designspace.training.data import load_dataset

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    info = load_dataset(bundled_fmnist()).info()  # records of the data the sweep trains on
    write_record(sweep, _ok_record(TINY_SPECS[0], info=info))
    bad = write_record(sweep, _ok_record(TINY_SPECS[1], info=info))
    record = json.loads(bad.read_text())
    bad.write_text(json.dumps({**record, "seed": "abc"}))
    with pytest.warns(UserWarning, match=rf"{bad.name}.*seed='abc'"):
        table = load(sweep)  # analysis: skipped, named
    assert sorted(table["status"]) == ["ok", "pending"] and bad.is_file()
    with pytest.warns(UserWarning, match=bad.name):
        summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))  # training: set aside
    assert summary.trained == 1 and len(list((sweep.results_dir / "damaged").glob(f"{bad.stem}.*.json"))) == 1


@pytest.mark.parametrize("damage", ["bad value", "foreign id", "traversal"])
def test_a_malformed_samples_row_fails_alone_named(tmp_path: Path, caplog, damage: str) -> None:
    """A row that does not describe a network, or whose model_id is not its spec's id (an id of another model,
    or a path: a record written to /srv/elsewhere/final.json before the fix), is skipped; the others train."""
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:3])
    table = sweep.read_samples()
    outside = tmp_path / "elsewhere" / "final"
    outside.parent.mkdir()
    if damage == "bad value":
        table.loc[1, "w1"] = -8
    elif damage == "foreign id":
        table.loc[1, "model_id"] = TINY_SPECS[5].id
    else:
        table.loc[1, "model_id"] = str(outside)
    sweep.write_samples(table, sweep.read_config_text())
    with caplog.at_level("ERROR"):
        summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
    assert summary.trained == 2 and summary.bad_rows == 1
    assert sorted(read_records(sweep)) == sorted([TINY_SPECS[0].id, TINY_SPECS[2].id])
    assert not list(outside.parent.iterdir())  # nothing written outside the sweep
    assert any("row 1" in r.getMessage() and str(sweep.samples_path) in r.getMessage() for r in caplog.records)


# --- 8. ids are checked before any path is built; names from a sweep stay in their folder --------------------------


@pytest.mark.parametrize("model_id", ["/srv/elsewhere/final", "../../x", "ABCDEF012345", "0123456789a", ""])
def test_no_path_is_built_from_an_invalid_model_id(tmp_path: Path, model_id: str) -> None:
    sweep = SweepDir(tmp_path / "s")
    for build in (sweep.result_path, sweep.checkpoint_path, sweep.claim_path):
        with pytest.raises(ValueError, match="not a model id"):
            build(model_id)


def test_a_record_naming_another_path_is_refused(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    record = {**_ok_record(TINY_SPECS[0]), "model_id": str(tmp_path / "elsewhere" / "final")}
    with pytest.raises(ValueError, match="not a model id"):
        write_record(sweep, record)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("name", ["../../escape", "/abs/escape", "..", ".hidden", "a/../../b", "x" * 300])
def test_names_taken_from_a_sweep_stay_in_the_output_folder(tmp_path: Path, name: str) -> None:
    from designspace.util.paths import safe_name

    out = tmp_path / "out"
    target = (out / f"{safe_name(name)}.yaml").resolve()
    assert target.parent == out.resolve() and not safe_name(name).startswith(".") and len(safe_name(name)) <= 109


# --- 6. the sample lock; temporaries left by SIGKILL ------------------------------------------------------------


def test_a_second_sample_command_is_refused_while_the_first_writes(tmp_path: Path) -> None:
    import fcntl

    from designspace.sweep.layout import SweepBusy

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    table = make_sweep(tmp_path / "other", TINY_SPECS[:3]).read_samples()  # a grown table
    before = (sweep.samples_path.read_bytes(), sweep.config_path.read_bytes())
    with open(sweep.lock_path, "a") as held:  # another process's lock (a separate open file)
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(SweepBusy, match="another `sample`"):
            sweep.store_samples(table, "space: other\n", overwrite=True)
    assert (sweep.samples_path.read_bytes(), sweep.config_path.read_bytes()) == before
    assert "grown from 2 to 3" in sweep.store_samples(table, "space: other\n", overwrite=False)


def test_temporaries_of_a_killed_writer_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    marker = tmp_path / "writing"
    script = (f"import time, pathlib\nfrom designspace.util.atomic import atomic_write\n"
              f"def w(f):\n    f.write(b'x' * 1000)\n    f.flush()\n    pathlib.Path({str(marker)!r}).touch()\n"
              f"    time.sleep(600)\n"
              f"atomic_write({str(sweep.checkpoints_dir / (TINY_SPECS[0].id + '.pt'))!r}, w)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        for _ in range(600):  # polls for the writer's marker (no timing assumption: it waits as long as needed)
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists()
        live = sweep.temporaries()
        assert len(live) == 1
        assert sweep.clean() == 0 and live[0].exists()  # its writer lives: kept
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert live[0].exists() and sweep.clean() == 1 and not live[0].exists()


def test_run_sweep_cleans_temporaries_of_killed_writers(tmp_path: Path) -> None:
    from designspace.util.atomic import temp_path

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    sweep.results_dir.mkdir()
    mine = temp_path(sweep.result_path(TINY_SPECS[0].id))
    orphan = mine.with_name(mine.name.replace(f"-{os.getpid()}@", f"-{int(dead.stdout)}@"))
    orphan.write_bytes(b"half a record")
    run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
    assert not orphan.exists() and not sweep.temporaries()


# --- 9. the launcher's job files are private ------------------------------------------------------------------


def test_submitit_job_files_go_to_a_private_folder_outside_the_sweep(tmp_path: Path, monkeypatch) -> None:
    from designspace.cli._hydra import _launcher_overrides

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sweep = tmp_path / "sweep"
    (override,) = _launcher_overrides([f"sweep_dir={sweep}", "hydra/launcher=submitit_slurm"], "train")
    key, _, value = override.partition("=")
    folder = Path(value).parent
    assert key == "hydra.launcher.submitit_folder" and value.endswith("/%j")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()
    assert not folder.resolve().is_relative_to(sweep.resolve())
    assert _launcher_overrides(["hydra/launcher=basic"], "train") == []
    assert _launcher_overrides(["hydra/launcher=submitit_local", "hydra.launcher.submitit_folder=/x"], "t") == []


@pytest.mark.parametrize("problem", ["open", "foreign", "link"])
def test_a_private_folder_that_others_could_use_is_refused(tmp_path: Path, problem: str) -> None:
    """The log fallback in $TMPDIR and the launcher folder: a predictable name someone else may have made."""
    from designspace.util.private import UnsafeFolder, private_dir

    path = tmp_path / "designspace-logs-1000"
    if problem == "link":
        (tmp_path / "theirs").mkdir(mode=0o700)
        path.symlink_to(tmp_path / "theirs")
    else:
        path.mkdir()
        os.chmod(path, 0o777 if problem == "open" else 0o700)
        if problem == "foreign":
            if os.getuid() != 0:
                pytest.skip("making a folder another user's needs root")
            os.chown(path, 12345, 12345)
    with pytest.raises(UnsafeFolder, match=str(path)):
        private_dir(path)


def test_the_log_fallback_folder_is_private(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from designspace.cli.train import log_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    folder = Path(log_dir(None))
    assert folder.parent == tmp_path and stat.S_IMODE(folder.stat().st_mode) == 0o700
    os.chmod(folder, 0o777)  # someone made it (or opened it) for everyone
    with pytest.raises(ValueError, match="0700"):
        log_dir(None)


# --- 11. atomic writes never change the process umask ------------------------------------------------------------


def test_atomic_writes_never_touch_the_umask(tmp_path: Path, monkeypatch) -> None:
    from designspace.util.atomic import atomic_write_text

    old = os.umask(0o027)
    try:
        calls = []
        monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o027)
        path = atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert calls == [] and stat.S_IMODE(path.stat().st_mode) == 0o640


# --- 10. report.html escapes every value that comes from a sweep ------------------------------------------------


@pytest.mark.parametrize("where", ["heading", "table", "paragraph", "link"])
def test_report_html_escapes_values_from_a_sweep(where: str) -> None:
    from html.parser import HTMLParser

    from designspace.reporting.report import render_html

    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    text = {"heading": f"# Space {evil}\n", "table": f"| space |\n|---|\n| {evil} |\n",
            "paragraph": f"Setup: {evil}\n\n<div onclick='x'>{evil}</div>\n",
            "link": "[spaces](javascript:alert(3)) ![f](data:text/html,x) [csv](data/summary.csv)\n"}[where]
    page = render_html(text, "report")

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.seen, self.urls = [], []

        def handle_starttag(self, tag, attrs):
            self.seen.append(tag)
            self.urls += [v for k, v in attrs if k in ("href", "src")]
            assert not any(k.startswith("on") for k, _ in attrs)

    tags = Tags()
    tags.feed(page)
    assert "script" not in tags.seen and "div" not in tags.seen
    if where != "link":
        assert "img" not in tags.seen
    assert not any(u.lower().startswith(("javascript:", "data:")) for u in tags.urls)
    if where != "link":
        assert "&lt;script&gt;" in page
    else:
        assert "data/summary.csv" in tags.urls
