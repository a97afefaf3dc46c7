"""Files a hostile collaborator plants in a shared sweep (issue 36): none stops, hangs or escapes a run.

JSON nested 1,000 levels deep, YAML aliases that expand to gigabytes, FIFOs and links to /dev/zero are damage -
set aside or skipped with one line naming the file; the retry of a failed record is fenced like the publish;
no lock, clock probe or heartbeat follows a link; a heartbeat dated in the future is stale; superseded records
are never replaced. New names are imported inside the tests, so that each test fails on its own on the code
before the fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch

from designspace.sweep import setups
from designspace.sweep.claims import try_claim
from designspace.sweep.layout import SweepDir
from designspace.sweep.results import load, read_record, read_records, scan_records, write_record
from tests.helpers.hostile import ALIAS_BOMB, NESTED_JSON, deadline, plant_fifo, record
from tests.helpers.train import REPO, TINY_SCHEDULE, TINY_SPECS, bundled_fmnist, fail_training, make_sweep

QUICK = {**TINY_SCHEDULE, "train_subset": 256, "test_subset": 100, "precise_bn_samples": 0}


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _messages(caught: list[warnings.WarningMessage]) -> str:
    return "\n".join(str(w.message) for w in caught)


# --- 1. JSON nested 1,000 levels deep: damage, never a RecursionError --------------------------------------------


def test_a_record_nested_a_thousand_levels_deep_is_set_aside_by_training_and_skipped_by_analysis(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    write_record(sweep, record(1))
    bad = sweep.result_path(TINY_SPECS[0].id)
    bad.write_text(NESTED_JSON)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert set(read_records(sweep, set_aside=False)) == {TINY_SPECS[1].id}  # analysis: skipped, left in place
        assert bad.is_file() and "nested 1000 levels deep" in _messages(caught) and str(bad) in _messages(caught)
        assert set(scan_records(sweep)[0]) == {TINY_SPECS[1].id}  # training: set aside, the model trains again
    assert not bad.exists() and sweep.damaged_count() == 1


def test_a_claim_nested_a_thousand_levels_deep_is_judged_by_its_age(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    path = sweep.claim_path(TINY_SPECS[0].id)
    path.parent.mkdir(parents=True)
    path.write_text(NESTED_JSON)
    assert try_claim(sweep, TINY_SPECS[0].id, timeout_s=60) is None  # fresh: maybe a claim being written
    then = time.time() - 30
    os.utime(path, (then, then))
    claim = try_claim(sweep, TINY_SPECS[0].id, timeout_s=60)  # past the grace of an empty claim: taken over
    assert claim is not None and json.loads(path.read_text())["token"] == claim.token
    path.write_text(NESTED_JSON)  # and a holder whose claim is replaced by it has lost the claim
    from designspace.sweep.claims import ClaimLost

    with pytest.raises(ClaimLost):
        claim.check()


def test_a_setup_nested_a_thousand_levels_deep_is_one_line_naming_it(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    sweep.setup_path.write_text('{"setup": ' + NESTED_JSON + "}")
    wanted = setups.make_setup({"name": "fashion_mnist"}, QUICK, 0)
    with pytest.raises(setups.SetupMismatch, match=f"{re.escape(str(sweep.setup_path))} is damaged .*nested"):
        setups.check_pinned(sweep, wanted)


def test_json_depth_is_measured_without_parsing_and_in_linear_time():
    from designspace.util.files import json_depth

    assert json_depth(b'{"a": [1, {"b": "[[[[ not counted"}], "c": "\\\\"}') == 3
    assert json_depth(NESTED_JSON.encode()) == 1000
    t0 = time.perf_counter()
    assert json_depth(b'"' + b'\\"' * 500_000) == 0  # an unterminated string of escaped quotes: one pass
    assert time.perf_counter() - t0 < 2.0


# --- 2. YAML aliases: refused before any loader expands them ------------------------------------------------------


def _sweep_with_config(root: Path, config: str, embedded: bool) -> SweepDir:
    sweep = make_sweep(root, TINY_SPECS[:2])
    if embedded:
        sweep.write_samples(sweep.read_samples(), config)  # the table's own copy too
    else:
        sweep.read_samples().to_parquet(sweep.samples_path)  # a table from before it carried its config
        sweep.config_path.write_text(config)
    return sweep


@pytest.mark.parametrize("embedded", [False, True])
def test_a_config_of_nested_aliases_is_never_expanded(tmp_path, monkeypatch, embedded):
    from omegaconf import OmegaConf

    sweep = _sweep_with_config(tmp_path / "s", ALIAS_BOMB, embedded)
    monkeypatch.setattr(OmegaConf, "create", lambda *a, **k: pytest.fail("the aliases reached OmegaConf"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sweep.read_config() == {}
    text = _messages(caught)
    assert "aliases expand to more than" in text and str(sweep.samples_path if embedded else sweep.config_path) in text


def test_a_config_nested_too_deep_is_refused_and_a_plain_one_still_read(tmp_path):
    from designspace.configs import yaml_problem

    assert "nested more than" in yaml_problem("a: " + "[" * 2000 + "]" * 2000)  # libyaml stops at 1000 levels
    assert yaml_problem("x: &v [1, 2, 4]\ny: *v\n") is None  # a few aliases are fine
    sweep = _sweep_with_config(tmp_path / "s", "space:\n  name: mine\nbudget: &b {name: tiny}\nagain: *b\n", False)
    assert sweep.read_config()["space"] == {"name": "mine"}


# --- 3. FIFOs and /dev/zero: refused before reading --------------------------------------------------------------


def test_a_record_that_is_a_fifo_is_damage_not_a_hang(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    write_record(sweep, record(1))
    plant_fifo(sweep.result_path(TINY_SPECS[0].id))
    with deadline(5), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert set(load(sweep).query("status == 'ok'")["model_id"]) == {TINY_SPECS[1].id}
        assert "not a regular file (a FIFO)" in _messages(caught)
        assert set(scan_records(sweep)[0]) == {TINY_SPECS[1].id}
    assert sweep.damaged_count() == 1 and not sweep.result_path(TINY_SPECS[0].id).exists()


DEV_ZERO = textwrap.dedent("""
    import resource, sys, warnings
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: a read without end fails, not the machine
    from designspace.sweep.results import read_records
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        print(sorted(read_records(sys.argv[1], set_aside=False)))
    print("|".join(str(w.message) for w in caught))
