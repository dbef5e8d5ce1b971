"""Bytes in, lines out: plain, gzip (one or several members), zstd (one or several frames) and zip.

Compression is recognised from the magic bytes, not the file name. A truncated or corrupt input
keeps everything that decoded before the break, to the byte (the compressed piece in which the
decompressor fails is fed again one byte at a time); the break is reported through ``on_break``
as a :class:`~.report.Damage` (kind, input offset, bytes decoded, and what the input declares
it held beyond the break when it says: gzip's trailer, zstd's frame header), and the partial line
at the break is counted, never parsed. A member or frame is not resynchronised after damage.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import zstandard

from .report import Damage

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGIC = b"PK\x03\x04"

#: Compressed bytes read at a time; plain files are read in bigger blocks.
COMPRESSED_BLOCK = 1 << 20
PLAIN_BLOCK = 8 << 20
#: Compressed bytes handed to the decompressor at a time: where it fails, the output of the
#: failing piece is recovered byte by byte, so a break costs nothing decoded before it.
PIECE = 1 << 16

BreakFn = Callable[[Damage], None]
ProgressFn = Callable[[int], None]


def compression_of(head: bytes) -> str:
    """'gzip', 'zstd', 'zip' or 'plain' from the first bytes of a file."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    return "plain"


def compression_of_source(source: Path | bytes) -> str:
    """:func:`compression_of` a file or of bytes in memory."""
    if isinstance(source, bytes | bytearray | memoryview):
        return compression_of(bytes(source[:4]))
    with open(source, "rb") as fh:
        return compression_of(fh.read(4))


def _read_blocks(fh, size: int, advance: ProgressFn | None) -> Iterator[bytes]:
    while True:
        raw = fh.read(size)
        if not raw:
            return
        if advance:
            advance(len(raw))
        yield raw


