"""The colour bar and the dollar axes say what the colours mean, honestly: distinct labels that sit
where their dollars are, "$0" alone when there is nothing, at every scaling and range."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

_UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "B": 1e9}


def parse_usd(text: str) -> float:
    m = re.fullmatch(r"[≥≤]?\$(\d+(?:\.\d+)?)([kMB]?)", text)
    assert m, f"not a dollar label: {text!r}"
    return float(m.group(1)) * _UNITS[m.group(2)]


def _grid(top: float, seed: int = 0) -> np.ndarray:
    """A sparse [400, 300] grid whose cells run up to ``top`` dollars."""
    rng = np.random.default_rng(seed)
    img = np.zeros((400, 300), np.float32)
    idx = rng.integers(0, img.size, 20_000)
    img.reshape(-1)[idx] = (rng.random(20_000) ** 3 * top).astype(np.float32)
    img.reshape(-1)[idx[0]] = top
    return img


def _bar(qapp):
    from liqdesk.ui import scaling
    from liqdesk.ui.heatmap_items import ColorBar

    return ColorBar(scaling.colormap_lut())


@pytest.mark.parametrize("mode", ["linear", "log", "percentile"])
@pytest.mark.parametrize("top", [12.0, 3.4e6, 1.2e9])
def test_colour_bar_labels_are_distinct_and_sit_where_their_dollars_are(qapp, mode, top):
    from liqdesk.ui import scaling

    img = _grid(top)
    lo, hi = scaling.display_levels(img, mode)
    bar = _bar(qapp)
    bar.set_levels(lo, hi, mode, top=float(img.max()))
    ticks = bar._ticks
    labels = [text for _, text in ticks]
    assert len(labels) >= 2, labels
    assert len(set(labels)) == len(labels), f"repeated labels {labels}"
    pos = [p for p, _ in ticks]
    assert all(0.0 <= p <= 1.0 for p in pos) and pos == sorted(pos)
    assert min(np.diff(pos)) >= 0.06, f"labels on top of each other: {ticks}"
    for p, text in ticks:
        v = parse_usd(text)
        at = math.log10(1.0 + v) if mode == "log" else v
        # the label, read back, is at its place on the bar (within the rounding of the label)
        assert (at - lo) / (hi - lo) == pytest.approx(p, abs=0.02), (text, p, lo, hi)


@pytest.mark.parametrize("mode", ["linear", "log", "percentile"])
def test_an_empty_colour_bar_reads_zero_once_and_says_so(qapp, mode):
    from liqdesk.ui import scaling

    img = np.zeros((400, 300), np.float32)
    lo, hi = scaling.display_levels(img, mode)
    bar = _bar(qapp)
    bar.set_levels(lo, hi, mode, top=0.0)
    assert [text for _, text in bar._ticks] == ["$0"]       # was "$0 $0 $0 $1 $1 $1"
    assert bar._ticks[0][0] == 0.0
    assert "no estimated liquidations" in bar.label


def test_levels_of_a_sparse_grid_the_sample_misses(qapp):
    """A grid with a few cells (none on the sampling stride) is not taken for empty."""
    from liqdesk.ui import scaling

    img = np.zeros((2000, 1440), np.float32)
    img[5, 7] = 5e5
    img[900, 3] = 2e5
    assert scaling.data_top(img) == 5e5
    lo, hi = scaling.display_levels(img, "linear")
    assert hi == pytest.approx(5e5)


@pytest.mark.parametrize("lo,hi", [(0.0, 1.16), (0.0, 12.0), (0.0, 3.4e6), (0.0, 1.2e9), (0.0, 7.5)])
def test_dollar_axis_ticks_are_distinct(qapp, lo, hi):
    from liqdesk.ui.heatmap_items import DollarAxis

    ax = DollarAxis("bottom")
    (spacing, values), = ax.tickValues(lo, hi, 200)
    labels = ax.tickStrings(values, 1.0, spacing)
    assert len(set(labels)) == len(labels), labels
    for v, text in zip(values, labels):
        assert parse_usd(text) == pytest.approx(v, rel=0.01, abs=0.01)
    ax.empty = True
    (spacing, values), = ax.tickValues(lo, hi, 200)
    assert ax.tickStrings(values, 1.0, spacing) == ["$0"]


def test_the_window_colour_bar_when_the_filters_leave_nothing(window):
    bar = window.heatmap.colorbar
    assert len(bar._ticks) >= 2
    for cb in window.filters.ex_checks.values():
        cb.setChecked(False)
    assert [text for _, text in bar._ticks] == ["$0"]
    assert "no estimated liquidations" in bar.label
    msg = window.heatmap.message_label
    assert not msg.isHidden() and "no estimated liquidations" in msg.text()
    window.liqmap.refresh(window.session.engine)
    for ax in (window.liqmap.bar_axis, window.liqmap.cum_axis):
        assert ax.empty
    window.filters.ex_checks["okx"].setChecked(True)
    assert len(bar._ticks) >= 2 and msg.isHidden()
    assert "no estimated" not in bar.label