""")


def test_a_record_linked_to_dev_zero_is_not_read(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    write_record(sweep, record(1))
    os.symlink("/dev/zero", sweep.result_path(TINY_SPECS[0].id))
    res = subprocess.run([sys.executable, "-c", DEV_ZERO, str(sweep.root)], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.splitlines()[0] == str([TINY_SPECS[1].id]) and "a character device" in res.stdout


def test_a_checkpoint_that_is_a_fifo_is_ignored(tmp_path, caplog):
    from designspace.training.trainer import Trainer

    fifo = plant_fifo(tmp_path / "m.pt")
    with deadline(5), caplog.at_level(logging.WARNING):
        assert Trainer.restore(object.__new__(Trainer), fifo) is False
    assert "not a regular file" in caplog.text


# --- 4. the retry of a failed record is fenced like the publish -------------------------------------------------


def test_a_retry_fenced_by_its_claim_check_publishes_nothing(tmp_path):
    from designspace.sweep.claims import ClaimLost
    from designspace.sweep.results import replace_failed_record

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    path = sweep.result_path(TINY_SPECS[0].id)
    write_record(sweep, record(0, "failed"))

    def lost() -> None:
        raise ClaimLost("taken over")

    with pytest.raises(ClaimLost):
        replace_failed_record(sweep, record(0, "ok", 30.0), check=lost)
    assert read_record(path)["status"] == "failed" and not sweep.superseded_dir.exists()


def test_a_retry_stalled_between_its_check_and_the_move_leaves_the_new_record(tmp_path):
    from designspace.sweep.results import RecordExists, replace_failed_record

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    path = sweep.result_path(TINY_SPECS[0].id)
    write_record(sweep, record(0, "failed"))

    def b_meanwhile() -> None:  # A's check passes; B then sets the failure aside and publishes
        if not path.read_text().count('"ok"'):
            sweep.superseded_dir.mkdir(parents=True, exist_ok=True)
            os.rename(path, sweep.superseded_dir / "failure-moved-by-B.json")
            write_record(sweep, record(0, "ok", 11.0))

    with pytest.raises(RecordExists):
        replace_failed_record(sweep, record(0, "ok", 30.0), check=b_meanwhile)
    assert read_record(path)["final_error"] == 11.0
    assert [p.name for p in sweep.superseded_dir.iterdir()] == ["failure-moved-by-B.json"]


@pytest.mark.slow
def test_a_retry_stalled_before_moving_the_failure_never_moves_the_new_holders_record(tmp_path, monkeypatch):
    """Worker A retrains a failed model (retry_failed) and stalls just before moving the failure aside; meanwhile
    B takes the model over, moves the failure aside itself and publishes its ok record. A must not move B's."""
    from designspace.sweep.options import RunOptions
    from designspace.sweep.runner import run_sweep

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    model_id = TINY_SPECS[0].id
    path, claim = sweep.result_path(model_id), sweep.claim_path(model_id)
    fail_training(monkeypatch, lambda mid: torch.OutOfMemoryError("CUDA out of memory"))
    run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False))
    monkeypatch.undo()
    failed = read_record(path)
    assert failed["status"] == "failed"
    recorded_by_b = {**failed, "status": "ok", "final_error": 11.0, "best_error": 11.0, "reason": None, "host": "B"}
    real_rename, stalled = os.rename, []

    def b_meanwhile(move):
        def stalled_move(src, dst, *args, **kwargs):
            if Path(src) == path and not stalled:  # A is about to move the record at `path` aside
                stalled.append(True)
                claim.write_text(json.dumps({"token": "B", "host": "b", "pid": 1}))  # B took the model over
                sweep.superseded_dir.mkdir(parents=True, exist_ok=True)
                real_rename(path, sweep.superseded_dir / "failure-moved-by-B.json")
                write_record(sweep, recorded_by_b)
            return move(src, dst, *args, **kwargs)
        return stalled_move

    monkeypatch.setattr(os, "rename", b_meanwhile(os.rename))
    monkeypatch.setattr(os, "replace", b_meanwhile(os.replace))
    summary = run_sweep(sweep, bundled_fmnist(), QUICK, RunOptions(threads=1, progress=False, retry_failed=True))
    monkeypatch.undo()
    assert stalled and summary.lost_claims == 1
    assert read_record(path)["host"] == "B"  # B's record stands where it was published
    assert [p.name for p in sweep.superseded_dir.iterdir()] == ["failure-moved-by-B.json"]


