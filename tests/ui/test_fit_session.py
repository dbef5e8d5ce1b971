"""A replay shorter than the time window opens on the whole session; "Fit session" (S) zooms the
time axis back to it."""

from __future__ import annotations

import pytest


def _span(window):
    src = window.session.source
    return src.start_ms / 1000.0, src.end_ms / 1000.0


def test_a_replay_shorter_than_the_window_opens_on_the_whole_session(window):
    # the session is 40 minutes, the heatmap's default span an hour: not a mostly empty hour
    panel = window.heatmap
    t0, t1 = _span(window)
    assert t1 - t0 < panel.DEFAULT_SPAN_S
    (x0, x1), _ = panel.vb.viewRange()
    assert x0 == pytest.approx(t0, abs=0.01 * (t1 - t0))
    assert x1 == pytest.approx(t1, abs=0.03 * (t1 - t0))
    # it keeps following: the live edge moves within the fitted range, the range stays
    assert panel.follow
    engine, reader = window.session.engine, window.session.source.reader
    now = engine.now_ms
    for batch in reader.iter_batches(60_000, now + 1, now + 300_000):
        engine.ingest(batch)
    window.on_frame(force=True)
    assert panel.vb.viewRange()[0] == pytest.approx((x0, x1))
    assert x0 <= panel._live_end_s() <= x1


def test_fit_session_action_and_key(window, qtbot):
    from PySide6 import QtCore

    from liqdesk.ui.chart_window import SHORTCUTS

    panel = window.heatmap
    t0, t1 = _span(window)
    act = window.actions_["fit"]
    assert act.shortcut().toString() == "S"
    keys = [k for k, _ in SHORTCUTS]
    assert "S" in keys and len(keys) == len(set(keys))
    view_menu = next(m.menu() for m in window.menuBar().actions() if m.text() == "&View")
    assert act in view_menu.actions()
    # zoom into ten minutes somewhere, as a user would
    panel.vb.setXRange(t0 + 600, t0 + 1200, padding=0)
    panel.vb.sigRangeChangedManually.emit([True, False])
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_S)
    (x0, x1), (y0, y1) = panel.vb.viewRange()
    assert x0 == pytest.approx(t0, abs=0.01 * (t1 - t0)) and x1 == pytest.approx(t1, abs=0.03 * (t1 - t0))
    # the price axis holds what the session traded so far
    c = window.session.engine.candles.candles
    assert y0 <= float(c["low"].min()) and float(c["high"].max()) <= y1


def test_fit_session_without_a_recorded_span_fits_the_data(window):
    panel = window.heatmap
    panel.set_session_span(None, None)          # e.g. the simulator: no recorded span
    panel.vb.setXRange(0, 10, padding=0)
    assert panel.fit_session()
    first = float(window.session.engine.candles.candles["time_ms"][0]) / 1000.0
    (x0, x1), _ = panel.vb.viewRange()
    assert x0 == pytest.approx(first, abs=1.0)
    assert x1 == pytest.approx(panel._live_end_s(), rel=0, abs=0.03 * (panel._live_end_s() - first))
