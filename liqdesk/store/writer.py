"""Recording a session: :class:`SessionWriter`."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from liqdesk import __version__
from liqdesk.core.events import EXCHANGES, KINDS, EventBatch
from liqdesk.store.convert import (
    convert_kind_log,
    convert_table_log,
    fsync_dir,
    write_kind_array,
)
from liqdesk.store.format import (
    DAMAGED_SUFFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_FILE,
    INDEX_FORMAT_NAME,
    LOG_BATCH_ROWS,
    LOG_SCHEMAS,
    LOG_SUFFIX,
    PARQUET_SUFFIX,
    SESSION_FILE,
    STATE_CLOSED,
    STATE_RECORDING,
    RecoveryReport,
    canonical_kind,
    check_int,
    check_table_name,
    dumps,
    generic_crc,
    struct_to_log_batch,
    to_arrow_table,
    utc_text,
    write_json_atomic,
)
from liqdesk.store.log import LogWriter

#: Pending rows (all kinds and tables) above which write() flushes at once.
_FLUSH_ROWS = 1 << 18


def _is_session_dir(path: Path) -> bool:
    return (path / SESSION_FILE).is_file()


class SessionWriter:
    """Records event batches and extra tables into a session directory (see :mod:`liqdesk.store`).

    ``with SessionWriter("day.liqs", "BTCUSDT", meta={...}) as w: w.write(batch)``.

    - :meth:`write` and :meth:`write_table` only queue data; a background thread hands it to the
      operating system every ``flush_interval_s`` seconds (and :meth:`write` does so at once when a
      lot is queued), so a writer killed at any moment loses at most about the last second.
    - :meth:`close` (also on leaving the ``with`` block) turns the logs into sorted Parquet files
      and an index. If the close fails, the logs stay and the session reads as crashed.
    - Creating over an existing session raises ``FileExistsError`` unless ``overwrite=True``; a
      non-empty directory that is not a session is never overwritten.
    - Thread-safe: write from any thread.
    """

    def __init__(
        self,
        path,
        symbol: str,
        meta: dict | None = None,
        *,
        overwrite: bool = False,
        flush_interval_s: float = 0.5,
        fsync: bool = True,
    ):
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError("symbol must be a non-empty string")
        if not 0 < flush_interval_s <= 1.0:
            raise ValueError("flush_interval_s must be in (0, 1] so that a crash loses at most a second")
        self.path = Path(path)
        self.symbol = symbol
        self._fsync = fsync
        self._flush_interval = float(flush_interval_s)
        self._meta: dict = {}
        self._gaps: list[dict] = []
        if meta is not None:
            if not isinstance(meta, dict):
                raise TypeError("meta must be a dict")
            self._meta = json.loads(dumps(meta))  # a copy, checked now: JSON values only
        self._prepare_dir(overwrite)

        self._created_ms = int(time.time() * 1000)
        self._lock = threading.RLock()
        self._pending: dict[str, list[np.ndarray]] = {kind: [] for kind in KINDS}
        self._pending_tables: dict[str, list[pa.Table]] = {}
        self._pending_rows = 0
        self._logs: dict[str, LogWriter] = {}
        self._table_schemas: dict[str, pa.Schema] = {}
        self._table_logs: dict[str, LogWriter] = {}
        self._rows = dict.fromkeys(KINDS, 0)
        self._closed = False
        self._dirty = False
        self._error: BaseException | None = None
        self.recovery = RecoveryReport()
        self._write_session(STATE_RECORDING)

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name=f"liqdesk-store-flush:{self.path.name}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ setup

    def _prepare_dir(self, overwrite: bool) -> None:
        path = self.path
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise FileExistsError(f"{path} exists and is not a session directory")
            if _is_session_dir(path):
                if not overwrite:
                    raise FileExistsError(f"{path} already holds a session (pass overwrite=True to replace it)")
                shutil.rmtree(path)
            elif any(path.iterdir()):
                raise FileExistsError(f"{path} is a non-empty directory that is not a liqdesk session; refusing to use it")
        path.mkdir(parents=True, exist_ok=True)

    def _session_doc(self, state: str) -> dict:
        doc = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "liqdesk_version": __version__,
            "symbol": self.symbol,
            "state": state,
            "created_ms": self._created_ms,
            "created_utc": utc_text(self._created_ms),
            "kinds": list(KINDS),
            "exchanges": list(EXCHANGES),
            "tables": sorted(self._table_schemas),
            "meta": self._meta,
            "gaps": self._gaps,
        }
        if state == STATE_CLOSED:
            now = int(time.time() * 1000)
            doc["closed_ms"] = now
            doc["closed_utc"] = utc_text(now)
            if self.recovery:
                doc["recovery"] = self.recovery.to_list()
        return doc

    def _write_session(self, state: str, fsync: bool = False) -> None:
        write_json_atomic(self.path / SESSION_FILE, self._session_doc(state), fsync=fsync)
        self._dirty = False

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "recording"
        return f"<SessionWriter {str(self.path)!r} {self.symbol} {state}>"

    # ------------------------------------------------------------------ writing

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"session writer for {self.path} is closed")
        if self._error is not None:
            raise OSError(f"writing {self.path} failed in the background: {self._error}") from self._error

    def write(self, batch: EventBatch) -> None:
        """Queue every event of ``batch`` (an :class:`EventBatch`, normally from ``make_batch``)."""
        if not isinstance(batch, EventBatch):
            raise TypeError(f"write() takes an EventBatch, not {type(batch).__name__}")
        arrays = []
        for kind, arr in batch.arrays().items():
            if not len(arr):
                continue
            if arr.dtype != KINDS[kind]:
                raise ValueError(f"{kind}: dtype {arr.dtype} is not the {kind} dtype; build batches with make_batch")
            arrays.append((kind, arr))
        if not arrays:
            return
        with self._lock:
            self._check_open()
            for kind, arr in arrays:
                if arr.flags.writeable:
                    arr = arr.copy()  # the caller may change it after we return
                self._pending[kind].append(arr)
                self._pending_rows += len(arr)
                self._rows[kind] += len(arr)
            if self._pending_rows >= _FLUSH_ROWS:
                self._flush_locked()

    def write_table(self, name: str, data) -> None:
        """Append rows to the extra table ``name`` (Arrow table/batch, numpy structured array,
        dict of columns, or a pandas/Polars frame). The first call fixes the columns; later calls
        must have the same columns (types are cast when Arrow can)."""
        check_table_name(name)
        table = to_arrow_table(data)
        with self._lock:
            self._check_open()
            schema = self._table_schemas.get(name)
            if schema is None:
                meta = dict(table.schema.metadata or {})
                meta[b"liqdesk.table"] = name.encode()
                schema = table.schema.with_metadata(meta)
                self._table_schemas[name] = schema
                self._dirty = True
            if table.schema.names != schema.names:
                raise ValueError(
                    f"table {name!r}: columns {table.schema.names} differ from the first write's {schema.names}"
                )
            try:
                table = table.cast(schema)
            except (pa.ArrowException, ValueError) as exc:
                raise ValueError(f"table {name!r}: cannot cast to the first write's types ({exc})") from None
            if table.num_rows:
                self._pending_tables.setdefault(name, []).append(table)
                self._pending_rows += table.num_rows
            if self._pending_rows >= _FLUSH_ROWS:
                self._flush_locked()

    def add_gap(self, exchange: str, kind: str, start_ms: int, end_ms: int, reason: str) -> None:
        """Record that events of ``kind`` from ``exchange`` are missing in [start_ms, end_ms].

        ``exchange`` and ``kind`` may be ``"all"``; ``kind`` accepts ``mark_price`` for ``marks``.
        """
        if exchange != "all" and exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}; expected one of {', '.join(EXCHANGES)} or 'all'")
        if kind != "all":
            kind = canonical_kind(kind)
        start_ms = check_int("start_ms", start_ms)
        end_ms = check_int("end_ms", end_ms)
        if end_ms < start_ms:
            raise ValueError(f"gap end {end_ms} is before its start {start_ms}")
        gap = {"exchange": exchange, "kind": kind, "start_ms": start_ms, "end_ms": end_ms, "reason": str(reason)}
        with self._lock:
            self._check_open()
            self._gaps.append(gap)
            self._dirty = True

    def update_meta(self, **kv) -> None:
        """Merge keys into the session's ``meta`` (JSON values; numpy scalars and arrays allowed)."""
        kv = json.loads(dumps(kv))  # a copy, checked now
        with self._lock:
            self._check_open()
            self._meta.update(kv)
            self._dirty = True

    @property
    def meta(self) -> dict:
        return dict(self._meta)

    @property
    def rows_written(self) -> dict[str, int]:
        """Events handed to :meth:`write`, per kind."""
        return dict(self._rows)

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Hand everything queued (and the session description) to the operating system now."""
        with self._lock:
            self._check_open()
            self._flush_locked()

    def _flush_locked(self) -> None:
        for kind, parts in self._pending.items():
            if not parts:
                continue
            arr = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self._pending[kind] = []
            log = self._logs.get(kind)
            if log is None:
                log = self._logs[kind] = LogWriter(self.path / f"{kind}{LOG_SUFFIX}", LOG_SCHEMAS[kind])
            for lo in range(0, len(arr), LOG_BATCH_ROWS):
                batch, crc = struct_to_log_batch(kind, arr[lo : lo + LOG_BATCH_ROWS])
                log.write(batch, crc)
            log.flush()
        for name, tables in self._pending_tables.items():
            if not tables:
                continue
            self._pending_tables[name] = []
            log = self._table_logs.get(name)
            if log is None:
                log = self._table_logs[name] = LogWriter(self.path / f"{name}{LOG_SUFFIX}", self._table_schemas[name])
            for table in tables:
                for batch in table.to_batches(max_chunksize=LOG_BATCH_ROWS):
                    if batch.num_rows:
                        log.write(batch, generic_crc(batch))
            log.flush()
        self._pending_rows = 0
        if self._dirty:
            self._write_session(STATE_RECORDING)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            try:
                with self._lock:
                    if self._closed:
                        return
                    self._flush_locked()
            except BaseException as exc:  # reported by the next call from the user's thread
                self._error = exc
                return

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Flush, convert the logs to Parquet plus ``index.json``, mark the session closed.

        Idempotent. If converting fails, the logs are left in place (the session then reads as an
        unclosed recording, nothing lost) and the error is raised.
        """
        if self._closed:
            return
        self._stop_flushing()
        with self._lock:
            if self._closed:
                return
            error = self._error
            try:
                self._flush_locked()
            finally:
                for log in [*self._logs.values(), *self._table_logs.values()]:
                    log.close()
            self._closed = True
            if error is not None:
                raise OSError(f"writing {self.path} failed: {error}") from error
            self._convert()

    def _stop_flushing(self) -> None:
        """End the background flush thread (waits for it unless called from it)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def abort(self) -> None:
        """Stop without finishing: the background flush ends and the logs are closed, nothing is
        converted; what was written stays as a crashed recording (for a caller that removes it,
        e.g. a write to a temporary directory that failed). Idempotent; never raises."""
        if self._closed:
            return
        self._stop_flushing()
        with self._lock:
            self._closed = True
            for log in [*self._logs.values(), *self._table_logs.values()]:
                try:
                    log.close()
                except Exception:  # noqa: BLE001 - the failure being handled matters more
                    pass

    def _convert(self) -> None:
        index: dict = {"format": INDEX_FORMAT_NAME, "format_version": FORMAT_VERSION, "kinds": {}, "tables": {}}
        damaged: set[Path] = set()
        for kind in KINDS:
            log = self.path / f"{kind}{LOG_SUFFIX}"
            out = self.path / f"{kind}{PARQUET_SUFFIX}"
            if log.exists():
                entry, note = convert_kind_log(log, out, kind, fsync=self._fsync)
                if note is not None:
                    self.recovery.add(note)
                    damaged.add(log)
            else:
                entry = write_kind_array(np.empty(0, dtype=KINDS[kind]), out, kind, fsync=self._fsync)
            index["kinds"][kind] = entry
        for name, schema in sorted(self._table_schemas.items()):
            log = self.path / f"{name}{LOG_SUFFIX}"
            entry, note = convert_table_log(log if log.exists() else None, self.path / f"{name}{PARQUET_SUFFIX}",
                                            name, schema, fsync=self._fsync)
            if note is not None:
                self.recovery.add(note)
                damaged.add(log)
            index["tables"][name] = entry
        write_json_atomic(self.path / INDEX_FILE, index, fsync=self._fsync)
        self._write_session(STATE_CLOSED, fsync=self._fsync)
        if self._fsync:
            fsync_dir(self.path)
        for log in [*self._logs.values(), *self._table_logs.values()]:
            if log.path in damaged:
                log.path.replace(log.path.with_name(log.path.name + DAMAGED_SUFFIX))
            else:
                log.path.unlink(missing_ok=True)
