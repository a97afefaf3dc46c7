"""`python -m designspace.analyze sweep_dirs=[DIR_A,DIR_B] out=DIR`: the analysis report of design spaces.

Reads each sweep directory (samples + training results; `designspace.analysis.collect`) and/or NDS data
files (`designspace.analysis.nds`), and writes out/report.md and report.html with the tables (spaces, KS
distances between every pair, best-model ranges, e_fit per space), the figures as PNG and PDF
under out/figures and the numbers behind each figure as CSV under out/data (`designspace.reporting.report`).
Options: configs/analyze.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["main", "run"]

"""An NDS data file larger than this is refused (the release's files are far smaller)."""


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def run(cfg: Any) -> Path:
    """Build the report from a composed config (see configs/analyze.yaml); returns report.md's path."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    from omegaconf import OmegaConf

    from designspace.analysis.collect import load_sweeps
    from designspace.reporting.report import ReportSettings, write_report
    from designspace.util.usage import UsageError

    if OmegaConf.is_missing(cfg, "out") or cfg.out is None:
        raise UsageError("out=DIR is required: the folder the report is written to")
    if Path(str(cfg.out)).exists() and not Path(str(cfg.out)).is_dir():
        raise UsageError(f"out={cfg.out} is a file, not a folder: give a folder for the report")
    sweep_dirs = _list(cfg.sweep_dirs)
    names = _list(cfg.names) or None
    frames, sources = [], list(sweep_dirs)
    if sweep_dirs:
        frames.append(load_sweeps(sweep_dirs, names, cfg.get("setup")))
    nds = cfg.get("nds") or {}
    if nds.get("dir"):
        frames.append(_read_nds(str(nds["dir"]), _list(nds.get("spaces")) or None, nds.get("error", "min_test_top1")))
        sources.append(f"NDS data {nds['dir']}")
    if not frames:
        raise ValueError("nothing to analyse: give sweep_dirs=[DIR,...] and/or nds.dir=DIR")
    frame = pd.concat(frames, ignore_index=True, sort=False)
    settings = ReportSettings(
        policy=cfg.policy, penalty=float(cfg.penalty), bins=int(cfg.bins), normalize=tuple(_list(cfg.normalize)),
        empty=cfg.empty_bins, frac=float(cfg.frac), min_per_draw=int(cfg.min_per_draw), draws=int(cfg.draws),
        seed=int(cfg.seed), top=int(cfg.top),
        formats=tuple(_list(cfg.formats)), wm_range=(float(cfg.wm_range[0]), float(cfg.wm_range[1])),
        title=str(cfg.title), sources=tuple(sources),
    )
    return write_report(frame, cfg.out, settings)


def _read_nds(folder: str, spaces: list[str] | None, error: str) -> Any:
    """The NDS data of `analysis.nds.read_nds` (a folder of `<space>.json`, or one file; each read bounded by
    `read_nds_file`: a FIFO would hang, a link to /dev/zero never end), a file that does not parse as NDS data one
    line naming it."""
    import pandas as pd

    from designspace.analysis.nds import nds_spaces, read_nds_file
    from designspace.util.usage import UserError, is_user_error

    root = Path(folder)
    if root.is_file():
        files = [(None, root)]
    else:
        names = spaces or nds_spaces(root)
        missing = [n for n in names if not (root / f"{n}.json").exists()]  # a FIFO exists: refused below, named
        if missing:
            raise FileNotFoundError(f"{root}: no NDS file for {missing}; present: {nds_spaces(root)}")
        files = [(n, root / f"{n}.json") for n in names]
    frames = []
    for name, path in files:
        try:
            frames.append(read_nds_file(path, name, error=error))
        except Exception as exc:  # a malformed file: json, TypeError, KeyError, RecursionError, ... - its own
            if is_user_error(exc):
                raise
            raise UserError(f"{path}: not NDS data ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    return pd.concat(frames, ignore_index=True, sort=False)


def summary_text(report: Path) -> str:
    """The key tables of a written report for the terminal (read from its CSVs): per space n, outcomes,
    median and best error; the KS distance of every pair; where the report is."""
    import pandas as pd

    from designspace.util.names import one_line
    from designspace.util.tables import text_table

    data = report.parent / "data"
    summary = pd.read_csv(data / "summary.csv")
    rows = [[one_line(r.space), str(r.n), f"{r.ok}/{r.diverged}/{r.failed}/{r.untrained}", _pct(r.median_error),
             _pct(r.min_error), "" if pd.isna(r.best_model) else one_line(r.best_model)] for r in summary.itertuples()]
    parts = [text_table(["space", "n", "ok/div/fail/untrained", "median %", "best %", "best model"], rows)]
    if (data / "ks.csv").exists():
        ks = pd.read_csv(data / "ks.csv")
        parts.append(text_table(["space a", "space b", "D", "p"],
                                [[one_line(r.space_a), one_line(r.space_b), f"{r.D:.3f}", f"{r.p_value:.3g}"]
                                 for r in ks.itertuples()], left=2))
    ranges_csv = data / "hparam_ranges.csv"  # a sweep that sampled lr, weight decay ... per model (not a stale file)
    if ranges_csv.exists() and ranges_csv.stat().st_mtime >= (data / "summary.csv").stat().st_mtime:
        ranges = pd.read_csv(ranges_csv)
        parts.append(text_table(["space", "hyperparameter", "n", "good range: median [95%]"],
                                [[str(r.space), str(r.param), str(r.n), f"{r.median:.3g} [{r.low:.3g}, {r.high:.3g}]"]
                                 for r in ranges.itertuples()], left=2))
    parts.append(f"report: {report} (HTML: {report.with_suffix('.html')}; figures: {report.parent / 'figures'}; "
                 f"data: {data})")
    return "\n\n".join(parts)


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


def _watch(cfg: Any) -> None:
    """`watch=true`: render, then render again whenever records are added or change, until every sampled model
    of the sweeps has one; a line per update; Ctrl-C ends it cleanly."""
    import sys
    import time

    from designspace.analysis.collect import sweep_info
    from designspace.studies.watch import watch
    from designspace.sweep.layout import SweepDir
    from designspace.util.names import one_line
    from designspace.util.usage import UsageError, terminal_safe

    interval = cfg.get("interval")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
        raise UsageError(f"interval={interval!r} must be a number of seconds > 0")
    dirs = _list(cfg.sweep_dirs)
    if not dirs:
        raise UsageError("watch=true follows sweep directories: give sweep_dirs=[DIR,...]")
    sweeps = [SweepDir(d) for d in dirs]
    names = [one_line(n) for n in _list(cfg.names) or [sweep_info(d)["space"] or Path(d).name for d in dirs]]
    report: list[Path] = []

    def render() -> None:
        report[:] = [run(cfg)]

    def say(line: str) -> None:
        print(terminal_safe(f"{time.strftime('%H:%M:%S')} {line}"), flush=True)

    try:
        watch(sweeps, names, render, float(interval), say)
    except KeyboardInterrupt:
        print("watch stopped; the last report written is whole" + (f": {report[0]}" if report else ""),
              file=sys.stderr)
        return
    print(terminal_safe(f"every model is trained; report: {report[0]}"))


def _analyze(cfg: Any) -> None:
    from designspace.util.usage import UsageError, terminal_safe

    if not isinstance(cfg.get("watch"), bool):
        raise UsageError(f"watch={cfg.get('watch')!r} must be true or false")
    if cfg.watch:
        _watch(cfg)
        return
    print(terminal_safe(summary_text(run(cfg))))


def main() -> None:
    from designspace.cli import _hydra
    from designspace.sweep.results import ResultsError

    _hydra.run("analyze", "designspace.analyze", _analyze, (ResultsError,))


if __name__ == "__main__":
    main()
