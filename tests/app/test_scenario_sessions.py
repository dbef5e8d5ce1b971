"""The window on a simulator scenario: its session, how windows share it, and --scenario's limits."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from liqdesk.app.hub import ChartSpec, covers, session_scenario
from liqdesk.errors import UserError
from liqdesk.main import build_session, sim_session


def _session(kind, scenario=None, symbol="BTC/USDT:USDT", venues=("binance", "bybit", "okx")):
    return SimpleNamespace(kind=kind, key=(kind, symbol, venues, scenario), engine=None)


def test_a_window_shares_a_simulator_only_on_the_same_scenario():
    crash = _session("sim", "crash")
    assert session_scenario(crash) == "crash" and session_scenario(_session("live")) is None
    assert covers(crash, ChartSpec("sim", "BTC/USDT:USDT", scenario="crash"))
    assert not covers(crash, ChartSpec("sim", "BTC/USDT:USDT"))
    assert not covers(crash, ChartSpec("sim", "BTC/USDT:USDT", scenario="calm"))
    assert covers(_session("sim"), ChartSpec("sim", "BTC/USDT:USDT", ("okx",)))


def test_the_window_runs_a_scenario_with_its_crash_in_the_opening_history():
    session = sim_session(history_ms=2 * 3_600_000, scenario="crash", now_ms=1_760_000_000_000)
    try:
        params = session.source.params
        assert params.scenario == "crash" and session.label == "sim: crash"
        assert session.key[3] == "crash"
        # half an hour before the window opens: the opening chart shows the crash and its aftermath
        assert params.crash_at_hours == pytest.approx(1.5) and params.crash_depth > 0
    finally:
        session.stop()


def test_scenario_is_refused_with_live_or_replay():
    from liqdesk.commands import window as window_command

    parser = argparse.ArgumentParser()
    window_command.add_arguments(parser)
    args = parser.parse_args(["--replay", "x.liqs", "--scenario", "calm"])
    with pytest.raises(UserError, match="--scenario picks a simulator preset"):
        build_session(args)
