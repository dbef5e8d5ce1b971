"""Reading a session: :class:`SessionReader`, and :func:`repair_session` for crashed recordings."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from liqdesk.core.events import EXCHANGES, KINDS, EventBatch, empty
from liqdesk.store.convert import (
    convert_table_log,
    fsync_dir,
    kind_index_entry,
    scan_kind,
    table_verify,
    write_kind_array,
    write_table_data,
)
from liqdesk.store.format import (
    DAMAGED_SUFFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_FILE,
    INDEX_FORMAT_NAME,
    LOG_SUFFIX,
    PARQUET_SUFFIX,
    SESSION_FILE,
    STATE_CLOSED,
    RecoveryNote,
    RecoveryReport,
    SessionError,
    canonical_kind,
    check_int,
    check_table_name,
    exchange_column_to_ids,
    log_columns_to_struct,
    log_exchange_names,
    table_to_struct,
    utc_text,
    write_json_atomic,
)
from liqdesk.store.log import LogScan

#: Decoded rows of Parquet row groups kept per kind for the next read (sequential replay, seeks).
_CACHE_ROWS = 1 << 20
#: iter_batches reads this much time per step (rounded to whole chunks).
_ITER_BLOCK_MS = 300_000


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _error(path: Path, text: str) -> SessionError:
    return SessionError(f"{path}: {' '.join(text.split())}")


def load_session_doc(path: Path) -> dict:
    """The parsed and checked ``session.json`` of ``path``; :class:`SessionError` otherwise."""
    if not path.exists():
        raise _error(path, "no such session (path not found)")
    if not path.is_dir():
        raise _error(path, "not a liqdesk session (expected a NAME.liqs directory holding session.json)")
    doc_path = path / SESSION_FILE
    if not doc_path.is_file():
        raise _error(path, f"not a liqdesk session ({SESSION_FILE} missing)")
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _error(path, f"{SESSION_FILE} is unreadable ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise _error(path, f"not a liqdesk session ({SESSION_FILE} does not name the {FORMAT_NAME} format)")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _error(path, f"{SESSION_FILE} has no valid format_version")
    if version != FORMAT_VERSION:
        newer = " (written by a newer liqdesk; upgrade to read it)" if version > FORMAT_VERSION else ""
        raise _error(path, f"session format version {version} is not supported; this liqdesk reads version "
                           f"{FORMAT_VERSION}{newer}")
    if not isinstance(doc.get("symbol"), str):
        raise _error(path, f"{SESSION_FILE} has no symbol")
    if not isinstance(doc.get("meta", {}), dict) or not isinstance(doc.get("gaps", []), list):
        raise _error(path, f"{SESSION_FILE} has a malformed meta or gaps entry")
    return doc


# ------------------------------------------------------------------------------ per-kind sources


class _MemoryKind:
    """Events of one kind held in memory (recovered from append logs)."""

    def __init__(self, arr: np.ndarray):
        self.arr = _readonly(arr)
        self.times = np.ascontiguousarray(arr["time_ms"])
        self.rows = len(arr)
        self.start_ms = int(self.times[0]) if self.rows else None
        self.end_ms = int(self.times[-1]) if self.rows else None
        self.counts = np.bincount(arr["exchange"], minlength=len(EXCHANGES))[: len(EXCHANGES)]

    def read(self, start: int | None, end: int | None) -> np.ndarray:
        lo = 0 if start is None else int(np.searchsorted(self.times, start, "left"))
        hi = self.rows if end is None else int(np.searchsorted(self.times, end, "left"))
        return self.arr[lo:max(lo, hi)]

    def next_time(self, t: int) -> int | None:
        i = int(np.searchsorted(self.times, t, "left"))
        return int(self.times[i]) if i < self.rows else None

    def close(self) -> None:
        pass


class _ParquetKind:
    """Events of one kind in a closed session's Parquet file, read by row group through the index."""

    def __init__(self, session: Path, kind: str, pf: pq.ParquetFile, entry: dict):
        self.session = session
        self.kind = kind
        self.pf = pf
        self.file = entry["file"]
        groups = entry["row_groups"]
        self.starts = np.asarray(groups["start_ms"], dtype=np.int64)
        self.ends = np.asarray(groups["end_ms"], dtype=np.int64)
        self.group_rows = np.asarray(groups["rows"], dtype=np.int64)
        self.rows = int(entry["rows"])
        self.start_ms = entry["start_ms"]
        self.end_ms = entry["end_ms"]
        self.counts = np.array([entry["counts"].get(name, 0) for name in EXCHANGES], dtype=np.int64)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_rows = 0

    def _decode(self, groups: list[int]) -> np.ndarray:
        try:
            table = self.pf.read_row_groups(groups, use_threads=len(groups) > 4)
            return table_to_struct(self.kind, table)
        except (pa.ArrowException, OSError, ValueError) as exc:
            where = f"row group {groups[0]}" if len(groups) == 1 else f"row groups {groups[0]}-{groups[-1]}"
            raise _error(self.session, f"{self.file} {where} is corrupt or unreadable ({exc})") from None

    def _groups(self, g0: int, g1: int) -> tuple[np.ndarray, np.ndarray]:
        """Events of row groups [g0, g1) and their times (contiguous, for fast searchsorted)."""
        need = list(range(g0, g1))
        if int(self.group_rows[g0:g1].sum()) > _CACHE_ROWS // 2:
            arr = _readonly(self._decode(need))
            return arr, np.ascontiguousarray(arr["time_ms"])
        missing = [g for g in need if g not in self._cache]
        if missing:
            arr = self._decode(missing)
            offsets = np.concatenate([[0], np.cumsum(self.group_rows[missing])])
            if offsets[-1] != len(arr):
                raise _error(self.session, f"{self.file}: row groups do not match index.json")
            for g, lo, hi in zip(missing, offsets[:-1], offsets[1:], strict=True):
                part = _readonly(arr[lo:hi])
                self._cache[g] = (part, np.ascontiguousarray(part["time_ms"]))
                self._cache_rows += int(hi - lo)
        for g in need:
            self._cache.move_to_end(g)
        while self._cache_rows > _CACHE_ROWS and len(self._cache) > len(need):
            _, (old, _t) = self._cache.popitem(last=False)
            self._cache_rows -= len(old)
        parts = [self._cache[g] for g in need]
        if len(parts) == 1:
            return parts[0]
        return _readonly(np.concatenate([p[0] for p in parts])), np.concatenate([p[1] for p in parts])

    def read(self, start: int | None, end: int | None) -> np.ndarray:
        n = len(self.starts)
        if not self.rows or not n:
            return empty(self.kind)
        g0 = 0 if start is None else int(np.searchsorted(self.ends, start, "left"))
        g1 = n if end is None else int(np.searchsorted(self.starts, end, "left"))
        if g0 >= g1:
            return empty(self.kind)
        arr, times = self._groups(g0, g1)
        lo = 0 if start is None else int(np.searchsorted(times, start, "left"))
        hi = len(arr) if end is None else int(np.searchsorted(times, end, "left"))
        return arr[lo:max(lo, hi)]

    def next_time(self, t: int) -> int | None:
        g = int(np.searchsorted(self.ends, t, "left"))
        if g >= len(self.ends):
            return None
        _, times = self._groups(g, g + 1)
        i = int(np.searchsorted(times, t, "left"))
        return int(times[i]) if i < len(times) else None

    def close(self) -> None:
        self._cache.clear()
        try:
            self.pf.close()
        except (AttributeError, OSError):
            pass


