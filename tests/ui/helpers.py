"""Test data for the window: a random-walk session (``core.synthetic``) with order-book snapshots
and liquidation events added, written as a session folder. Test data only."""

from __future__ import annotations

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, make_batch, records
from liqdesk.core.synthetic import random_walk_stream

START_MS = 1_700_000_000_000


def synthetic_stream(hours: float = 0.5, seed: int = 3, exchanges=("binance", "bybit", "okx"),
                     trades_per_s: float = 40.0, book_every_ms: int = 2_000, start_ms: int = START_MS):
    """Trades, marks and OI from the random walk, plus book snapshots and liquidations."""
    base = random_walk_stream(hours=hours, exchanges=exchanges, trades_per_s=trades_per_s, seed=seed,
                              start_ms=start_ms)
    rng = np.random.default_rng(seed + 1)
    marks = base.marks
    books, liqs = [], []
    for name in exchanges:
        eid = EXCHANGE_ID[name]
        m = marks[marks["exchange"] == eid]
        for t, p in zip(m["time_ms"][::max(1, book_every_ms // 1000)], m["price"][::max(1, book_every_ms // 1000)]):
            tick = round(p * 0.0001, 1) or 0.1
            levels = np.arange(1, 41)
            sizes = rng.gamma(1.5, 0.8, (2, 40))
            sizes[:, rng.integers(0, 40, 2)] *= 12       # a few large resting orders
            price = np.concatenate([p - levels * tick, p + levels * tick])
            side = np.concatenate([np.ones(40, np.int8), -np.ones(40, np.int8)])
            books.append(records("book", time_ms=int(t), exchange=eid, side=side, snapshot=True,
                                 price=price, size=sizes.ravel()))
        # liquidations: a few per minute, longs on down-ticks and shorts on up-ticks
        n = int(hours * 60 * 4)
        idx = np.sort(rng.integers(1, len(m), n))
        up = m["price"][idx] >= m["price"][idx - 1]
        notional = rng.lognormal(9.5, 1.4, n)
        price = m["price"][idx]
        liqs.append(records("liquidations", time_ms=m["time_ms"][idx] + 300, exchange=eid,
                            side=np.where(up, -1, 1).astype(np.int8), price=price, size=notional / price,
                            notional=notional))

    def merged(parts):
        arr = np.concatenate(parts)
        return arr[np.argsort(arr["time_ms"], kind="stable")]

    return make_batch(trades=base.trades, marks=base.marks, open_interest=base.open_interest,
                      book=merged(books), liquidations=merged(liqs))


def write_session(path, hours: float = 0.5, seed: int = 3, **kw):
    """Write :func:`synthetic_stream` as a closed session at ``path``; returns the path."""
    from liqdesk.core.events import slice_batch
    from liqdesk.store import SessionWriter

    stream = synthetic_stream(hours=hours, seed=seed, **kw)
    start, end = stream.time_span()
    with SessionWriter(path, "BTCUSDT", meta={"source": "test-synthetic"}, fsync=False) as w:
        for t in range(start, end + 1, 600_000):
            w.write(slice_batch(stream, t, t + 600_000))
    return path


def show_tab(qtbot, window, key: str) -> None:
    """Show ``window`` and bring its ``key`` dock's tab to the front, as a user does: the window
    reads the delta and position-age tabs only while one is in front in a shown window."""
    window.show()
    qtbot.waitExposed(window)
    window.docks[key].raise_()
    qtbot.waitUntil(lambda: not window.docks[key].widget().visibleRegion().isEmpty(), timeout=3000)
