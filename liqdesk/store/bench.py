"""Seek benchmark of the session store, for ``liqdesk bench``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from liqdesk.core.events import EventBatch, records
from liqdesk.store.reader import SessionReader
from liqdesk.store.writer import SessionWriter

DAY_MS = 86_400_000


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def write_synthetic_day(path, trades: int = 5_000_000, seed: int = 7, exchanges: int = 3,
                        start_ms: int = 1_722_470_400_000) -> int:
    """Write a 24 h session: ``trades`` trades, marks every second and OI every 5 s per exchange.

    Returns the number of events written. Data are generated in ten-minute slices so memory stays
    small; they are valid events (the arrays are built directly, not through make_batch, to time
    the store rather than validation).
    """
    rng = np.random.default_rng(seed)
    slice_ms = 600_000
    slices = DAY_MS // slice_ms
    per_slice = trades // slices
    total = 0
    price = 60_000.0
    with SessionWriter(path, "BTCUSDT", meta={"synthetic": True, "seed": seed}, overwrite=True) as writer:
        for s in range(slices):
            t0 = start_ms + s * slice_ms
            n = per_slice + (trades - per_slice * slices if s == slices - 1 else 0)
            times = np.sort(rng.integers(t0, t0 + slice_ms, n))
            steps = rng.normal(0, 2.0, n).cumsum()
            tr = records("trades", time_ms=times, exchange=rng.integers(0, exchanges, n),
                         side=rng.choice(np.array([-1, 1], dtype=np.int8), n),
                         price=price + steps, size=rng.exponential(0.05, n) + 1e-4)
            price = float(tr["price"][-1])
            mt = np.repeat(np.arange(t0, t0 + slice_ms, 1_000), exchanges)
            mk = records("marks", time_ms=mt, exchange=np.tile(np.arange(exchanges), len(mt) // exchanges),
                         price=price + rng.normal(0, 1.0, len(mt)))
            ot = np.repeat(np.arange(t0, t0 + slice_ms, 5_000), exchanges)
            oi = records("open_interest", time_ms=ot, exchange=np.tile(np.arange(exchanges), len(ot) // exchanges),
                         oi_base=80_000 + rng.normal(0, 10, len(ot)) ** 2, oi_notional=0.0)
            oi["oi_notional"] = oi["oi_base"] * price
            writer.write(EventBatch(trades=_readonly(tr), marks=_readonly(mk), open_interest=_readonly(oi)))
            total += len(tr) + len(mk) + len(oi)
    return total


def measure_seek_ms(tmpdir, points: int = 20, trades: int = 5_000_000, seed: int = 11) -> dict:
    """Write a synthetic 24 h session under ``tmpdir`` and time ``read(t, t + 60 s)`` at random t.

    Returns ``seek_ms`` (median), ``seek_ms_max``, ``seek_session_events``, and for context
    ``seek_write_s`` (recording plus closing the session) and ``seek_open_ms`` (opening it).
    """
    path = Path(tmpdir) / "seek-bench.liqs"
    t0 = time.perf_counter()
    start_ms = 1_722_470_400_000
    events = write_synthetic_day(path, trades=trades, start_ms=start_ms)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reader = SessionReader(path)
    open_ms = (time.perf_counter() - t0) * 1000
    rng = np.random.default_rng(seed)
    times = []
    got = 0
    with reader:
        for t in rng.integers(reader.start_ms, reader.end_ms - 60_000, points).tolist():
            t0 = time.perf_counter()
            batch = reader.read(t, t + 60_000)
            times.append((time.perf_counter() - t0) * 1000)
            got += len(batch)
    if not got:
        raise RuntimeError("seek benchmark read no events")
    return {
        "seek_ms": round(float(np.median(times)), 3),
        "seek_ms_max": round(float(np.max(times)), 3),
        "seek_session_events": int(events),
        "seek_write_s": round(write_s, 2),
        "seek_open_ms": round(open_ms, 2),
    }
