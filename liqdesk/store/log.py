"""Append logs: Arrow IPC streams written batch by batch, read back past a damaged tail.

A log is a standard Arrow IPC *stream* (``pyarrow.ipc.open_stream`` reads an intact one), buffers
compressed with zstd, every record batch carrying a CRC-32 of its values under the custom
metadata key ``liqdesk.crc32``. :class:`LogScan` yields the batches that are complete and whose
checksum matches. When a message cannot be read or fails its checksum, the scan looks for the next
IPC continuation marker (``0xFFFFFFFF``) from which a whole, checksum-valid batch decodes, and goes
on from there; the bytes in between are reported as skipped. A log that ends without the
end-of-stream marker (the writer was killed) simply ends after its last complete batch.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from liqdesk.store.format import CRC_KEY, RecoveryNote

_MARKER = b"\xff\xff\xff\xff"
_WRITE_OPTIONS = ipc.IpcWriteOptions(compression="zstd")


class LogWriter:
    """Appends record batches to one IPC stream file; the file is created on the first batch."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        self._sink: pa.NativeFile | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None
        self.batches = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch, crc: int) -> None:
        if self._writer is None:
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = ipc.new_stream(self._sink, self.schema, options=_WRITE_OPTIONS)
        self._writer.write_batch(batch, custom_metadata={CRC_KEY: str(crc)})
        self.batches += 1
        self.rows += batch.num_rows

    def flush(self) -> None:
        """Hand everything written to the operating system (OSFile writes are unbuffered)."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Write the end-of-stream marker and close the file."""
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
            self._sink = None

    @property
    def exists(self) -> bool:
        return self.batches > 0


def _is_truncation(exc: BaseException) -> bool:
    text = str(exc)
    return any(s in text for s in ("Expected to be able to read", "only read", "bytes available", "Unexpected end"))


