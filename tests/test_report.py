"""graphls.report: what the plots show (titles inside the figure, readable labels, legends)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("matplotlib")

from graphls import report

TITLE = "Cora GCN (public split): importance for validation accuracy (fANOVA)"


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures the plot functions close, kept open to be inspected."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    kept: list = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for fig in kept:
        real_close(fig)


def _assert_title_inside(fig, title: str) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [ax.title for ax in fig.axes if ax.get_title()]
    assert len(texts) == 1
    assert " ".join(texts[0].get_text().split()) == title  # wrapped, every word kept
    box = texts[0].get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height, (
        box, fig.bbox)


def test_importances_title_fits_and_small_importances_are_not_zero(tmp_path, figures):
    path = report.plot_importances({"structural": 0.9962, "epsilon": 0.0038},
                                   tmp_path / "importances.png", title=TITLE)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    _assert_title_inside(fig, TITLE)
    labels = sorted(t.get_text().strip() for t in fig.axes[0].texts)
    assert labels == ["0.0038", "1.00"]


@pytest.mark.parametrize("kind", ["landscape", "history", "pareto", "reliability"])
def test_every_plot_keeps_a_long_title_inside_the_figure(kind, tmp_path, figures):
    title = "Minesweeper GAT (fixed split): validation ROC AUC over (ε, λ), 200 trials"
    path = tmp_path / f"{kind}.png"
    if kind == "landscape":
        report.plot_landscape([0.0, 0.2, 0.4, 0.1], [1.0, 0.5, 0.1, 0.8], [0.8, 0.7, 0.6, 0.75],
                              path, title=title)
    elif kind == "history":
        report.plot_history([0, 1, 2], [0.5, 0.7, 0.6], path, title=title)
    elif kind == "pareto":
        report.plot_pareto([0.8, 0.7], [0.1, 0.05], path, front=[True, True], chosen=1,
                           title=title)
    else:
        probs = torch.softmax(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), -1)
        report.plot_reliability({"graphls": (probs, torch.arange(50) % 3)}, path, title=title)
    (fig,) = figures
    _assert_title_inside(fig, title)


def test_reliability_histograms_have_a_legend_and_do_not_overlap(tmp_path, figures):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (200,), generator=g)
    logits = torch.randn(200, 4, generator=g)
    curves = {"best (ε=0.1, λ=0.8)": (torch.softmax(logits, -1), y),
              report.BASELINE_LABEL: (torch.softmax(3 * logits, -1), y)}
    from matplotlib.colors import to_rgb

    report.plot_reliability(curves, tmp_path / "reliability.png")
    (fig,) = figures
    ax, axh = fig.axes
    legend = axh.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == list(curves)
    lines = [line.get_color() for line in ax.get_lines()[1:]]  # after the diagonal
    bars = axh.patches
    assert len(bars) == 2 * 15
    assert [bars[0].get_facecolor()[:3], bars[15].get_facecolor()[:3]] == [
        pytest.approx(to_rgb(c)) for c in lines]
    for a, b in zip(bars[:15], bars[15:], strict=True):  # side by side in each bin
        assert a.get_x() + a.get_width() <= b.get_x() + 1e-12
