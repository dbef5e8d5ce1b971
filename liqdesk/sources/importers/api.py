"""Entry points: :func:`import_files` and :func:`import_bytes`."""

from __future__ import annotations

import copy
import gc
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from liqdesk.core.events import EventBatch

from . import report as R
from .binance_csv import BinanceCsvParser
from .binance_ws import BinanceWsParser
from .bybit_ws import BybitWsParser
from .collect import Chunk, Collector, finish
from .detect import detect_format
from .okx_ws import OkxWsParser
from .reader import compression_of_source, head_lines, line_chunks

#: Format name -> parser class.
FORMATS = {
    "binance-ws": BinanceWsParser,
    "binance-csv": BinanceCsvParser,
    "bybit-ws": BybitWsParser,
    "okx-ws": OkxWsParser,
}

#: ``progress(done_bytes, total_bytes)``, called after every block read from disk.
Progress = Callable[[int, int], None]


def import_files(paths: Iterable[str | os.PathLike], fmt: str = "auto", symbol: str | None = None,
                 progress: Progress | None = None) -> tuple[list[EventBatch], R.ImportReport]:
    """Read exchange captures / archives into validated event batches of one symbol.

    ``fmt`` is ``"auto"`` (detected per file from its content) or one of :data:`FORMATS`.
    ``symbol`` picks the market, exactly (``BTCUSDT``, ``BTC/USDT:USDT`` and ``BTC-USDT-SWAP`` are
    one perpetual; ``BTC-USDT`` is spot, never taken for it); when it is not in the inputs nothing
    is imported and ``report.markets`` says what is. Without it the perpetual with the most events
    is imported (see :mod:`.markets`). The lines of the other markets are counted as mixed symbols. Batches cover consecutive time ranges, each sorted by time. Bad content never
    raises: it is counted in the report. A file that cannot be opened raises ``OSError``.
    """
    sources: list[tuple[str, Path | bytes]] = [(str(p), Path(p)) for p in paths]
    return _import(sources, fmt, symbol, progress)


def import_bytes(data: bytes, fmt: str = "auto", symbol: str | None = None,
                 name: str = "<memory>") -> tuple[list[EventBatch], R.ImportReport]:
    """:func:`import_files` for one input held in memory (plain or compressed bytes)."""
    return _import([(name, bytes(data))], fmt, symbol, None)


def _size(src: Path | bytes) -> int:
    return len(src) if isinstance(src, bytes) else src.stat().st_size


def _import(sources: list[tuple[str, Path | bytes]], fmt: str, symbol: str | None,
            progress: Progress | None) -> tuple[list[EventBatch], R.ImportReport]:
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto, {', '.join(FORMATS)}")
    # Each block keeps hundreds of thousands of decoded lists and strings alive until it becomes
    # arrays; they hold no reference cycles, and the cyclic collector would rescan them again and
    # again (2-3x the parse time). So it is paused for the import (process-wide, as gc is).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _import_all(sources, fmt, symbol, progress)
    finally:
        if gc_was_on:
            gc.enable()


def _import_all(sources: list[tuple[str, Path | bytes]], fmt: str, symbol: str | None,
                progress: Progress | None) -> tuple[list[EventBatch], R.ImportReport]:
    report = R.ImportReport(files=[name for name, _ in sources])
    col = Collector()
    parsers: dict[str, object] = {}
    total = sum(_size(src) for _, src in sources)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, total), total)

    for name, src in sources:
        f = fmt if fmt != "auto" else detect_format(head_lines(src))
        report.formats[name] = f
        parser = None
        if f is not None:
            parser = parsers.get(f)
            if parser is None:
                cls = FORMATS[f]
                parser = parsers[f] = cls(col, symbol) if cls is BinanceCsvParser else cls(col)
        _import_file(name, src, parser, col, report, advance)
    batches = finish(col, symbol, report)
    return batches, report


