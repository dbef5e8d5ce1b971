"""``liqdesk record``: a headless recorder of the live market, for leaving running (systemd
friendly): status on stderr every 10 s, SIGTERM or Ctrl+C closes the session cleanly, a SIGKILL
loses at most about the last second (the session store's promise), ``--duration`` stops it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from liqdesk.commands import duration, duration_or_none
from liqdesk.commands.live import add_live_arguments

HELP = "record the live market headless into a session (SIGTERM closes it cleanly)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_live_arguments(parser)
    parser.add_argument("--out", required=True, metavar="SESSION", help="session directory to create (DAY.liqs)")
    parser.add_argument("--duration", type=duration, default=None, help="stop after this long, e.g. 90s, 15m, 24h "
                        "(default: until SIGTERM or Ctrl+C)")
    parser.add_argument("--backfill", type=duration_or_none, default=0,
                        help="also record this much history fetched by REST on connect (default 0: none)")


def run(args: argparse.Namespace) -> int:
    from liqdesk.app.recording import record_live
    from liqdesk.errors import UserError
    from liqdesk.main import _exchanges, live_source

    out = Path(args.out)
    if out.exists():
        raise UserError(f"{out} already exists; record into a new session")
    exchanges = _exchanges(args.exchanges)
    source = live_source(exchanges, args.symbol, args.emulator, args.backfill)
    stop = threading.Event()

    def on_signal(signum, frame):
        print(f"liqdesk record: {signal.Signals(signum).name}: closing the session", file=sys.stderr, flush=True)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    def log(text: str) -> None:
        print(f"liqdesk record: {text}", file=sys.stderr, flush=True)

    log(f"recording {source.symbol} from {', '.join(source.exchanges)} to {out}"
        + (f" for {args.duration / 1000:g} s" if args.duration else " until SIGTERM"))
    try:
        summary = record_live(source, out, args.duration, log=log, stop=stop)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot record to {out}: {exc}") from None
    per = " · ".join(f"{name} {info['events']:,} events, {info['duplicates']} duplicates dropped, "
                     f"{info['gaps']} gaps" for name, info in summary["exchanges"].items())
    log(f"saved {out}: {summary['events']:,} events ({per})")
    return 1 if summary.get("error") else 0