def test_only_the_file_that_was_read_is_moved_aside(tmp_path):
    from designspace.util.files import NotTheFileRead, identity, move_aside

    folder = tmp_path / "aside"
    first = tmp_path / "r.json"
    first.write_text("read")
    read_as = identity(first.stat())
    os.link(first, tmp_path / "moved-aside-by-another")  # kept, as records are: its inode is not reused
    first.unlink()
    first.write_text("published meanwhile")
    with pytest.raises(NotTheFileRead):
        move_aside(first, folder, read_as)
    assert first.read_text() == "published meanwhile" and not list(folder.iterdir())  # put back, nothing aside
    moved = move_aside(first, folder, identity(first.stat()))
    assert moved.parent == folder and moved.read_text() == "published meanwhile" and not first.exists()
    with pytest.raises(FileNotFoundError):
        move_aside(first, folder)


# --- 5. no lock, clock probe or heartbeat follows a link ----------------------------------------------------------


def test_the_sample_lock_never_follows_a_link(tmp_path):
    from designspace.util.usage import UserError

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    sweep.lock_path.unlink(missing_ok=True)
    outside = tmp_path / "elsewhere" / "created-by-the-victim"
    outside.parent.mkdir()
    os.symlink(outside, sweep.lock_path)
    with pytest.raises(UserError, match="is a symbolic link"), sweep.lock():
        pass
    assert not outside.exists()


