"""From append logs to the closed form: sorted Parquet files with a time index.

Used by :meth:`SessionWriter.close` (streaming, bounded memory) and by :func:`repair_session`
(from arrays already recovered in memory).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from liqdesk.core.events import EXCHANGES, KINDS
from liqdesk.store.format import (
    CRC_KEY,
    LOG_SCHEMAS,
    PARQUET_SCHEMAS,
    ROW_GROUP_MAX_ROWS,
    ROW_GROUP_MIN_ROWS,
    ROW_GROUP_SPAN_MS,
    RecoveryNote,
    crc_columns,
    generic_crc,
    log_batch_columns,
    log_columns_to_struct,
    log_exchange_names,
    struct_to_parquet_table,
)
from liqdesk.store.log import LogScan

#: Rows of decoded events the close keeps in memory before merging what is final.
_MERGE_ROWS = 1 << 18
#: Below this many bytes of decoded events a log is sorted in memory in one pass (held about three
#: times over: the decoded batches, their join and the sorted copy). Larger logs take the merge
#: pass, whose memory follows the disorder and ``_MERGE_ROWS``, not the log's length, so the close
#: of a long session peaks no higher than a short one's.
_IN_MEMORY_BYTES = 16 << 20
#: Rows per row group of extra tables.
TABLE_ROW_GROUP_ROWS = 131_072


def _checksum_problem(meta, crc: int) -> str | None:
    raw = (meta or {}).get(CRC_KEY.encode()) if meta is not None else None
    if raw is None:
        return "batch without checksum"
    try:
        expected = int(raw)
    except ValueError:
        return "unreadable checksum"
    return None if expected == crc else "checksum mismatch (corrupt batch)"


class KindVerifier:
    """Checks an event-kind log batch; keeps the numpy columns of the batch it last accepted."""

    def __init__(self, kind: str):
        self.kind = kind
        self.columns: list[np.ndarray] = []

    def check_schema(self, schema: pa.Schema) -> str | None:
        expected = LOG_SCHEMAS[self.kind]
        if not schema.equals(expected, check_metadata=False):
            return f"unexpected columns for {self.kind}: {', '.join(schema.names)}"
        try:
            log_exchange_names(schema)
        except ValueError as exc:
            return str(exc)
        return None

    def __call__(self, batch: pa.RecordBatch, meta) -> str | None:
        try:
            columns = log_batch_columns(batch)
        except (pa.ArrowException, ValueError) as exc:
            return f"undecodable batch ({exc})"
        problem = _checksum_problem(meta, crc_columns(columns))
        if problem is None:
            self.columns = columns
        return problem


def table_verify(batch: pa.RecordBatch, meta) -> str | None:
    """Checks an extra-table log batch."""
    try:
        crc = generic_crc(batch)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        return f"undecodable batch ({exc})"
    return _checksum_problem(meta, crc)


def scan_kind(path: Path, kind: str):
    """A :class:`LogScan` over an event log and the verifier whose ``columns`` follow it."""
    verifier = KindVerifier(kind)
    return LogScan(path, kind, verifier, verifier.check_schema, LOG_SCHEMAS[kind]), verifier


def fsync_file(path: Path) -> None:
    """Make ``path``'s content durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def column_encodings(kind: str) -> dict[str, str]:
    """Parquet encodings of an event file: delta for the sorted times, byte-stream-split for
    float64 (both read by pyarrow >= 15, DuckDB >= 0.10, Polars, Spark); the rest plain or
    dictionary (``exchange``)."""
    dtype = KINDS[kind]
    enc = {"time_ms": "DELTA_BINARY_PACKED"}
    enc.update({name: "BYTE_STREAM_SPLIT" for name in dtype.names if dtype[name] == np.float64})
    return enc


