"""Pieces every live adapter shares: coarse trades from candles, the backoff, URL rewriting."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.candles import make_candles
from liqdesk.core.events import validate_array
from liqdesk.sources.live.adapter import candle_trades
from liqdesk.sources.live.contract import Backoff
from liqdesk.sources.live.urls import point_at

prices = st.floats(1.0, 1e5, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(prices, prices, prices, prices, st.floats(0.001, 1e4), st.floats(0, 1, allow_subnormal=False)),
                min_size=1, max_size=30))
def test_candle_trades_rebuild_the_candles(rows):
    t0 = 1_700_000_040_000 + 60_000 * np.arange(len(rows))
    o, a, b, c, v, share = (np.array(x, dtype=float) for x in zip(*rows))
    h = np.maximum.reduce([o, a, b, c])
    low = np.minimum.reduce([o, a, b, c])
    tr = candle_trades(1, t0, o, h, low, c, v, v * share)
    validate_array("trades", tr)
    candles = make_candles(tr["time_ms"], tr["price"], tr["size"], 60_000)
    assert np.array_equal(candles["time_ms"], t0)
    assert np.array_equal(candles["open"], o) and np.array_equal(candles["close"], c)
    assert np.array_equal(candles["high"], h) and np.array_equal(candles["low"], low)
    np.testing.assert_allclose(candles["volume"], v, rtol=1e-12)
    np.testing.assert_allclose(tr["size"][tr["side"] > 0].sum(), (v * share).sum(), rtol=1e-9)


def test_backoff_doubles_to_its_cap_with_jitter_and_resets():
    b = Backoff(0.5, 30.0, jitter=0.25)
    delays = [b.next() for _ in range(10)]
    for i, d in enumerate(delays):
        base = min(30.0, 0.5 * 2**i)
        assert 0.75 * base <= d <= 1.25 * base
    b.reset()
    assert b.next() <= 0.625


def test_point_at_rewrites_every_url_and_nothing_else():
    class Fake:
        id = "bybit"
        urls = {"api": {"public": "https://api.{hostname}", "ws": {"public": {"linear": "wss://stream.{hostname}/v5/public/linear"}}},
                "www": "https://www.bybit.com"}

    ex = Fake()
    point_at(ex, "http://127.0.0.1:9")
    assert ex.urls["api"]["public"] == "http://127.0.0.1:9/bybit"
    assert ex.urls["api"]["ws"]["public"]["linear"] == "ws://127.0.0.1:9/bybit/v5/public/linear"
    assert ex.urls["www"] == "https://www.bybit.com"
