"""Legible down to 1000×650: at that size every panel has a real size, no text is cut off and no
panel overlaps another; every chart window has its own colour bar."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets


def _build(themed, qtbot, replay_engine, store, size):
    from liqdesk.app.session import Session
    from liqdesk.sources.replay import ReplaySource
    from liqdesk.ui.chart_window import ChartWindow

    engine, reader = replay_engine
    session = Session(engine, ReplaySource(reader), "replay", label="test", threaded=False)
    win = ChartWindow(session, None, store, restore=False)
    qtbot.addWidget(win)
    win.resize(*size)
    with qtbot.waitExposed(win):
        win.show()
    for _ in range(3):
        QtWidgets.QApplication.processEvents()
        win.on_frame(force=True)
    QtWidgets.QApplication.processEvents()
    return win


@pytest.fixture
def small(themed, qtbot, replay_engine, store):
    return _build(themed, qtbot, replay_engine, store, (1000, 650))


def _global_rect(w: QtWidgets.QWidget) -> QtCore.QRect:
    return QtCore.QRect(w.mapToGlobal(QtCore.QPoint(0, 0)), w.size())


def _fits(widget: QtWidgets.QWidget, text: str, font: QtGui.QFont | None = None, room: float | None = None) -> bool:
    fm = QtGui.QFontMetrics(font or widget.font())
    return fm.horizontalAdvance(text) <= (widget.width() if room is None else room)


def test_the_window_really_is_1000_by_650(small):
    assert (small.width(), small.height()) == (1000, 650)
    hint = small.minimumSizeHint()
    assert hint.width() <= 1000 and hint.height() <= 650


def test_panels_have_real_sizes_and_do_not_overlap(small):
    # (the order-book heatmap and the delta view are tabs behind the context panes: not on screen until chosen)
    assert set(small.tabifiedDockWidgets(small.docks["context"])) == {small.docks["liquidity"], small.docks["delta"],
                                                                     small.docks["age"]}
    docks = {k: d for k, d in small.docks.items() if k not in ("liquidity", "delta", "age")}
    rects = {k: _global_rect(d) for k, d in docks.items()}
    for k, r in rects.items():
        assert docks[k].isVisible() and r.width() >= 60 and r.height() >= 120, (k, r)
    keys = list(rects)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not rects[a].intersects(rects[b]), f"{a} {rects[a]} overlaps {b} {rects[b]}"
    win = _global_rect(small)
    for k, r in rects.items():
        assert win.contains(r), f"{k} sticks out of the window"


def test_heatmap_plot_colour_bar_and_axes_at_1000(small):
    hm = small.heatmap
    vb = hm.vb.sceneBoundingRect()
    assert vb.width() >= 400 and vb.height() >= 250, vb
    bar = hm.colorbar
    assert bar.isVisible() and bar.vb.width() >= 10 and bar.vb.height() >= 250
    labels = [t for _, t in bar._ticks]
    assert len(labels) >= 2 and len(set(labels)) == len(labels)
    # every tick label fits beside the strip, inside the colour bar's axis
    ax = bar.axis
    fm = QtGui.QFontMetrics(ax.style.get("tickFont") or QtGui.QFont())
    title = ax.label.boundingRect().height() if ax.label.isVisible() else 0
    room = ax.width() - ax.style["tickTextOffset"][0] - ax.style["tickLength"] - title
    assert all(fm.horizontalAdvance(t) <= room for t in labels), (labels, room)
    # nothing of the colour bar is outside the panel
    right = bar.mapRectToScene(bar.boundingRect()).right()
    assert right <= hm.gview.width() + 1
    # the header: every shown control inside the panel
    for w in hm.header.findChildren(QtWidgets.QWidget):
        if w.isVisible():
            assert w.geometry().right() <= hm.header.width(), w
    if hm.legend.isVisible():
        assert hm.legend.width() >= hm.legend.sizeHint().width()
    # the title is not cut off
    assert QtGui.QFontMetrics(QtGui.QFont()).horizontalAdvance(hm.title_text) <= vb.width()


def test_liquidation_map_ladder_stats_filters_status_at_1000(small):
    lm = small.liqmap
    assert lm.vb.sceneBoundingRect().width() >= 50
    top = lm.plot.getAxis("top")
    assert top.label.mapRectToScene(top.label.boundingRect()).left() >= 0      # its title not cut

    ladder = small.ladder
    view = ladder.ladder
    assert view.width() >= 160 and view.rows >= 12
    cols = view._columns(view.width())
    fm = QtGui.QFontMetrics(view.font_)
    x0, x1 = cols["price"]
    assert fm.horizontalAdvance("60,125") <= x1 - x0 and fm.horizontalAdvance("$1.23M") <= cols["liq"][1] - 8
    assert view.font_.pointSizeF() >= 7.0
    assert ladder.info.width() >= 60 and ladder.info.elided_text().strip() not in ("", "…")

    stats = small.stats
    body = stats.body
    assert body.isVisible() and body.width() >= 150 and body.height() >= 100
    assert "mark" in body.text() and "long : short" in body.text()
    # not clipped on the right: the scrolled content is no wider than what shows it
    assert stats.scroll.widget().width() <= stats.scroll.viewport().width()
    assert stats.mode_label.width() <= stats.scroll.viewport().width()

    f = small.filters
    assert f.scroll.widget().width() <= f.scroll.viewport().width()
    for box in f.findChildren(QtWidgets.QGroupBox):
        assert _fits(box, box.title(), room=box.width() - 12), box.title()
        for cb in box.findChildren(QtWidgets.QCheckBox):
            assert cb.geometry().right() <= box.width() and cb.width() >= cb.sizeHint().width(), cb.text()

    for label in small.status.findChildren(QtWidgets.QLabel):
        if label.isVisible() and label.text():
            assert label.width() >= label.sizeHint().width() - 2, label.text()


def test_every_chart_window_has_its_own_colour_bar(small):
    other = small.open_window(("binance", "okx"))
    other.resize(1000, 650)
    QtWidgets.QApplication.processEvents()
    other.on_frame(force=True)
    QtWidgets.QApplication.processEvents()
    assert other.heatmap.colorbar is not small.heatmap.colorbar
    bar = other.heatmap.colorbar
    assert bar.isVisible() and bar.vb.width() >= 10 and len(bar._ticks) >= 2
    assert other.heatmap.vb.sceneBoundingRect().width() >= 400
    other.close()


def test_default_dock_widths_scale_with_the_window():
    from liqdesk.ui.chart_window import default_dock_widths

    for width in (1000, 1280, 1600, 1920):
        w = default_dock_widths(width)
        assert sum(w) <= width and all(x > 0 for x in w)
        assert w[0] >= 0.55 * width                     # the heatmap keeps most of the window
    small, big = default_dock_widths(1000), default_dock_widths(1920)
    assert small[2] / 1000 > big[2] / 1920              # side panels: a larger share of a small window
