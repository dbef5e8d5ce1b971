"""``liqdesk import INPUT... --out SESSION [--format F] [--symbol S]``: public exchange data -> session."""

from __future__ import annotations

import argparse
from pathlib import Path

from liqdesk.errors import UserError

HELP = ("import public exchange data (Binance/Bybit/OKX websocket captures, Binance history CSVs) "
        "into a session")

FORMAT_CHOICES = ("auto", "binance-ws", "binance-csv", "bybit-ws", "okx-ws")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                        help="capture or CSV files: plain, .gz, .zst or .zip")
    parser.add_argument("--out", required=True, type=Path, metavar="SESSION",
                        help="session directory to create (NAME.liqs)")
    parser.add_argument("--format", default="auto", choices=FORMAT_CHOICES,
                        help="input format (default: detected from each file's content)")
    parser.add_argument("--symbol", metavar="S",
                        help="market to import, exactly: BTCUSDT, BTC/USDT:USDT or BTC-USDT-SWAP (the "
                             "perpetual), BTC-USDT or BTC/USDT (spot), BTC-USDT-240927 (a dated future); "
                             "default: the perpetual with the most events")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing session")


def run(args: argparse.Namespace) -> int:
    from liqdesk.commands.progress import Progress
    from liqdesk.sources.importers import import_files
    from liqdesk.store.atomic import check_target

    for path in args.inputs:
        if not path.is_file():
            raise UserError(f"input not found or not a file: {path}")
    try:  # before the work, not after it
        check_target(args.out, args.overwrite, is_dir=True)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    # the share of the input bytes read, MB/s of them; shown once the work takes over a second
    with Progress("import", unit="MB", delay_s=1.0) as progress:
        batches, report = import_files(args.inputs, fmt=args.format, symbol=args.symbol,
                                       progress=lambda done, total: progress(done / max(1, total), done / 1e6))
    if not report.usable:
        from liqdesk.sources.importers.markets import describe_all

        if args.symbol and report.symbol is None and report.markets:
            raise UserError(f"{args.symbol} is not in the input, which holds {describe_all(report.markets)}")
        if args.symbol and report.symbol is not None:
            others = f"; it also holds {describe_all(report.others())}" if report.others() else ""
            raise UserError(f"no usable events for {args.symbol} in the input: {report.summary()}{others}")
        raise UserError(f"nothing usable found in the input: {report.summary()}")
    write_session(args.out, report, batches, args.inputs, args.format, args.overwrite)
    print(report.summary())
    return 0


def write_session(out: Path, report, batches, inputs, fmt: str, overwrite: bool) -> None:
    """The session, written under a temporary name beside ``out`` and renamed into place once
    closed; on any failure nothing is left at ``out`` (a session it held stays as it was)."""
    from liqdesk.store import RecoveryNote, SessionWriter
    from liqdesk.store.atomic import atomic_dir, one_line

    meta = {
        "source": "import",
        "import": {
            "inputs": [str(p) for p in inputs],
            "format": fmt,
            "report": report.as_dict(),
            "summary": report.summary(),
        },
    }
    tmp = out
    try:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            writer = SessionWriter(tmp, report.symbol, meta=meta)
            try:
                for name, damage in report.damage.items():  # kept in session.json "recovery" too
                    writer.recovery.add(RecoveryNote("import", Path(name).name, damage.describe(),
                                                     bytes_skipped=max(0, damage.size - damage.offset),
                                                     batches_skipped=1))  # one damaged region
                for batch in batches:
                    writer.write(batch)
                for gap in report.gaps:
                    writer.add_gap(gap.exchange, gap.kind, gap.start_ms, gap.end_ms, gap.reason)
            except BaseException:
                writer.abort()
                raise
            writer.close()
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"could not write {out}: {one_line(exc, tmp, out)}; nothing was written there") from None