def test_the_clock_probe_never_follows_a_link(tmp_path, monkeypatch):
    import secrets

    from designspace.util import procs

    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    sweep.claims_dir.mkdir()
    planted = [f".clock-{procs.machine_tag()}-{os.getpid()}", ".clock-guessed"]  # the name it had; a guessed one
    for name in planted:
        os.symlink(tmp_path / f"touched-through-{name}", sweep.claims_dir / name)
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "guessed")  # even a guessed name is never followed
    assert abs(sweep.server_now() - time.time()) < 60
    assert not list(tmp_path.glob("touched-through-*")) and sorted(p.name for p in sweep.claims_dir.iterdir()) == planted


def test_a_heartbeat_never_touches_the_target_of_a_link(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    claim = try_claim(sweep, TINY_SPECS[0].id)
    target = tmp_path / "victims-file"
    target.write_text(claim.path.read_text())  # holds the token: the claim check passes
    os.utime(target, (1e9, 1e9))
    claim.path.unlink()
    os.symlink(target, claim.path)
    claim.heartbeat(force=True)
    assert target.stat().st_mtime == 1e9


# --- 11. a heartbeat in the future ------------------------------------------------------------------------------


def test_a_claim_dated_further_in_the_future_than_the_timeout_is_taken_over(tmp_path, caplog):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:1])
    path = sweep.claim_path(TINY_SPECS[0].id)
    path.parent.mkdir()
    path.write_text(json.dumps({"token": "restored", "host": "another-machine", "pid": 1}))  # judged by heartbeat
    soon = time.time() + 30
    os.utime(path, (soon, soon))
    assert try_claim(sweep, TINY_SPECS[0].id, timeout_s=60) is None  # within the timeout: a clock's jitter
    later = time.time() + 3600
    os.utime(path, (later, later))  # a clock stepped back an hour, a backup restored, `cp -p`
    with caplog.at_level(logging.INFO, logger="designspace.sweep.claims"):
        claim = try_claim(sweep, TINY_SPECS[0].id, timeout_s=60)
    assert claim is not None and "in the future" in caplog.text


# --- 12. superseded records are never replaced ------------------------------------------------------------------


def test_superseding_the_same_model_twice_keeps_both_records(tmp_path):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    config, both = sweep.config_path.read_text(), sweep.read_samples()
    one = make_sweep(tmp_path / "one", TINY_SPECS[:1]).read_samples()
    for error in (21.0, 22.0):
        sweep.store_samples(both, config, overwrite=True)
        write_record(sweep, record(1, "ok", error))
        sweep.store_samples(one, config, overwrite=True)  # model 1 superseded
    kept = sorted(json.loads(p.read_text())["final_error"] for p in sweep.superseded_dir.iterdir())
    assert kept == [21.0, 22.0]


# --- 13. a field of the wrong type is named with its file ---------------------------------------------------------


@pytest.mark.parametrize("field, value", [("wall_time_s", "abc"), ("finished_at", 5), ("device", ["cpu"]),
                                          ("dataset", {"name": {"x": 1}})])
def test_a_record_field_of_the_wrong_type_is_named_with_its_file(tmp_path, field, value):
    sweep = make_sweep(tmp_path / "s", TINY_SPECS[:2])
    write_record(sweep, record(1))
    bad = sweep.result_path(TINY_SPECS[0].id)
    bad.write_text(json.dumps({**record(0), field: value}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load(sweep)
    assert table.set_index("model_id").loc[TINY_SPECS[0].id, "status"] == "pending"
    assert f"{bad}: field(s) of the wrong type: {field}" in _messages(caught)
