"""Figures render headless and draw exactly the tables they are given (lines, panels, legend texts)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from designspace import analysis as an  # noqa: E402
from designspace.reporting import plots  # noqa: E402
from tests.helpers import synthetic  # noqa: E402


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    f = synthetic.frame(seed=1, n=30)
    f.loc[[0, 1], "status"] = "diverged"
    f.loc[2, "status"] = "failed"
    f.loc[3, "error"] = 80.0  # an outlier far beyond the bulk
    return an.add_derived(f)


@pytest.fixture(scope="module")
def analysis(frame) -> an.Analysis:
    return an.Analysis(frame, draws=500, min_per_draw=1, bins=4)


def _visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _legend_texts(ax) -> list[str]:
    """Texts of the axes' legend, or of the figure's."""
    legends = [ax.get_legend()] if ax.get_legend() else list(ax.figure.legends)
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def _curves(ax) -> list:
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]


def test_edf_figure_lines_legend_and_range(frame, analysis, tmp_path):
    fig = plots.plot_edfs(analysis)
    ax = fig.axes[0]
    assert len(_curves(ax)) == 3  # one step line per space
    texts = _legend_texts(ax)
    a = next(t for t in texts if t.startswith("anynetx_a"))
    used = an.resolve_errors(frame[frame["space"] == "anynetx_a"])[0]["err"]
    assert a == f"anynetx_a [{used.min():.1f}|{used.mean():.1f}] n={len(used)}\n3 diverged/failed at 100%"
    for line in _curves(ax):
        assert line.get_ydata()[0] == 0 and line.get_ydata()[-1] == pytest.approx(1.0)
    assert ax.get_xlabel() == "top-1 error (%)"
    # the x axis ends near the largest per-space 95th percentile of the trained errors, not at the outlier
    ok = frame[frame["status"] == "ok"]
    bulk = max(np.percentile(g["error"], 95) for _, g in ok.groupby("space"))
    lo, hi = ax.get_xlim()
    assert bulk <= hi < bulk + 0.1 * (bulk - ok["error"].min()) and hi < 80
    # the spaces that continue beyond the edge are marked there (anynetx_a: the outlier and the penalized ones)
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == ">" and len(ln.get_xdata()) == 1]
    assert marks and all(ln.get_xdata()[0] == pytest.approx(hi) for ln in marks)
    assert any("continues beyond the 95th percentile" in t for t in texts)
    paths = plots.save(fig, tmp_path / "edf")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)


def test_plot_edfs_draws_the_table_it_is_given():
    table = pd.DataFrame({"space": ["a", "a", "a", "b", "b"], "error": [1.0, 2.0, 4.0, 1.5, 3.0],
                          "F": [0.25, 0.5, 1.0, 0.5, 1.0]})
    fig = plots.plot_edfs(table, {"a": "first", "b": "second"}, {"a": "#ff0000"})
    ax = fig.axes[0]
    lines = _curves(ax)
    assert [ln.get_label() for ln in lines] == ["first", "second"] and lines[0].get_color() == "#ff0000"
    assert list(lines[0].get_xdata()) == [1, 1, 2, 2, 4, 4] and list(lines[0].get_ydata()) == [0, .25, .25, .5, .5, 1]
    assert len(ax.get_lines()) == 2  # nothing drawn that the table does not hold


def test_drop_policy_is_in_the_legend(frame):
    texts = _legend_texts(plots.plot_edfs(an.Analysis(frame, policy="drop")).axes[0])
    assert any("3 diverged/failed dropped" in t and "n=27" in t for t in texts)


@pytest.mark.parametrize("draw", [plots.plot_edfs, plots.plot_normalized_edfs, plots.plot_random_search,
                                  plots.plot_width_profiles])
def test_a_figure_refuses_a_raw_sweep_table(frame, draw):
    """A figure draws tables (or an Analysis); given a sweep table it would have to compute them: refused."""
    with pytest.raises(TypeError, match=r"Analysis\(frame"):
        draw(frame)


def test_normalized_edfs_panels(frame, analysis):
    fig = plots.plot_normalized_edfs(analysis, by=("params", "flops"))
    axes = _visible_axes(fig)
    assert len(axes) == 3 and all(len(_curves(ax)) == 3 for ax in axes)
    assert "normalized by flops" in axes[2].get_title()
    for ax, by in zip(axes[1:], ("params", "flops")):
        table = analysis.normalized_edf(by)
        part = table[table["space"] == "regnetx"]
        line = next(ln for ln in _curves(ax) if ln.get_label().startswith("regnetx"))
        assert np.allclose(np.unique(line.get_ydata())[1:], np.unique(part["F"]))
    with pytest.raises(an.EmptyBinError, match="space"):
        plots.plot_normalized_edfs(an.Analysis(frame, bins=200, empty="raise"), by=("flops",))


def test_param_scatter_has_a_panel_and_a_band_per_parameter(frame):
    params = ["d1", "w4", "total_depth", "fit_wm"]
    a = an.Analysis(frame[frame["space"] == "anynetx_e"], draws=1000, min_per_draw=1)
    ranges = a.best_ranges[a.best_ranges["param"].isin(params)]
    points, labels = a.params("anynetx_e")
    fig = plots.plot_param_scatter(points, ranges, "anynetx_e", {p: labels[p] for p in params}, legend="E")
    axes = _visible_axes(fig)
    assert len(axes) == 4
    assert [ax.get_xlabel() for ax in axes] == ["d1 (blocks)", "w4 (channels)", "total depth (blocks)", "wm, fitted"]
    ranges = ranges.set_index("param")
    for ax, p in zip(axes, params):
        assert len(ax.patches) == 1  # the band
        median = [ln for ln in ax.get_lines() if ln.get_transform() is not ax.transData]
        assert len(median) == 1 and median[0].get_xdata()[0] == pytest.approx(ranges.loc[p, "median"])
        assert np.allclose(np.sort(ax.collections[0].get_offsets()[:, 0]), np.sort(points[p]))
    assert fig.legends[0].get_texts()[0].get_text() == "E"


def test_width_profiles(frame, analysis):
    fig = plots.plot_width_profiles(analysis, "anynetx_e")
    ax = fig.axes[0]
    top = analysis.settings.top
    assert len(ax.get_lines()) == top + 2  # the models, the fitted line, the 48*(j+1) reference
    texts = _legend_texts(ax)
    assert texts[0] == f"best {top} models of anynetx_e (of n=30)"
    assert ax.get_title() == f"anynetx_e: widths of the best {top} of 30 models"
    best = analysis.used["anynetx_e"].nsmallest(top, "err")
    line = an.fit_width_line(best)  # independent of the efit table the figure reads
    assert texts[1] == f"fit: {line.w0:.1f} + {line.wa:.1f}·j" and texts[2] == "48 + 48·j"
    assert ax.get_yscale() == "log"
    texts = _legend_texts(plots.plot_width_profiles(an.Analysis(frame, top=5), "anynetx_a", reference=None).axes[0])
    assert texts[0] == "best 5 models of anynetx_a (of n=30; 3 diverged/failed at 100%)" and len(texts) == 2


def test_a_widths_title_says_the_real_n():
    """'the best 20' of a space of 20 models is all of them, and the title says so."""
    assert plots.widths_title("A", 20, 20) == "A: widths of all 20 models"
    assert plots.widths_title("A", 20, 500) == "A: widths of the best 20 of 500 models"
    small = an.Analysis(synthetic.frame(seed=2, n=12, spaces=("anynetx_e",)), top=20)
    fig = plots.plot_width_profiles(small)
    assert fig.axes[0].get_title() == "anynetx_e: widths of all 12 models"
    assert _legend_texts(fig.axes[0])[0] == "best 12 models of anynetx_e (of n=12)"


def test_random_search_complexity_trends_efit(frame, analysis):
    fig = plots.plot_random_search(analysis.random_search, plots.legend_labels(analysis.summary, analysis.counts))
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert len(lines) == 3
    x = frame[frame["space"] == "regnetx"]["error"]
    assert lines[2].get_ydata()[0] == pytest.approx(x.mean())  # k = 1: the mean error
    fig = plots.plot_complexity_scatter(analysis.complexity)
    axes = _visible_axes(fig)
    assert [a.get_xlabel() for a in axes] == ["flops (MF)", "params (M)", "activations (M)"]
    assert all(len(a.collections) == 3 for a in axes)
    regnet = analysis.complexity[analysis.complexity["space"] == "regnetx"]
    assert np.allclose(axes[0].collections[2].get_offsets()[:, 0], regnet["flops"] / 1e6)
    table = an.trend_table(frame, ("total_depth", "wm", "params"), draws=500, min_per_draw=1)
    fig = plots.plot_trends(table, params=("total_depth", "wm", "params"))
    axes = _visible_axes(fig)
    assert len(axes) == 3 and axes[1].get_ylabel() == "wm (sampled or fitted)" and axes[2].get_ylabel() == "params (M)"
    assert all(len(a.containers) == 3 for a in axes)  # one errorbar per sweep
    fig = plots.plot_efit(analysis.efit_points, analysis.efit_edf, analysis.efit)
    assert len(_curves(fig.axes[0])) == 3
    assert any("exact" in t for t in _legend_texts(fig.axes[0]))


def test_random_search_is_drawn_solid_only_as_far_as_the_data_supports(analysis):
    """30 models per space support k <= 15: k = 16 ... 128 go on dashed, without a band, labelled extrapolated."""
    rs = analysis.random_search
    assert set(rs.loc[~rs["extrapolated"], "k"]) == {1, 2, 4, 8} and rs["n"].eq(30).all()
    ax = plots.plot_random_search(analysis).axes[0]
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata())]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    assert [list(ln.get_xdata()) for ln in solid] == [[1, 2, 4, 8]] * 3
    assert [list(ln.get_xdata()) for ln in dashed] == [[8, 16, 32, 64, 128]] * 3  # from the last supported k on
    bands = [np.asarray(p.vertices)[:, 0] for c in ax.collections for p in c.get_paths()]
    assert bands and max(b.max() for b in bands) <= 8
    assert "extrapolated: k > n/2" in _legend_texts(ax)


def test_colors_are_consistent():
    c = plots.space_colors(["AnyNetX_A", "RegNet", "mine"])
    assert len(set(c.values())) == 3
    assert plots.space_colors(["RegNet"])["RegNet"] == c["RegNet"]  # the paper's spaces: one color everywhere
    assert plots.space_colors(["x", "y"])["x"] != plots.space_colors(["x", "y"])["y"]
    shades = plots.space_colors(["RegNet@a", "RegNet@b", "AnyNetX_E@a"])
    assert shades["RegNet@b"] == c["RegNet"] and shades["RegNet@a"] != shades["RegNet@b"]
    assert plots.legend_label("x", 2, 1.0, 2.0) == "x [1.0|2.0] n=2"


def test_a_figure_is_laid_out_once_and_again_only_when_changed(analysis, tmp_path, monkeypatch):
    # the plots functions end laid out (readable_ticks); saving PNG + PDF lays out nothing more and draws each file
    # once (savefig with a layout engine would first draw the whole figure without output), unless the figure
    # changed after
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    calls = {"layout": 0, "draw": 0}
    execute, draw = ConstrainedLayoutEngine.execute, Figure.draw

    def counted_execute(self, fig):
        calls["layout"] += 1
        return execute(self, fig)

    def counted_draw(self, renderer):
        calls["draw"] += 1
        return draw(self, renderer)

    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", counted_execute)
    monkeypatch.setattr(Figure, "draw", counted_draw)
    fig = plots.plot_random_search(analysis)
    assert calls["layout"] >= 1 and calls["draw"] == 0  # laid out, never drawn
    calls.update(layout=0, draw=0)
    plots.save(fig, tmp_path / "rs")
    assert calls == {"layout": 0, "draw": 2}
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)  # given back for later changes
    fig.axes[0].set_title("a title added after the layout, long enough to need room above the panel")
    calls.update(layout=0, draw=0)
    plots.save(fig, tmp_path / "rs_titled")
    assert calls == {"layout": 1, "draw": 2}


def test_a_figure_file_is_written_whole_or_not_at_all(analysis, tmp_path, monkeypatch):
    # `analyze watch=true` redraws a report that is being read: a save that fails half-way leaves the last whole
    # file and no partial one (nor its temp file)
    fig = plots.plot_random_search(analysis)
    (png,) = plots.save(fig, tmp_path / "rs", ("png",))
    before = png.read_bytes()
    savefig = Figure.savefig

    def half_then_fail(self, f, **kw):
        savefig(self, f, **kw)
        f.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        plots.save(fig, tmp_path / "rs", ("png",))
    assert png.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["rs.png"]
