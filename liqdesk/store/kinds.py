"""The events of one kind in a session, as the reader serves them: held in memory (recovered from
append logs) or read row group by row group from a closed session's Parquet file.

A closed kind trusts ``index.json`` only once it agrees with the Parquet file's own footer (row
groups, rows per group) and row-group statistics (first and last ``time_ms``): see
:func:`index_problem`. Otherwise the entry is rebuilt from the file (:func:`entry_from_parquet`).

A row group that cannot be decoded (a page checksum fails, a page header is garbage, its rows or
times disagree with the index) is *skipped*: reported once through the reader's recovery report
and read as empty, and reading goes on with the next group, as the append logs do with a damaged
batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from liqdesk.core.events import EXCHANGES, KINDS, empty
from liqdesk.store.convert import kind_index_entry
from liqdesk.store.format import (
    PARQUET_SUFFIX,
    RecoveryNote,
    exchange_column_to_ids,
    table_to_struct,
    utc_text,
)

#: Decoded rows of Parquet row groups kept per kind for the next read (sequential replay, seeks):
#: enough for the row groups a sequential read cuts through and a seek back; more only made a
#: long session's commands hold more (evaluate of 48 h kept 50 MB of cache with 1 M rows).
CACHE_ROWS = 1 << 18

_READ_ERRORS = (pa.ArrowException, OSError, ValueError, IndexError, KeyError)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


class MemoryKind:
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

    def verify(self, full: bool) -> None:
        """Nothing to do: a log's batches are checked against their CRC when read."""

    def close(self) -> None:
        pass


class EmptyKind(MemoryKind):
    def __init__(self, kind: str):
        super().__init__(np.empty(0, dtype=KINDS[kind]))


