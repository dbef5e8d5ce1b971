"""The session journal: every normalized event a chart session has seen, kept so that a change of
settings rebuilds the model from history instead of restarting it, and so that a recording can
start from the beginning of the session.

- **Appending** (:meth:`Journal.append`, the thread that ingests) is cheap: a batch joins the open
  chunk; once the open chunk spans :attr:`Journal.chunk_ms` of event time (or holds many events)
  it is sealed into one immutable :class:`~liqdesk.core.events.EventBatch`.
- **Memory, then disk.** Sealed chunks stay in memory up to ``memory_limit_bytes``; past it the
  oldest are written, by a background thread, to *segments* on disk in the session store format
  (closed sessions: Parquet with a time index, readable by DuckDB or Polars like any session) and
  dropped from memory once their segment is readable.
- **Retention.** Chunks (and whole segments) older than ``retention_ms`` before the newest event
  are forgotten (default 7 days).
- **Reading** goes through :meth:`Journal.snapshot`, an immutable view of what was appended so
  far; it stays valid while the journal keeps growing, spilling and forgetting.

Times are event times in ms since the epoch. Thread-safe: append from one thread, snapshot and
read from any.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liqdesk.core.events import KINDS, EventBatch

DAY_MS = 86_400_000
#: Default retention of a chart session's journal.
DEFAULT_RETENTION_MS = 7 * DAY_MS
#: Default memory for sealed chunks before the oldest go to disk.
DEFAULT_MEMORY_LIMIT = 512 * 2**20
#: Event time one sealed chunk spans at most (and the unit of retention).
CHUNK_MS = 60_000
#: Events after which the open chunk is sealed early (a flood must not grow one chunk forever).
CHUNK_EVENTS = 250_000
#: Bytes of sealed chunks written to one disk segment at a time.
SEGMENT_BYTES = 64 * 2**20
#: The event kinds the level model reads (a rebuild reads only these; liquidations teach its leverage mix).
MODEL_KINDS = ("trades", "marks", "open_interest", "liquidations")

_ids = itertools.count(1)


def batch_nbytes(batch: EventBatch) -> int:
    return sum(a.nbytes for a in batch.arrays().values())


def merge_arrays(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate same-kind arrays into one read-only array sorted by time (stable; no sort when
    the parts are already in order, the usual case for a journal)."""
    if len(parts) == 1:
        return parts[0]
    arr = np.concatenate(parts)
    t = arr["time_ms"]
    if len(t) > 1 and not bool(np.all(t[1:] >= t[:-1])):
        arr = arr[np.argsort(t, kind="stable")]
    arr.flags.writeable = False
    return arr


def merge_batches(batches: list[EventBatch], kinds=None) -> EventBatch:
    """One batch of ``batches`` (only ``kinds`` when given), each kind in time order."""
    if len(batches) == 1 and kinds is None:
        return batches[0]
    out = {}
    for kind in kinds or KINDS:
        parts = [getattr(b, kind) for b in batches if len(getattr(b, kind))]
        if parts:
            out[kind] = merge_arrays(parts)
    return EventBatch(**out, checked=all(b.checked for b in batches))


@dataclass
class _Segment:
    """Sealed chunks written to one closed session on disk."""

    path: Path
    start_ms: int
    end_ms: int
    live_chunks: int = 0     # chunks of the journal still referring to it


class _Chunk:
    """Events of one span of time: in memory (``batch``) or in a disk segment."""

    __slots__ = ("start_ms", "end_ms", "events", "nbytes", "batch", "segment")

    def __init__(self, batch: EventBatch, span: tuple[int, int]):
        self.start_ms, self.end_ms = span
        self.events = len(batch)
        self.nbytes = batch_nbytes(batch)
        self.batch: EventBatch | None = batch
        self.segment: _Segment | None = None