class ParquetKindWriter:
    """Writes time-sorted structured arrays of one kind as a Parquet file with row groups of about
    a minute, and collects the index entry (row-group times, offsets) and per-exchange counts."""

    def __init__(self, path: Path, kind: str, fsync: bool = True):
        self.path = Path(path)
        self.kind = kind
        self.fsync = fsync
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self._writer = pq.ParquetWriter(
            str(self.tmp),
            PARQUET_SCHEMAS[kind],
            compression="zstd",
            use_dictionary=["exchange"],
            column_encoding=column_encodings(kind),
            write_statistics=True,
            write_page_checksum=True,
            sorting_columns=[pq.SortingColumn(0)],
        )
        self._buf = np.empty(0, dtype=KINDS[kind])
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._rows: list[int] = []
        self._counts = np.zeros(len(EXCHANGES), dtype=np.int64)
        self._last_time: int | None = None

    def feed(self, arr: np.ndarray) -> None:
        """Append events; ``arr`` is sorted and starts no earlier than what was fed before."""
        if not len(arr):
            return
        self._buf = np.concatenate([self._buf, arr]) if len(self._buf) else arr
        self._cut(final=False)

    def _cut(self, final: bool) -> None:
        buf = self._buf
        n = len(buf)
        times = np.ascontiguousarray(buf["time_ms"])  # searchsorted on a strided field would copy
        pos = 0
        while pos < n:
            j = int(np.searchsorted(times, times[pos] + ROW_GROUP_SPAN_MS, "left"))
            if j >= n and not final and n - pos < ROW_GROUP_MAX_ROWS:
                break  # the minute is not complete yet
            j = max(j, pos + ROW_GROUP_MIN_ROWS)
            if j > n:
                if not final:
                    break
                j = n
            j = min(j, pos + ROW_GROUP_MAX_ROWS)
            self._write_group(buf[pos:j])
            pos = j
        self._buf = buf[pos:]

    def _write_group(self, group: np.ndarray) -> None:
        table = struct_to_parquet_table(self.kind, group)
        self._writer.write_table(table, row_group_size=len(group))
        times = group["time_ms"]
        self._starts.append(int(times[0]))
        self._ends.append(int(times[-1]))
        self._rows.append(len(group))
        self._counts += np.bincount(group["exchange"], minlength=len(EXCHANGES))[: len(EXCHANGES)]

    def close(self) -> dict:
        """Finish the file (renamed into place) and return its index entry."""
        self._cut(final=True)
        self._writer.close()
        if self.fsync:
            fsync_file(self.tmp)
        os.replace(self.tmp, self.path)
        return kind_index_entry(self.path.name, self._starts, self._ends, self._rows, self._counts)

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def kind_index_entry(file: str, starts, ends, rows, counts) -> dict:
    """The ``index.json`` entry of one event file."""
    rows = [int(r) for r in rows]
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int).tolist() if rows else []
    return {
        "file": file,
        "rows": int(sum(rows)),
        "start_ms": int(starts[0]) if starts else None,
        "end_ms": int(max(ends)) if ends else None,
        "counts": {EXCHANGES[i]: int(c) for i, c in enumerate(counts) if c},
        "row_groups": {
            "start_ms": [int(s) for s in starts],
            "end_ms": [int(e) for e in ends],
            "row_offset": offsets,
            "rows": rows,
        },
    }


def convert_kind_log(log: Path, out: Path, kind: str, fsync: bool = True) -> tuple[dict, RecoveryNote | None]:
    """Turn an event log into a sorted Parquet file; returns (index entry, recovery note or None).

    Batches are sorted within themselves but may overlap in time (several sources interleaved).
    A first pass reads each batch's first time; the second merges with a watermark: rows earlier
    than every later batch's first time are final and written, so memory stays bounded by the
    disorder, not by the file. Small logs are sorted in memory in one pass. The sort is stable, so
    events of equal time keep the order they were written in.
    """
    scan, verifier = scan_kind(log, kind)
    mins: list[int] = []
    kept: list[np.ndarray] | None = []
    kept_bytes = 0
    names: list[str] = []
    for _batch in scan:
        if not names:
            names = log_exchange_names(scan.schema)
        times = verifier.columns[0]
        mins.append(int(times.min()) if len(times) else np.iinfo(np.int64).max)
        if kept is not None:
            arr = log_columns_to_struct(kind, verifier.columns, names)
            kept.append(arr)
            kept_bytes += arr.nbytes
            if kept_bytes > _IN_MEMORY_BYTES:
                kept = None
    writer = ParquetKindWriter(out, kind, fsync=fsync)
    try:
        if kept is not None:
            if kept:
                arr = np.concatenate(kept)
                arr = arr[np.argsort(arr["time_ms"], kind="stable")]
                writer.feed(arr)
        else:
            _merge_pass(log, kind, mins, writer)
        entry = writer.close()
    except BaseException:
        writer.abort()
        raise
    return entry, scan.note