class ParquetKind:
    """Events of one kind in a closed session's Parquet file ``path``, read by row group through
    the index entry. ``report(note)`` receives a :class:`RecoveryNote` for each damaged row group,
    once. The file is opened at its first read: its footer's row-group metadata takes memory in
    proportion to the session's length (5 MB for the book of 48 h), which a command that never
    reads the kind should not hold."""

    def __init__(self, kind: str, path: Path, entry: dict, report: Callable[[RecoveryNote], None]):
        self.kind = kind
        self.path = path
        self._pf: pq.ParquetFile | None = None
        self.file = f"{kind}{PARQUET_SUFFIX}"
        self.report = report
        groups = entry["row_groups"]
        self.starts = np.asarray(groups["start_ms"], dtype=np.int64)
        self.ends = np.asarray(groups["end_ms"], dtype=np.int64)
        self.group_rows = np.asarray(groups["rows"], dtype=np.int64)
        self.counts = np.array([entry["counts"].get(name, 0) for name in EXCHANGES], dtype=np.int64)
        #: damaged row groups (read as empty) -> why
        self.bad: dict[int, str] = {}
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_rows = 0
        #: reads go forward in time (:meth:`read_in_time_order`): only the group the last read
        #: ended in is kept, whatever its size
        self.in_time_order = False

    # -------------------------------------------------------------- what is readable

    def _readable(self) -> np.ndarray:
        ok = self.group_rows > 0
        if self.bad:
            ok[list(self.bad)] = False
        return ok

    @property
    def rows(self) -> int:
        """Events in the row groups not found damaged."""
        return int(self.group_rows[self._readable()].sum())

    @property
    def start_ms(self) -> int | None:
        ok = np.flatnonzero(self._readable())
        return int(self.starts[ok[0]]) if len(ok) else None

    @property
    def end_ms(self) -> int | None:
        ok = self._readable()
        return int(self.ends[ok].max()) if ok.any() else None

    # -------------------------------------------------------------- damaged groups

    def mark_bad(self, g: int, why: str) -> None:
        """Skip row group ``g`` from now on, and say so (once)."""
        if g in self.bad:
            return
        self.bad[g] = why
        try:
            rg = self.pf.metadata.row_group(g)
            nbytes = sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
        except _READ_ERRORS:
            nbytes = 0
        span = f"{utc_text(int(self.starts[g]))} to {utc_text(int(self.ends[g]))}" if g < len(self.starts) else "?"
        self.report(RecoveryNote(
            self.kind, self.file,
            f"row group {g} is damaged ({why}); its {int(self.group_rows[g]):,} events, {span}, left out",
            bytes_skipped=int(nbytes)))

    def _problem(self, g: int, part: np.ndarray) -> str | None:
        """Why the decoded rows of group ``g`` cannot be what the index describes, or None."""
        if len(part) != self.group_rows[g]:
            return f"it holds {len(part):,} rows where the footer and index say {int(self.group_rows[g]):,}"
        if len(part):
            times = part["time_ms"]
            if times[0] < self.starts[g] or times[-1] > self.ends[g] or np.any(times[1:] < times[:-1]):
                return "its times are out of order or outside the range its statistics give"
        return None

    def _decode(self, groups: list[int]) -> dict[int, np.ndarray]:
        """Decoded rows of each good group in ``groups``; damaged ones are marked bad and left out."""
        good = [g for g in groups if g not in self.bad]
        if not good:
            return {}
        try:
            arr = table_to_struct(self.kind, self.pf.read_row_groups(good, use_threads=len(good) > 4))
            offsets = np.concatenate([[0], np.cumsum(self.group_rows[good])])
            if offsets[-1] != len(arr):
                raise ValueError("row count differs")
            parts = {g: arr[lo:hi] for g, lo, hi in zip(good, offsets[:-1], offsets[1:], strict=True)}
            if not any(self._problem(g, p) for g, p in parts.items()):
                return parts
        except _READ_ERRORS:
            pass
        parts = {}  # something is wrong: one group at a time, to keep every good one
        for g in good:
            try:
                part = table_to_struct(self.kind, self.pf.read_row_group(g))
            except _READ_ERRORS as exc:
                self.mark_bad(g, _why(exc))
                continue
            problem = self._problem(g, part)
            if problem:
                self.mark_bad(g, problem)
            else:
                parts[g] = part
        return parts

    def _groups(self, g0: int, g1: int) -> tuple[np.ndarray, np.ndarray]:
        """Events of row groups [g0, g1) and their times (contiguous, for fast searchsorted)."""
        need = list(range(g0, g1))
        if self.in_time_order:
            return self._groups_in_time_order(need)
        if int(self.group_rows[g0:g1].sum()) > CACHE_ROWS // 2:
            parts = self._decode(need)
            arr = np.concatenate([parts[g] for g in need if g in parts]) if parts else empty(self.kind)
            arr = _readonly(arr)
            return arr, np.ascontiguousarray(arr["time_ms"])
        self._cache_groups(need)
        for g in need:
            self._cache.move_to_end(g)
        while self._cache_rows > CACHE_ROWS and len(self._cache) > len(need):
            _, (old, _t) = self._cache.popitem(last=False)
            self._cache_rows -= len(old)
        return self._joined([self._cache[g] for g in need])

    def _groups_in_time_order(self, need: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`_groups`, keeping only the last of ``need`` decoded: the next read in time
        order starts in it, and no later read comes back to the others."""
        self._cache_groups(need)
        parts = [self._cache[g] for g in need]
        self._cache.clear()
        self._cache[need[-1]] = parts[-1]
        self._cache_rows = len(parts[-1][0])
        return self._joined(parts)

    def _cache_groups(self, need: list[int]) -> None:
        """Decode the groups of ``need`` not in the cache into it (a damaged one as empty)."""
        missing = [g for g in need if g not in self._cache]
        if missing:
            parts = self._decode(missing)
            for g in missing:
                part = _readonly(parts.get(g, empty(self.kind)))
                self._cache[g] = (part, np.ascontiguousarray(part["time_ms"]))
                self._cache_rows += len(part)

    @staticmethod
    def _joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        if len(parts) == 1:
            return parts[0]
        return _readonly(np.concatenate([p[0] for p in parts])), np.concatenate([p[1] for p in parts])

    def read_in_time_order(self) -> None:
        """From now on keep only the group the last read ended in (see
        :meth:`SessionReader.read_in_time_order`)."""
        self.in_time_order = True
        while len(self._cache) > 1:
            _, (old, _t) = self._cache.popitem(last=False)
            self._cache_rows -= len(old)

    # -------------------------------------------------------------- reading

    def read(self, start: int | None, end: int | None) -> np.ndarray:
        n = len(self.starts)
        if not n or not self.group_rows.any():
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
        while g < len(self.ends):
            _, times = self._groups(g, g + 1)
            i = int(np.searchsorted(times, t, "left"))
            if i < len(times):
                return int(times[i])
            g += 1  # a damaged (empty) group: the next one
        return None

    def verify(self, full: bool) -> None:
        """Read every row group (``full``: every column, so every page's checksum is checked;
        else only ``time_ms`` and ``exchange``), mark the damaged ones, and set :attr:`counts`
        to what is actually readable. Index counts that disagree with the data are reported."""
        counts = np.zeros(len(EXCHANGES), dtype=np.int64)
        for g in range(len(self.starts)):
            if g in self.bad:
                continue
            if full:
                part = self._decode([g]).get(g)
                if part is None:
                    continue
                ids = part["exchange"]
            else:
                try:
                    table = self.pf.read_row_group(g, columns=["time_ms", "exchange"])
                    ids = exchange_column_to_ids(table.column("exchange"))
                    times = table.column("time_ms").to_numpy()
                    probe = np.empty(len(times), dtype=[("time_ms", "i8")])
                    probe["time_ms"] = times
                except _READ_ERRORS as exc:
                    self.mark_bad(g, _why(exc))
                    continue
                problem = self._problem(g, probe)
                if problem:
                    self.mark_bad(g, problem)
                    continue
            counts += np.bincount(ids, minlength=len(EXCHANGES))[: len(EXCHANGES)]
        if not self.bad and not np.array_equal(counts, self.counts):
            said = ", ".join(f"{EXCHANGES[i]} {int(c):,}" for i, c in enumerate(self.counts) if c) or "none"
            found = ", ".join(f"{EXCHANGES[i]} {int(c):,}" for i, c in enumerate(counts) if c) or "none"
            self.report(RecoveryNote("index", "index.json", f"events per exchange of {self.kind} disagree with "
                                     f"{self.file} (index: {said}; data: {found}); the data's counts are used"))
        self.counts = counts

    @property
    def pf(self) -> pq.ParquetFile:
        """The Parquet file, opened on first use (errors as :func:`open_parquet`'s)."""
        if self._pf is None:
            self._pf = open_parquet(self.path)
        return self._pf

    def close(self) -> None:
        self._cache.clear()
        pf, self._pf = self._pf, None
        if pf is not None:
            try:
                pf.close()
            except (AttributeError, OSError):
                pass


# ------------------------------------------------------------------------------ index.json


def index_problem(entry, pf: pq.ParquetFile) -> str | None:
    """Why ``entry`` (a kind's ``index.json`` entry) does not describe ``pf``, or None when it
    agrees with the file's footer (row groups, rows) and row-group statistics (first and last
    ``time_ms`` of each group). Reads no data page."""
    if not isinstance(entry, dict):
        return "no entry"
    try:
        meta = pf.metadata
        n = meta.num_row_groups
        groups = entry["row_groups"]
        starts = [int(x) for x in groups["start_ms"]]
        ends = [int(x) for x in groups["end_ms"]]
        rows = [int(r) for r in groups["rows"]]
        if not len(starts) == len(ends) == len(rows) == n:
            return f"{len(rows)} row groups where the file has {n}"
        if int(entry["rows"]) != meta.num_rows or sum(rows) != meta.num_rows:
            return f"{int(entry['rows']):,} rows where the file has {meta.num_rows:,}"
        for g in range(n):
            if rows[g] != meta.row_group(g).num_rows:
                return f"row group {g} has {rows[g]:,} rows where the file's has {meta.row_group(g).num_rows:,}"
        offsets = groups.get("row_offset")
        if offsets is not None and [int(x) for x in offsets] != np.concatenate(
                [[0], np.cumsum(rows)[:-1]]).astype(int).tolist()[:n]:
            return "row offsets do not add up"
        counts = entry["counts"]
        if (not isinstance(counts, dict) or any(k not in EXCHANGES for k in counts)
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in counts.values())
                or sum(counts.values()) != meta.num_rows):
            return "its events per exchange do not add up to its rows"
        if n:
            if any(s > e for s, e in zip(starts, ends, strict=True)) or any(
                    ends[i] > starts[i + 1] for i in range(n - 1)):
                return "row-group times out of order"
            if entry["start_ms"] != starts[0] or entry["end_ms"] != max(ends):
                return "its first or last time differs from its row groups'"
            col = pf.schema_arrow.get_field_index("time_ms")
            for g in range(n):
                stats = meta.row_group(g).column(col).statistics
                if stats is not None and stats.has_min_max and (int(stats.min), int(stats.max)) != (starts[g], ends[g]):
                    return f"row group {g} times differ from the file's statistics"
        elif entry["start_ms"] is not None or entry["end_ms"] is not None:
            return "times given for an empty file"
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, pa.ArrowException):
        return "malformed entry"
    return None


