"""The liquidation map redraws only when something in view would move by half a pixel."""

from __future__ import annotations

import numpy as np


def _drawn_off_by(lm) -> tuple[float, float]:
    """(largest gap between the bars drawn and the model's map, half a pixel), both in dollars,
    over the bins in view."""
    _, long, short, centres, _, _ = lm._data
    (x0, x1), (y0, y1) = lm.vb.viewRange()
    vis = (centres >= y0) & (centres <= y1)
    gap = max(np.abs(long[vis] - lm.last_long[vis]).max(initial=0.0),
              np.abs(short[vis] - lm.last_short[vis]).max(initial=0.0))
    return float(gap), 0.5 * (x1 - x0) / lm.vb.width()


def test_live_updates_redraw_the_map_only_when_it_visibly_changes(window, replay_engine, qtbot):
    engine, reader = replay_engine
    window.show()
    qtbot.waitExposed(window)
    lm = window.liqmap
    window.on_frame(force=True)
    now = engine.now_ms
    for batch in reader.iter_batches(500, now + 1, now + 30_000):
        engine.ingest(batch)
        window.on_frame()
        gap, half_px = _drawn_off_by(lm)
        assert gap < half_px
    assert lm.skipped > 0, "some live updates changed nothing visible and were not redrawn"
    # a filter change is a visible change: the short bars go at once
    window.set_view(window.view.with_(short=False))
    window.on_frame()
    assert not lm._data[2].any()
    assert lm.short_bars.path().isEmpty()


def test_a_filter_change_paints_the_map_once(window, replay_engine, qtbot):
    """A refresh that rescales the map's axes used to paint it twice (pyqtgraph applied the new
    ranges while preparing the first paint, which dirtied the items again)."""
    from PySide6 import QtCore, QtWidgets

    engine, _ = replay_engine
    window.show()
    qtbot.waitExposed(window)
    lm = window.liqmap
    window.on_frame(force=True)
    QtWidgets.QApplication.processEvents()

    class PaintCounter(QtCore.QObject):
        paints = 0

        def eventFilter(self, obj, event):
            if event.type() == QtCore.QEvent.Type.Paint:
                self.paints += 1
            return False

    counter = PaintCounter()
    lm.gview.viewport().installEventFilter(counter)
    rescaled = 0
    for view in (window.view.with_(exchanges=(engine.settings.exchanges[0],)), window.view.with_(long=False),
                 window.view.with_(exchanges=None, long=True, short=True)):
        before = (lm.vb.viewRange()[0], lm.vb2.viewRange()[0])
        counter.paints = 0
        window.set_view(view)
        window.on_frame()
        for _ in range(3):
            QtWidgets.QApplication.processEvents()
        rescaled += before != (lm.vb.viewRange()[0], lm.vb2.viewRange()[0])
        assert counter.paints == 1, f"{view}: the map was painted {counter.paints} times"
    assert rescaled, "no filter change rescaled the map's axes: the test checks nothing"