class _EmptyKind(_MemoryKind):
    def __init__(self, kind: str):
        super().__init__(np.empty(0, dtype=KINDS[kind]))


def _valid_entry(entry, pf: pq.ParquetFile) -> bool:
    """Does an index.json entry describe this Parquet file?"""
    try:
        meta = pf.metadata
        groups = entry["row_groups"]
        n = meta.num_row_groups
        rows = [int(r) for r in groups["rows"]]
        ok = (
            len(groups["start_ms"]) == n
            and len(groups["end_ms"]) == n
            and len(rows) == n
            and int(entry["rows"]) == meta.num_rows == sum(rows)
            and all(rows[i] == meta.row_group(i).num_rows for i in range(n))
            and isinstance(entry["counts"], dict)
        )
        if ok and n:
            starts = np.asarray(groups["start_ms"], dtype=np.int64)
            ends = np.asarray(groups["end_ms"], dtype=np.int64)
            ok = bool(np.all(starts <= ends) and np.all(ends[:-1] <= starts[1:]))
        return ok
    except (KeyError, TypeError, ValueError, IndexError):
        return False


def _entry_from_parquet(kind: str, pf: pq.ParquetFile, file: str) -> dict:
    """Rebuild a kind's index entry from the Parquet row-group statistics (reads the exchange column)."""
    meta = pf.metadata
    time_col = pf.schema_arrow.get_field_index("time_ms")
    starts, ends, rows = [], [], []
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        stats = rg.column(time_col).statistics
        if stats is not None and stats.has_min_max:
            lo, hi = int(stats.min), int(stats.max)
        else:
            times = pf.read_row_group(g, columns=["time_ms"]).column(0).to_numpy()
            lo, hi = int(times.min()), int(times.max())
        starts.append(lo)
        ends.append(hi)
        rows.append(rg.num_rows)
    counts = np.zeros(len(EXCHANGES), dtype=np.int64)
    if meta.num_rows:
        table = pf.read(columns=["exchange", "time_ms"])
        ids = exchange_column_to_ids(table.column("exchange"))
        counts = np.bincount(ids, minlength=len(EXCHANGES))[: len(EXCHANGES)]
        times = table.column("time_ms").to_numpy()
        if np.any(times[1:] < times[:-1]):
            raise ValueError("events are not sorted by time")
    return kind_index_entry(file, starts, ends, rows, counts)