def entry_from_parquet(kind: str, pf: pq.ParquetFile, file: str) -> tuple[dict, dict[int, str]]:
    """A kind's index entry rebuilt from the file itself: each row group's first and last time
    and its events per exchange, read from its ``time_ms`` and ``exchange`` columns. Returns the
    entry and the row groups that could not be read (-> why): those hold no events for the
    reader, so they get the times of the group before them. ``ValueError`` when the events are
    not sorted by time."""
    meta = pf.metadata
    n = meta.num_row_groups
    starts: list[int | None] = [None] * n
    ends: list[int | None] = [None] * n
    rows = [meta.row_group(g).num_rows for g in range(n)]
    bad: dict[int, str] = {}
    counts = np.zeros(len(EXCHANGES), dtype=np.int64)
    last = None
    for g in range(n):
        try:
            table = pf.read_row_group(g, columns=["time_ms", "exchange"])
            times = table.column("time_ms").to_numpy()
            ids = exchange_column_to_ids(table.column("exchange"))
            if len(times) != rows[g]:
                raise ValueError(f"it holds {len(times):,} rows where the footer says {rows[g]:,}")
        except _READ_ERRORS as exc:
            bad[g] = _why(exc)
            continue
        if len(times):
            if np.any(times[1:] < times[:-1]) or (last is not None and times[0] < last):
                raise ValueError("events are not sorted by time")
            starts[g], ends[g] = int(times[0]), int(times[-1])
            last = ends[g]
        counts += np.bincount(ids, minlength=len(EXCHANGES))[: len(EXCHANGES)]
    # groups with no readable event take the time where they sit: the previous group's end
    # (the next group's start for leading ones), so the group times stay in order
    following = next((s for s in starts if s is not None), 0)
    prev = None
    for g in range(n):
        if starts[g] is None:
            starts[g] = ends[g] = prev if prev is not None else following
        prev = ends[g]
    return kind_index_entry(file, starts, ends, rows, counts), bad


def open_parquet(path: Path) -> pq.ParquetFile:
    """A Parquet file opened with page checksums verified on every read."""
    return pq.ParquetFile(str(path), page_checksum_verification=True)
