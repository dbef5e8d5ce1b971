"""The crosshair read-out follows the time (column) under the cursor, from real mouse events, and
goes away when the cursor leaves the image."""

from __future__ import annotations

import math

import pytest
from PySide6 import QtCore, QtTest, QtWidgets


@pytest.fixture
def shown(window, qtbot):
    with qtbot.waitExposed(window):
        window.show()
    window.on_frame(force=True)
    QtWidgets.QApplication.processEvents()
    return window


def _move(qtbot, panel, scene_pt: QtCore.QPointF) -> None:
    vp = panel.gview.viewport()
    target = panel.gview.mapFromScene(scene_pt)
    # (a move onto where the cursor already is sends nothing: come from a pixel away)
    QtTest.QTest.mouseMove(vp, target + QtCore.QPoint(3, 3))
    qtbot.wait(20)
    QtTest.QTest.mouseMove(vp, target)
    qtbot.wait(20)
    # the read-out is rate limited (60 per second): wait for the last move to be read
    qtbot.waitUntil(lambda: not panel._cursor_pending and not panel._cursor_timer.isActive(), timeout=3000)


def _column_under(panel, scene_pt: QtCore.QPointF) -> tuple[int, float]:
    model = panel._model
    vp_pt = panel.gview.mapFromScene(scene_pt)                  # the pixel the event carries
    p = panel.vb.mapSceneToView(panel.gview.mapToScene(vp_pt))
    return int(math.floor(p.x() * 1000.0 / model.settings.column_ms)), p.y()


def test_readout_follows_the_column_under_a_moving_cursor(shown, qtbot):
    from liqdesk.core.timefmt import format_time

    panel = shown.heatmap
    cm = panel._model.settings.column_ms
    r = panel.vb.sceneBoundingRect()
    seen = []
    for fx in (0.15, 0.35, 0.55, 0.75, 0.9):
        pt = QtCore.QPointF(r.left() + fx * r.width(), r.top() + 0.5 * r.height())
        _move(qtbot, panel, pt)
        col, price = _column_under(panel, pt)
        ro = panel.readout
        assert ro is not None and panel.readout_label.isVisible()
        assert ro.column == col, f"read-out column {ro.column}, cursor over column {col}"
        assert ro.price_low <= price < ro.price_high
        # the read-out names the column's time span, not whatever second the cursor happens on
        text = panel.readout_label.text()
        assert format_time(col * cm, with_ms=cm % 1000 != 0) in text
        assert panel.vline.isVisible() and abs(panel.vline.value() - (col + 0.5) * cm / 1000) <= cm / 2000
        seen.append(col)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_readout_hides_over_the_axes_and_when_the_cursor_leaves(shown, qtbot):
    panel = shown.heatmap
    r = panel.vb.sceneBoundingRect()
    inside = QtCore.QPointF(r.center())
    _move(qtbot, panel, inside)
    assert panel.readout_label.isVisible()
    # over the price axis (right of the image): no read-out of a time that is not drawn
    axis = panel.plot.getAxis("right").sceneBoundingRect()
    _move(qtbot, panel, QtCore.QPointF(axis.center().x(), r.center().y()))
    assert not panel.readout_label.isVisible() and not panel.vline.isVisible()
    _move(qtbot, panel, inside)
    assert panel.readout_label.isVisible()
    # the cursor leaves the widget
    QtWidgets.QApplication.sendEvent(panel.gview.viewport(), QtCore.QEvent(QtCore.QEvent.Type.Leave))
    QtWidgets.QApplication.processEvents()
    assert not panel.readout_label.isVisible()
    assert not panel.vline.isVisible() and not panel.hline.isVisible()


def test_readout_follows_the_time_when_the_chart_scrolls_under_a_still_cursor(shown, qtbot, replay_engine):
    panel = shown.heatmap
    engine, reader = replay_engine
    panel.set_session_span(None, None)      # the last hour, following (not the fitted session)
    panel.reset_view()
    assert panel.follow
    r = panel.vb.sceneBoundingRect()
    pt = QtCore.QPointF(r.left() + 0.5 * r.width(), r.center().y())
    _move(qtbot, panel, pt)
    before = panel.readout.column
    # two more minutes arrive: the view follows the live edge, the cursor does not move
    now = engine.now_ms
    for batch in reader.iter_batches(60_000, now + 1, now + 120_000):
        engine.ingest(batch)
    shown.on_frame(force=True)
    col, _ = _column_under(panel, pt)
    assert col > before
    assert panel.readout.column == col
    assert panel.readout_label.isVisible()
