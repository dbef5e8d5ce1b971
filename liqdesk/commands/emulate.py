"""``liqdesk emulate``: the loopback exchange emulator, for trying and testing the live path
without the network. It serves each exchange's REST endpoints and websocket streams in that
exchange's own format on 127.0.0.1, fed by the built-in simulator (so a session recorded live from
it has ground truth) or, with ``--replay FILE...``, by real exchange captures sent as captured (see
:mod:`liqdesk.sources.emulator.replay`: one file per exchange, one market; a venue's replay starts
1 s after its first websocket subscription and stops at the end of its capture, connections left
open). Its first stdout line is ``listening on http://127.0.0.1:PORT``; point
``liqdesk live``/``liqdesk record`` at it with ``--emulator URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    parser.add_argument("--exchanges", type=exchanges_arg, default=None,
                        help="comma-separated exchanges to serve (default binance,bybit,okx; with --replay: "
                             "those of the files)")
    parser.add_argument("--symbol", default=None,
                        help="market to serve (default BTC/USDT:USDT; with --replay the captures' market, which "
                             "--symbol must match)")
    parser.add_argument("--replay", nargs="+", metavar="FILE", default=None,
                        help="serve these real exchange captures instead of the simulator (Binance USDⓈ-M "
                             "combined-stream captures, *.v3.jsonl.zst of Binance futures, Bybit, OKX; one per "
                             "exchange), each message as captured, at its captured pace divided by --speed")
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument("--speed", type=positive_float("a speed"), default=1.0,
                        help="market time per wall second (default 1)")
    parser.add_argument("--history", type=duration, default=2 * 3_600_000,
                        help="market history served by REST for warm starts (default 2h)")
    parser.add_argument("--faults", default=None,
                        help="faults to inject, e.g. 'drop@30s,stall@60s:10s,gap@rate:0.01,http429@45s' "
                             "(kinds: drop stall gap malformed truncated dup http429 burst refuse)")
    parser.add_argument("--duration", type=duration, default=None, help="stop after this long (default: until Ctrl+C)")
    parser.add_argument("--ledger", metavar="FILE", default=None,
                        help="on stop, write what was published as JSON (per exchange: messages per stream "
                             "and events per kind)")
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
                                send_log=args.send_log, replay=args.replay)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    replay = server.replay
    venues = tuple(server.market.params.venues)

    async def main() -> None:
        try:
            url = await server.start()
        except OSError as exc:
            raise UserError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc})") from None
        print(f"listening on {url}", flush=True)
        if replay:
            for venue in venues:
                print(f"replaying {server.market.describe(venue)}", file=sys.stderr, flush=True)
            print(f"each replay starts {server.market.grace_s:g} s after its first subscription, at {args.speed:g}x; "
                  f"faults: {args.faults or 'none'}", file=sys.stderr, flush=True)
        else:
            print(f"serving {', '.join(venues)} {server.market.symbol} at {args.speed:g}x; "
                  f"faults: {args.faults or 'none'}", file=sys.stderr, flush=True)
        ended: set[str] = set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        t0 = time.monotonic()
        while not stop.is_set():
            if replay:
                for venue, cap in server.market.captures.items():
                    if cap.finished and venue not in ended:
                        ended.add(venue)
                        print(f"{venue}: capture replayed to its end ({len(cap.messages):,} messages); publishing "
                              "stopped, connections stay open", file=sys.stderr, flush=True)
            if args.duration is not None and (time.monotonic() - t0) * 1000 >= args.duration:
                break
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        await server.stop()
        counts = published(server)
        print(f"stopped; faults fired: {server.faults.describe()}; published: "
              + "; ".join(f"{v} " + (", ".join(f"{k} {n:,}" for k, n in c["events"].items() if n) or "nothing")
                          for v, c in counts.items()), file=sys.stderr, flush=True)
        if args.ledger:
            with open(args.ledger, "w", encoding="utf-8") as fh:
                json.dump(counts, fh, indent=1, sort_keys=True)

    asyncio.run(main())
    return 0


def published(server) -> dict:
    """What the emulator published, per exchange: events per kind (and, replaying, messages per
    stream family, the file and the symbol)."""
    market = server.market
    if getattr(market, "replay", False):
        return market.summary()
    out = {}
    for venue, led in market.ledger.items():
        out[venue] = {"symbol": market.symbol,
                      "events": {k: (len(v) if k == "book" else int(sum(len(a) for a in v))) for k, v in led.items()}}
    return out
