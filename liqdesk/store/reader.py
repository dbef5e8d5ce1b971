"""Reading a session: :class:`SessionReader`, and :func:`repair_session` for crashed recordings."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from liqdesk.core.events import EXCHANGES, KINDS, EventBatch
from liqdesk.store.convert import (
    convert_table_log,
    fsync_dir,
    scan_kind,
    table_verify,
    write_kind_array,
    write_table_data,
)
from liqdesk.store.doc import (
    checked_gaps,
    load_session_doc,
    session_error,
    stored_notes,
    table_name_problem,
)
from liqdesk.store.format import (
    DAMAGED_SUFFIX,
    FORMAT_VERSION,
    INDEX_FILE,
    INDEX_FORMAT_NAME,
    LOG_SUFFIX,
    PARQUET_SUFFIX,
    SESSION_FILE,
    STATE_CLOSED,
    RecoveryNote,
    RecoveryReport,
    canonical_kind,
    check_int,
    check_table_name,
    crc_columns,
    generic_crc,
    log_columns_to_struct,
    log_exchange_names,
    utc_text,
    write_json_atomic,
)
from liqdesk.store.kinds import (
    EmptyKind,
    MemoryKind,
    ParquetKind,
    entry_from_parquet,
    index_problem,
    open_parquet,
)
from liqdesk.store.log import LogScan, RepeatedBatches
from liqdesk.store.paths import UnsafeFile, member_path, read_json, regular_size

__all__ = ["SessionReader", "load_session_doc", "repair_session"]

#: iter_batches reads this much time per step (rounded to whole chunks).
_ITER_BLOCK_MS = 300_000

_error = session_error


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


# ------------------------------------------------------------------------------ the reader


class SessionReader:
    """Reads a session, closed (Parquet + index) or crashed/still recording (append logs).

    Attributes: ``path``, ``symbol``, ``meta`` (dict), ``gaps`` (list of dicts), ``closed``,
    ``recovery`` (:class:`RecoveryReport`, empty when nothing was skipped), ``start_ms`` and
    ``end_ms`` (over every kind, None when empty), ``tables`` (names of the extra tables).

    A crashed session's logs are recovered into memory when it is opened; a closed one is read
    row group by row group through ``index.json``, so a seek costs the same anywhere in a day.
    What cannot be read is left out and listed in ``recovery``: a damaged log region or row group
    (found when read: the report grows while a closed session is read), a kind file that is
    missing, unreadable or not a regular file, a malformed gap, a table name that is not a plain
    name. ``index.json`` is checked against the Parquet files' footers and statistics and rebuilt
    from the files when they disagree. :meth:`verify` reads every page.
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
        self.format_version: int = doc["format_version"]
        self.liqdesk_version: str | None = doc.get("liqdesk_version")
        self.created_ms: int | None = doc.get("created_ms")
        self.closed: bool = doc.get("state") == STATE_CLOSED
        self.recovery = RecoveryReport()
        notes, malformed = stored_notes(doc)
        self.gaps, gap_notes = checked_gaps(doc)
        for note in [*notes, *malformed, *gap_notes]:
            self.recovery.add(note)
        #: how far the data was checked: "index" (footers, statistics and index), "counts"
        #: (times and exchanges of every event read too), "pages" (every page read), "logs" (a
        #: crashed session: every log batch read and checked against its CRC when opened)
        self.checked = "index"
        self._lock = threading.RLock()
        self._kinds: dict[str, MemoryKind | ParquetKind] = {}
        self._table_paths: dict[str, Path] = {}
        self._table_rows: dict[str, int] = {}
        self._tables_mem: dict[str, pa.Table] = {}
        self._bad_table_groups: set[tuple[str, int]] = set()
        if self.closed:
            self._open_closed()
        else:
            self._open_logs()

    # -------------------------------------------------------------- opening

    def _member(self, name: str, file: str, suffix: str) -> tuple[Path | None, int | None]:
        """(path, size) of a session member, (None, None) when absent; a member that is not a
        plain name, resolves outside the folder or is not a regular file is noted and absent."""
        try:
            path = member_path(self.path, name, suffix)
            return path, regular_size(path)
        except UnsafeFile as exc:
            self.recovery.add(RecoveryNote(name, file, f"{exc.reason}; left out"))
            return None, None

    def _table_names(self, listed, source: str, suffix: str) -> list[str]:
        """Table names listed in ``source`` plus those of the files ending in ``suffix``; names
        that are not valid table names are noted and dropped (never used as paths)."""
        names = set()
        for name in listed:
            problem = table_name_problem(name)
            if problem:
                self.recovery.add(RecoveryNote("tables", source, f"{problem}; the table it names is left out"))
            else:
                names.add(name)
        for p in self.path.glob(f"*{suffix}"):
            stem = p.name[: -len(suffix)]
            if stem in KINDS or stem in names:
                continue
            if table_name_problem(stem):
                self.recovery.add(RecoveryNote("tables", p.name, "not a liqdesk table name; the file is ignored"))
            else:
                names.add(stem)
        return sorted(names)

    def _open_closed(self) -> None:
        index, index_problem_text = None, None
        try:
            index = read_json(self.path / INDEX_FILE)
            if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT_NAME:
                index, index_problem_text = None, "not a liqdesk index"
        except FileNotFoundError:
            index_problem_text = "missing"
        except UnsafeFile as exc:
            index_problem_text = exc.reason
        except (OSError, ValueError) as exc:
            index_problem_text = f"unreadable ({_one_line(exc)})"
        entries = (index or {}).get("kinds")
        entries = entries if isinstance(entries, dict) else {}
        rebuilt: list[str] = []
        failed = 0
        for kind in KINDS:
            file = f"{kind}{PARQUET_SUFFIX}"
            fpath, size = self._member(kind, file, PARQUET_SUFFIX)
            entry = entries.get(kind)
            if size is None:
                if fpath is None or entry is None or not isinstance(entry, dict) or entry.get("rows"):
                    if fpath is not None:
                        self.recovery.add(RecoveryNote(kind, file, "file missing"))
                    failed += 1
                self._kinds[kind] = EmptyKind(kind)
                continue
            bad: dict[int, str] = {}
            try:
                with open_parquet(fpath) as pf:   # checked now, opened again when first read
                    if pf.schema_arrow.names != list(KINDS[kind].names):
                        raise ValueError(f"unexpected columns {pf.schema_arrow.names}")
                    problem = index_problem(entry, pf)
                    if problem is not None:
                        entry, bad = entry_from_parquet(kind, pf, file)
                        rebuilt.append(f"{kind} ({problem})" if index is not None else kind)
            except (pa.ArrowException, OSError, ValueError) as exc:
                self.recovery.add(RecoveryNote(kind, file, f"unreadable, left out ({_one_line(exc)})",
                                               bytes_skipped=size))
                failed += 1
                self._kinds[kind] = EmptyKind(kind)
                continue
            src = self._kinds[kind] = ParquetKind(kind, fpath, entry, self.recovery.add)
            for g, why in bad.items():
                src.mark_bad(g, why)
        if rebuilt:  # nothing is lost: the files themselves say what the index should have
            why = index_problem_text or "disagrees with the Parquet files"
            self.recovery.add(RecoveryNote("index", INDEX_FILE, f"{why}; rebuilt from the Parquet files for "
                                                                f"{', '.join(rebuilt)}"))
        listed = (index or {}).get("tables")
        for name in self._table_names(listed if isinstance(listed, dict) else [], INDEX_FILE, PARQUET_SUFFIX):
            file = f"{name}{PARQUET_SUFFIX}"
            path, size = self._member(name, file, PARQUET_SUFFIX)
            if size is None:
                if path is not None:
                    self.recovery.add(RecoveryNote(name, file, "table file missing; left out"))
                continue
            try:
                self._table_rows[name] = open_parquet(path).metadata.num_rows
            except (pa.ArrowException, OSError, ValueError) as exc:
                self.recovery.add(RecoveryNote(name, file, f"unreadable table, left out ({_one_line(exc)})",
                                               bytes_skipped=size))
                continue
            self._table_paths[name] = path
        if failed and not any(src.rows for src in self._kinds.values()) and not self._table_paths:
            raise _error(self.path, f"nothing recoverable ({self.recovery.summary()})")

    def _open_logs(self) -> None:
        any_bytes = False
        any_file = False
        for kind in KINDS:
            log, size = self._member(kind, f"{kind}{LOG_SUFFIX}", LOG_SUFFIX)
            if size is None:
                any_file |= log is None
                self._kinds[kind] = EmptyKind(kind)
                continue
            any_file = True
            scan, verifier = scan_kind(log, kind)
            any_bytes |= scan.size > 0
            parts = []
            names: list[str] = []
            repeats = RepeatedBatches()
            try:
                for _batch in scan:
                    names = names or log_exchange_names(scan.schema)
                    arr = log_columns_to_struct(kind, verifier.columns, names)
                    key = (len(arr), crc_columns(verifier.columns))
                    if not repeats.repeated(key, len(parts), lambda i, a=arr, p=parts: p[i].tobytes() == a.tobytes(),
                                            len(arr)):
                        parts.append(arr)
            except (OSError, ValueError, RecursionError) as exc:
                scan.reasons.append(f"read stopped ({_one_line(exc)})")
            for note in (scan.note, repeats.note(kind, log.name)):
                if note is not None:
                    self.recovery.add(note)
            arr = np.concatenate(parts) if parts else np.empty(0, dtype=KINDS[kind])
            if len(arr) > 1 and np.any(arr["time_ms"][1:] < arr["time_ms"][:-1]):
                arr = arr[np.argsort(arr["time_ms"], kind="stable")]
            self._kinds[kind] = MemoryKind(arr)
        listed = self._doc.get("tables")
        table_rows = 0
        for name in self._table_names(listed if isinstance(listed, list) else [], SESSION_FILE, LOG_SUFFIX):
            log, size = self._member(name, f"{name}{LOG_SUFFIX}", LOG_SUFFIX)
            if size is None:
                any_file |= log is None
                if log is not None:
                    self._tables_mem[name] = pa.table({})
                continue
            any_file = True
            scan = LogScan(log, name, table_verify)
            any_bytes |= scan.size > 0
            batches, repeats = [], RepeatedBatches()
            for batch in scan:
                key = (batch.num_rows, generic_crc(batch))
                if not repeats.repeated(key, len(batches), lambda i, b=batch, k=batches: k[i].equals(b),
                                        batch.num_rows):
                    batches.append(batch)
            for note in (scan.note, repeats.note(name, log.name)):
                if note is not None:
                    self.recovery.add(note)
            if scan.schema is not None:
                self._tables_mem[name] = pa.Table.from_batches(batches, schema=scan.schema)
                table_rows += sum(b.num_rows for b in batches)
            else:
                self._tables_mem[name] = pa.table({})
        if any_bytes and not table_rows and not any(src.rows for src in self._kinds.values()):
            raise _error(self.path, f"nothing recoverable ({self.recovery.summary() or 'no complete batch'})")
        if not any_file:
            self.recovery.add(RecoveryNote("session", SESSION_FILE, "no events: the recording stopped before its "
                                                                    "first flush (or has only just started)"))

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
        """Events per kind (``KINDS`` names, ``marks`` included) and exchange name: as the index
        gives them, or as read once :meth:`verify` ran."""
        return {
            kind: {EXCHANGES[i]: int(c) for i, c in enumerate(src.counts) if c}
            for kind, src in self._kinds.items()
        }

    def verify(self, full: bool = False) -> RecoveryReport:
        """Read the data to check it: every event's time and exchange (``full`` False: what
        :meth:`counts` and the span report), or every page of every file (``full``: each page's
        checksum is verified). Damaged row groups are found and left out, the counts become those
        of the readable events. Returns :attr:`recovery`."""
        with self._lock:
            for src in self._kinds.values():
                src.verify(full)
            if full:
                for name in list(self._table_paths):
                    self.table(name)
        self.checked = "logs" if not self.closed else "pages" if full else "counts"
        return self.recovery

    @property
    def tables(self) -> list[str]:
        """Names of the extra tables."""
        return sorted({*self._table_paths, *self._tables_mem})

    def table_rows(self, name: str) -> int:
        """Rows of an extra table, without reading it."""
        if name in self._tables_mem:
            return self._tables_mem[name].num_rows
        if name in self._table_rows:
            return self._table_rows[name]
        raise KeyError(f"no table {name!r} in {self.path}; tables: {', '.join(self.tables) or 'none'}")

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

    def read_in_time_order(self) -> None:
        """Say that this reader now serves one pass over the session in time order (``evaluate``):
        it keeps only the decoded rows the next read starts in, so that its memory does not
        follow the session's length (the default cache serves seeks back and forth)."""
        with self._lock:
            for src in self._kinds.values():
                if isinstance(src, ParquetKind):
                    src.read_in_time_order()

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
        schema, parts = self._table_parts(name, None)
        parts = list(parts)
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def iter_table(self, name: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """An extra table a row group at a time, in file order (only ``columns`` if given): the
        same rows as :meth:`table` (damaged row groups left out and said), in bounded memory."""
        check_table_name(name)
        if name in self._tables_mem:
            table = self._tables_mem[name]
            yield table.select(columns) if columns is not None else table
            return
        _, parts = self._table_parts(name, columns)
        yield from parts

    def _table_parts(self, name: str, columns: list[str] | None) -> tuple[pa.Schema, Iterator[pa.Table]]:
        path = self._table_paths.get(name)
        if path is None:
            raise KeyError(f"no table {name!r} in {self.path}; tables: {', '.join(self.tables) or 'none'}")
        try:
            pf = open_parquet(path)
            schema = pf.schema_arrow
            groups = pf.metadata.num_row_groups
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _error(self.path, f"table {name} ({path.name}) is unreadable ({_one_line(exc)})") from None

        def parts() -> Iterator[pa.Table]:
            for g in range(groups):  # a damaged row group is left out (and said), the rest kept
                try:
                    part = pf.read_row_group(g, columns=columns)
                except (pa.ArrowException, OSError, ValueError) as exc:
                    if (name, g) not in self._bad_table_groups:
                        self._bad_table_groups.add((name, g))
                        self.recovery.add(RecoveryNote(name, path.name, f"row group {g} is damaged "
                                                                        f"({_one_line(exc)}); its rows left out"))
                    continue
                yield part

        return schema, parts()

    # -------------------------------------------------------------- for repair

    def _memory_arrays(self) -> dict[str, np.ndarray]:
        return {kind: src.arr for kind, src in self._kinds.items() if isinstance(src, MemoryKind)}


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
