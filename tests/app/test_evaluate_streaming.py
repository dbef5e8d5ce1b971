"""evaluate's comparison streams (issue 13, memory bounded by design): each liquidation is scored
with the baselines when its window is taken, each swept column once its horizon has passed, and
the baselines' tape keeps an hour: what it keeps does not grow with the session. (Its results
were checked bit for bit against the whole-session pass it replaced when it was merged; the
figures themselves are tested against hand computations in test_analysis, test_baselines and
test_swept.)"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from liqdesk.app import analysis
from liqdesk.app.comparison import COLUMN_BATCH, ScoreOptions
from liqdesk.core.events import make_batch, records
from liqdesk.core.synthetic import random_walk_stream
from liqdesk.store import SessionReader, SessionWriter


def retained_bytes(obj) -> int:
    """Bytes of every numpy buffer reachable from ``obj`` (through attributes, lists, tuples,
    dicts, deques), each buffer once."""
    seen, total, stack = set(), 0, [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, np.ndarray):
            while isinstance(x.base, np.ndarray):
                x = x.base
            if id(x) not in seen:
                seen.add(id(x))
                total += x.nbytes
            continue
        if id(x) in seen or isinstance(x, str | bytes | int | float | bool | type(None) | type):
            continue
        seen.add(id(x))
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, list | tuple | deque | set):
            stack.extend(x)
        elif hasattr(x, "__dict__") and not callable(x):
            stack.extend(vars(x).values())
    return total


@pytest.fixture(scope="module")
def long_session(tmp_path_factory):
    """Six hours, one venue, few trades: a liquidation every 40 s a little under the price, so
    every column holds some and the look-ups never stop."""
    path = tmp_path_factory.mktemp("long") / "long.liqs"
    stream = random_walk_stream(hours=6, exchanges=("binance",), trades_per_s=2, oi_every_ms=30_000, seed=2)
    start, _ = stream.time_span()
    t = start + np.arange(120_000, 6 * 3_600_000 - 1_000, 40_000)
    near = np.searchsorted(stream.trades["time_ms"], t)
    price = stream.trades["price"][np.minimum(near, len(stream.trades) - 1)] * 0.998
    liq = records("liquidations", time_ms=t, exchange="binance", side=1, price=price, size=0.1, notional=price * 0.1)
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(make_batch(trades=stream.trades, marks=stream.marks, open_interest=stream.open_interest, liquidations=liq))
    return path


def test_what_evaluate_keeps_does_not_grow_with_the_session(long_session, monkeypatch):
    samples = []            # (hours into the session, bytes kept, retained())
    start = {}

    class Watched(analysis.Comparison):
        def add_events(self, batch, bin_width, until_ms):
            super().add_events(batch, bin_width, until_ms)
            hours = (until_ms - start["ms"]) / 3_600_000
            samples.append((hours, retained_bytes(self), self.retained()))

    monkeypatch.setattr(analysis, "Comparison", Watched)
    options = ScoreOptions(resamples=20)
    with SessionReader(long_session) as reader:
        start["ms"] = reader.start_ms
        out = analysis.evaluate(reader, options=options)
    assert out["events"] > 500 and out["swept_columns"] > 300
    # past the first hour (the volume baseline's look-back) and a horizon, what is kept levels off
    middle = max(b for h, b, _ in samples if 1.5 <= h < 3)
    late = max(b for h, b, _ in samples if h >= 4.5)
    assert late <= 1.1 * middle, (middle, late)
    horizon_s = options.horizon_ms // 1000
    for _, _, kept in samples:
        assert kept["tape_seconds"] <= 3_600 + 600 + horizon_s + 120
        assert kept["open_columns"] <= options.horizon_ms // options.column_ms + COLUMN_BATCH + 2
        assert kept["swept_pending_pairs"] <= 4 * (options.horizon_ms // 40_000 + 1) ** 2 * COLUMN_BATCH
