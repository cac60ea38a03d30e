"""Pictures: the plot functions leave the user's matplotlib alone, tell runs apart, pair a
DMFT curve with its simulation, show error bars and titles that fit."""

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dmft_sgd as ds

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.colors import to_hex  # noqa: E402

from dmft_sgd import plot  # noqa: E402

CFG = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=12)


@pytest.fixture(scope="module")
def runs():
    """DMFT and simulation at two learning rates."""
    other = CFG.replace(lr=0.1)
    return {
        "dmft": ds.solve_dmft(CFG, samples=400, seed=0),
        "dmft_lr": ds.solve_dmft(other, samples=400, seed=0),
        "sim": ds.simulate(CFG, d=30, replicas=3, seed=0),
        "sim_lr": ds.simulate(other, d=30, replicas=3, seed=0),
    }


@pytest.fixture(scope="module")
def sweeps():
    return {
        "one": ds.sweep(CFG, {"batch": [0.3, 1.0]}, samples=400),
        "two": ds.sweep(CFG, {"batch": [0.3, 1.0], "tau": [None, 2.0]}, samples=400),
    }


@pytest.fixture
def svg_backend():
    """A non-Agg backend chosen by the user, restored afterwards."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    yield
    matplotlib.use(before)


def legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def inside_figure(fig, artist):
    fig.canvas.draw()
    box, frame = artist.get_window_extent(), fig.bbox
    return box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1 and box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1


def test_the_plot_functions_leave_the_users_backend_alone(svg_backend, runs, sweeps, tmp_path):
    fdt_cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5, temperature=0.1, steps=30)
    figures = [
        plot.plot_observables([runs["dmft"], runs["sim"]]),
        plot.plot_sweep(sweeps["two"]),
        plot.plot_fdt(ds.fdt(ds.solve_dmft(fdt_cfg, samples=200), 1.0)),
    ]
    for i, fig in enumerate(figures):
        plot.save_figure(fig, tmp_path / f"{i}.png")
    assert matplotlib.get_backend() == "svg"
    assert (tmp_path / "0.png").read_bytes()[:4] == b"\x89PNG"


def test_plotting_and_saving_never_import_pyplot(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import dmft_sgd as ds
        from dmft_sgd.plot import plot_observables, save_figure
        res = ds.solve_dmft(ds.Config(steps=8), samples=200)
        save_figure(plot_observables(res), {str(tmp_path / "p.png")!r})
        print("matplotlib.pyplot" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_a_figure_shows_in_a_notebook_without_pyplot(runs):
    assert plot.plot_observables(runs["dmft"], observables=["m"])._repr_png_()[:4] == b"\x89PNG"


def test_runs_are_labelled_by_what_differs_between_their_configs(runs):
    assert plot.default_labels([runs["dmft"], runs["dmft_lr"]]) == ["lr=0.2", "lr=0.1"]
    assert plot.default_labels([runs["dmft"], runs["sim"]]) == ["DMFT (S=400)", "SGD d=30 (3 runs)"]
    assert plot.default_labels([runs["dmft"], runs["sim_lr"]]) == ["DMFT (S=400), lr=0.2", "SGD d=30 (3 runs), lr=0.1"]
    again = ds.solve_dmft(CFG, samples=400, seed=1)
    assert plot.default_labels([runs["dmft"], again]) == ["DMFT (S=400), seed=0", "DMFT (S=400), seed=1"]
    fig = plot.plot_observables([runs["dmft"], runs["dmft_lr"]])
    assert legend_texts(fig) == ["lr=0.2", "lr=0.1"]
    # The title keeps what they share and leaves out what the legend names.
    title = fig.get_suptitle()
    assert "λ=0.1" in title and "η=" not in title


def test_a_dmft_curve_and_its_simulation_share_a_colour(runs):
    fig = plot.plot_observables([runs["dmft"], runs["dmft_lr"], runs["sim"], runs["sim_lr"]])
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    colour = {label: to_hex(line.get_color()) for label, line in lines.items()}
    dmft, dmft_lr = colour["DMFT (S=400), lr=0.2"], colour["DMFT (S=400), lr=0.1"]
    assert colour["SGD d=30 (3 runs), lr=0.2"] == dmft and colour["SGD d=30 (3 runs), lr=0.1"] == dmft_lr
    assert dmft != dmft_lr
    assert lines["DMFT (S=400), lr=0.2"].get_linestyle() == "-"
    assert lines["SGD d=30 (3 runs), lr=0.2"].get_marker() == "o"
    assert lines["SGD d=30 (3 runs), lr=0.2"].get_linestyle() == "None"


def test_plot_observables_takes_a_single_result(runs):
    fig = plot.plot_observables(runs["dmft"], observables=["m", "q"])
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), runs["dmft"].m)
    assert legend_texts(fig) == ["DMFT (S=400)"]


def test_plot_sweep_draws_error_bars_and_leaves_the_swept_base_value_out_of_the_title(sweeps):
    one = sweeps["one"]
    fig = plot.plot_sweep(one)
    ax = fig.axes[0]
    (bars,) = ax.containers
    _, _, (segments,) = bars.lines
    half_widths = [abs(seg[1][1] - seg[0][1]) / 2 for seg in segments.get_segments()]
    sems = [r.sem("test_error")[-1] for r in one.results]
    np.testing.assert_allclose(half_widths, sems, rtol=1e-9)
    titles = fig.get_suptitle() + "".join(a.get_title() for a in fig.axes)
    assert "b=0.3" not in titles and "batch" in titles and "λ=0.1" in titles
    heat = plot.plot_sweep(sweeps["two"])
    cells = [t.get_text() for t in heat.axes[0].texts]
    first = sweeps["two"].results[0]
    assert cells[0] == f"{first.test_error[-1]:.3g}\n± {first.sem('test_error')[-1]:.2g}"
    assert "τ=" not in heat.get_suptitle() and "plain SGD" not in heat.get_suptitle()


#: A warm-up to a peak of 0.2 in 30 steps, then a decay to 0.01 (300 rates).
WARM_UP = tuple(np.concatenate([np.linspace(0.0067, 0.2, 30), np.linspace(0.2, 0.01, 271)[1:]]))
SUMMARY = "schedule(300 steps, 0.0067..0.2..0.01)"


def test_a_schedule_is_summarised_in_titles_and_legends():
    scheduled = CFG.replace(lr=WARM_UP, steps=300)
    assert f"η={SUMMARY}," in plot.describe(scheduled)
    # Legends: the summary, not 300 numbers.
    short = ds.Config(lr=0.2, steps=300)
    assert plot._differences([short, short.replace(lr=WARM_UP)]) == ["lr=0.2", f"lr={SUMMARY}"]
    # The title of a figure of one scheduled run.
    result = ds.solve_dmft(scheduled.replace(steps=300), samples=40, groups=1, seed=0)
    fig = plot.plot_observables(result, observables=["m"])
    assert f"η={SUMMARY}" in fig.get_suptitle().replace("\n", " ")


def test_legends_and_ticks_name_plain_sgd_not_tau_none(runs, sweeps):
    persistent = ds.solve_dmft(CFG.replace(tau=2.0), samples=400, seed=0)
    assert plot.default_labels([runs["dmft"], persistent]) == ["plain SGD", "tau=2"]
    assert legend_texts(plot.plot_observables([runs["dmft"], persistent])) == ["plain SGD", "tau=2"]
    heat = plot.plot_sweep(sweeps["two"])  # axes batch (rows) and tau (columns)
    assert [t.get_text() for t in heat.axes[0].get_xticklabels()] == ["plain SGD", "2"]


def test_a_failed_sweep_point_is_marked(tmp_path):
    grid = {"batch": [0.3, 1.0], "lam": [0.1, -1.0]}  # lam < 0: the two points of lam=-1 fail
    result = ds.sweep(CFG, grid, samples=400)
    assert [r is None for r in result.results] == [False, True, False, True]
    fig = plot.plot_sweep(result)
    ax = fig.axes[0]
    # On the heat map (rows batch, columns lam): a hatched cell reading "failed" at each.
    hatched = [(p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches if p.get_hatch()]
    assert hatched == [(1.0, 0.0), (1.0, 1.0)]
    texts = {(t.get_position()[0], t.get_position()[1]): t for t in ax.texts}
    assert [texts[x, y].get_text() for x, y in hatched] == ["failed", "failed"]
    assert to_hex(texts[1.0, 0.0].get_color()) == "#000000"   # legible on the axes' white
    assert texts[0.0, 0.0].get_text().startswith(f"{result.results[0].test_error[-1]:.3g}")
    assert "2 of 4 points failed" in fig.get_suptitle().replace("\n", " ")
    # On curves over one axis: a red x at the failed value, on the horizontal axis.
    line = ds.sweep(CFG, {"lam": [0.1, -1.0, 0.2]}, samples=400)
    (cross,) = [ln for ln in plot.plot_sweep(line).axes[0].get_lines() if ln.get_marker() == "x"]
    np.testing.assert_array_equal(cross.get_xdata(), [-1.0])
    # A sweep where every point ran: nothing marked, nothing said.
    fine = plot.plot_sweep(ds.sweep(CFG, {"batch": [0.3, 1.0], "lam": [0.1, 0.2]}, samples=400))
    assert not [p for p in fine.axes[0].patches if p.get_hatch()] and "failed" not in fine.get_suptitle()


def test_long_titles_fit_in_the_picture():
    assert "logistic" in plot.describe(ds.Config())  # loss None: the resolved loss
    cfg = ds.Config(data="teacher", teacher="sign", noise=0.3, loss="logistic", activation="door", lam=0.01, lr=0.05,
                    batch=0.25, tau=4.0, normalize_batch=True, temperature=0.01, steps=6)
    result = ds.sweep(cfg, {"alpha": [1.0, 2.0]}, samples=200)
    fig = plot.plot_sweep(result)
    assert inside_figure(fig, fig._suptitle)
    fig = plot.plot_observables(result.results[0], observables=["m"])
    assert inside_figure(fig, fig._suptitle)


def test_plot_fdt_takes_what_fdt_returns():
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5, temperature=0.1, steps=30)
    result = ds.solve_dmft(cfg, samples=400, seed=0)
    curve = ds.fdt(result, 1.0)
    fig = plot.plot_fdt(curve, temperature=0.1)
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), curve.dC)
    np.testing.assert_array_equal(line.get_ydata(), curve.chi)
    assert legend_texts(fig) == [
        f"$T_{{eff}}$ = {curve.effective_temperature:.3g} ± {curve.effective_temperature_sem:.2g}",
        "equilibrium, T = 0.1"]
    # ± one standard error drawn at about 15 points of the curve (x: dC, y: chi).
    (bars,) = fig.axes[0].containers
    _, _, (xbars, ybars) = bars
    every = max(1, curve.dC.size // 15)
    assert len(xbars.get_segments()) == len(ybars.get_segments()) == -(-curve.dC.size // every)
    np.testing.assert_allclose([seg[1, 0] - seg[0, 0] for seg in xbars.get_segments()], 2 * curve.dC_sem[::every])
    # Without the errors (NaN): the legend holds T_eff alone, and no bars are drawn.
    bare = dataclasses.replace(curve, chi_sem=None, dC_sem=None, effective_temperature_sem=float("nan"))
    fig = plot.plot_fdt(bare)
    assert legend_texts(fig)[0] == f"$T_{{eff}}$ = {curve.effective_temperature:.3g}"
    assert not fig.axes[0].containers
    # DMFT results still work, labelled by what differs, alone or mixed with curves.
    hot = ds.solve_dmft(cfg.replace(temperature=0.2), samples=400, seed=0)
    texts = legend_texts(plot.plot_fdt([result, hot], 1.0))
    assert texts[0].startswith("temperature=0.1: ") and texts[1].startswith("temperature=0.2: ")
    with pytest.raises(ValueError, match="t_w is needed"):
        plot.plot_fdt(result)
