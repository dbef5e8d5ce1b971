"""The liqdesk session format, version 1: layout, schemas, errors and the recovery report.

A session is a directory, by convention ``NAME.liqs/``::

    NAME.liqs/
      session.json            what the session is (always present, rewritten atomically)
      index.json              time index of the Parquet files (closed sessions only)
      trades.parquet          one file per event kind (closed sessions) ...
      marks.parquet  open_interest.parquet  funding.parquet  liquidations.parquet  book.parquet
      TABLE.parquet           extra tables, e.g. the simulator's ground truth
      trades.arrows ...       append logs: Arrow IPC streams (only while recording, or after a crash)

Two forms, one format:

- **Recording / crashed**: each event kind and each extra table is an append-only Arrow IPC
  *stream* (``KIND.arrows``), one record batch per flush, buffers compressed with zstd. The writer
  flushes to the operating system at least every ``flush_interval_s`` (0.5 s by default) from a
  background thread, so a writer killed with SIGKILL loses at most the last second. Every batch
  carries a CRC-32 of its values in its custom metadata (key ``liqdesk.crc32``), so a damaged batch
  is detected rather than read back as wrong numbers. The reader keeps every intact batch, skips a
  truncated or corrupt region (re-synchronising on the next IPC message marker), and lists what it
  skipped in a :class:`RecoveryReport`.
- **Closed**: on a clean close every log becomes ``NAME.parquet`` (zstd, sorted by ``time_ms``
  for event kinds, row groups of about five minutes of events clamped to
  [:data:`ROW_GROUP_MIN_ROWS`, :data:`ROW_GROUP_MAX_ROWS`] rows, row-group statistics and page
  CRCs on), ``index.json`` records each row group's first/last time and row offset, and the logs
  are removed. ``session.json`` switches ``state`` from ``"recording"`` to ``"closed"`` last, so
  a crash during the close leaves a readable recording. DuckDB, Polars, pandas and pyarrow read
  the ``*.parquet`` files directly.

Event columns are those of :mod:`liqdesk.core.events` (``time_ms`` int64 ms since the epoch UTC,
``price``/``size`` float64, ``side`` int8, ``snapshot`` bool) except ``exchange``: in Parquet it is
a dictionary-encoded *string* (``"binance"``, ``"bybit"``, ...), so other tools see names and the
file does not depend on liqdesk's internal id order; in the append logs it is the uint8 id, with
the id -> name list in the schema metadata (``liqdesk.exchanges``). The mark-price kind is called
``marks`` on disk, as in :class:`~liqdesk.core.events.EventBatch`.

Nothing here uses pickle, marshal or eval: the files are JSON, Arrow IPC and Parquet only.
See ``docs/session-format.md`` for the full description and DuckDB/Polars examples.
"""

from __future__ import annotations

import json
import math
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from liqdesk.core.events import EXCHANGE_ID, EXCHANGES, KINDS

FORMAT_NAME = "liqdesk-session"
FORMAT_VERSION = 1
INDEX_FORMAT_NAME = "liqdesk-session-index"

SESSION_FILE = "session.json"
INDEX_FILE = "index.json"
LOG_SUFFIX = ".arrows"
PARQUET_SUFFIX = ".parquet"
DAMAGED_SUFFIX = ".damaged"
SESSION_SUFFIX = ".liqs"

STATE_RECORDING = "recording"
STATE_CLOSED = "closed"

#: Key of the per-batch checksum in the IPC custom metadata.
CRC_KEY = "liqdesk.crc32"

#: Row groups of the Parquet event files: about :data:`ROW_GROUP_SPAN_MS` of events each, but
#: never fewer than MIN rows (sparse kinds such as funding would otherwise make one tiny group per
#: span) nor more than MAX rows (dense book streams: a group then spans a second or so). A reader
#: holds each file's footer, about 5 KB per row group, for as long as it reads the file: one-minute
#: groups of 4,096 rows made that 26 MB for a 7-day simulated session (book and trades; its replay
#: peaked at 270 MB, 252 MB with these groups). A seek decodes a group or two (~0.5 MB each).
ROW_GROUP_SPAN_MS = 300_000
ROW_GROUP_MIN_ROWS = 16_384
ROW_GROUP_MAX_ROWS = 131_072

