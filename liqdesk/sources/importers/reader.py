"""Bytes in, lines out: plain, gzip (one or several members), zstd (one or several frames) and zip.

Compression is recognised from the magic bytes, not the file name. A truncated or corrupt input
keeps everything that decoded before the break; the break is reported through ``on_break`` and the
partial line at the break is counted, never parsed.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGIC = b"PK\x03\x04"

#: Compressed bytes read at a time; plain files are read in bigger blocks.
COMPRESSED_BLOCK = 1 << 20
PLAIN_BLOCK = 8 << 20

BreakFn = Callable[[str], None]
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


def _read_blocks(fh, size: int, advance: ProgressFn | None) -> Iterator[bytes]:
    while True:
        raw = fh.read(size)
        if not raw:
            return
        if advance:
            advance(len(raw))
        yield raw


def _gzip_blocks(fh, on_break: BreakFn, advance: ProgressFn | None,
                 block: int = COMPRESSED_BLOCK) -> Iterator[bytes]:
    d = zlib.decompressobj(31)
    started = False
    for raw in _read_blocks(fh, block, advance):
        while raw:
            started = True
            try:
                out = d.decompress(raw)
            except zlib.error as exc:
                on_break(f"corrupt gzip data ({exc})")
                return
            if out:
                yield out
            if d.eof:
                raw = d.unused_data
                d = zlib.decompressobj(31)
                started = False
                if raw and not raw.startswith(GZIP_MAGIC):
                    if raw.strip(b"\0"):
                        on_break("data after the end of the gzip stream")
                        return
                    raw = b""
            else:
                raw = b""
    if started and not d.eof:
        try:
            tail = d.flush()
        except zlib.error:
            tail = b""
        if tail:
            yield tail
        on_break("truncated gzip")


def _zstd_blocks(fh, on_break: BreakFn, advance: ProgressFn | None,
                 block: int = COMPRESSED_BLOCK) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor()
    d = dctx.decompressobj()
    started = False
    for raw in _read_blocks(fh, block, advance):
        while raw:
            started = True
            try:
                out = d.decompress(raw)
            except zstandard.ZstdError as exc:
                on_break(f"corrupt zstd data ({exc})")
                return
            if out:
                yield out
            if d.eof:
                raw = d.unused_data
                d = dctx.decompressobj()
                started = False
                if raw and not raw.startswith(ZSTD_MAGIC):
                    on_break("data after the end of the zstd stream")
                    return
            else:
                raw = b""
    if started and not d.eof:
        on_break("truncated zstd")


def _zip_blocks(path: Path | None, data: bytes | None, on_break: BreakFn,
                advance: ProgressFn | None) -> Iterator[bytes]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data) if data is not None else path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        on_break(f"unreadable zip ({exc})")
        return
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        for m in members:
            try:
                with zf.open(m) as fh:
                    while True:
                        out = fh.read(PLAIN_BLOCK)
                        if not out:
                            break
                        yield out
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
                    NotImplementedError, RuntimeError) as exc:
                on_break(f"corrupt zip member {m.filename} ({exc})")
                return
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
    if kind == "gzip":
        yield from _gzip_blocks(fh, on_break, advance, 1 << 16 if small else COMPRESSED_BLOCK)
    elif kind == "zstd":
        yield from _zstd_blocks(fh, on_break, advance, 1 << 16 if small else COMPRESSED_BLOCK)
    else:
        yield from _read_blocks(fh, 1 << 16 if small else PLAIN_BLOCK, advance)


def line_chunks(source: Path | bytes, on_break: BreakFn, on_partial: Callable[[], None],
                advance: ProgressFn | None = None, small: bool = False) -> Iterator[list[bytes]]:
    """Lists of lines (``\\n`` or ``\\r\\n`` ended, empty ones kept), one list per decoded block.

    ``on_break`` is told why an input ended early; ``on_partial`` is called for the partial line
    left at such a break (it is dropped, not yielded).
    """
    broken = []

    def _break(why: str) -> None:
        broken.append(why)
        on_break(why)

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
        for block_lines in line_chunks(source, lambda _why: None, lambda: None, small=True):
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