class _Codec:
    """What differs between gzip and zstd streams for :func:`_stream_blocks`."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "gzip":
            self.magic, self.errors = GZIP_MAGIC, (zlib.error,)
        else:
            self.magic, self.errors = ZSTD_MAGIC, (zstandard.ZstdError,)
            self._dctx = zstandard.ZstdDecompressor()

    def new(self):
        return zlib.decompressobj(31) if self.name == "gzip" else self._dctx.decompressobj()

    def kind_of(self, exc: Exception) -> str:
        text = str(exc).lower()
        return "checksum" if "check" in text else "corrupt"

    def declared_size(self, fh, frame_start: int, frame_head: bytes) -> int | None:
        """The decompressed size the damaged member / frame declares, when it says."""
        if self.name == "zstd":
            try:
                size = zstandard.get_frame_parameters(frame_head).content_size
            except zstandard.ZstdError:
                return None
            return None if size == zstandard.CONTENTSIZE_UNKNOWN else int(size)
        if frame_start != 0:  # the trailer at the end of the input is the last member's
            return None
        here = fh.tell()
        try:
            fh.seek(-4, io.SEEK_END)
            tail = fh.read(4)
        finally:
            fh.seek(here)
        return int.from_bytes(tail, "little") if len(tail) == 4 else None


def _exact_prefix(codec: _Codec, fh, frame_start: int, piece_start: int, piece: bytes,
                  skip: int) -> tuple[bytes, int]:
    """Everything a member / frame decodes before the byte at which it breaks, and that byte's
    offset in ``piece``. Decodes the member again from its start (``skip`` bytes of output were
    already handed out), then the failing ``piece`` one byte at a time."""
    here = fh.tell()
    d = codec.new()
    out: list[bytes] = []
    try:
        fh.seek(frame_start)
        left = piece_start - frame_start
        while left > 0:
            raw = fh.read(min(left, COMPRESSED_BLOCK))
            if not raw:
                break
            left -= len(raw)
            out.append(d.decompress(raw))
        done = b"".join(out)
        out = [done[skip:]]
        for i in range(len(piece)):
            try:
                out.append(d.decompress(piece[i:i + 1]))
            except codec.errors:
                return b"".join(out), i
        return b"".join(out), len(piece)
    except codec.errors:  # it decoded the first time: cannot happen, keep what was handed out
        return b"", 0
    finally:
        fh.seek(here)


def _stream_blocks(codec: _Codec, fh, on_break: BreakFn, advance: ProgressFn | None,
                   block: int = COMPRESSED_BLOCK) -> Iterator[bytes]:
    """Decompressed blocks of a gzip (members) or zstd (frames) input, one per ``block``
    compressed bytes read. At a break, everything decoded before it is yielded and a
    :class:`~.report.Damage` says where and why."""
    size = _input_size(fh)
    d = None  # decompressor of the current member / frame; None between them
    frame_start = 0
    frame_head = b""
    frame_out = 0  # output of the current member / frame so far
    decoded = 0
    pos = 0  # input offset of buf[0]
    buf = b""

    def damage(kind: str, reason: str, offset: int) -> Damage:
        # a gzip trailer is only where a member ended (a truncated file has none); a checksum
        # mismatch comes after everything was decoded
        known = kind == "corrupt" or (kind == "truncated" and codec.name == "zstd")
        declared = codec.declared_size(fh, frame_start, frame_head) if d is not None and known else None
        lost = None
        if declared is not None:
            # gzip states the size modulo 2**32: the smallest size >= what decoded
            lost = (declared - frame_out) % (1 << 32) if codec.name == "gzip" else max(0, declared - frame_out)
        return Damage(kind, reason, offset, size, decoded, lost)

    for raw in _read_blocks(fh, block, advance):
        buf = buf + raw if buf else raw
        outs: list[bytes] = []
        i = 0
        while i < len(buf):
            if d is None:  # at a member / frame boundary
                if len(buf) - i < len(codec.magic):
                    break  # the next block completes the magic bytes (or the input ends)
                if not buf.startswith(codec.magic, i):
                    if codec.name == "gzip" and not buf[i:].strip(b"\0"):
                        i = len(buf)  # zero padding after the last member
                        continue
                    if outs:
                        yield b"".join(outs)
                    on_break(damage("trailing", f"data after the end of the {codec.name} stream", pos + i))
                    return
                d, frame_start, frame_head, frame_out = codec.new(), pos + i, buf[i:i + 18], 0
            piece = buf[i:i + PIECE]
            try:
                out = d.decompress(piece)
            except codec.errors as exc:
                out, used = _exact_prefix(codec, fh, frame_start, pos + i, piece, frame_out)
                outs.append(out)
                frame_out += len(out)
                decoded += len(out)
                if outs:
                    yield b"".join(outs)
                kind = codec.kind_of(exc)
                why = "checksum mismatch" if kind == "checksum" else "corrupt data"
                on_break(damage(kind, f"{codec.name} {why} ({exc})", pos + i + used))
                return
            outs.append(out)
            frame_out += len(out)
            decoded += len(out)
            if d.eof:
                i += len(piece) - len(d.unused_data)
                d = None
            else:
                i += len(piece)
        pos += i
        buf = buf[i:]
        if outs:
            yield b"".join(outs)
    if d is not None:
        if codec.name == "gzip":
            try:
                tail = d.flush()
            except zlib.error:
                tail = b""
            if tail:
                frame_out += len(tail)
                decoded += len(tail)
                yield tail
        on_break(damage("truncated", f"truncated {codec.name}", size))
    elif buf.strip(b"\0"):
        on_break(damage("trailing", f"data after the end of the {codec.name} stream", pos))


def _input_size(fh) -> int:
    here = fh.tell()
    try:
        return fh.seek(0, io.SEEK_END)
    finally:
        fh.seek(here)


def _zip_blocks(path: Path | None, data: bytes | None, on_break: BreakFn,
                advance: ProgressFn | None) -> Iterator[bytes]:
    size = len(data) if data is not None else path.stat().st_size
    decoded = 0
    try:
        zf = zipfile.ZipFile(io.BytesIO(data) if data is not None else path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        on_break(Damage("corrupt", f"unreadable zip ({exc})", 0, size, 0))
        return
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        for m in members:
            outs: list[bytes] = []
            got = member_total = 0
            try:
                with zf.open(m) as fh:
                    while True:
                        # small reads: a member's CRC is checked on the read that reaches its end,
                        # and that read's data is lost with it
                        out = fh.read(PIECE)
                        if not out:
                            break
                        outs.append(out)
                        got += len(out)
                        member_total += len(out)
                        if got >= PLAIN_BLOCK:
                            yield b"".join(outs)
                            decoded += got
                            outs, got = [], 0
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
                    NotImplementedError, RuntimeError) as exc:
                if outs:
                    yield b"".join(outs)
                    decoded += got
                kind = "checksum" if "CRC" in str(exc) else "corrupt"
                on_break(Damage(kind, f"corrupt zip member {m.filename} ({exc})", m.header_offset, size,
                                decoded, max(0, m.file_size - member_total)))
                return
            if outs:
                yield b"".join(outs)
                decoded += got
            if advance:
                advance(m.compress_size)
            # one line break between members so the last line of one never glues to the next
            yield b"\n"


def decompressed_blocks(source: Path | bytes, on_break: BreakFn,
                        advance: ProgressFn | None = None, small: bool = False) -> Iterator[bytes]:
    """Decompressed blocks of a file (or of bytes in memory), whatever its compression."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        kind = compression_of(data[:4])
        if kind == "zip":
            yield from _zip_blocks(None, data, on_break, advance)
            return
        fh = io.BytesIO(data)
        yield from _dispatch(kind, fh, on_break, advance, small)
        return
    with open(source, "rb") as fh:
        kind = compression_of(fh.read(4))
        fh.seek(0)
        if kind == "zip":
            yield from _zip_blocks(Path(source), None, on_break, advance)
            return
        yield from _dispatch(kind, fh, on_break, advance, small)


