"""Error against the sampled training hyperparameters: every model drawn where its values are, the good range and
the schedule's value where the table says, nothing under the legend; the report section for sweeps that sampled
keys and silence for those that did not."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

matplotlib.use("Agg")

import designspace.analysis as an  # noqa: E402
from designspace.analysis.hparams import good_ranges  # noqa: E402
from designspace.analysis.outcomes import ERROR  # noqa: E402
from designspace.reporting import plots  # noqa: E402
from designspace.reporting.hparam_plots import hparams_section, plot_hparam_scatter  # noqa: E402
from designspace.reporting.report import Document, ReportSettings  # noqa: E402
from tests.helpers.figures import points_under_legends  # noqa: E402


def _sweep(n: int = 60, space: str = "RegNet", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lr = np.exp(rng.uniform(math.log(0.05), math.log(0.8), n))
    wd = np.exp(rng.uniform(math.log(1e-5), math.log(1e-3), n))
    return pd.DataFrame({"model_id": [f"{seed:02x}{i:010x}" for i in range(n)], "lr": lr, "weight_decay": wd,
                         "error": 20 + 5 * np.log(lr / 0.2) ** 2 + rng.normal(0, 0.5, n), "status": "ok",
                         "space": space})


def test_the_scatter_draws_every_model_and_the_good_range() -> None:
    frame = _sweep()
    ranges = good_ranges(frame, reference={"lr": 0.2, "weight_decay": 5e-5})
    points = frame.assign(**{ERROR: frame["error"]})
    fig = plot_hparam_scatter(points, ranges, "RegNet", ["lr", "weight_decay"], error_range=(19.0, 40.0), frac=0.25)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    for ax, key in zip(axes, ["lr", "weight_decay"]):
        assert ax.get_xscale() == "log"
        drawn = np.asarray(ax.collections[0].get_offsets())
        assert np.allclose(drawn[:, 0], frame[key]) and np.allclose(drawn[:, 1], frame["error"])
        row = ranges.set_index("param").loc[key]
        span = next(p for p in ax.patches)  # axvspan: the good range
        xs = ([span.get_x(), span.get_x() + span.get_width()] if isinstance(span, Rectangle)
              else np.asarray(span.get_xy())[:, 0])  # a Rectangle in newer matplotlib, a Polygon before
        assert min(xs) == pytest.approx(row["low"]) and max(xs) == pytest.approx(row["high"])
        lines = [(float(line.get_xdata()[0]), line.get_linestyle()) for line in ax.get_lines()
                 if len(set(line.get_xdata())) == 1]  # vertical lines
        assert any(x == pytest.approx(row["median"]) and style == "-" for x, style in lines)
        assert any(x == pytest.approx(row["reference"]) and style == "--" for x, style in lines)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "the schedule's value" in labels and "best model: 95% interval" in labels
    assert points_under_legends(fig)[1] == 0


def _section(frame: pd.DataFrame, out: Path) -> tuple[str, pd.DataFrame, list[str]]:
    a = an.Analysis(frame)
    doc, stems = Document(), []
    (out / "data").mkdir(parents=True)

    def csv(name: str, table: pd.DataFrame) -> str:
        table.to_csv(out / "data" / f"{name}.csv", index=False)
        return f"data/{name}.csv"

    def figure(stem: str, caption: str, data: dict, draw, *args) -> None:
        doc.figure(None, caption, stem, ["png"], [csv(k, v) for k, v in data.items()])
        plots.save(draw(*args), out / stem, ["png"])
        stems.append(stem)

    ranges = hparams_section(doc, a, ReportSettings(), figure, csv, reference={"lr": 0.2})
    return doc.text(), ranges, stems


def test_the_section_has_a_table_and_a_figure_per_space_that_sampled(tmp_path: Path) -> None:
    plain = _sweep(40, "AnyNetX_A", 1).drop(columns=["lr", "weight_decay"])
    text, ranges, stems = _section(pd.concat([_sweep(), plain], ignore_index=True), tmp_path)
    assert "## Training hyperparameters" in text and "learning rate" in text and "inside" in text
    assert stems == ["hparams_RegNet"] and (tmp_path / "hparams_RegNet.png").is_file()
    written = pd.read_csv(tmp_path / "data" / "hparam_ranges.csv")
    assert written["param"].tolist() == ["lr", "weight_decay", "lr_wd"] and set(ranges["space"]) == {"RegNet"}


def test_no_section_without_sampled_keys_and_a_note_for_too_few(tmp_path: Path) -> None:
    text, ranges, stems = _section(_sweep(40).drop(columns=["lr", "weight_decay"]), tmp_path / "none")
    assert text == "" and ranges.empty and stems == []
    text, ranges, stems = _section(_sweep(12), tmp_path / "few")
    assert "Too few models for the good-range bootstrap: RegNet (n=12" in text and stems == ["hparams_RegNet"]
