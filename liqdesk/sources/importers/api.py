"""Entry points: :func:`import_files` and :func:`import_bytes`."""

from __future__ import annotations

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
from .reader import head_lines, line_chunks

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

        def on_break(why: str, name: str = name) -> None:
            report.truncated[name] = why

        def on_partial() -> None:
            col.skip(R.TRUNCATED_LINE)

        if f is None:
            n = 0
            for lines in line_chunks(src, on_break, on_partial, advance):
                n += sum(1 for ln in lines if ln.strip())
            report.lines += n
            col.skip(R.UNRECOGNIZED, n=n)
            continue
        parser = parsers.get(f)
        if parser is None:
            cls = FORMATS[f]
            parser = parsers[f] = cls(col, symbol) if cls is BinanceCsvParser else cls(col)
        parser.start_file(name)
        for lines in line_chunks(src, on_break, on_partial, advance):
            try:
                report.lines += parser.feed(lines)
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the whole import
                # The chunk's columns may be half-written: drop them, count the block's lines.
                if hasattr(parser, "c"):
                    parser.c = Chunk()
                n = sum(1 for ln in lines if ln.strip())
                report.lines += n
                col.skip(f"lines lost to an importer error ({type(exc).__name__}: {exc})", n=n)
                continue
            parser.end_chunk()
        parser.end_file()
    batches = finish(col, symbol, report)
    return batches, report
