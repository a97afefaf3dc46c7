"""Do the proxy's default lr and weight decay sit in the good range? RegNet models at the CPU proxy with lr and
weight decay sampled around the schedule's values, and the good range of each (design-spec 7's bootstrap).

    python experiments/hparam_study.py                      # 40 models, 12-17 s each on one thread: ~10 min
    python experiments/hparam_study.py --n 4 --sweep-dir /tmp/hp --out /tmp/hp-out   # a trial run

What it runs, as a user would (each step resumes when the command is run again):

    python -m designspace.sample space=regnet n=40 budget=fmnist32_50mf sweep_dir=runs/hparam_study \\
        hparams.lr=[0.05,0.8] hparams.weight_decay=[5e-6,5e-4]
    python -m designspace.train sweep_dir=runs/hparam_study dataset=fashion_mnist_32 schedule=fmnist_cpu threads=1

then `designspace.analysis.hparams.good_ranges` with the schedule's lr and weight decay as the reference. The
ranges are the schedule's lr 0.2 times or divided by 4 and its weight decay 5e-5 times or divided by 10, each drawn
log-uniformly (pycls's law), so the default sits at the centre of each on the log scale. Writes under --out:
summary.md (the good ranges and where the defaults lie, with the setup and the command), good_ranges.csv,
range_hypotheses.csv, models.csv (every model's lr, weight decay and error) and hparams.png / .pdf.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> None:
    print("$ python " + " ".join(args), flush=True)
    proc = subprocess.run([sys.executable, *args], cwd=REPO)
    if proc.returncode != 0:
        sys.exit(proc.returncode)


def _schedule(name: str) -> dict:
    from designspace.configs import CONFIG_DIR, read_yaml

    return read_yaml(CONFIG_DIR / "schedule" / f"{name}.yaml")


def analyse(sweep_dir: Path, out: Path, schedule: dict, command: str) -> str:
    """The good ranges of the trained sweep against the schedule's values; writes the files and returns summary.md."""
    import matplotlib

    matplotlib.use("Agg")
    from designspace.analysis.collect import load_sweep
    from designspace.analysis.hparams import good_ranges, range_hypotheses, varying_hparams, with_product
    from designspace.analysis.outcomes import ERROR, resolve_errors
    from designspace.reporting.hparam_plots import plot_hparam_scatter
    from designspace.reporting.plots import save

    table = load_sweep(sweep_dir, "RegNet")
    used, counts = resolve_errors(table)
    reference = {"lr": float(schedule["lr"]), "weight_decay": float(schedule["weight_decay"])}
    ranges = good_ranges(table, reference=reference)
    out.mkdir(parents=True, exist_ok=True)
    ranges.to_csv(out / "good_ranges.csv", index=False)
    keys = varying_hparams(used)
    hypotheses = pd.concat([range_hypotheses(used, k).head(5) for k in keys], ignore_index=True) if keys else \
        pd.DataFrame()
    hypotheses.to_csv(out / "range_hypotheses.csv", index=False)
    columns = [c for c in ("model_id", "depth", "w0", "wa", "wm", "g", "flops", "lr", "weight_decay", "status",
                           "error") if c in table]
    table[columns].to_csv(out / "models.csv", index=False)
    if keys:
        points = with_product(used)[["model_id", *keys, ERROR, "outcome"]]
        save(plot_hparam_scatter(points, ranges, "RegNet", keys, frac=0.25), out / "hparams")
    lines = ["# Do the default lr and weight decay sit in the good range?", "",
             f"{counts.used} RegNet models ({counts.note() or 'all trained'}) at the CPU proxy, each trained with its "
             f"own lr and weight decay; setup: {table.attrs.get('setup')}.", "", f"`{command}`", ""]
    if ranges.empty:
        skipped = ranges.attrs.get("too_few") or {}
        found = ", ".join(f"{n} models" for n in skipped.values()) or "no model varies in lr"
        lines.append(f"Too few models for the good-range bootstrap ({found}): it needs 38 at 25% subsamples.")
    else:
        lines += ["| hyperparameter | the schedule's value | good range: median [95% interval] | the default lies |",
                  "|---|---|---|---|"]
        lines += [f"| {r.param} | {r.reference:.3g} | {r.median:.3g} [{r.low:.3g}, {r.high:.3g}] | {r.verdict} |"
                  for r in ranges.itertuples()]
        lines += ["", "Good range: 10,000 bootstrap draws of 25% of the models with replacement; the lr (weight decay, "
                  "their product) of each draw's lowest-error model; median and 2.5-97.5% percentiles, on the log "
                  "scale. At this proxy (64 steps) a good range is one for fast convergence; it says nothing yet of "
                  "longer training."]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--sweep-dir", type=Path, default=REPO / "runs" / "hparam_study")
    parser.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "hparams")
    parser.add_argument("--space", default="regnet")
    parser.add_argument("--budget", default="fmnist32_50mf")
    parser.add_argument("--dataset", default="fashion_mnist_32")
    parser.add_argument("--schedule", default="fmnist_cpu")
    parser.add_argument("--lr", type=float, nargs=2, default=(0.05, 0.8))
    parser.add_argument("--wd", type=float, nargs=2, default=(5e-6, 5e-4))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pack", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sweep = str(args.sweep_dir)
    _run(["-m", "designspace.sample", f"space={args.space}", f"n={args.n}", f"budget={args.budget}",
          f"seed={args.seed}", f"sweep_dir={sweep}", f"hparams.lr=[{args.lr[0]:g},{args.lr[1]:g}]",
          f"hparams.weight_decay=[{args.wd[0]:g},{args.wd[1]:g}]", "progress=false"])
    _run(["-m", "designspace.train", f"sweep_dir={sweep}", f"dataset={args.dataset}", f"schedule={args.schedule}",
          f"threads={args.threads}", f"pack={args.pack}", "progress=false"])
    command = "python experiments/hparam_study.py " + " ".join(sys.argv[1:])
    print(analyse(args.sweep_dir, args.out, _schedule(args.schedule), command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
