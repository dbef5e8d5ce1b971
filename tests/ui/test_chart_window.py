"""The chart window: docks and layouts, the replay bar, second windows, exports."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _set_saved(store, **fields) -> None:
    """Overwrite fields of the main window's saved layout in the store's JSON file."""
    doc = json.loads(store.path.read_text())
    doc["windows"]["main"].update(fields)
    store.path.write_text(json.dumps(doc))


def test_docks_float_and_the_layout_round_trips_through_save_and_restore(window, store, qtbot):
    from liqdesk.ui.chart_window import ChartWindow

    assert set(window.docks) == {"heatmap", "liqmap", "ladder", "stats", "filters", "alerts", "context", "liquidity", "delta",
                                  "age"}
    window.show()
    qtbot.waitExposed(window)
    ladder = window.docks["ladder"]
    ladder.setFloating(True)
    assert ladder.isFloating() and ladder.isWindow()
    ladder.move(60, 40)
    window.docks["stats"].hide()
    window.save_layout()

    again = ChartWindow(window.session, None, store, restore=True)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.layout_message is None
    assert again.docks["ladder"].isFloating()
    assert again.docks["stats"].isHidden()
    assert not again.docks["heatmap"].isFloating()
    # reset layout: everything docked and visible again, the saved layout forgotten
    again.reset_layout()
    assert not again.docks["ladder"].isFloating()
    assert all(not d.isHidden() for d in again.docks.values())
    assert "main" not in json.loads(store.path.read_text())["windows"]


def test_a_window_position_from_another_screen_setup_keeps_the_saved_docks(window, store, qtbot):
    """Regression: a geometry Qt refuses (saved on another screen setup, e.g. a headless run or
    an unplugged monitor) threw away the saved docks and said the layout was unreadable."""
    from liqdesk.ui.chart_window import ChartWindow

    window.docks["stats"].hide()
    window.save_layout()
    _set_saved(store, geometry=_b64(b"\x01\xd9\xd0\xcb\x00\x09" + b"\x00" * 60))
    again = ChartWindow(window.session, None, store, restore=True)
    qtbot.addWidget(again)
    assert again.layout_message is None
    assert again.docks["stats"].isHidden()


@pytest.mark.parametrize("bad", ["bytes", "type"])
def test_a_corrupt_saved_layout_falls_back_to_the_default_with_a_message(themed, qtbot, window, store, bad):
    from liqdesk.ui.chart_window import ChartWindow

    window.save_layout()
    if bad == "bytes":
        _set_saved(store, state=_b64(b"\x00\xffnot a layout\x13" * 7), geometry=_b64(b"garbage"))
    else:
        _set_saved(store, state=1234)
    messages = []
    window.session.subscribe("message", messages.append)
    win = ChartWindow(window.session, None, store, restore=True)
    qtbot.addWidget(win)
    assert win.layout_message and "default layout" in win.layout_message
    assert any("default layout" in m for m in window.session.messages)
    assert win.statusBar().currentMessage() == win.layout_message
    assert all(not d.isFloating() and not d.isHidden() for d in win.docks.values())


def test_the_replay_bars_seek_changes_the_displayed_time(themed, qtbot, session_path, store):
    from liqdesk.core.timefmt import format_time
    from liqdesk.main import replay_session
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    session = replay_session(session_path, speed=1.0)
    clock = FrameClock(session)
    win = ChartWindow(session, clock, store, restore=False)
    qtbot.addWidget(win)
    win.show()
    session.start()
    clock.start()
    try:
        bar = win.replay_bar
        start, end = bar.start_ms, bar.end_ms
        target = start + int((end - start) * 0.6)
        bar.seek(target)
        qtbot.waitUntil(lambda: session.seek is None and session.engine.now_ms is not None
                        and session.engine.now_ms >= target - 5_000, timeout=30_000)
        qtbot.wait(150)
        now = session.engine.now_ms
        assert target - 5_000 <= now < target
        assert bar.time_label.text() == format_time(now)
        assert abs(bar.slider_time() - now) <= (end - start) / 1000
        # the heatmap's live column is at the new time
        live_x = win.heatmap.live_image.mapRectToParent(win.heatmap.live_image.drawn_rect()).left()
        assert abs(live_x - (now // session.engine.settings.column_ms) * session.engine.settings.column_ms / 1000) < 1
        # and back in time: the engine is rebuilt from the start
        early = start + int((end - start) * 0.2)
        bar.seek(early)
        qtbot.waitUntil(lambda: session.seek is None and session.engine.now_ms is not None
                        and abs(session.engine.now_ms - early) <= 5_000, timeout=30_000)
        qtbot.wait(150)
        assert bar.time_label.text() == format_time(session.engine.now_ms)
    finally:
        clock.stop()
        session.stop()


def test_settings_change_rebuilds_the_replay_window(themed, qtbot, session_path, store):
    from liqdesk.main import replay_session
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    session = replay_session(session_path)
    clock = FrameClock(session)
    win = ChartWindow(session, clock, store, restore=False)
    qtbot.addWidget(win)
    session.start()
    clock.start()
    try:
        start = session.source.start_ms
        session.seek_to(start + 20 * 60_000)
        qtbot.waitUntil(lambda: session.seek is None and session.engine.now_ms is not None, timeout=30_000)
        before = session.engine.now_ms
        win.filters.bin_combo.setCurrentIndex(win.filters.bin_combo.findData(0.1))
        qtbot.waitUntil(lambda: session.seek is None and session.engine.settings.bin_width_pct == 0.1
                        and session.engine.now_ms is not None and session.engine.now_ms >= before - 2_000,
                        timeout=30_000)
        assert session.engine.settings.rows == 400
        qtbot.wait(100)
        assert win.heatmap.last_image.shape[0] == 400
    finally:
        clock.stop()
        session.stop()


def test_prior_option_sets_the_model_tiers_and_their_filters(themed, qtbot, session_path, store):
    import argparse

    from liqdesk.commands import window as window_command
    from liqdesk.main import build_session
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    parser = argparse.ArgumentParser()
    window_command.add_arguments(parser)
    args = parser.parse_args(["--replay", str(session_path), "--prior", "5:1,75:2,125:1"])
    session = build_session(args)
    assert session.engine.settings.leverages == (5.0, 75.0, 125.0)
    assert session.engine.settings.weights == (0.25, 0.5, 0.25)
    win = ChartWindow(session, FrameClock(session), store, restore=False)
    qtbot.addWidget(win)
    assert list(win.filters.tier_checks) == [5.0, 75.0, 125.0]
    session.stop()


def test_second_chart_window_on_another_venue_set(window, qtbot):
    second = window.open_window(("binance",))     # deletes itself on close
    assert second.view.exchanges == ("binance",)
    assert not second.filters.ex_checks["bybit"].isChecked()
    second.on_frame(force=True)
    model = window.session.engine.model
    np.testing.assert_array_equal(second.heatmap.last_image, model.image(["binance"], None, include_live=False)[0])
    assert second in window.extra_windows
    second.close()


def test_a_closed_window_is_gone_from_its_session(window, qtbot):
    """Regression: a closed second window stayed chained to the session's reset callback and
    raised "RuntimeError: ... already deleted" on the next settings change."""
    from PySide6 import QtWidgets

    session = window.session
    second = window.open_window(("binance",))
    second.close()
    QtWidgets.QApplication.sendPostedEvents(None, 0)   # runs the deferred delete
    qtbot.waitUntil(lambda: second not in window.extra_windows, timeout=5000)
    assert session._listeners["reset"] == [window._engine_reset]
    assert session._listeners["message"] == [window._session_message]
    window.filters.decay_combo.setCurrentText("1h")            # a reset reaches only live windows
    session._reset_happened()
    session.message("still fine")


def test_new_window_on_another_symbol_gets_its_own_session(themed, qtbot, store):
    from liqdesk.app.hub import SessionHub
    from liqdesk.main import sim_session
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    hub = SessionHub(lambda spec: sim_session(spec.symbol, spec.venues, history_ms=120_000))
    main = hub.adopt(sim_session(history_ms=120_000))
    clock = FrameClock()
    win = ChartWindow(main, clock, store, restore=False, hub=hub)
    qtbot.addWidget(win)
    try:
        same = win.open_window(("binance", "okx"))
        assert same.session is main and same.view.exchanges == ("binance", "okx")
        eth = win.open_window(None, symbol="ETH/USDT:USDT")
        other = eth.session
        assert other is not main and other.engine.settings.symbol == "ETH/USDT:USDT"
        assert "ETH/USDT:USDT" in eth.windowTitle()
        assert len(clock.sessions()) == 2
        eth.close()
        qtbot.waitUntil(lambda: other.stopped, timeout=5000)
        assert other not in hub.sessions and len(clock.sessions()) == 1
        same.close()
        assert not main.stopped
    finally:
        hub.stop_all()


def test_new_window_on_another_scenario_gets_a_simulator_of_its_own(themed, qtbot, store):
    from liqdesk.app.hub import SessionHub
    from liqdesk.main import sim_session
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    hub = SessionHub(lambda spec: sim_session(spec.symbol, spec.venues, history_ms=120_000, scenario=spec.scenario))
    main = hub.adopt(sim_session(history_ms=120_000, scenario="calm"))
    win = ChartWindow(main, FrameClock(), store, restore=False, hub=hub)
    qtbot.addWidget(win)
    try:
        same = win.open_window(("binance",))                  # keeps this window's scenario
        assert same.session is main
        crash = win.open_window(None, scenario="crash")
        assert crash.session is not main and crash.session.source.params.scenario == "crash"
        default = win.open_window(None, scenario=None)
        assert default.session not in (main, crash.session) and default.session.source.params.scenario is None
    finally:
        hub.stop_all()


def test_record_asks_from_now_or_from_the_start(window, monkeypatch, tmp_path):
    from liqdesk.app.journal import Journal

    session = window.session
    session.journal = Journal()
    for batch in session.source.reader.iter_batches(300_000):
        session.journal.append(batch)
    monkeypatch.setattr("platformdirs.user_data_dir", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(type(window), "_ask_record_start", lambda self: None)
    window.actions_["record"].trigger()
    assert not session.recording and not window.actions_["record"].isChecked()
    monkeypatch.setattr(type(window), "_ask_record_start", lambda self: True)
    window.actions_["record"].trigger()
    assert session.recording and session.recorder.history_events == session.journal.events
    session.stop_recording().join(timeout=60)
    window.actions_["record"].setChecked(False)


def test_export_grid_csv_and_panel_png(window, tmp_path):
    n = window.export_grid(tmp_path / "grid.csv")
    lines = (tmp_path / "grid.csv").read_text().splitlines()
    assert lines[0] == "time_ms,price_low,price_high,long_usd,short_usd" and len(lines) == n + 1 and n > 100
    t, lo, hi, lu, su = lines[1].split(",")
    assert float(hi) > float(lo) and float(lu) + float(su) > 0
    assert window.export_panel_png("liqmap", tmp_path / "liqmap.png")
    assert (tmp_path / "liqmap.png").stat().st_size > 1000


def test_stats_panel_shows_the_estimate_mode_and_clusters(window):
    stats = window.stats
    window.on_frame(force=True)
    assert "open interest" in stats.mode_label.text()
    assert stats.summary is not None
    text = stats.body.text()
    assert "long : short" in text and "near above" in text and "%" in text


def test_record_writes_the_events_shown_to_a_replayable_session(window, tmp_path, qtbot):
    from liqdesk.store import SessionReader

    session = window.session
    path = tmp_path / "rec.liqs"
    session.start_recording(path)
    assert session.recording
    session.seek_to(session.source.start_ms + 5 * 60_000)      # unthreaded: queued at once
    while session.seek is not None:
        session.pump(0.05)
    closer = session.stop_recording()
    closer.join(timeout=30)
    reader = SessionReader(path)
    assert reader.closed and reader.start_ms == session.source.start_ms
    assert sum(reader.counts()["trades"].values()) > 1000


def test_simulator_window_opens_on_history_and_rebuilds_on_new_settings(themed, qtbot, store):
    """The simulator builds its history off the UI thread, then runs at 1x at once; a new time
    window rebuilds the model from the journal (same source, whole history kept)."""
    from liqdesk.main import sim_session
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    session = sim_session(history_ms=20 * 60_000)
    assert session.kind == "sim" and session.history is not None
    clock = FrameClock()
    win = ChartWindow(session, clock, store, restore=False)
    qtbot.addWidget(win)
    session.start()
    clock.start()
    try:
        qtbot.waitUntil(lambda: session.history is None, timeout=60_000)
        source = session.source
        assert source.lag_ms == 0 and source.speed == 1.0
        sim_t0, wall_t0 = source.clock_ms, time.monotonic()
        qtbot.wait(1500)
        advanced = (source.clock_ms - sim_t0) / 1000 / (time.monotonic() - wall_t0)
        assert 0.5 < advanced < 1.5, f"market ran at {advanced:.1f}x after the history, not 1x"
        engine = session.engine
        assert engine.now_ms is not None and engine.model.bin_width
        assert float(win.heatmap.last_live.sum()) > 0
        journal_start = session.journal.start_ms
        win.filters.window_combo.setCurrentText("1d")
        assert session.rebuild is not None
        qtbot.waitUntil(lambda: session.rebuild is None, timeout=60_000)
        assert session.source is source, "the source must keep running through a rebuild"
        assert engine.settings.column_ms == 60_000
        _, cols, _ = engine.model.image(include_live=False)
        img, _, _ = engine.model.image(include_live=False)
        filled = cols[img.sum(axis=0) > 0]
        assert len(filled) and filled.min() * 60_000 <= journal_start + 120_000, \
            "the rebuilt window must hold the history from the journal's start"
        assert win.filters.window_combo.currentText() == "1d"
    finally:
        clock.stop()
        session.stop()


def test_a_symbol_without_published_tiers_is_marked_approximate_wherever_tiers_show(themed, qtbot, store):
    from liqdesk.main import sim_session
    from liqdesk.ui.chart_window import ChartWindow

    session = sim_session("PEPE/USDT:USDT", ("binance", "okx"), history_ms=5 * 60_000)
    win = ChartWindow(session, None, store, restore=False)
    qtbot.addWidget(win)
    session.start()
    try:
        deadline = time.monotonic() + 60
        while session.history is not None and time.monotonic() < deadline:
            session.pump(0.05)
        assert session.history is None
        win.on_frame(force=True)
        assert 0.5 < session.engine.model.mark_price() < 2.0            # the generic market, not BTC's
        assert "approximate tiers: binance, okx" in win.status.tiers.text()
        assert "approximate tiers" in win.stats.mode_label.text()
        r = win.heatmap.show_crosshair_at(session.engine.now_ms / 1000 - 30, session.engine.model.mark_price())
        assert r is not None and r.approximate == ["binance", "okx"]
    finally:
        session.stop()