def _import_file(name: str, src: Path | bytes, parser, col: Collector, report: R.ImportReport,
                 advance) -> None:
    """One input through ``parser`` (None: its format is unknown, its lines are only counted).

    A compressed input is checkpointed first: when it turns out damaged (corrupt data, a checksum
    that does not match), it is parsed again from there up to the first line that does not decode,
    since what the damaged stream decodes after it may parse and still be wrong."""
    breaks: list[R.Damage] = []
    partial: list[bool] = []

    def on_break(damage: R.Damage) -> None:
        breaks.append(damage)
        report.truncated[name] = damage.reason
        report.damage[name] = damage

    mark = Checkpoint(col, parser) if parser is not None and compression_of_source(src) != "plain" else None
    if parser is not None:
        parser.start_file(name)
    n, first_bad = 0, None
    for k, lines in enumerate(line_chunks(src, on_break, lambda: partial.append(True), advance)):
        if parser is None:
            n += sum(1 for ln in lines if ln.strip())
            continue
        bad = bad_lines(col)
        n += _feed(parser, col, lines)
        if first_bad is None and bad_lines(col) > bad:
            first_bad = k
    if parser is None:
        col.skip(R.UNRECOGNIZED, n=n)
    else:
        parser.end_file()
    report.lines += n
    if partial:
        col.skip(R.TRUNCATED_LINE)
    if breaks:
        breaks[0].lines_read = n
        if breaks[0].kind in ("corrupt", "checksum") and first_bad is not None and mark is not None:
            mark.restore()
            _cut_at_damage(parser, col, src, name, first_bad, breaks[0], n + len(partial))


def bad_lines(col: Collector, by_reason: bool = False):
    """Lines that did not decode (garbage, malformed) so far: a count, or per skip key."""
    bad = {k: n for k, n in col.reasons.items() if k[1] == R.MALFORMED or k[1].startswith(R.GARBAGE)}
    return bad if by_reason else sum(bad.values())


class Checkpoint:
    """The state of a collector and of a parser, to parse an input again from its start."""

    def __init__(self, col: Collector, parser) -> None:
        self.col, self.parser = col, parser
        self.parts = {kind: len(parts) for kind, parts in col.parts.items()}
        self.lines = list(col.lines)
        self.reasons = col.reasons.copy()
        self.gaps = len(col.gaps)
        # the parser's own state (book sequences, pending snapshots...); its methods stay bound
        # to it and the collector stays shared
        self.state = copy.deepcopy(parser.__dict__, self._memo())

    def _memo(self) -> dict:
        return {id(self.col): self.col, id(self.parser): self.parser}

    def restore(self) -> None:
        col = self.col
        for kind, n in self.parts.items():
            del col.parts[kind][n:]
        col.lines[:] = self.lines + [0] * (len(col.lines) - len(self.lines))
        col.reasons = self.reasons.copy()
        del col.gaps[self.gaps:]
        self.parser.__dict__.clear()
        self.parser.__dict__.update(copy.deepcopy(self.state, self._memo()))


def _feed(parser, col: Collector, lines: list[bytes]) -> int:
    """One block of lines through a parser; returns the non-empty lines."""
    try:
        n = parser.feed(lines)
    except Exception as exc:  # noqa: BLE001 - a bug must not lose the whole import
        # The chunk's columns may be half-written: drop them, count the block's lines.
        if hasattr(parser, "c"):
            parser.c = Chunk()
        n = sum(1 for ln in lines if ln.strip())
        col.skip(f"lines lost to an importer error ({type(exc).__name__}: {exc})", n=n)
        return n
    parser.end_chunk()
    return n


def _cut_at_damage(parser, col: Collector, src, name: str, first_bad: int, damage: R.Damage,
                   read: int) -> None:
    """Parse a damaged input again (from the checkpoint at its start) up to the first line that
    does not decode, in block ``first_bad``; of the ``read`` lines read the first time (the
    partial last one included), those from it on are counted as lines after damaged data."""
    parser.start_file(name)
    kept = line_no = offset = 0
    for k, lines in enumerate(line_chunks(src, lambda _d: None, lambda: None)):
        if k < first_bad:
            kept += _feed(parser, col, lines)
            line_no += len(lines)
            offset += sum(len(ln) + 1 for ln in lines)
            continue
        for line in lines:  # one at a time, to stop before the first bad one
            bad = bad_lines(col, by_reason=True)
            got = _feed(parser, col, [line])
            now = bad_lines(col, by_reason=True)
            if now != bad:
                for key, count in now.items():  # the bad line is counted below, not as garbage
                    col.reasons[key] -= count - bad.get(key, 0)
                damage.first_bad_line, damage.first_bad_offset = line_no + 1, offset
                break
            kept += got
            line_no += 1
            offset += len(line) + 1
        break
    parser.end_file()
    damage.lines_read = read
    damage.lines_dropped = max(0, read - kept)
    if damage.lines_dropped:
        col.skip(R.AFTER_DAMAGE, n=damage.lines_dropped)
