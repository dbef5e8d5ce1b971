"""The delta view in the window: each column minus the one a period earlier, filters applied."""

from __future__ import annotations

import numpy as np

from .helpers import show_tab


def test_the_delta_tab_shows_the_change_over_the_period(window, qtbot, monkeypatch):
    engine = window.session.engine
    model = engine.model
    panel = window.delta
    show_tab(qtbot, window, "delta")
    panel.set_period("1h")
    window.on_frame(force=True)
    # the replayed session spans 30 minutes of a 1-hour window: a 1-hour period cannot be shown
    assert panel.last is None and "window" in panel.note.text()
    # a 10-minute period (the window holds 1,440 columns of 2.5 s: 240 of them)
    from liqdesk.app import views

    monkeypatch.setitem(views.DELTA_PERIODS, "10m", 600_000)
    panel.set_period("10m")
    window.on_frame(force=True)
    last = panel.last
    img, cols, _ = model.image(None, None, True, True, include_live=True)
    k = last["period_columns"]
    assert k == 600_000 // model.settings.column_ms
    assert np.allclose(last["delta"][:, -1], img[:, -1] - img[:, -1 - k], equal_nan=True)
    # nothing to compare with before one period after the session's first data
    first = int(engine.candles.candles["time_ms"][0]) // model.settings.column_ms - int(cols[0])
    assert first > 0                                      # (the window reaches back before the data)
    assert np.isnan(last["delta"][:, :first + k]).all() and np.isfinite(last["delta"][:, first + k:]).all()
    assert "grew" in panel.note.text()
    # only longs: the delta of the long side alone
    window.set_view(window.view.with_(short=False))
    window.on_frame(force=True)
    longs, _, _ = model.image(None, None, True, False, include_live=True)
    assert np.allclose(panel.last["delta"][:, -1], longs[:, -1] - longs[:, -1 - k])
