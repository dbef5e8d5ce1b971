"""``liqdesk emulate``: the loopback exchange emulator, for trying and testing the live path
without the network. It serves each exchange's REST endpoints and websocket streams in that
exchange's own format on 127.0.0.1, fed by the built-in simulator (so a session recorded live from
it has ground truth). Its first stdout line is ``listening on http://127.0.0.1:PORT``; point
``liqdesk live``/``liqdesk record`` at it with ``--emulator URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from liqdesk.commands import duration, positive_float

HELP = "serve a loopback exchange emulator (Binance, Bybit, OKX, ... wire formats) on 127.0.0.1"


def exchanges_arg(text: str) -> tuple[str, ...]:
    """An argparse type: ``binance,bybit`` -> ("binance", "bybit"), names checked."""
    from liqdesk.core.events import EXCHANGES

    names = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    bad = [n for n in names if n not in EXCHANGES]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"unknown exchange(s) {', '.join(bad) or text!r}; expected some of "
                                         f"{', '.join(EXCHANGES)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    parser.add_argument("--exchanges", type=exchanges_arg, default=("binance", "bybit", "okx"),
                        help="comma-separated exchanges to serve (default binance,bybit,okx)")
    parser.add_argument("--symbol", default="BTC/USDT:USDT", help="market to simulate (default BTC/USDT:USDT)")
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument("--speed", type=positive_float("a speed"), default=1.0,
                        help="market time per wall second (default 1)")
    parser.add_argument("--history", type=duration, default=2 * 3_600_000,
                        help="market history served by REST for warm starts (default 2h)")
    parser.add_argument("--faults", default=None,
                        help="faults to inject, e.g. 'drop@30s,stall@60s:10s,gap@rate:0.01,http429@45s' "
                             "(kinds: drop stall gap malformed truncated dup http429 burst refuse)")
    parser.add_argument("--duration", type=duration, default=None, help="stop after this long (default: until Ctrl+C)")
    parser.add_argument("--send-log", metavar="FILE", default=None,
                        help="for benchmarks: append a JSON line per tick (wall time, newest event time sent, "
                             "messages sent)")


def run(args: argparse.Namespace) -> int:
    from liqdesk.errors import UserError
    from liqdesk.sources.emulator.faults import parse_faults
    from liqdesk.sources.emulator.server import EmulatorServer

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be 0..65535, not {args.port}")
    parse_faults(args.faults)   # a bad spec is refused before anything starts
    try:
        server = EmulatorServer(venues=args.exchanges, symbol=args.symbol, seed=args.seed, speed=args.speed,
                                history_ms=args.history, faults=args.faults, port=args.port,
                                send_log=args.send_log)
    except ValueError as exc:
        raise UserError(str(exc)) from None

    async def main() -> None:
        try:
            url = await server.start()
        except OSError as exc:
            raise UserError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc})") from None
        print(f"listening on {url}", flush=True)
        print(f"serving {', '.join(args.exchanges)} {server.market.symbol} at {args.speed:g}x; "
              f"faults: {args.faults or 'none'}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        t0 = time.monotonic()
        while not stop.is_set():
            if args.duration is not None and (time.monotonic() - t0) * 1000 >= args.duration:
                break
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        await server.stop()
        print(f"stopped; faults fired: {server.faults.describe()}", file=sys.stderr, flush=True)

    asyncio.run(main())
    return 0
