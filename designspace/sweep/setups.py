"""The setup a model was trained with - dataset identity, schedule, seed and arithmetic precision - and its
stable id.

A result counts only for its setup: a sweep holds the records of one setup. The first run that trains pins
it in DIR/setup.json (created exclusively, so two runs started together on an empty sweep with different
setups cannot both write: the second is refused). Training a sweep with another setup is refused
(`SetupMismatch`, naming what is there and how to proceed), and analysis refuses a sweep whose records mix
setups unless one is named (`select`).

What belongs in the setup is what changes results systematically:
- precision (bf16 autocast on CUDA, fp32 on CPU: the trainer picks it from the device type) belongs: a
  network trained in bf16 is a different measurement. It is recorded as "bf16" / "fp32"; fp32 is left out
  of the hashed setup so that ids of records written before precision was part of it stay the same.
- the device itself (which GPU, or CPU) does not, beyond the precision it implies: the same arithmetic on
  another device differs only in the order of floating-point reductions.
- the torch thread count does not either: it too changes only the reduction order (one model and seed gave
  81.00% with one thread and 82.00% with two - noise of the size of seed-to-seed noise, with no direction),
  and making it part of the setup would split a sweep run on nodes of different sizes. Each record keeps
  `threads` and `device`, so a result can be reproduced bit for bit.

The dataset's identity is its name, resolution, channels, classes, stem stride and image counts
(not its path: the same data sits at different paths on different machines). Augmentation
settings of a dataset config are not part of it: change them under a new dataset name.

Schedule keys a sweep samples per model (`designspace.space.hparams`: lr, weight_decay, ...) are part of each
model, not of the setup: the setup leaves them out of its schedule and names them under `sampled`, the values
live in the samples table and in each record (`hparams`). A setup without sampled keys is written exactly as
before they existed, so its id stays.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from designspace.util.usage import UserError

if TYPE_CHECKING:
    from designspace.sweep.layout import SweepDir

DATASET_IDENTITY = ("name", "resolution", "channels", "num_classes", "stem_stride", "train_size", "test_size")
CONFIG_IDENTITY = ("name", "resolution")
"""The part of the dataset identity known before the data is read (from the dataset config alone)."""


class SetupMismatch(UserError):
    """Records of another setup are in the way (a user error: exit status 2 on the command line)."""


def precision(device: Any) -> str:
    """The arithmetic the trainer uses on `device` (a torch.device or its text): bf16 on CUDA, else fp32."""
    return "bf16" if str(getattr(device, "type", device)).startswith("cuda") else "fp32"


def make_setup(dataset_info: Mapping[str, Any], schedule: Mapping[str, Any], seed: int,
               precision: str | None = None, sampled: Iterable[str] = ()) -> dict[str, Any]:
    """The setup of a training run: dataset identity, the full schedule (defaults filled in) but for the keys
    `sampled` per model (listed under "sampled" when there are any), seed, and the precision when it is not fp32
    (None: not known yet, before the device is chosen)."""
    sampled = sorted(set(sampled))
    schedule = {k: v for k, v in _full_schedule(schedule).items() if k not in sampled}
    setup = {
        "dataset": {k: dataset_info.get(k) for k in DATASET_IDENTITY},
        "schedule": schedule,
        "seed": int(seed),
    }
    if precision is not None and precision != "fp32":
        setup["precision"] = precision
    if sampled:
        setup["sampled"] = sampled
    return setup


def _full_schedule(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule with every key (records written before a key existed get its default)."""
    from designspace.training.schedule import Schedule

    try:
        return Schedule.from_dict(dict(schedule)).to_dict()
    except (TypeError, ValueError):  # a schedule from a newer version: compared as written
        return dict(schedule)


