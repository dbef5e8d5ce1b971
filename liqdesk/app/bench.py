"""``liqdesk bench`` section ``rebuild``: a settings change rebuilding a busy day from the journal.

The figure: ``rebuild_24h_ms``, the time to rebuild the level model for the 1-day window from a
journal holding 24 h of a BTC-like market (at least 3 M trades over 3 exchanges, with marks
every second, open interest every 5 s and order-book rows as a live session journals them), as
the window does after a change of time window, bin size or decay. Its baseline, measured in the
same run: the plain ingest of the same trades, marks and open interest, pre-cut into 5-minute
batches in memory, into a model with the same settings.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from liqdesk.core.events import make_batch, records
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.synthetic import random_walk_stream

from .chart_settings import settings_for_window
from .journal import MODEL_KINDS, Journal
from .rebuild import rebuild_model

#: Per exchange: trades per second (3 exchanges x 12/s x 86,400 s = 3.1 M trades a day) and
#: order-book rows per second (20 price levels changing each second, as the simulator's books).
TRADES_PER_S = 12.0
BOOK_ROWS_PER_S = 20


def busy_day(hours: float, seed: int = 11):
    """A validated batch: ``hours`` of a BTC-like market on binance, bybit and okx."""
    stream = random_walk_stream(hours=hours, trades_per_s=TRADES_PER_S, seed=seed)
    start, end = stream.time_span()
    rng = np.random.default_rng(seed)
    n = int((end - start) / 1000 * BOOK_ROWS_PER_S * 3)
    t = np.sort(rng.integers(start, end + 1, n))
    book = records("book", time_ms=t, exchange=rng.integers(0, 3, n).astype(np.uint8),
                   side=np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8), snapshot=False,
                   price=60_000.0 + rng.integers(-50, 50, n) * 0.5, size=rng.random(n))
    return make_batch(trades=stream.trades, marks=stream.marks, open_interest=stream.open_interest, book=book)


def cut(stream, piece_ms: int, kinds=None) -> list:
    """``stream`` cut into batches of ``piece_ms`` (views; the time columns are made contiguous
    once, since searching a strided column copies it every time)."""
    from liqdesk.core.events import EventBatch

    start, end = stream.time_span()
    edges = np.arange(start, end + piece_ms + 1, piece_ms)
    arrays = {k: a for k, a in stream.arrays().items() if kinds is None or k in kinds}
    bounds = {k: np.searchsorted(np.ascontiguousarray(a["time_ms"]), edges) for k, a in arrays.items()}
    return [EventBatch(**{k: arrays[k][bounds[k][i]:bounds[k][i + 1]] for k in arrays}, checked=True)
            for i in range(len(edges) - 1)]


def _journal(stream, piece_ms: int, **kw) -> Journal:
    journal = Journal(**kw)
    for piece in cut(stream, piece_ms):
        journal.append(piece)
    journal.wait_spilled(600.0)
    return journal


def measure_rebuild(quick: bool) -> dict:
    hours = 2.0 if quick else 24.0
    stream = busy_day(hours)
    settings = settings_for_window(ModelSettings(), "1d", 0.05)
    model_events = sum(len(getattr(stream, k)) for k in MODEL_KINDS)

    # baseline: the same events, pre-cut in memory, into a model with the same settings
    plain = cut(stream, 300_000, MODEL_KINDS)

    def ingest_plain():
        model = LevelModel(settings)
        for b in plain:
            model.ingest(b)
        return model

    journal = _journal(stream, 10_000)   # appended as a live feed would: 10 s at a time
    view = journal.snapshot()
    rebuild_s, base_s = [], []
    rounds = 2 if quick else 3
    for _ in range(rounds):                # interleaved so both see the same machine load
        t0 = time.perf_counter()
        rebuilt = rebuild_model(view, settings)
        rebuild_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        direct = ingest_plain()
        base_s.append(time.perf_counter() - t0)
    same = bool(np.array_equal(rebuilt.image(include_live=True)[0], direct.image(include_live=True)[0]))
    out = {
        "rebuild_24h_ms" if not quick else "rebuild_2h_ms": round(1000 * float(np.median(rebuild_s)), 1),
        "rebuild_baseline_ms": round(1000 * float(np.median(base_s)), 1),
        "rebuild_ratio": round(float(np.median(rebuild_s)) / float(np.median(base_s)), 3),
        "rebuild_equals_plain_ingest": same,
        "rebuild_trades": int(len(stream.trades)),
        "rebuild_journal_events": int(journal.events),
        "rebuild_journal_mb": round(journal.memory_bytes / 2**20, 1),
        "rebuild_hours": hours,
    }
    journal.close()
    if not quick:
        # the same day with the journal spilled to disk (a memory limit of 16 MB)
        with tempfile.TemporaryDirectory(prefix="liqdesk-bench-journal-") as tmp:
            disk = _journal(stream, 60_000, memory_limit_bytes=16 * 2**20, spill_dir=tmp)
            t0 = time.perf_counter()
            rebuild_model(disk.snapshot(), settings)
            out["rebuild_24h_from_disk_ms"] = round(1000 * (time.perf_counter() - t0), 1)
            out["rebuild_disk_mb"] = round(disk.disk_bytes / 2**20, 1)
            disk.close()
    out["rebuild_model_events"] = model_events
    return out