class JournalView:
    """What the journal held when :meth:`Journal.snapshot` was called (immutable).

    ``start_ms``/``end_ms``: first and last event time (None when empty); ``events``: how many.
    """

    def __init__(self, chunks: list[tuple[int, int, EventBatch | None, _Segment | None]], events: int):
        self._chunks = chunks
        self.events = events
        self.start_ms = chunks[0][0] if chunks else None
        self.end_ms = max(c[1] for c in chunks) if chunks else None

    def __len__(self) -> int:
        return self.events

    def iter_batches(self, kinds=None, merge_ms: int = 900_000, start_ms: int | None = None
                     ) -> Iterator[EventBatch]:
        """The events in time order, ``kinds`` only (default all), in batches of about
        ``merge_ms`` of event time (bigger batches ingest faster); events before ``start_ms``
        are skipped. Segments on disk are read as they come."""
        from liqdesk.store import SessionReader

        pending: list[EventBatch] = []
        pending_from: int | None = None
        readers: dict[Path, SessionReader] = {}
        try:
            for c_start, c_end, batch, segment in self._chunks:
                if start_ms is not None and c_end < start_ms:
                    continue
                if batch is None:
                    reader = readers.get(segment.path)
                    if reader is None:
                        readers.clear()
                        reader = readers[segment.path] = SessionReader(segment.path)
                    batch = reader.read(c_start, c_end + 1, kinds=kinds or list(KINDS))
                if start_ms is not None and c_start < start_ms:
                    from liqdesk.core.events import slice_batch

                    batch = slice_batch(batch, start_ms, None)
                pending.append(batch)
                pending_from = c_start if pending_from is None else pending_from
                if c_end - pending_from >= merge_ms:
                    yield merge_batches(pending, kinds or tuple(KINDS))
                    pending, pending_from = [], None
            if pending:
                yield merge_batches(pending, kinds or tuple(KINDS))
        finally:
            for reader in readers.values():
                reader.close()