#: Rows per record batch in an append log (larger flushes are split).
LOG_BATCH_ROWS = 65_536

#: Extra-table names: lower case, digits and underscores, not an event kind nor a reserved name.
RESERVED_NAMES = frozenset({"session", "index"})

#: Name accepted for the mark-price kind besides ``marks`` (the name ``liqdesk info`` prints).
KIND_ALIASES = {"mark_price": "marks"}


class SessionError(ValueError):
    """A path that is not a readable liqdesk session. The message is one line naming the path."""


# --------------------------------------------------------------------------------------------
# Schemas


def _field_type(dtype: np.dtype) -> pa.DataType:
    return pa.from_numpy_dtype(dtype)


def log_schema(kind: str) -> pa.Schema:
    """Arrow schema of an append log (``KIND.arrows``): the numpy fields one to one."""
    dtype = KINDS[kind]
    return pa.schema(
        [pa.field(name, _field_type(dtype[name]), nullable=False) for name in dtype.names],
        metadata={
            "liqdesk.format": FORMAT_NAME,
            "liqdesk.format_version": str(FORMAT_VERSION),
            "liqdesk.kind": kind,
            "liqdesk.exchanges": json.dumps(list(EXCHANGES)),
        },
    )


EXCHANGE_TYPE = pa.dictionary(pa.int8(), pa.string())
_EXCHANGE_VALUES = pa.array(list(EXCHANGES), type=pa.string())


def parquet_schema(kind: str) -> pa.Schema:
    """Arrow schema of a closed event file (``KIND.parquet``): ``exchange`` as a string dictionary."""
    dtype = KINDS[kind]
    fields = []
    for name in dtype.names:
        typ = EXCHANGE_TYPE if name == "exchange" else _field_type(dtype[name])
        fields.append(pa.field(name, typ, nullable=False))
    return pa.schema(
        fields,
        metadata={
            "liqdesk.format": FORMAT_NAME,
            "liqdesk.format_version": str(FORMAT_VERSION),
            "liqdesk.kind": kind,
        },
    )


LOG_SCHEMAS = {kind: log_schema(kind) for kind in KINDS}
PARQUET_SCHEMAS = {kind: parquet_schema(kind) for kind in KINDS}


def canonical_kind(kind: str) -> str:
    """``kind`` as a key of :data:`KINDS` (``mark_price`` accepted for ``marks``)."""
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def check_table_name(name: str) -> str:
    """Validate an extra-table name; returns it."""
    ok = (
        isinstance(name, str)
        and 0 < len(name) <= 64
        and name[0].isascii()
        and name[0].islower()
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name)
    )
    if not ok:
        raise ValueError(f"bad table name {name!r}: use 1-64 characters a-z, 0-9 and _, starting with a letter")
    if name in KINDS or name in KIND_ALIASES or name in RESERVED_NAMES:
        raise ValueError(f"table name {name!r} is reserved (event kinds and {', '.join(sorted(RESERVED_NAMES))})")
    return name


# --------------------------------------------------------------------------------------------
# numpy <-> Arrow


def struct_to_log_batch(kind: str, arr: np.ndarray) -> tuple[pa.RecordBatch, int]:
    """A structured array of ``kind`` as an append-log record batch, with its checksum."""
    columns = [np.ascontiguousarray(arr[name]) for name in KINDS[kind].names]
    batch = pa.RecordBatch.from_arrays([pa.array(c) for c in columns], schema=LOG_SCHEMAS[kind])
    return batch, crc_columns(columns)


def crc_columns(columns: list[np.ndarray], crc: int = 0) -> int:
    """CRC-32 (zlib) over the little-endian bytes of each column in turn (bool: one byte each)."""
    for col in columns:
        col = np.ascontiguousarray(col)
        if col.dtype.byteorder == ">":
            col = col.astype(col.dtype.newbyteorder("<"))
        crc = zlib.crc32(col.view(np.uint8).data if col.size else b"", crc)
    return crc


def _exchange_lut(names: list[str]) -> np.ndarray:
    """Maps a file's exchange code (position in ``names``) to the current exchange id."""
    lut = np.empty(max(len(names), 1), dtype=np.uint8)
    for i, name in enumerate(names):
        if name not in EXCHANGE_ID:
            raise ValueError(f"unknown exchange {name!r} in the file")
        lut[i] = EXCHANGE_ID[name]
    return lut


