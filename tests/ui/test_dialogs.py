"""File → Connect and Window → New chart window: what they offer and what they return."""

from __future__ import annotations

from types import SimpleNamespace

from liqdesk.sources.live.source import ADAPTER_MODULES, DEFAULT_EXCHANGES
from liqdesk.ui.dialogs import ConnectDialog, NewWindowDialog


def test_connect_offers_every_exchange_the_defaults_checked_and_the_listed_symbols(window, qtbot):
    # a running live session whose exchanges listed their markets (inverse and USDC ones left out)
    listed = SimpleNamespace(source=SimpleNamespace(market_symbols={
        "binance": ["PEPE/USDT:USDT", "BTC/USD:BTC"], "hyperliquid": ["BTC/USDC:USDC"]}))
    hub = SimpleNamespace(sessions=[listed])
    dlg = ConnectDialog(window.session, hub)
    qtbot.addWidget(dlg)
    assert list(dlg.checks) == list(ADAPTER_MODULES)
    assert dlg.venues() == tuple(n for n in ADAPTER_MODULES if n in DEFAULT_EXCHANGES)
    symbols = [dlg.symbol_box.itemText(i) for i in range(dlg.symbol_box.count())]
    assert symbols[0] == window.session.engine.settings.symbol
    assert "ETH/USDT:USDT" in symbols and "PEPE/USDT:USDT" in symbols
    assert "BTC/USD:BTC" not in symbols and "BTC/USDC:USDC" not in symbols
    # any typed linear perpetual is taken as typed
    dlg.symbol_box.setEditText("  WIF/USDT:USDT ")
    dlg.checks["bybit"].setChecked(False)
    dlg.checks["hyperliquid"].setChecked(True)
    assert dlg.symbol() == "WIF/USDT:USDT"
    assert "bybit" not in dlg.venues() and "hyperliquid" in dlg.venues()


def test_new_window_on_a_replay_keeps_its_symbol_and_venues(window, qtbot):
    settings = window.session.engine.settings
    dlg = NewWindowDialog(window.session)
    qtbot.addWidget(dlg)
    assert not dlg.symbol_box.isEnabled()             # a replay shows the symbol of its file
    assert dlg.symbol() == settings.symbol
    assert dlg.venues() == tuple(settings.exchanges)


def test_new_window_on_the_simulator_offers_its_scenarios_the_running_one_picked(qtbot):
    from liqdesk.sim.scenarios import SCENARIO_NAMES

    settings = SimpleNamespace(symbol="BTC/USDT:USDT", exchanges=("binance", "bybit", "okx"))
    sim = SimpleNamespace(kind="sim", is_replay=False, engine=SimpleNamespace(settings=settings),
                          key=("sim", settings.symbol, settings.exchanges, "crash"))
    dlg = NewWindowDialog(sim)
    qtbot.addWidget(dlg)
    box = dlg.scenario_box
    assert [box.itemData(i) for i in range(box.count())] == [None, *SCENARIO_NAMES]
    assert dlg.scenario() == "crash"
    box.setCurrentIndex(0)
    assert dlg.scenario() is None                     # the default market
    replay = SimpleNamespace(**{**vars(sim), "kind": "replay", "is_replay": True, "key": ("replay",)})
    other = NewWindowDialog(replay)
    qtbot.addWidget(other)
    assert other.scenario_box is None and other.scenario() is None
