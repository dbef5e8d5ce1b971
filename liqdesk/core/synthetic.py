"""Deterministic synthetic event streams for benchmarks and tests.

Not the market simulator (``liqdesk.sim``, which has agents, books and a liquidation engine):
this is a fast random walk with Poisson trades, a 1 s mark price and polled open interest, enough
to drive the level model at a realistic mix of event kinds.
"""

from __future__ import annotations

import numpy as np

from .events import EXCHANGE_ID, EventBatch, make_batch, records


def random_walk_stream(
    hours: float = 1.0,
    exchanges: tuple[str, ...] = ("binance", "bybit", "okx"),
    trades_per_s: float = 100.0,
    oi_every_ms: int = 5_000,
    mark_every_ms: int = 1_000,
    start_ms: int = 1_700_000_000_000,
    price: float = 60_000.0,
    vol_per_sqrt_s: float = 0.0003,
    seed: int = 0,
) -> EventBatch:
    """A validated batch: per exchange ``trades_per_s`` trades/s on a shared random walk, a mark
    price every ``mark_every_ms`` and an open-interest observation every ``oi_every_ms``.

    Prices in quote currency, sizes in base currency, times in ms since the epoch.
    """
    rng = np.random.default_rng(seed)
    span_ms = int(hours * 3_600_000)
    n_sec = span_ms // 1000 + 1
    log_ret = rng.standard_t(4, n_sec) * vol_per_sqrt_s / np.sqrt(2.0)
    path = price * np.exp(np.cumsum(log_ret))
    trades, marks, ois = [], [], []
    for i, name in enumerate(exchanges):
        eid = EXCHANGE_ID[name]
        n = rng.poisson(trades_per_s * span_ms / 1000.0)
        t = np.sort(rng.integers(0, span_ms, n)) + start_ms
        sec = (t - start_ms) // 1000
        p = path[sec] * (1 + rng.normal(0, 0.0001, n))
        size = rng.pareto(2.5, n) * 0.01 + 0.001
        side = np.where(rng.random(n) < 0.5 + 0.1 * np.sign(log_ret[sec]), 1, -1).astype(np.int8)
        trades.append(records("trades", time_ms=t, exchange=eid, side=side, price=p, size=size))
        mt = np.arange(start_ms + i * 7, start_ms + span_ms, mark_every_ms)
        marks.append(records("marks", time_ms=mt, exchange=eid, price=path[(mt - start_ms) // 1000]))
        ot = np.arange(start_ms + 13 * (i + 1), start_ms + span_ms, oi_every_ms)
        oi = 50_000 + np.cumsum(rng.normal(2.0, 40.0, len(ot)))
        oi = np.maximum(oi, 1_000.0)
        ois.append(records("open_interest", time_ms=ot, exchange=eid, oi_base=oi,
                           oi_notional=oi * path[(ot - start_ms) // 1000]))

    def merged(parts):
        arr = np.concatenate(parts)
        return arr[np.argsort(arr["time_ms"], kind="stable")]

    return make_batch(trades=merged(trades), marks=merged(marks), open_interest=merged(ois))