# ------------------------------------------------------------------------------ the reader


class SessionReader:
    """Reads a session, closed (Parquet + index) or crashed/still recording (append logs).

    Attributes: ``path``, ``symbol``, ``meta`` (dict), ``gaps`` (list of dicts), ``closed``,
    ``recovery`` (:class:`RecoveryReport`, empty when nothing was skipped), ``start_ms`` and
    ``end_ms`` (over every kind, None when empty), ``tables`` (names of the extra tables).

    A crashed session's logs are recovered into memory when it is opened; a closed one is read
    row group by row group through ``index.json``, so a seek costs the same anywhere in a day.
    Raises :class:`SessionError` (a ``ValueError``) when ``path`` is not a session, has an
    unsupported format version or holds nothing recoverable.
    """

    def __init__(self, path):
        path = Path(path)
        if path.name == SESSION_FILE and path.is_file():
            path = path.parent
        self.path = path
        doc = load_session_doc(path)
        self._doc = doc
        self.symbol: str = doc["symbol"]
        self.meta: dict = dict(doc.get("meta") or {})
        self.gaps: list[dict] = [dict(g) for g in doc.get("gaps") or [] if isinstance(g, dict)]
        self.format_version: int = doc["format_version"]
        self.liqdesk_version: str | None = doc.get("liqdesk_version")
        self.created_ms: int | None = doc.get("created_ms")
        self.closed: bool = doc.get("state") == STATE_CLOSED
        self.recovery = RecoveryReport()
        for item in doc.get("recovery") or []:
            try:
                self.recovery.add(RecoveryNote(**item))
            except TypeError:
                continue
        self._lock = threading.RLock()
        self._kinds: dict[str, _MemoryKind | _ParquetKind] = {}
        self._table_paths: dict[str, Path] = {}
        self._tables_mem: dict[str, pa.Table] = {}
        if self.closed:
            self._open_closed()
        else:
            self._open_logs()

    # -------------------------------------------------------------- opening

    def _open_closed(self) -> None:
        index, index_problem = None, None
        try:
            index = json.loads((self.path / INDEX_FILE).read_text(encoding="utf-8"))
            if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT_NAME:
                index, index_problem = None, f"{INDEX_FILE} is not a liqdesk index"
        except FileNotFoundError:
            index_problem = f"{INDEX_FILE} missing"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            index_problem = f"{INDEX_FILE} unreadable ({exc})"
        entries = (index or {}).get("kinds") or {}
        rebuilt = []
        failed = 0
        for kind in KINDS:
            file = f"{kind}{PARQUET_SUFFIX}"
            fpath = self.path / file
            entry = entries.get(kind) if isinstance(entries, dict) else None
            if not fpath.exists():
                if entry is None or entry.get("rows"):
                    self.recovery.add(RecoveryNote(kind, file, "file missing"))
                    failed += 1
                self._kinds[kind] = _EmptyKind(kind)
                continue
            try:
                pf = pq.ParquetFile(str(fpath), page_checksum_verification=True)
                if pf.schema_arrow.names != list(KINDS[kind].names):
                    raise ValueError(f"unexpected columns {pf.schema_arrow.names}")
                if not _valid_entry(entry, pf):
                    entry = _entry_from_parquet(kind, pf, file)
                    rebuilt.append(kind)
            except (pa.ArrowException, OSError, ValueError) as exc:
                why = " ".join(str(exc).split())[:160]
                self.recovery.add(RecoveryNote(kind, file, f"unreadable, left out ({why})",
                                               bytes_skipped=fpath.stat().st_size))
                failed += 1
                self._kinds[kind] = _EmptyKind(kind)
                continue
            self._kinds[kind] = _ParquetKind(self.path, kind, pf, entry)
        if rebuilt:
            why = index_problem or f"{INDEX_FILE} did not match the data"
            self.recovery.add(RecoveryNote("index", INDEX_FILE, f"{why}; rebuilt from the Parquet files for "
                                                                f"{', '.join(rebuilt)}"))
        names = set((index or {}).get("tables") or {})
        names |= {p.name[: -len(PARQUET_SUFFIX)] for p in self.path.glob(f"*{PARQUET_SUFFIX}")}
        for name in sorted(names - set(KINDS)):
            self._table_paths[name] = self.path / f"{name}{PARQUET_SUFFIX}"
        if failed and not any(src.rows for src in self._kinds.values()) and not self._table_paths:
            raise _error(self.path, f"nothing recoverable ({self.recovery.summary()})")

    def _open_logs(self) -> None:
        any_bytes = False
        for kind in KINDS:
            log = self.path / f"{kind}{LOG_SUFFIX}"
            if not log.exists():
                self._kinds[kind] = _EmptyKind(kind)
                continue
            scan, verifier = scan_kind(log, kind)
            any_bytes |= scan.size > 0
            parts = []
            names: list[str] = []
            try:
                for _batch in scan:
                    names = names or log_exchange_names(scan.schema)
                    parts.append(log_columns_to_struct(kind, verifier.columns, names))
            except (OSError, ValueError) as exc:
                scan.reasons.append(f"read stopped ({exc})")
            if scan.note is not None:
                self.recovery.add(scan.note)
            arr = np.concatenate(parts) if parts else np.empty(0, dtype=KINDS[kind])
            if len(arr) > 1 and np.any(arr["time_ms"][1:] < arr["time_ms"][:-1]):
                arr = arr[np.argsort(arr["time_ms"], kind="stable")]
            self._kinds[kind] = _MemoryKind(arr)
        names = {n for n in self._doc.get("tables") or [] if isinstance(n, str)}
        names |= {p.name[: -len(LOG_SUFFIX)] for p in self.path.glob(f"*{LOG_SUFFIX}")}
        table_rows = 0
        for name in sorted(names - set(KINDS)):
            log = self.path / f"{name}{LOG_SUFFIX}"
            if not log.exists():
                self._tables_mem[name] = pa.table({})
                continue
            scan = LogScan(log, name, table_verify)
            any_bytes |= scan.size > 0
            batches = list(scan)
            if scan.note is not None:
                self.recovery.add(scan.note)
            if scan.schema is not None:
                self._tables_mem[name] = pa.Table.from_batches(batches, schema=scan.schema)
                table_rows += scan.rows
            else:
                self._tables_mem[name] = pa.table({})
        if any_bytes and not table_rows and not any(src.rows for src in self._kinds.values()):
            raise _error(self.path, f"nothing recoverable ({self.recovery.summary() or 'no complete batch'})")

    # -------------------------------------------------------------- context manager

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for src in self._kinds.values():
                src.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "not closed"
        return f"<SessionReader {str(self.path)!r} {self.symbol} {state}>"

    # -------------------------------------------------------------- summary

    @property
    def start_ms(self) -> int | None:
        times = [src.start_ms for src in self._kinds.values() if src.rows]
        return int(min(times)) if times else None

    @property
    def end_ms(self) -> int | None:
        times = [src.end_ms for src in self._kinds.values() if src.rows]
        return int(max(times)) if times else None

    def counts(self) -> dict[str, dict[str, int]]:
        """Events per kind (``KINDS`` names, ``marks`` included) and exchange name."""
        return {
            kind: {EXCHANGES[i]: int(c) for i, c in enumerate(src.counts) if c}
            for kind, src in self._kinds.items()
        }

    @property
    def tables(self) -> list[str]:
        """Names of the extra tables."""
        return sorted({*self._table_paths, *self._tables_mem})

    def table_rows(self, name: str) -> int:
        """Rows of an extra table, without reading it."""
        if name in self._tables_mem:
            return self._tables_mem[name].num_rows
        try:
            return pq.ParquetFile(str(self._table_paths[name])).metadata.num_rows
        except KeyError:
            raise KeyError(f"no table {name!r} in {self.path}; tables: {', '.join(self.tables) or 'none'}") from None
        except (pa.ArrowException, OSError) as exc:
            raise _error(self.path, f"table {name} is unreadable ({exc})") from None

    # -------------------------------------------------------------- reading

    def read(self, start_ms: int | None = None, end_ms: int | None = None, kinds=None) -> EventBatch:
        """Events with ``start_ms <= time_ms < end_ms`` (either bound may be None), as one batch.

        ``kinds`` limits the kinds read (``KINDS`` names; ``mark_price`` means ``marks``).
        """
        start = None if start_ms is None else check_int("start_ms", start_ms)
        end = None if end_ms is None else check_int("end_ms", end_ms)
        selected = list(KINDS) if kinds is None else [canonical_kind(k) for k in kinds]
        with self._lock:
            return EventBatch(**{kind: self._kinds[kind].read(start, end) for kind in selected})

    def _next_time(self, t: int) -> int | None:
        times = [x for x in (src.next_time(t) for src in self._kinds.values() if src.rows) if x is not None]
        return min(times) if times else None

    def iter_batches(self, chunk_ms: int, start_ms: int | None = None, end_ms: int | None = None
                     ) -> Iterator[EventBatch]:
        """One :class:`EventBatch` per time chunk ``[start + i*chunk_ms, start + (i+1)*chunk_ms)``.

        Chunks start at ``start_ms`` (default: the first event) and stop at ``end_ms`` (default:
        after the last event). Chunks without any event are skipped, so a long pause costs nothing;
        every event in range is in exactly one chunk.
        """
        chunk = check_int("chunk_ms", chunk_ms)
        if chunk <= 0:
            raise ValueError("chunk_ms must be > 0")
        if self.start_ms is None:
            return
        lo = self.start_ms if start_ms is None else check_int("start_ms", start_ms)
        hi = self.end_ms + 1 if end_ms is None else check_int("end_ms", end_ms)
        origin = lo
        block = chunk * max(1, -(-_ITER_BLOCK_MS // chunk))
        t = lo
        while t < hi:
            b_end = min(t + block, hi)
            with self._lock:
                batch = self.read(t, b_end)
                if not len(batch):
                    nxt = self._next_time(b_end)
                    if nxt is None or nxt >= hi:
                        return
                    t = origin + (nxt - origin) // chunk * chunk
                    continue
            arrays = {k: a for k, a in batch.arrays().items() if len(a)}
            times = {k: np.ascontiguousarray(a["time_ms"]) for k, a in arrays.items()}
            ids = np.unique(np.concatenate([(tt - origin) // chunk for tt in times.values()]))
            c0 = origin + ids * chunk
            c1 = np.minimum(c0 + chunk, hi)
            bounds = {k: (np.searchsorted(tt, c0, "left"), np.searchsorted(tt, c1, "left"))
                      for k, tt in times.items()}
            for i in range(len(ids)):
                yield EventBatch(**{k: arrays[k][int(b[0][i]):int(b[1][i])] for k, b in bounds.items()})
            t = b_end

    def table(self, name: str) -> pa.Table:
        """An extra table (e.g. the simulator's ground truth) as a ``pyarrow.Table``."""
        check_table_name(name)
        if name in self._tables_mem:
            return self._tables_mem[name]
        path = self._table_paths.get(name)
        if path is None:
            raise KeyError(f"no table {name!r} in {self.path}; tables: {', '.join(self.tables) or 'none'}")
        try:
            return pq.ParquetFile(str(path), page_checksum_verification=True).read()
        except (pa.ArrowException, OSError) as exc:
            raise _error(self.path, f"table {name} ({path.name}) is unreadable ({exc})") from None

    # -------------------------------------------------------------- for repair

    def _memory_arrays(self) -> dict[str, np.ndarray]:
        return {kind: src.arr for kind, src in self._kinds.items() if isinstance(src, _MemoryKind)}


def repair_session(path) -> RecoveryReport:
    """Turn a crashed (unclosed) session into the closed form, keeping everything recoverable.

    Returns the recovery report. Damaged logs are kept beside it as ``NAME.arrows.damaged``; clean
    logs are removed. A closed session is left as it is.
    """
    reader = SessionReader(path)
    path = reader.path
    if reader.closed:
        return reader.recovery
    for tmp in path.glob("*.tmp"):
        tmp.unlink(missing_ok=True)
    arrays = reader._memory_arrays()
    index: dict = {"format": INDEX_FORMAT_NAME, "format_version": FORMAT_VERSION, "kinds": {}, "tables": {}}
    for kind in KINDS:
        index["kinds"][kind] = write_kind_array(arrays[kind], path / f"{kind}{PARQUET_SUFFIX}", kind)
    for name in reader.tables:
        table = reader.table(name)
        out = path / f"{name}{PARQUET_SUFFIX}"
        if table.num_columns:
            index["tables"][name] = write_table_data(table, out)
        else:
            index["tables"][name] = convert_table_log(None, out, name, table.schema)[0]
    write_json_atomic(path / INDEX_FILE, index, fsync=True)
    doc = dict(reader._doc)
    now = int(time.time() * 1000)
    damaged = {note.file for note in reader.recovery}
    doc.update(state=STATE_CLOSED, closed_ms=now, closed_utc=utc_text(now), repaired=True,
               tables=reader.tables, recovery=reader.recovery.to_list())
    write_json_atomic(path / SESSION_FILE, doc, fsync=True)
    fsync_dir(path)
    reader.close()
    for log in path.glob(f"*{LOG_SUFFIX}"):
        if log.name in damaged:
            log.replace(log.with_name(log.name + DAMAGED_SUFFIX))
        else:
            log.unlink()
    return reader.recovery
