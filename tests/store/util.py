"""Helpers for the store tests: random valid event batches and comparisons."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from liqdesk.core.events import KINDS, EventBatch, make_batch, records

T0 = 1_722_470_400_000  # 2024-08-01 00:00 UTC


def random_batch(rng: np.random.Generator, t0: int, n: int, span_ms: int = 10_000,
                 exchanges=(0, 1, 2), kinds=tuple(KINDS)) -> EventBatch:
    """A valid batch of every kind in ``kinds``, about ``n`` trades, times in [t0, t0 + span_ms)."""

    def times(m):
        return np.sort(rng.integers(t0, t0 + span_ms, m))

    def ex(m):
        return rng.choice(np.asarray(exchanges), m)

    def side(m):
        return rng.choice(np.array([-1, 1], dtype=np.int8), m)

    out = {}
    if "trades" in kinds:
        out["trades"] = records("trades", time_ms=times(n), exchange=ex(n), side=side(n),
                                price=rng.uniform(1, 1e5, n), size=rng.uniform(1e-4, 10, n))
    m = max(1, n // 4)
    if "marks" in kinds:
        out["marks"] = records("marks", time_ms=times(m), exchange=ex(m), price=rng.uniform(1, 1e5, m))
    if "open_interest" in kinds:
        out["open_interest"] = records("open_interest", time_ms=times(m), exchange=ex(m),
                                       oi_base=rng.uniform(0, 1e6, m), oi_notional=rng.uniform(0, 1e10, m))
    if "funding" in kinds:
        k = max(1, n // 20)
        out["funding"] = records("funding", time_ms=times(k), exchange=ex(k), rate=rng.normal(0, 1e-4, k))
    if "liquidations" in kinds:
        k = max(1, n // 10)
        out["liquidations"] = records("liquidations", time_ms=times(k), exchange=ex(k), side=side(k),
                                      price=rng.uniform(1, 1e5, k), size=rng.uniform(1e-3, 5, k),
                                      notional=rng.uniform(1, 1e6, k))
    if "book" in kinds:
        out["book"] = records("book", time_ms=times(n), exchange=ex(n), side=side(n),
                              snapshot=rng.random(n) < 0.1, price=rng.uniform(1, 1e5, n),
                              size=np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 10, n)))
    return make_batch(**out)


def assert_batches_equal(got: EventBatch, want: EventBatch) -> None:
    """Bit-exact equality of every kind (dtype, values, order)."""
    for kind in KINDS:
        a, b = getattr(got, kind), getattr(want, kind)
        assert a.dtype == b.dtype, kind
        assert len(a) == len(b), f"{kind}: {len(a)} rows, expected {len(b)}"
        assert a.tobytes() == b.tobytes(), f"{kind}: values differ"


def snapshot(src: Path, dst: Path) -> Path:
    """Copy a session directory as it is on disk now (a writer killed at this moment)."""
    shutil.copytree(src, dst)
    return dst


@contextmanager
def several_row_groups():
    """Sessions written with row groups of 4,096 rows or a minute (the default is 16,384 rows or
    5 minutes): damage and recovery tests hit row groups by number in sessions of a few minutes."""
    import liqdesk.store.convert as convert

    saved = convert.ROW_GROUP_MIN_ROWS, convert.ROW_GROUP_SPAN_MS
    convert.ROW_GROUP_MIN_ROWS, convert.ROW_GROUP_SPAN_MS = 4_096, 60_000
    try:
        yield
    finally:
        convert.ROW_GROUP_MIN_ROWS, convert.ROW_GROUP_SPAN_MS = saved