class Journal:
    """Every event batch appended, in memory up to a limit and on disk past it, for ``retention_ms``.

    ``spill_dir``: where disk segments go (a private folder is made under it and removed by
    :meth:`close`); None keeps everything in memory (retention still applies).
    """

    def __init__(self, retention_ms: int = DEFAULT_RETENTION_MS, memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT,
                 spill_dir: str | os.PathLike | None = None, symbol: str = "journal",
                 chunk_ms: int = CHUNK_MS, segment_bytes: int = SEGMENT_BYTES,
                 on_message: Callable[[str], None] | None = None):
        if not retention_ms > 0:
            raise ValueError(f"journal retention must be > 0 ms, not {retention_ms!r}")
        if not memory_limit_bytes > 0:
            raise ValueError(f"journal memory limit must be > 0 bytes, not {memory_limit_bytes!r}")
        self.retention_ms = int(retention_ms)
        self.memory_limit = int(memory_limit_bytes)
        self.chunk_ms = int(chunk_ms)
        self.segment_bytes = int(segment_bytes)
        self.symbol = symbol
        self.on_message = on_message
        self._lock = threading.Lock()
        self._chunks: list[_Chunk] = []
        self._open: list[EventBatch] = []
        self._open_events = 0
        self._open_span: list[int] | None = None
        self._memory = 0           # bytes of sealed chunks held in memory
        self._disk_bytes = 0
        self._events = 0
        self.forgotten_events = 0
        self.newest_ms: int | None = None
        self._dir: Path | None = None
        self._spill_root = Path(spill_dir) if spill_dir is not None else None
        self._spilling: threading.Thread | None = None
        self._closed = False
        self.error: str | None = None

    # ------------------------------------------------------------------ writing
    def append(self, batch: EventBatch) -> None:
        """Add a batch (events in time order after what came before, within the model's tolerance)."""
        if self._closed or not len(batch):
            return
        span = batch.time_span()
        with self._lock:
            self._open.append(batch)
            self._open_events += len(batch)
            self._events += len(batch)
            if self._open_span is None:
                self._open_span = [span[0], span[1]]
            else:
                self._open_span[0] = min(self._open_span[0], span[0])
                self._open_span[1] = max(self._open_span[1], span[1])
            self.newest_ms = self._open_span[1] if self.newest_ms is None else max(self.newest_ms, span[1])
            seal = (self._open_span[1] - self._open_span[0] >= self.chunk_ms
                    or self._open_events >= CHUNK_EVENTS)
        if seal:
            self.seal()

    def seal(self) -> None:
        """Close the open chunk (it becomes one immutable batch), then apply retention and spill."""
        with self._lock:
            if not self._open:
                return
            batch = merge_batches(self._open)
            chunk = _Chunk(batch, (self._open_span[0], self._open_span[1]))
            self._open, self._open_events, self._open_span = [], 0, None
            self._chunks.append(chunk)
            self._memory += chunk.nbytes
            dropped = self._apply_retention()
            spill = self._memory > self.memory_limit and self._spill_root is not None
        for seg in dropped:
            shutil.rmtree(seg.path, ignore_errors=True)
        if spill:
            self._start_spill()

    def _apply_retention(self) -> list[_Segment]:
        """Forget chunks older than the retention (lock held); returns segments no longer used."""
        if self.newest_ms is None:
            return []
        cutoff = self.newest_ms - self.retention_ms
        n = 0
        while n < len(self._chunks) - 1 and self._chunks[n].end_ms < cutoff:
            n += 1
        dead = []
        for chunk in self._chunks[:n]:
            self._events -= chunk.events
            self.forgotten_events += chunk.events
            if chunk.batch is not None:
                self._memory -= chunk.nbytes
            if chunk.segment is not None:
                chunk.segment.live_chunks -= 1
                if chunk.segment.live_chunks == 0:
                    self._disk_bytes -= _dir_bytes(chunk.segment.path)
                    dead.append(chunk.segment)
        del self._chunks[:n]
        return dead

    # ------------------------------------------------------------------ spilling to disk
    def _start_spill(self) -> None:
        if self._spilling is not None and self._spilling.is_alive():
            return
        self._spilling = threading.Thread(target=self._spill, name="liqdesk-journal-spill", daemon=True)
        self._spilling.start()

    def _spill(self) -> None:
        from liqdesk.store import SessionWriter

        while not self._closed:
            with self._lock:
                if self._memory <= self.memory_limit:
                    return
                picked, size = [], 0
                for chunk in self._chunks:
                    if chunk.batch is None:
                        continue
                    picked.append(chunk)
                    size += chunk.nbytes
                    if size >= self.segment_bytes or self._memory - size <= self.memory_limit * 0.75:
                        break
            if not picked:
                return
            try:
                if self._dir is None:
                    self._dir = _private_dir(self._spill_root)
                path = self._dir / f"segment-{next(_ids):06d}.liqs"
                with SessionWriter(path, self.symbol, meta={"journal": True}, fsync=False) as writer:
                    for chunk in picked:
                        writer.write(chunk.batch)
                nbytes = _dir_bytes(path)
            except Exception as exc:  # disk full, unwritable: keep the chunks in memory
                self.error = f"journal could not spill to disk ({type(exc).__name__}: {exc}); kept in memory"
                if self.on_message:
                    self.on_message(self.error)
                return
            segment = _Segment(path, picked[0].start_ms, max(c.end_ms for c in picked))
            with self._lock:
                for chunk in picked:
                    if chunk in self._chunks:   # (retention may have dropped it meanwhile)
                        chunk.batch, chunk.segment = None, segment
                        segment.live_chunks += 1
                        self._memory -= chunk.nbytes
                self._disk_bytes += nbytes
                orphan = segment.live_chunks == 0
            if orphan:
                shutil.rmtree(path, ignore_errors=True)

    def wait_spilled(self, timeout: float = 30.0) -> None:
        """Wait for a running spill to finish (tests, shutdown)."""
        t = self._spilling
        if t is not None:
            t.join(timeout)

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> JournalView:
        """An immutable view of every event appended so far (the open chunk included)."""
        with self._lock:
            chunks = [(c.start_ms, c.end_ms, c.batch, c.segment) for c in self._chunks]
            if self._open:
                chunks.append((self._open_span[0], self._open_span[1], merge_batches(list(self._open)), None))
            return JournalView(chunks, self._events)

    @property
    def events(self) -> int:
        return self._events

    @property
    def memory_bytes(self) -> int:
        """Bytes of event data held in memory (sealed chunks and the open one)."""
        with self._lock:
            return self._memory + sum(batch_nbytes(b) for b in self._open)

    @property
    def disk_bytes(self) -> int:
        return self._disk_bytes

    @property
    def start_ms(self) -> int | None:
        with self._lock:
            if self._chunks:
                return self._chunks[0].start_ms
            return self._open_span[0] if self._open_span else None

    def describe(self) -> str:
        """One line for the status bar: span, events, memory and disk."""
        from liqdesk.core.timefmt import format_duration

        start, end = self.start_ms, self.newest_ms
        span = format_duration(end - start) if start is not None and end is not None else "empty"
        disk = f", {self._disk_bytes / 2**20:,.0f} MB on disk" if self._disk_bytes else ""
        return f"journal {span}, {self._events:,} events, {self.memory_bytes / 2**20:,.0f} MB{disk}"

    def close(self) -> None:
        """Stop spilling and remove the disk segments (the journal is gone)."""
        self._closed = True
        self.wait_spilled(10.0)
        with self._lock:
            self._chunks.clear()
            self._open.clear()
            self._memory = 0
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _dir_bytes(path: Path) -> int:
    try:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return 0


def _private_dir(root: Path) -> Path:
    """A new folder for this process's segments under ``root``; folders left by processes that
    are gone (a crash) are removed first."""
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("journal-*"):
        try:
            pid = int(old.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(old, ignore_errors=True)
    path = root / f"journal-{os.getpid()}-{int(time.time() * 1000)}-{next(_ids)}"
    path.mkdir()
    return path


def _pid_alive(pid: int) -> bool:
    import psutil  # (os.kill(pid, 0) would terminate the process on Windows)

    return psutil.pid_exists(pid)