class LogScan:
    """Iterate over the intact record batches of one log, recording what was skipped.

    ``verify(batch, metadata) -> str | None`` returns None for a good batch or the reason it is bad.
    ``check_schema(schema) -> str | None`` likewise for the stream's schema.
    After iteration: :attr:`schema`, :attr:`batches`, :attr:`rows`, :attr:`note` (None when the
    log was read whole).
    """

    def __init__(
        self,
        path: Path,
        name: str,
        verify: Callable[[pa.RecordBatch, dict], str | None],
        check_schema: Callable[[pa.Schema], str | None] | None = None,
        fallback_schema: pa.Schema | None = None,
    ):
        self.path = Path(path)
        self.name = name
        self.verify = verify
        self.check_schema = check_schema
        self.fallback_schema = fallback_schema
        self.size = self.path.stat().st_size
        self.schema: pa.Schema | None = None
        self.batches = 0
        self.rows = 0
        self.bytes_skipped = 0
        self.batches_skipped = 0
        self.reasons: list[str] = []

    # -- the report

    @property
    def note(self) -> RecoveryNote | None:
        if not self.reasons:
            return None
        reasons = list(dict.fromkeys(self.reasons))
        return RecoveryNote(
            name=self.name,
            file=self.path.name,
            reason="; ".join(reasons),
            bytes_skipped=self.bytes_skipped,
            batches_skipped=self.batches_skipped,
            batches_recovered=self.batches,
            rows_recovered=self.rows,
        )

    def _skip(self, nbytes: int, reason: str, batches: int = 1) -> None:
        self.bytes_skipped += nbytes
        self.batches_skipped += batches
        self.reasons.append(reason)

    # -- reading

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        self.batches = self.rows = self.bytes_skipped = self.batches_skipped = 0
        self.reasons = []
        if self.size == 0:
            return
        with pa.OSFile(str(self.path), "r") as f:
            try:
                reader = ipc.open_stream(f)
                schema = reader.schema
                problem = self.check_schema(schema) if self.check_schema else None
            except (pa.ArrowException, OSError, ValueError) as exc:
                reader = None
                problem = ("truncated before its first batch" if _is_truncation(exc)
                           else f"unreadable header ({' '.join(str(exc).split())[:120]})")
            if problem is None:
                self.schema = schema
                header_end = f.tell()
                f.seek(0)
                header = f.read(header_end)
                f.seek(header_end)
                yield from self._batches(f, reader, header)
                return
        if self.fallback_schema is None:
            self._skip(self.size, problem, batches=0)
            return
        # The stream's own schema message is damaged: the kind's standard schema stands in for it
        # and the scan re-synchronises on the first good batch.
        self.schema = self.fallback_schema
        header = self.fallback_schema.serialize().to_pybytes()
        found = self._resync(0, header)
        if found is None:
            self._skip(self.size, problem, batches=0)
            return
        sync, rest = found
        self._skip(sync, f"{problem}; read with the standard {self.name} schema", batches=0)
        src = pa.BufferReader(pa.py_buffer(header + rest))
        yield from self._batches(src, ipc.open_stream(src), header, base=sync, prefix=len(header))

    def _batches(self, src: pa.NativeFile, reader, header: bytes, base: int = 0, prefix: int = 0
                 ) -> Iterator[pa.RecordBatch]:
        # file offset of the source's position = base + src.tell() - prefix
        pos = base + src.tell() - prefix
        while True:
            start = pos
            try:
                batch, meta = reader.read_next_batch_with_custom_metadata()
            except StopIteration:
                end = base + src.tell() - prefix
                if end < self.size:
                    self._skip(self.size - end, "bytes after the end-of-stream marker", batches=0)
                return
            except (pa.ArrowException, OSError, ValueError) as exc:
                truncated = _is_truncation(exc)
                problem = f"unreadable batch ({' '.join(str(exc).split())[:120]})"
            else:
                truncated = False
                pos = base + src.tell() - prefix
                problem = self.verify(batch, meta)
                if problem is None and not batch.schema.equals(self.schema, check_metadata=False):
                    problem = "batch schema differs from the stream's"
                if problem is None:
                    self.batches += 1
                    self.rows += batch.num_rows
                    yield batch
                    continue
            # Damage starting at `start`: find the next message a whole good batch decodes from.
            found = self._resync(start, header)
            if found is None:
                if truncated:
                    self._skip(self.size - start, "truncated tail (incomplete last batch)")
                else:
                    self._skip(self.size - start, f"corrupt tail: {problem}; nothing readable after it")
                return
            sync, rest = found
            self._skip(sync - start, f"damaged region skipped: {problem}")
            src = pa.BufferReader(pa.py_buffer(header + rest))
            reader = ipc.open_stream(src)
            base, prefix = sync, len(header)
            pos = sync

    def _resync(self, start: int, header: bytes) -> tuple[int, bytes] | None:
        """(offset, bytes from offset to the end) of the first good batch message after start."""
        with open(self.path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        view = pa.py_buffer(data)
        at = 1
        while True:
            at = data.find(_MARKER, at)
            if at < 0 or at + 8 > len(data):
                return None
            (meta_len,) = struct.unpack_from("<i", data, at + 4)
            if meta_len > 0 and meta_len % 8 == 0 and at + 8 + meta_len <= len(data) and self._good_message(
                view.slice(at), header
            ):
                return start + at, data[at:]
            at += 1

    def _good_message(self, buf: pa.Buffer, header: bytes) -> bool:
        try:
            msg = ipc.read_message(pa.BufferReader(buf))
            if msg.type != "record batch":
                return False
            mini = pa.BufferReader(pa.py_buffer(header + msg.serialize().to_pybytes()))
            batch, meta = ipc.open_stream(mini).read_next_batch_with_custom_metadata()
        except (pa.ArrowException, OSError, ValueError, StopIteration):
            return False
        return self.verify(batch, meta) is None and batch.schema.equals(self.schema, check_metadata=False)


class RepeatedBatches:
    """Finds log batches that repeat an earlier batch of the same log exactly (a log appended
    to itself, a copy concatenated onto it). Batches are keyed by (rows, checksum); only on a
    key match are the contents compared, by the caller's ``equal``."""

    def __init__(self):
        self._seen: dict[tuple, list[int]] = {}
        self.batches = 0
        self.rows = 0

    def repeated(self, key: tuple, item: int, equal: Callable[[int], bool], rows: int) -> bool:
        """Whether the batch keyed ``key`` equals an earlier one (``equal(earlier_item)``); if not
        it is remembered as ``item`` (e.g. its position in the caller's list of kept batches)."""
        items = self._seen.setdefault(key, [])
        if any(equal(i) for i in items):
            self.batches += 1
            self.rows += rows
            return True
        items.append(item)
        return False

    def note(self, name: str, file: str) -> RecoveryNote | None:
        if not self.batches:
            return None
        return RecoveryNote(name, file, f"{self.batches:,} batch{'es' if self.batches > 1 else ''} "
                                        f"({self.rows:,} rows) repeat earlier batches of the log exactly (the log holds "
                                        "a copy of itself); read once")
