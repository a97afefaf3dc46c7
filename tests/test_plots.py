"""Figures render headless and show what they claim (lines, panels, legend texts)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from designspace import analysis as an  # noqa: E402
from designspace.reporting import plots  # noqa: E402
from tests.fixtures import synthetic  # noqa: E402


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    f = synthetic.frame(seed=1, n=30)
    f.loc[[0, 1], "status"] = "diverged"
    f.loc[2, "status"] = "failed"
    return an.add_derived(f)


def _visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _legend_texts(ax) -> list[str]:
    """Texts of the axes' legend, or of the figure's (legends sit beside the panels)."""
    legends = [ax.get_legend()] if ax.get_legend() else list(ax.figure.legends)
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_edf_figure_lines_and_legend(frame, tmp_path):
    fig = plots.plot_edfs(frame)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3  # one step line per space
    texts = _legend_texts(ax)
    assert len(texts) == 3
    a = next(t for t in texts if t.startswith("anynetx_a"))
    used = an.resolve_errors(frame[frame["space"] == "anynetx_a"])[0]["err"]
    assert f"n={len(used)}" in a and f"min={used.min():.2f}%" in a and f"mean={used.mean():.2f}%" in a
    assert "3 diverged/failed at 100%" in a
    for line in ax.get_lines():
        assert line.get_ydata()[0] == 0 and line.get_ydata()[-1] == pytest.approx(1.0)
    assert ax.get_xlabel() == "top-1 error (%)"
    fig.savefig(tmp_path / "edf.png")
    fig.savefig(tmp_path / "edf.pdf")
    assert (tmp_path / "edf.png").stat().st_size > 1000 and (tmp_path / "edf.pdf").stat().st_size > 1000


def test_drop_policy_is_in_the_legend(frame):
    texts = _legend_texts(plots.plot_edfs(frame, policy="drop").axes[0])
    assert any("3 diverged/failed dropped" in t and "n=27" in t for t in texts)


def test_normalized_edfs_panels(frame):
    fig = plots.plot_normalized_edfs(frame, by=("params", "flops"), bins=4, empty="merge")
    axes = _visible_axes(fig)
    assert len(axes) == 3 and all(len(ax.get_lines()) == 3 for ax in axes)
    assert "normalized by flops" in axes[2].get_xlabel()
    with pytest.raises(an.EmptyBinError, match="space"):
        plots.plot_normalized_edfs(frame, by=("flops",), bins=200)


def test_param_scatter_has_a_panel_and_a_band_per_parameter(frame):
    params = ["d1", "w4", "total_depth", "fit_wm"]
    ranges = an.best_ranges(frame[frame["space"] == "anynetx_e"], params, draws=1000, min_per_draw=1)
    fig = plots.plot_param_scatter(frame, "anynetx_e", params, draws=1000, ranges=ranges)
    axes = _visible_axes(fig)
    assert len(axes) == 4
    assert [ax.get_xlabel() for ax in axes] == ["d1 (blocks)", "w4 (channels)", "total depth (blocks)", "wm, fitted"]
    ranges = ranges.set_index("param")
    for ax, p in zip(axes, params):
        assert len(ax.patches) == 1 and len(ax.get_lines()) == 1  # band + median line
        assert ax.get_lines()[0].get_xdata()[0] == pytest.approx(ranges.loc[p, "median"])
    assert any("anynetx_e (n=30" in t.get_text() for t in fig.legends[0].get_texts())


def test_width_profiles(frame):
    fig = plots.plot_width_profiles(frame, "anynetx_e", top=5)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 5 + 2  # 5 models, the fitted line, the 48*(j+1) reference
    texts = _legend_texts(ax)
    assert texts[0] == "top 5 models of anynetx_e (of n=30)"
    assert texts[1].startswith("fit: ") and texts[2] == "48 + 48·j"
    assert ax.get_yscale() == "log"
    texts = _legend_texts(plots.plot_width_profiles(frame, "anynetx_a", top=5, reference=None).axes[0])
    assert texts[0] == "top 5 models of anynetx_a (of n=30; 3 diverged/failed at 100%)" and len(texts) == 2


def test_random_search_and_complexity_and_trends_and_efit(frame):
    fig = plots.plot_random_search(frame, [1, 2, 4, 8])
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3
    x = frame[frame["space"] == "regnetx"]["error"]
    y = ax.get_lines()[2].get_ydata()
    assert y[0] == pytest.approx(x.mean())
    fig = plots.plot_complexity_scatter(frame)
    axes = _visible_axes(fig)
    assert [a.get_xlabel() for a in axes] == ["flops (multiply-adds)", "params", "activations"]
    assert all(len(a.collections) == 3 for a in axes)
    table = an.trend_table(frame, ("total_depth", "wm", "params"), draws=500, min_per_draw=1)
    fig = plots.plot_trends(frame, params=("total_depth", "wm", "params"), table=table)
    axes = _visible_axes(fig)
    assert len(axes) == 3 and axes[1].get_ylabel() == "wm (sampled or fitted)"
    assert all(len(a.containers) == 3 for a in axes)  # one errorbar per sweep
    fig = plots.plot_efit(frame)
    assert len(fig.axes[0].get_lines()) == 3
    assert any("exact" in t for t in _legend_texts(fig.axes[0]))


def test_colors_are_consistent():
    c = plots.space_colors(["a", "b"])
    assert c["a"] != c["b"] and plots.space_colors(["a"])["a"] == c["a"]
    assert plots.legend_label("x", np.array([1.0, 3.0])) == "x (n=2, min=1.00%, mean=2.00%)"