def setup_id(setup: Mapping[str, Any]) -> str:
    """8 hex digits of the SHA-1 of the setup's canonical JSON."""
    text = json.dumps(setup, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def record_setup(record: Mapping[str, Any]) -> dict[str, Any]:
    """The setup of a result record (computed from its dataset, schedule, seed and device fields, less the keys its
    model sampled: its `hparams`)."""
    hparams = record.get("hparams")
    return make_setup(record["dataset"], record["schedule"], record["seed"], precision(record.get("device") or "cpu"),
                      sampled=hparams if isinstance(hparams, Mapping) else ())


def describe(setup: Mapping[str, Any]) -> str:
    """One line: 'fashion_mnist 32px (60000 train / 10000 test images), schedule fmnist_cpu, seed 0'."""
    d = setup["dataset"]
    sampled = setup.get("sampled") or ()
    return (f"{d.get('name')} {d.get('resolution')}px ({d.get('train_size')} train / {d.get('test_size')} test images), "
            f"schedule {setup['schedule'].get('name')}, seed {setup['seed']}, {setup.get('precision', 'fp32')}"
            + (f", {' and '.join(map(str, sampled))} sampled per model" if sampled else ""))


def group(records: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by setup id: {id: {"setup": setup, "ids": [model ids]}}, largest group first."""
    out: dict[str, dict[str, Any]] = {}
    for mid, rec in records.items():
        setup = record_setup(rec)
        entry = out.setdefault(setup_id(setup), {"setup": setup, "ids": []})
        entry["ids"].append(mid)
    return dict(sorted(out.items(), key=lambda kv: -len(kv[1]["ids"])))


def summary(groups: Mapping[str, Mapping[str, Any]]) -> str:
    """'a1b2c3d4 (4 records: ...); e5f6a7b8 (2 records: ...)'."""
    return "; ".join(f"{sid} ({len(g['ids'])} record{'s' * (len(g['ids']) != 1)}: {describe(g['setup'])})"
                     for sid, g in groups.items())


def select(groups: Mapping[str, Mapping[str, Any]], name: str | None, where: str) -> str | None:
    """The id of the one setup to analyse: the only one, or the one `name` picks (a setup id or its
    prefix, or a schedule name). None when there are no records. Raises SetupMismatch otherwise."""
    if not groups:
        return None
    if name is None:
        if len(groups) == 1:
            return next(iter(groups))
        raise SetupMismatch(f"{where} holds the records of {len(groups)} training setups, which must not be mixed: "
                            f"{summary(groups)}. Name one with setup=ID")
    name = str(name)
    hits = [sid for sid, g in groups.items() if sid.startswith(name) or g["setup"]["schedule"].get("name") == name]
    if len(hits) != 1:
        what = "matches no" if not hits else f"matches {len(hits)}"
        raise SetupMismatch(f"setup={name} {what} setup of {where}; there: {summary(groups)}")
    return hits[0]


def check_compatible(groups: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, Any], where: str,
                     dataset_keys: tuple[str, ...] = DATASET_IDENTITY) -> None:
    """Raise SetupMismatch unless every record of `groups` has the `wanted` setup (dataset compared on
    `dataset_keys` only: before the data is read, on `CONFIG_IDENTITY`)."""
    full = set(DATASET_IDENTITY) <= set(dataset_keys)

    def key(setup: Mapping[str, Any]) -> tuple[Any, ...]:
        return (tuple(setup["dataset"].get(k) for k in dataset_keys), json.dumps(setup["schedule"], sort_keys=True),
                setup["seed"], setup.get("precision", "fp32") if full else None, tuple(setup.get("sampled") or ()))

    other = {sid: g for sid, g in groups.items() if key(g["setup"]) != key(wanted)}
    if other:
        raise SetupMismatch(
            f"{where} already holds records trained with another setup: {summary(other)}. This run asks for "
            f"{_describe_partial(wanted, dataset_keys)}, differing in "
            f"{differences(*(_known(s, dataset_keys, full) for s in (next(iter(other.values()))['setup'], wanted)))}. "
            "A sweep holds one setup, so results never mix: rerun with "
            "the recorded dataset, schedule and seed, or train this setup in a new sweep directory with the same "
            "samples (copy samples.parquet and config.yaml there, or rerun the sample command from config.yaml "
            "with another sweep_dir: the sampler draws the same models)"
        )


def _known(setup: Mapping[str, Any], dataset_keys: tuple[str, ...], full: bool) -> dict[str, Any]:
    """What can be compared yet: before the data is read, only the dataset keys the config names (no precision)."""
    if full:
        return dict(setup)
    known = {"dataset": {k: setup["dataset"].get(k) for k in dataset_keys}, "schedule": setup["schedule"],
             "seed": setup["seed"]}
    return {**known, "sampled": setup["sampled"]} if setup.get("sampled") else known


def _describe_partial(setup: Mapping[str, Any], dataset_keys: tuple[str, ...]) -> str:
    if set(DATASET_IDENTITY) <= set(dataset_keys):
        return describe(setup)
    d = setup["dataset"]
    return f"{d.get('name')} {d.get('resolution')}px, schedule {setup['schedule'].get('name')}, seed {setup['seed']}"


def _flat(setup: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in setup.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(pinned: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """The keys whose values differ, 'schedule.batch_size: 20000 there, 64 here; ...' (precision fp32 when absent)."""
    a, b = _flat({"precision": "fp32", **pinned}), _flat({"precision": "fp32", **wanted})
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return "; ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} here" for k in keys) or "none"


def _mismatch(sweep: SweepDir, pinned: Mapping[str, Any], setup: Mapping[str, Any]) -> SetupMismatch:
    return SetupMismatch(
        f"{sweep.root} is pinned to setup {setup_id(pinned)} by {sweep.setup_path}, written by the first run that "
        f"trained a model there; this run differs in {differences(pinned, setup)}. A sweep holds one setup, so results "
        "never mix: rerun with the pinned dataset, schedule and seed, or train this setup in a new sweep directory "
        "with the same samples")


MAX_SETUP_BYTES = 1 << 20
"""setup.json is about 1 KB; a larger file is damage."""


def _read_pinned(sweep: SweepDir) -> dict[str, Any] | None:
    """DIR/setup.json's setup, None when there is none; SetupMismatch naming the file when it is damaged (not
    JSON, nested too deep, not a regular file - a FIFO would hang every worker - or without a setup object)."""
    from designspace.util.files import FileRefused, read_json

    path = sweep.setup_path
    if not os.path.lexists(path):
        return None
    try:
        setup = read_json(path, MAX_SETUP_BYTES)[0]["setup"]
        if not isinstance(setup, dict):
            raise TypeError
        return setup
    except FileNotFoundError:  # a dangling link
        problem = "a link to nothing"
    except FileRefused as exc:
        problem = str(exc).removeprefix(f"{path}: ")
    except (KeyError, TypeError):
        problem = "no setup object in it"
    raise SetupMismatch(f"{path} is damaged ({problem}): remove it (the next run pins its setup again, checked "
                        "against the records)")


def pinned(sweep: SweepDir) -> dict[str, Any] | None:
    """The setup the sweep is pinned to (DIR/setup.json), None before its first model trained; SetupMismatch when
    the file is damaged."""
    return _read_pinned(sweep)


def check_pinned(sweep: SweepDir, setup: Mapping[str, Any]) -> None:
    """Raise SetupMismatch, naming the keys that differ, if the sweep is pinned to another setup; writes nothing
    (the setup is pinned only when a model is about to train: `pin`)."""
    pinned = _read_pinned(sweep)
    if pinned is not None and setup_id(pinned) != setup_id(setup):
        raise _mismatch(sweep, pinned, setup)


def pin(sweep: SweepDir, setup: Mapping[str, Any]) -> None:
    """Pin `setup` as the sweep's (DIR/setup.json, published with a hard link: exclusive and whole, also over
    NFS), or raise SetupMismatch if the sweep is pinned to another one."""
    from designspace.util.atomic import atomic_write_json, temp_path

    path = sweep.setup_path
    if not path.is_file():
        tmp = atomic_write_json(temp_path(path), {"setup_id": setup_id(setup), "setup": dict(setup)})
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    check_pinned(sweep, setup)
