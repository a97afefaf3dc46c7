"""`python -m designspace.refine sweep_dirs=[DIR] out=DIR [top=10] [verify=true]`: the next, smaller space.

For each trained sweep: the candidate restrictions of its space scored on its models
(`designspace.analysis.suggest`), a space file per top suggestion (``defaults: [<space>, _self_]`` plus the
constraint; `python -m designspace.sample space=FILE` accepts it), and a report (Markdown + HTML,
`designspace.reporting.report`'s document builder, `designspace.reporting.plots` figures) under out/<space>/. With
verify=true the top suggestion's space is sampled, trained with the sweep's own dataset, schedule
and seed, and its EDF compared with the sweep's (one-sided KS, power). A sweep that sampled training
hyperparameters per model (`hparams.lr=[low,high]` ...) also gets their good ranges, narrower ranges scored like
the restrictions, and the range to sample next (`designspace.analysis.hparams`). Options: configs/refine.yaml.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from designspace.analysis import Analysis, suggest
from designspace.analysis import hparams as hp
from designspace.analysis.bootstrap import MIN_PER_DRAW, per_draw
from designspace.analysis.edf import ks_test
from designspace.analysis.outcomes import ERROR, resolve_errors
from designspace.analysis.power import ks_critical, n_for_power, power_row
from designspace.configs import CONFIG_DIR, read_yaml
from designspace.reporting import plots
from designspace.reporting.report import Document
from designspace.space import spaces
from designspace.space.compose import SPACE_DIR
from designspace.space.hparams import HparamLaw, parse_laws
from designspace.space.sampler import draw
from designspace.space.spaces import load
from designspace.sweep import results
from designspace.sweep.layout import SweepDir
from designspace.sweep.options import RunOptions
from designspace.sweep.results import read_records
from designspace.sweep.runner import run_sweep
from designspace.training.schedule import Schedule
from designspace.util.atomic import atomic_write_text
from designspace.util.names import markdown_text, one_line, spreadsheet_safe
from designspace.util.paths import safe_name

__all__ = ["SweepSource", "read_sweep", "refine_sweep", "run"]

SHOWN_EDFS = 4  # suggestions drawn against the whole space in the EDF figure


@dataclass
class SweepSource:
    """A trained sweep: its joined table, the space as recorded, the budget config, the records' setup."""

    root: Path
    table: pd.DataFrame
    space_ref: Any  # the config's `space`: a name, a path or an inline mapping
    budget: Any
    config: dict[str, Any]


def read_sweep(sweep_dir: str | Path, min_models: int) -> SweepSource:
    """Read one sweep directory; a missing or untrained sweep raises ValueError/FileNotFoundError (one line)."""
    sweep = SweepDir(sweep_dir)
    if not sweep.root.is_dir():
        raise FileNotFoundError(f"sweep_dirs: {sweep.root} does not exist")
    sweep.require()
    cfg = sweep.read_config()
    if cfg.get("space") is None:
        raise ValueError(f"{sweep.config_path}: missing, unreadable or without a `space` key; refine needs the "
                         "space and budget the sweep was drawn from")
    table = results.load(sweep)
    trained = int(table["status"].isin(["ok", "diverged", "failed"]).sum())
    if trained < 2 * min_models:
        raise ValueError(f"{sweep.root}: {trained} of {len(table)} models trained; refine needs at least "
                         f"{2 * min_models} (train it with `python -m designspace.train sweep_dir={sweep.root}`)")
    return SweepSource(sweep.root, table, cfg["space"], cfg.get("budget"), cfg)


def _budget_name(budget: Any) -> str | None:
    return budget.get("name") if isinstance(budget, dict) else budget if isinstance(budget, str) else None


def _verdict(row: pd.Series, kept: np.ndarray, rest: np.ndarray, alpha_eff: float, min_kept: int) -> str:
    """'supported' / 'too few models to tell' / 'not shown', never stronger than the numbers."""
    if not row["tested"]:
        return f"too few models to tell ({row['n_kept']} kept, {row['n'] - row['n_kept']} left out; needs {min_kept})"
    if row["significant"]:
        return f"supported on these models (Holm p = {row['p_holm']:.2g}); a hypothesis until sampled and trained"
    if not row["median_kept"] < row["median_rest"]:
        return "not shown: the kept models are not better at the median"
    need = n_for_power(kept, rest, alpha_eff, "greater", factors=(2, 4, 8), draws=500)
    if need is None:
        return "not shown: a gain this size is too small for even 8x the models to detect after the correction"
    return f"too few models to tell: about {need} models per group would detect this gain after the correction"


