"""`python -m designspace.refine sweep_dirs=[DIR] out=DIR`: candidate restrictions of a trained sweep's space.

The study is `designspace.studies.refine`; options: configs/refine.yaml."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from designspace.cli._help import handled
from designspace.cli._messages import one_line
from designspace.configs import CONFIG_DIR
from designspace.studies.refine import run


def main(argv: Sequence[str] | None = None) -> int:
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from designspace.util import names
    from designspace.util.usage import exit_usage, is_user_error, terminal_safe, warnings_on_one_line

    args = list(sys.argv[1:] if argv is None else argv)
    if handled(args, "refine", __doc__, "python -m designspace.refine", hydra=False):
        return 0
    warnings_on_one_line("designspace.refine")
    show = _cfg_job(args)
    try:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("refine", overrides=args)
        if show:
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(cfg), end="")
            return 0
        if cfg.get("out") in (None, "???"):
            raise ValueError("out is required: python -m designspace.refine sweep_dirs=[DIR] out=DIR")
        for res in run(cfg):
            top = res["top"]
            print(terminal_safe(f"{names.one_line(res['space'])}: {len(res['ranked'])} candidates; top: {top['label'].iat[0]} "
                                f"(kept {top['n_kept'].iat[0]}: {top['verdict'].iat[0]}); "
                                f"wrote {res['out'] / 'report.md'} and {len(res['files'])} space files"
                                + (f"; sample next with {' '.join(res['hparams'])}" if res.get("hparams") else "")))
    except (HydraException, OmegaConfBaseException) as exc:
        exit_usage("designspace.refine", ValueError(one_line(exc)))
    except Exception as exc:
        if not is_user_error(exc):
            raise
        exit_usage("designspace.refine", exc)
    return 0


def _cfg_job(args: list[str]) -> bool:
    """Take `--cfg job` (print the composed config, as the Hydra commands do) out of `args`; whether it was there."""
    for i, a in enumerate(args):
        if a == "--cfg" and i + 1 < len(args) and args[i + 1] == "job":
            del args[i : i + 2]
            return True
        if a == "--cfg=job":
            del args[i]
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
