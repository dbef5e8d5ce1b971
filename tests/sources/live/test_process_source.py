"""The window's live source: the adapters in a child process, batches over a pipe as numpy bytes."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("ccxt.pro")


def test_the_child_process_feeds_batches_status_and_backfill():
    from liqdesk.core.events import validate_array
    from liqdesk.sources.emulator.server import EmulatorThread
    from liqdesk.sources.live.worker import ProcessLiveSource

    with EmulatorThread(venues=("binance", "bybit"), history_ms=20 * 60_000, speed=10, seed=2) as emu:
        src = ProcessLiveSource(("binance", "bybit"), emulator=emu.url, backfill_ms=10 * 60_000).start()
        try:
            got, deadline = [], time.monotonic() + 40
            while time.monotonic() < deadline:
                b = src.poll()
                if b is not None:
                    got.append(b)
                states = {s.exchange: s.state.value for s in src.statuses()}
                if sum(len(x.trades) for x in got) > 300 and states and all(v == "live" for v in states.values()):
                    break
                time.sleep(0.05)
            assert src.liquidation_feeds == {"binance": "sampled", "bybit": "complete"}
            assert states == {"binance": "live", "bybit": "live"}, src.state()
            assert "binance live" in src.state() and src.backfill_span is not None
            trades = np.concatenate([b.trades for b in got])
            validate_array("trades", trades)                   # what crossed the pipe is valid, in order
            assert not trades.flags.writeable
            assert "BTC/USDT:USDT" in src.market_symbols["binance"]
            assert src.last_created is not None
        finally:
            src.stop()
    assert src.proc.returncode == 0
