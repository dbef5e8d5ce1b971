"""The chart session without Qt: history built off the ingesting thread, rebuilds from the
journal while the source runs, recording from now or from the start, shared sessions."""

from __future__ import annotations

import time

import numpy as np
import pytest

from liqdesk.app.chart_settings import settings_for_window
from liqdesk.app.hub import ChartSpec, SessionHub
from liqdesk.app.rebuild import rebuild_liquidity, rebuild_model
from liqdesk.main import sim_session


def _pump_until(session, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        session.pump(0.02)
        time.sleep(0.005)


@pytest.fixture
def live_sim():
    session = sim_session(history_ms=15 * 60_000, speed=30.0)
    session.start()
    _pump_until(session, lambda: session.history is None)
    yield session
    session.stop()


def test_history_is_journaled_then_the_market_runs_at_the_asked_speed(live_sim):
    session = live_sim
    journal = session.journal
    assert journal.events > 10_000
    assert journal.start_ms < session.source.simulator.start_ms + 2_000
    assert session.source.lag_ms == 0 and session.source.speed == 30.0
    t0, w0 = session.source.clock_ms, time.monotonic()
    _pump_until(session, lambda: time.monotonic() - w0 > 1.0)
    rate = (session.source.clock_ms - t0) / 1000 / (time.monotonic() - w0)
    assert 15 < rate < 45
    assert journal.snapshot().end_ms == session.engine.now_ms


def test_a_settings_change_rebuilds_from_the_journal_while_the_source_runs(live_sim):
    session = live_sim
    engine = session.engine
    before_model, before_now = engine.model, engine.now_ms
    reset = []
    session.subscribe("reset", lambda: reset.append(1))
    new = settings_for_window(engine.settings, "1d", 0.1, "4h")
    session.apply_settings(new)
    assert session.rebuild is not None and engine.model is before_model   # the old model stays shown
    _pump_until(session, lambda: session.rebuild is None)
    assert engine.model is not before_model and engine.settings == new and reset == [1]
    assert engine.now_ms > before_now                                        # the source kept running
    # the swapped-in model is exactly one pass over everything the session saw
    direct = rebuild_model(session.journal.snapshot(), new)
    a, ca, _ = engine.model.image(include_live=True)
    b, cb, _ = direct.image(include_live=True)
    assert np.array_equal(ca, cb) and np.array_equal(a, b)
    first_col = ca[a.sum(axis=0) > 0].min() * new.column_ms
    assert first_col <= session.journal.start_ms + new.column_ms
    # the order-book grid was rebuilt for the new columns and bins from the journal's books too
    grid = engine.liquidity
    assert grid.column_ms == new.column_ms and grid.bin_width == engine.model.bin_width
    fresh = rebuild_liquidity(session.journal.snapshot(), engine.model)
    shared = sorted(set(grid.columns) & set(fresh.columns))
    assert len(shared) >= 2 and max(grid.columns) >= max(fresh.columns)
    origin = engine.model.display_origin or engine.model.origin
    cols = np.array(shared[:-1])          # (the newest may hold what arrived after the snapshot)
    assert np.array_equal(grid.image(origin, 600, cols), fresh.image(origin, 600, cols))
    assert grid.image(origin, 600, cols).sum() > 0


def test_a_second_change_during_a_rebuild_wins(live_sim):
    session = live_sim
    s1 = settings_for_window(session.engine.settings, "12h", 0.05, "off")
    s2 = settings_for_window(session.engine.settings, "3d", 0.25, "1d")
    session.apply_settings(s1)
    session.apply_settings(s2)
    _pump_until(session, lambda: session.rebuild is None)
    assert session.engine.settings == s2


@pytest.mark.parametrize("from_start", [True, False])
def test_recording_from_the_start_or_from_now(live_sim, tmp_path, from_start):
    from liqdesk.store import SessionReader

    session = live_sim
    journal_start = session.journal.start_ms
    began = session.engine.now_ms
    path = tmp_path / "rec.liqs"
    session.start_recording(path, from_start=from_start)
    w0 = time.monotonic()
    _pump_until(session, lambda: time.monotonic() - w0 > 1.0)
    session.stop_recording().join(timeout=60)
    reader = SessionReader(path)
    assert reader.closed
    if from_start:
        assert reader.start_ms <= journal_start + 1_000
    else:
        assert reader.start_ms > began
    assert reader.end_ms >= session.engine.now_ms - 2_000
    trades = reader.read(kinds=["trades"]).trades
    assert len(trades) and np.all(np.diff(trades["time_ms"]) >= 0)


def test_the_hub_shares_a_session_per_market_and_stops_it_with_its_last_window():
    built = []

    def factory(spec):
        s = sim_session(spec.symbol, spec.venues, history_ms=60_000)
        built.append(s)
        return s

    hub = SessionHub(factory)
    a = hub.open(ChartSpec("sim", "BTC/USDT:USDT"))
    b = hub.open(ChartSpec("sim", "BTC/USDT:USDT", ("binance", "okx")))     # fewer venues: shared
    c = hub.open(ChartSpec("sim", "ETH/USDT:USDT"))
    assert a is b and c is not a and len(built) == 2
    assert c.engine.settings.symbol == "ETH/USDT:USDT"
    hub.release(a)
    assert not a.stopped and hub.users(a) == 1
    hub.release(b)
    assert a.stopped and a not in hub.sessions
    hub.stop_all()
    assert c.stopped