def _merge_pass(log: Path, kind: str, mins: list[int], writer: ParquetKindWriter) -> None:
    suffix = np.minimum.accumulate(np.asarray(mins[::-1] + [np.iinfo(np.int64).max], dtype=np.int64))[::-1]
    scan, verifier = scan_kind(log, kind)
    pending: list[np.ndarray] = []
    pending_rows = 0
    names: list[str] = []
    count = len(mins)
    for i, _batch in enumerate(scan):
        if not names:
            names = log_exchange_names(scan.schema)
        arr = log_columns_to_struct(kind, verifier.columns, names)
        pending.append(arr)
        pending_rows += len(arr)
        last = i == count - 1
        if pending_rows < _MERGE_ROWS and not last:
            continue
        merged = np.concatenate(pending)
        merged = merged[np.argsort(merged["time_ms"], kind="stable")]
        k = len(merged) if last else int(np.searchsorted(merged["time_ms"], suffix[i + 1], "left"))
        writer.feed(merged[:k])
        pending = [merged[k:]] if k < len(merged) else []
        pending_rows = len(merged) - k


def write_kind_array(arr: np.ndarray, out: Path, kind: str, fsync: bool = True) -> dict:
    """Write an in-memory, time-sorted array of ``kind`` (possibly empty) as its Parquet file."""
    writer = ParquetKindWriter(out, kind, fsync=fsync)
    try:
        writer.feed(arr)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


class ParquetTableWriter:
    """Writes the record batches of an extra table, in order, as a Parquet file."""

    def __init__(self, path: Path, schema: pa.Schema, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.schema = schema
        self._writer = pq.ParquetWriter(
            str(self.tmp), schema, compression="zstd", write_statistics=True, write_page_checksum=True
        )
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.rows = 0

    def feed(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= TABLE_ROW_GROUP_ROWS:
            self._write()

    def _write(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=TABLE_ROW_GROUP_ROWS)
            self.rows += table.num_rows
        self._pending = []
        self._pending_rows = 0

    def close(self) -> dict:
        self._write()
        self._writer.close()
        if self.fsync:
            fsync_file(self.tmp)
        os.replace(self.tmp, self.path)
        return {"file": self.path.name, "rows": self.rows}

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def convert_table_log(
    log: Path | None, out: Path, name: str, schema: pa.Schema | None, fsync: bool = True
) -> tuple[dict, RecoveryNote | None]:
    """Turn an extra table's log into Parquet (write order kept); ``log`` None writes it empty."""
    scan = LogScan(log, name, table_verify) if log is not None and log.exists() else None
    writer: ParquetTableWriter | None = None
    try:
        if scan is not None:
            for batch in scan:
                if writer is None:
                    writer = ParquetTableWriter(out, scan.schema, fsync=fsync)
                writer.feed(batch)
        if writer is None:
            if schema is None and scan is not None and scan.schema is not None:
                schema = scan.schema
            if schema is None:
                schema = pa.schema([])
            writer = ParquetTableWriter(out, schema, fsync=fsync)
        return writer.close(), (scan.note if scan is not None else None)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def write_table_data(table: pa.Table, out: Path, fsync: bool = True) -> dict:
    """Write an in-memory extra table as Parquet."""
    writer = ParquetTableWriter(out, table.schema, fsync=fsync)
    try:
        for batch in table.to_batches():
            writer.feed(batch)
        return writer.close()
    except BaseException:
        writer.abort()
        raise