def log_exchange_names(schema: pa.Schema) -> list[str]:
    """The id -> exchange name list stored in an append log's schema."""
    meta = schema.metadata or {}
    raw = meta.get(b"liqdesk.exchanges")
    if raw is None:
        return list(EXCHANGES)
    try:
        names = json.loads(raw)
    except (RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(f"bad liqdesk.exchanges list in the schema metadata ({type(exc).__name__})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("bad liqdesk.exchanges list in the schema metadata")
    return names


def log_batch_columns(batch: pa.RecordBatch) -> list[np.ndarray]:
    """The columns of a log batch as numpy arrays (the form :func:`crc_columns` hashes)."""
    return [col.to_numpy(zero_copy_only=False) for col in batch.columns]


def log_columns_to_struct(kind: str, columns: list[np.ndarray], names: list[str]) -> np.ndarray:
    """Numpy columns of a log batch back to a structured array of ``kind``."""
    dtype = KINDS[kind]
    out = np.empty(len(columns[0]) if columns else 0, dtype=dtype)
    for name, col in zip(dtype.names, columns, strict=True):
        if name == "exchange":
            lut = _exchange_lut(names)
            if len(col) and int(col.max()) >= len(names):
                raise ValueError("exchange id outside the file's exchange list")
            out[name] = lut[col]
        else:
            out[name] = col
    return out


def struct_to_parquet_table(kind: str, arr: np.ndarray) -> pa.Table:
    """A structured array of ``kind`` as a table of the closed (Parquet) schema."""
    schema = PARQUET_SCHEMAS[kind]
    columns = []
    for name in KINDS[kind].names:
        col = np.ascontiguousarray(arr[name])
        if name == "exchange":
            columns.append(pa.DictionaryArray.from_arrays(pa.array(col.astype(np.int8)), _EXCHANGE_VALUES))
        else:
            columns.append(pa.array(col))
    return pa.Table.from_arrays(columns, schema=schema)


def exchange_column_to_ids(col: pa.ChunkedArray) -> np.ndarray:
    parts = []
    for chunk in col.chunks:
        if pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
            chunk = chunk.dictionary_encode()
        if pa.types.is_dictionary(chunk.type):
            if chunk.null_count:
                raise ValueError("null exchange values")
            lut = _exchange_lut(chunk.dictionary.to_pylist())
            parts.append(lut[chunk.indices.to_numpy(zero_copy_only=False)])
        elif pa.types.is_integer(chunk.type):
            ids = chunk.to_numpy(zero_copy_only=False)
            if len(ids) and (ids.min() < 0 or ids.max() >= len(EXCHANGES)):
                raise ValueError("exchange id out of range")
            parts.append(ids.astype(np.uint8))
        else:
            raise ValueError(f"exchange column of unexpected type {chunk.type}")
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)


def table_to_struct(kind: str, table: pa.Table) -> np.ndarray:
    """A table of a closed event file (any chunking) back to a structured array of ``kind``."""
    dtype = KINDS[kind]
    out = np.empty(table.num_rows, dtype=dtype)
    for name in dtype.names:
        if name not in table.column_names:
            raise ValueError(f"column {name!r} missing")
        col = table.column(name)
        if col.null_count:
            raise ValueError(f"column {name!r} holds nulls")
        if name == "exchange":
            out[name] = exchange_column_to_ids(col)
        else:
            out[name] = col.to_numpy()
    return out


def generic_crc(batch: pa.RecordBatch) -> int:
    """Checksum of a record batch of an extra table (any Arrow types)."""
    crc = 0
    for col in batch.columns:
        crc = _crc_array(col, crc)
    return crc


def _crc_array(arr: pa.Array, crc: int) -> int:
    typ = arr.type
    if pa.types.is_dictionary(typ):
        crc = _crc_array(arr.indices, crc)
        return _crc_array(arr.dictionary, crc)
    fixed = (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_temporal(typ)
    )
    if fixed and arr.null_count == 0:
        values = arr.to_numpy(zero_copy_only=False)
        if values.dtype.kind in "mM":
            values = values.view(np.int64)
        return crc_columns([values], crc)
    text = json.dumps(arr.to_pylist(), default=str, sort_keys=True)
    return zlib.crc32(text.encode(), crc)


def to_arrow_table(data) -> pa.Table:
    """An extra table's data (Arrow table or batch, numpy structured array, dict of columns,
    pandas/Polars frame) as an Arrow table."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, np.ndarray):
        if data.dtype.names is None:
            raise ValueError("write_table: a numpy array must be a structured array (named fields)")
        columns = {}
        for name in data.dtype.names:
            col = data[name]
            if col.ndim != 1:
                raise ValueError(f"write_table: field {name!r} is not one value per row")
            columns[name] = pa.array(np.ascontiguousarray(col))
        return pa.table(columns)
    try:
        return pa.table(data)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise ValueError(f"write_table: cannot turn {type(data).__name__} into an Arrow table ({exc})") from None


# --------------------------------------------------------------------------------------------
# JSON files


def json_default(value):
    """JSON for numpy scalars and arrays in ``meta``; anything else is an error."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(obj) -> str:
    """Strict JSON (no NaN or inf: other tools reject them)."""
    return json.dumps(obj, default=json_default, allow_nan=False, indent=1, ensure_ascii=False)


def write_json_atomic(path: Path, obj, fsync: bool = False) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    text = dumps(obj) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def utc_text(ms: int | None) -> str | None:
    """``2024-08-08T12:00:00.000Z`` for a time in ms, None for None."""
    if ms is None:
        return None
    sec, rem = divmod(int(ms), 1000)
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{rem:03d}Z"
    except (OverflowError, OSError, ValueError):  # beyond what the platform's calendar handles
        return f"{int(ms)} ms"


def duration_text(ms: int) -> str:
    """``1d 02h 03m 04.005s`` style duration."""
    ms = int(ms)
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = rest / 1000
    parts = []
    if days:
        parts.append(f"{days}d")
    if days or hours:
        parts.append(f"{hours:02d}h" if days else f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes:02d}m" if (days or hours) else f"{minutes}m")
    parts.append(f"{seconds:06.3f}s" if parts else f"{seconds:.3f}s")
    return " ".join(parts)


def check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
            return int(value)
        raise ValueError(f"{name} must be an integer number of ms, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Recovery report


@dataclass(frozen=True)
class RecoveryNote:
    """What the reader had to leave out of one file (or why a file was not used)."""

    name: str  #: event kind, table name, or ``"index"``
    file: str  #: file name inside the session directory
    reason: str
    bytes_skipped: int = 0
    batches_skipped: int = 0  #: damaged regions or batches (a lower bound of the batches lost)
    batches_recovered: int = 0
    rows_recovered: int = 0

    def __str__(self) -> str:
        text = f"{self.file}: {self.reason}"
        if self.bytes_skipped or self.batches_skipped:
            text += f"; skipped {self.bytes_skipped:,} bytes"
            if self.batches_skipped:
                text += f" ({self.batches_skipped} damaged batch{'es' if self.batches_skipped != 1 else ''})"
        if self.batches_recovered or self.rows_recovered:
            text += f"; kept {self.batches_recovered:,} batches ({self.rows_recovered:,} rows)"
        return text


@dataclass
class RecoveryReport:
    """Everything skipped while opening a session; empty (falsy) when nothing was."""

    notes: list[RecoveryNote] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.notes)

    def __iter__(self):
        return iter(self.notes)

    def __len__(self) -> int:
        return len(self.notes)

    def add(self, note: RecoveryNote) -> None:
        self.notes.append(note)

    def for_name(self, name: str) -> list[RecoveryNote]:
        """Notes about one event kind or table."""
        name = KIND_ALIASES.get(name, name)
        return [n for n in self.notes if n.name == name]

    @property
    def bytes_skipped(self) -> int:
        return sum(n.bytes_skipped for n in self.notes)

    @property
    def batches_skipped(self) -> int:
        return sum(n.batches_skipped for n in self.notes)

    def summary(self) -> str:
        """One line, e.g. for a status bar; empty when nothing was skipped."""
        if not self.notes:
            return ""
        return "; ".join(str(n) for n in self.notes)

    def to_list(self) -> list[dict]:
        return [asdict(n) for n in self.notes]
