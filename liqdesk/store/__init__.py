"""liqdesk.store: the session format (record, read back, recover after a crash).

A session is a directory ``NAME.liqs/`` of open formats that DuckDB, Polars, pandas and pyarrow
read without liqdesk: ``session.json`` (symbol, meta, gaps, format version), one Parquet file per
event kind plus ``index.json`` once closed, and append-only Arrow IPC logs (zstd, flushed at least
twice a second) while recording or after a crash. The layout and its guarantees are described in
:mod:`liqdesk.store.format` and in ``docs/session-format.md``.

Public API::

    with SessionWriter("day.liqs", "BTCUSDT", meta={"model": {...}}) as w:
        w.write(batch)                       # EventBatch
        w.write_table("truth", structured)   # extra tables (simulator ground truth, ...)
        w.add_gap("binance", "book", t0, t1, "sequence gap")

    r = SessionReader("day.liqs")
    r.read(start_ms, end_ms)                 # EventBatch, half-open [start, end)
    for chunk in r.iter_batches(1_000): ...
    r.counts(), r.gaps, r.meta, r.recovery, r.closed, r.table("truth")

Imports liqdesk.core only (checked by import-linter).
"""

from liqdesk.store.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    RecoveryNote,
    RecoveryReport,
    SessionError,
)
from liqdesk.store.reader import SessionReader, repair_session
from liqdesk.store.writer import SessionWriter

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RecoveryNote",
    "RecoveryReport",
    "SessionError",
    "SessionReader",
    "SessionWriter",
    "repair_session",
]