def _edf_figure(used: pd.DataFrame, err_col: str, top: pd.DataFrame, cands: list, s: Any) -> Any:
    """The whole space's EDF and those of the kept models of the top suggestions (legend outside)."""
    parts = [used.assign(space="whole space")]
    for i in range(min(SHOWN_EDFS, len(top))):
        mask = cands[i].mask
        parts.append(used[mask].assign(space=f"#{i + 1}: {top['label'].iat[i]}"))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.assign(error=frame[err_col], status="ok")
    edfs = Analysis(frame, policy=s.policy, penalty=float(s.penalty))
    return plots.plot_edfs(edfs, title="error EDF: top suggestions vs the whole",
                           panel=(9.5, 3.6))  # room for the long labels of the legend beside the panel


def _yaml(cfg: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=110)


def refine_sweep(src: SweepSource, out: Path, s: Any) -> dict[str, Any]:
    """Suggest, write the space files and the report of one sweep under `out`; returns what it wrote."""
    import matplotlib

    matplotlib.use("Agg")

    space = spaces.load(src.space_ref)
    ranked = suggest.suggest(src.table, space, policy=s.policy, penalty=float(s.penalty), alpha=float(s.alpha),
                             min_kept=int(s.min_kept), pair_pool=int(s.pair_pool), fits=bool(s.fits))
    cands, counts, m_family = ranked.attrs["candidates"], ranked.attrs["counts"], ranked.attrs["m_family"]
    top_n = min(int(s.top), len(ranked))
    top = ranked.head(top_n).copy()
    for sub in ("spaces", "data", "figures"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    base_ref = src.space_ref if isinstance(src.space_ref, dict) else str(src.space_ref)
    configs, files = [], []
    for i in range(top_n):
        name = f"{space.name}_r{i + 1}"
        cfg = suggest.space_config(cands[i], space, base_ref, name)
        configs.append(cfg)
        path = out / "spaces" / f"{safe_name(name)}.yaml"  # the name is the sweep's: never a path
        atomic_write_text(path, f"# Hypothesis {i + 1} from refining {src.root}: {top['label'].iat[i]}\n"
                                f"# (python -m designspace.refine; a suggestion, not a result)\n" + _yaml(cfg))
        files.append(path)
    if s.sizes:
        from tqdm.auto import tqdm

        slow = space.family == "regnet"
        it = tqdm(list(zip(top["countable"], configs)), desc="space sizes", disable=not slow or not sys.stderr.isatty())
        top["size"] = [spaces.load(dict(c)).cardinality() if ok else None for ok, c in it]
        base = space.cardinality()
        top["share_of_space"] = [None if v is None else v / base for v in top["size"]]
    used, _ = resolve_errors(src.table, s.policy, float(s.penalty))
    used = used.reset_index(drop=True)
    err = used[ERROR].to_numpy(dtype=np.float64)
    alpha_eff = float(s.alpha) / max(m_family, 1)
    top["verdict"] = [_verdict(top.iloc[i], err[cands[i].mask], err[~cands[i].mask], alpha_eff, int(s.min_kept))
                      for i in range(top_n)]
    top["file"] = [f"spaces/{p.name}" for p in files]
    spreadsheet_safe(ranked.drop(columns=["tested"])).to_csv(out / "data" / "candidates.csv", index=False)

    doc = Document()
    budget = _budget_name(src.budget)
    budget = one_line(budget) if budget is not None else None  # shown in commands: one line
    doc.heading(f"Refining {space.name}: hypotheses from {src.root.name}", 1)
    doc.para(f"Source: {markdown_text(src.root)} (space {markdown_text(space.name)}, budget "
             f"{markdown_text(budget or '-')}). Models used: {counts.used} of "
             f"{counts.total}" + (f" ({counts.note()})" if counts.note() else "") + ".")
    doc.heading("Method", 2)
    doc.bullets([
        "Under rejection semantics the sweep's models that satisfy a restriction are an exact sample of the "
        "restricted space in the same budget, so each candidate is scored on models already trained.",
        f"Candidates: {len(ranked)} scored ({int(ranked['terms'].eq(1).sum())} single restrictions, "
        f"{int(ranked['terms'].eq(2).sum())} conjunctions of two among the best {s.pair_pool} singles).",
        "D = sup(F_kept - F_whole), one-sided (kept models better); p from the one-sided two-sample KS test of "
        "the kept models against the rest (asymptotic, exp(-2 n_e D_rest^2)).",
        f"Correction: Holm over m = {m_family:,} hypotheses (every tested single and every pair of them, scored "
        f"or not), level {s.alpha}. A result below that is 'supported on these models', nothing more.",
        "score = D_rest * sqrt(f (1 - f)) (the KS z per sqrt(n); f = share kept); a conjunction scores at most "
        "each term's own gain inside the other.",
        f"Best quartile: the 25th percentile error. Candidates keeping or leaving out fewer than {s.min_kept} "
        "models are not tested ('too few models to tell'); 'not shown' means the gain is absent or too small.",
        "size: the restricted space's exact count of configurations before the budget (as `python -m "
        "designspace.spaces`); '-' where the restriction is on complexity or the fitted widths (not counted).",
    ])
    doc.heading("Ranked hypotheses", 2)
    cols = ["rank", "label", "n_kept", "frac_kept", "median_kept", "median_rest", "q25_kept", "q25_rest", "D",
            "p_value", "p_holm", "score"] + (["size", "share_of_space"] if s.sizes else []) + ["verdict", "file"]
    shown = top[cols].rename(columns={"label": "restriction"})
    spreadsheet_safe(shown).to_csv(out / "data" / "top.csv", index=False)
    doc.table(shown, "data/top.csv", {"frac_kept": 2, "median_kept": 2, "median_rest": 2, "q25_kept": 2,
                                      "q25_rest": 2, "D": 3, "score": 3})
    edf_rows = pd.DataFrame({"model_id": used.get("model_id"), "err": err,
                             **{f"kept_{i + 1}": cands[i].mask for i in range(min(SHOWN_EDFS, top_n))}})
    spreadsheet_safe(edf_rows).to_csv(out / "data" / "edf_top.csv", index=False)
    doc.add_figure(_edf_figure(used, ERROR, top, cands, s), out, "edf_top",
                   f"Error EDF of the whole space (n = {len(used)}) and of the models each of the top "
                   f"{min(SHOWN_EDFS, top_n)} suggestions keeps (n in the legend).", list(s.formats),
                   ["data/edf_top.csv"])
    ranges = _hparams_section(src, used, doc, out, s)
    overrides = _hparam_overrides(ranges)
    if overrides:
        doc.para("To sample the same space with these ranges next (the range of a key that does not matter stays "
                 "about as wide as it was):")
        named = space.name if (SPACE_DIR / f"{space.name}.yaml").is_file() else "<the sweep's space>"
        doc.code(f"python -m designspace.sample space={named} n={len(src.table)}"
                 + (f" budget={budget}" if budget else "") + " " + " ".join(overrides) + " sweep_dir=sweeps/next")
    same = [law.override() for law in parse_laws(src.config.get("hparams"))]  # a restriction's only change: its space
    doc.heading("The space files", 2)
    doc.para("Each suggestion is a hypothesis. To test one, sample the new space and train it with the sweep's "
             "setup, then compare its EDF with this sweep's (or run refine with verify=true for the top one):")
    for i, path in enumerate(files):
        rel = out / "spaces" / path.name
        cmd = (f"python -m designspace.sample space={rel} n={len(src.table)}"
               + (f" budget={budget}" if budget else "") + "".join(f" {o}" for o in same)
               + f" sweep_dir=sweeps/{path.stem} && "
               f"python -m designspace.train sweep_dir=sweeps/{path.stem} dataset=<as the sweep> "
               f"schedule={_schedule_name(src) or '<as the sweep>'}")
        doc.para(f"**{i + 1}. {markdown_text(top['label'].iat[i])}** ({top['verdict'].iat[i]})")
        doc.code(_yaml(configs[i]), "yaml")
        doc.code(cmd)
    result = {"space": space.name, "out": out, "ranked": ranked, "top": top, "files": files,
              "hparams": overrides}
    if s.verify and top_n:
        result["verify"] = verify(src, files[0], out / "verify", s, doc, err)
    doc.write(out, "report", f"Refining {space.name}")
    return result


def _hparams_section(src: SweepSource, used: pd.DataFrame, doc: Document, out: Path, s: Any) -> pd.DataFrame:
    """For a sweep that sampled training hyperparameters per model: their good ranges (bootstrap of the best model),
    the narrower ranges scored like the restrictions, and a figure; the ranges (empty: none sampled)."""
    from designspace.reporting.hparam_plots import plot_hparam_scatter

    keys = hp.varying_hparams(used)
    if not keys:
        return pd.DataFrame()
    ranges = hp.good_ranges(used.assign(space=src.root.name), keys, policy=s.policy, penalty=float(s.penalty))
    doc.heading("Training hyperparameters", 2)
    sampled = [k for k in keys if k != hp.PRODUCT]
    doc.para(f"{', '.join(sampled)} {'was' if len(sampled) == 1 else 'were'} sampled per model"
             + (f" ({hp.PRODUCT}: their product)" if hp.PRODUCT in keys else "") + ". Good range: median [2.5%, 97.5%] of the best model's value "
             "over 10000 bootstrap draws of 25% of the models (log scale for log-uniform values); the range to sample "
             "next is that interval rounded outward to two digits. The ranges below are scored as the restrictions "
             "are (the models inside against the rest, one-sided KS; Holm over the ranges of one key).")
    if ranges.empty:
        need = next(n for n in range(1, 10**6) if per_draw(n, 0.25) >= MIN_PER_DRAW)
        doc.para(f"Too few models for the good-range bootstrap ({len(used)}; it needs {need}).")
    else:
        shown = ranges[["param", "n", "median", "low", "high"]].assign(
            next_range=[str(list(hp.sampling_range(lo, hi))) for lo, hi in zip(ranges["low"], ranges["high"])])
        spreadsheet_safe(shown).to_csv(out / "data" / "hparam_ranges.csv", index=False)
        doc.table(shown, "data/hparam_ranges.csv")
    scored = pd.concat([hp.range_hypotheses(used, k, min_kept=int(s.min_kept), alpha=float(s.alpha)).head(5)
                        for k in keys], ignore_index=True)
    spreadsheet_safe(scored).to_csv(out / "data" / "hparam_range_hypotheses.csv", index=False)
    doc.table(scored[["label", "n_kept", "median_kept", "median_rest", "D", "p_holm", "significant"]],
              "data/hparam_range_hypotheses.csv", {"median_kept": 2, "median_rest": 2, "D": 3},
              empty="Too few models to score ranges.")
    frame = hp.with_product(used)
    points = frame[[c for c in ("model_id", *keys) if c in frame] + [ERROR]]
    doc.add_figure(plot_hparam_scatter(points, ranges, src.root.name, keys, frac=0.25), out, "hparams",
                   "Error against each sampled hyperparameter; shaded: the good range (95% interval of the best "
                   "model's value), line: its median.", list(s.formats), ["data/hparam_ranges.csv"])
    return ranges


def _hparam_overrides(ranges: pd.DataFrame) -> list[str]:
    """`hparams.KEY=[low,high]` of each sampled key's good range (the product lr_wd is not a schedule key)."""
    return [HparamLaw(r.param, *hp.sampling_range(r.low, r.high)).override() for r in ranges.itertuples()
            if r.param != hp.PRODUCT]


def _schedule_name(src: SweepSource) -> str | None:
    rec = _first_record(src)
    return rec["schedule"].get("name") if rec else None


def _first_record(src: SweepSource) -> dict[str, Any] | None:
    records = read_records(src.root)
    return next(iter(records.values()), None)


def _dataset_config(record: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The dataset config the sweep was trained on: `name`, or the configs/dataset file matching its records."""
    info = record["dataset"]
    files = [CONFIG_DIR / "dataset" / f"{name}.yaml"] if name else sorted((CONFIG_DIR / "dataset").glob("*.yaml"))
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"verify_dataset={name}: no {path}")
        cfg = read_yaml(path)
        if name or (cfg.get("name") == info.get("name") and cfg.get("resolution") == info.get("resolution")
                    and cfg.get("channels") == info.get("channels")):
            return {**cfg, "root": info.get("root") or cfg.get("root")}
    raise ValueError(f"no configs/dataset file matches the sweep's dataset {info.get('name')!r} at "
                     f"{info.get('resolution')}px; pass verify_dataset=NAME")


def verify(src: SweepSource, space_file: Path, where: Path, s: Any, doc: Any, err_whole: np.ndarray) -> dict:
    """Sample and train `verify_n` models of the space file like the sweep; compare the EDFs (KS, power)."""
    from omegaconf import OmegaConf

    record = _first_record(src)
    if record is None:
        raise ValueError(f"{src.root}: no training record to take the dataset and schedule from")
    sweep = SweepDir(where)
    n = int(s.verify_n)
    laws = src.config.get("hparams") or None  # the sweep's own laws: the restriction is the only change
    res = draw(str(space_file), n, int(s.verify_seed), src.budget, progress=sys.stderr.isatty(), hparams=laws)
    cfg_text = OmegaConf.to_yaml({"space": str(space_file), "budget": src.budget, "n": n, "seed": int(s.verify_seed),
                                  "kind": "space", "refined_from": str(src.root),
                                  **({"hparams": laws} if laws else {})})
    if not (sweep.exists() and sweep.read_samples().equals(res.frame)):
        sweep.write_samples(res.frame, cfg_text)
    options = RunOptions(seed=int(record["seed"]), device=str(s.device), threads=s.threads, progress=sys.stderr.isatty())
    run_sweep(sweep, _dataset_config(record, s.verify_dataset), Schedule.from_dict(record["schedule"]), options)
    new, counts = resolve_errors(results.load(sweep), s.policy, float(s.penalty))
    e_new = new[ERROR].to_numpy(dtype=np.float64)

    ks = ks_test(e_new, err_whole, "greater")  # H1: the new space's EDF lies above (better)
    pw = power_row(e_new, err_whole, float(s.alpha), "greater")
    text = (f"Verification: {counts.used} models of {markdown_text(space_file.name)} sampled (seed {s.verify_seed}) "
            f"and trained with the sweep's dataset {markdown_text(record['dataset'].get('name'))}, schedule "
            f"{markdown_text(record['schedule'].get('name'))} "
            f"and seed {record['seed']} ({counts.note() or 'all trained'}). Against the sweep's {err_whole.size} models: "
            f"one-sided KS D+ = {ks.statistic:.3f}, p = {ks.pvalue:.3g} (new space better); median "
            f"{np.median(e_new):.2f}% vs {np.median(err_whole):.2f}%; smallest detectable D at alpha {s.alpha} with "
            f"these n: {ks_critical(e_new.size, err_whole.size, float(s.alpha), 'greater'):.3f}; power at the observed "
            f"D {pw['power']:.2f} (bootstrap). ")
    text += ("The new space's EDF is significantly better." if ks.pvalue < float(s.alpha) else
             "Not significant: " + ("too few models to tell (low power)." if pw["power"] < 0.8 else
                                    "not shown at this n."))
    doc.heading("Verification of the top suggestion", 2)
    doc.para(text)
    return {"D": float(ks.statistic), "p": float(ks.pvalue), "n": int(e_new.size), "power": pw["power"]}


def run(cfg: Any) -> list[dict[str, Any]]:
    """Refine every sweep of the composed config (configs/refine.yaml); returns what each wrote."""
    dirs = cfg.sweep_dirs
    dirs = [dirs] if isinstance(dirs, str) else list(dirs or [])
    if not dirs:
        raise ValueError("sweep_dirs is required: python -m designspace.refine sweep_dirs=[DIR] out=DIR")
    if int(cfg.top) < 1:
        raise ValueError(f"top={cfg.top} must be >= 1")
    sources = [read_sweep(d, int(cfg.min_kept)) for d in dirs]
    out = Path(str(cfg.out))
    written = []
    for src in sources:

        name = load(src.space_ref).name
        sub = out / (safe_name(f"{name}-{src.root.name}") if len(sources) > 1 and sum(
            load(x.space_ref).name == name for x in sources) > 1 else safe_name(name, "space"))
        written.append(refine_sweep(src, sub, cfg))
    return written