def _dispatch(kind: str, fh, on_break: BreakFn, advance: ProgressFn | None,
              small: bool = False) -> Iterator[bytes]:
    """``small``: read 64 KiB at a time (to look at the start of a file cheaply)."""
    if kind in ("gzip", "zstd"):
        yield from _stream_blocks(_Codec(kind), fh, on_break, advance, 1 << 16 if small else COMPRESSED_BLOCK)
    else:
        yield from _read_blocks(fh, 1 << 16 if small else PLAIN_BLOCK, advance)


def line_chunks(source: Path | bytes, on_break: BreakFn, on_partial: Callable[[], None],
                advance: ProgressFn | None = None, small: bool = False) -> Iterator[list[bytes]]:
    """Lists of lines (``\\n`` or ``\\r\\n`` ended, empty ones kept), one list per decoded block.

    ``on_break`` is told where and why an input ended early (a :class:`~.report.Damage`);
    ``on_partial`` is called for the partial line left at such a break (it is dropped, not
    yielded).
    """
    broken = []

    def _break(damage: Damage) -> None:
        broken.append(damage)
        on_break(damage)

    rest = b""
    for block in decompressed_blocks(source, _break, advance, small):
        data = rest + block if rest else block
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        lines = data.split(b"\n")
        rest = lines.pop()  # a "\r" left at its end meets its "\n" in the next block
        if lines:
            yield lines
    if rest.strip():
        if broken:
            on_partial()
        else:
            yield [rest.rstrip(b"\r")]


def head_lines(source: Path | bytes, limit: int = 200, max_bytes: int = 4 << 20) -> list[bytes]:
    """The first non-empty lines of an input (for format detection); never raises on bad data."""
    out: list[bytes] = []
    seen = 0
    try:
        for block_lines in line_chunks(source, lambda _damage: None, lambda: None, small=True):
            for line in block_lines:
                seen += len(line) + 1
                if line.strip():
                    out.append(line)
                    if len(out) >= limit:
                        return out
            if seen >= max_bytes:
                break
    except OSError:
        raise
    except Exception:  # noqa: BLE001 - detection must never fail on a bad input
        pass
    return out
