"""How every command runs Hydra: one primary config in `pkg://designspace.configs`, and one error rule.

- A user error, whether Hydra's (an unknown key or group option, a malformed override or YAML file) or the
  command's own (`designspace.util.usage.UserError`, or one of the command's `user_errors`), is one line on
  stderr and exit status 2; anything else (a library's ValueError included) is a bug and keeps its traceback.
- `space=PATH.yaml` / `budget=PATH.yaml` name a file outside the config groups (a space that
  `python -m designspace.refine` wrote, a budget of your own). Hydra only takes group options, so the file is
  linked into a private search-path folder as group option `file-<stem>`; `source_file` gives the real path back
  for error messages, and the file is read first so that a malformed one is named with its line.
- A submitit launcher keeps its job files (pickles a job process runs) in a private folder of the user, never
  in the shared sweep (`_launcher_overrides`; docs/shared-sweeps.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from designspace.cli._messages import message
from designspace.configs import CONFIG_DIR, read_yaml
from designspace.util.usage import UserError, exit_usage, is_user_error, warnings_on_one_line

FILE_GROUPS = ("space", "budget")
_SOURCES: dict[tuple[str, str], Path] = {}


def source_file(group: str, choice: str | None) -> Path | None:
    """The file a `group=PATH` override named, for the option Hydra composed it as (None otherwise)."""
    return _SOURCES.get((group, choice or ""))


def _file_overrides(args: Sequence[str], folder: Path) -> list[str]:
    """`group=PATH.yaml` -> `group=file-<stem>` with the file linked into `folder/group/`; other args unchanged."""
    out, linked = [], False
    for arg in args:
        key, eq, value = arg.partition("=")
        path = Path(value).expanduser()
        if eq and key in FILE_GROUPS and value.endswith((".yaml", ".yml")) and path.is_file():
            read_yaml(path, UserError)  # a malformed file: one line naming it and the line
            option = f"file-{path.stem}"
            (folder / key).mkdir(parents=True, exist_ok=True)
            link = folder / key / f"{option}.yaml"
            link.unlink(missing_ok=True)
            link.symlink_to(path.resolve())
            _SOURCES[(key, option)] = path.resolve()
            out.append(f"{key}={option}")
            linked = True
        elif eq and key in FILE_GROUPS and value.endswith((".yaml", ".yml")) and (os.sep in value or "/" in value):
            raise FileNotFoundError(f"{key}={value}: no such file")
        else:
            out.append(arg)
    if linked:
        out = _with_overrides(out, [f"hydra.searchpath=[file://{folder}]"])
    return out


def _launcher_overrides(args: Sequence[str], command: str) -> list[str]:
    """For a submitit launcher, its folder (job pickles, results, logs) in a private 0700 folder of this user
    (`designspace.util.private.launcher_dir`), unless the command line names one."""
    launcher = next((a.partition("=")[2] for a in args if a.startswith("hydra/launcher=")), "")
    if not launcher.startswith("submitit") or any(a.startswith("hydra.launcher.submitit_folder=") for a in args):
        return []
    from designspace.util.private import launcher_dir

    return [f"hydra.launcher.submitit_folder={launcher_dir(command)}/%j"]


@contextlib.contextmanager
def _argv(args: list[str]) -> Iterator[None]:
    saved = sys.argv[:]
    sys.argv[1:] = args
    try:
        yield
    finally:
        sys.argv[:] = saved


@contextlib.contextmanager
def _errors_raised() -> Iterator[None]:
    """Hydra prints its own errors and exits 1 unless HYDRA_FULL_ERROR is set; then it raises them."""
    saved = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved


def _help_or_version(config_name: str, task: Callable[[Any], Any]) -> bool:
    """--help (from the command's docstring and primary config) or --version answered: the command stops."""
    from designspace.cli._help import handled

    module = sys.modules.get(getattr(task, "__module__", ""))
    return handled(sys.argv[1:], config_name, getattr(module, "__doc__", None), f"python -m designspace.{config_name}")


def _typed_configs(config_name: str) -> None:
    """Register the schemas (`designspace.cli._structured`) that the command's primary config names."""
    from designspace.cli._structured import named, register

    text = (CONFIG_DIR / f"{config_name}.yaml").read_text() if (CONFIG_DIR / f"{config_name}.yaml").is_file() else ""
    register(named(text))


def _with_overrides(args: list[str], extra: list[str]) -> list[str]:
    """`extra` overrides placed before the first override of `args`: Hydra's parser takes the overrides as one
    run of positionals, so none may follow a flag such as `-m` or `--cfg job`."""
    at = next((i for i, a in enumerate(args) if "=" in a and not a.startswith("-")), len(args))
    return args[:at] + extra + args[at:]


def _check_additions(args: Sequence[str]) -> None:
    from designspace.cli._structured import check_additions

    check_additions(args)


def run(config_name: str, prog: str, task: Callable[[Any], Any],
        user_errors: tuple[type[BaseException], ...] = ()) -> None:
    """Compose `config_name` with the command line and run `task(cfg)` under the error rule above."""
    if _help_or_version(config_name, task):
        return
    warnings_on_one_line(prog)
    _typed_configs(config_name)
    import hydra
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    in_task = False

    @hydra.main(version_base="1.3", config_path="pkg://designspace.configs", config_name=config_name)
    def _main(cfg: Any) -> None:
        nonlocal in_task
        in_task = True
        try:
            task(cfg)
        except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
            from designspace.cli._help import quiet_broken_pipe

            quiet_broken_pipe()
        except Exception as exc:
            if not (isinstance(exc, user_errors) or is_user_error(exc)):
                raise
            exit_usage(prog, exc)

    try:
        with tempfile.TemporaryDirectory(prefix="designspace-files-") as folder:
            _check_additions(sys.argv[1:])
            args = _file_overrides(sys.argv[1:], Path(folder))
            args = _with_overrides(args, _launcher_overrides(args, config_name))
            if not any(a.startswith("hydra.job.name=") for a in args):  # logs as <command>.log, not after this file
                args = _with_overrides(args, [f"hydra.job.name={config_name}"])
            with _argv(args), _errors_raised():
                _main()
    except (HydraException, OmegaConfBaseException, yaml.YAMLError) as exc:
        if in_task and not isinstance(exc, OmegaConfBaseException):
            raise
        exit_usage(prog, UserError(message(exc, source_file)))
    except Exception as exc:
        if in_task or not is_user_error(exc):
            raise
        exit_usage(prog, exc)
