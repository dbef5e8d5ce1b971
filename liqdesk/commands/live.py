"""``liqdesk live``: the trading window on the live market (Binance, Bybit and OKX by default),
through ccxt.pro's public websockets; or on a loopback emulator with ``--emulator URL``."""

from __future__ import annotations

import argparse

from liqdesk.commands import PRIOR_HELP, duration, duration_or_none, leverage_prior, positive_float

HELP = "open the window on the live market (public data of Binance, Bybit, OKX, Bitget, Hyperliquid)"


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments ``live`` and ``record`` share."""
    parser.add_argument("--exchanges", nargs="+", metavar="EXCHANGE",
                        help="exchanges, comma- or space-separated (default binance,bybit,okx; also bitget, hyperliquid)")
    parser.add_argument("--symbol", default="BTC/USDT:USDT",
                        help="linear USDT perpetual, ccxt unified name (default BTC/USDT:USDT; Hyperliquid's USDC "
                             "market of the same coin is used)")
    parser.add_argument("--emulator", metavar="URL",
                        help="talk to a loopback exchange emulator at URL (see `liqdesk emulate`) instead of the exchanges")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_live_arguments(parser)
    parser.add_argument("--backfill", type=duration_or_none, default=None,
                        help="history fetched by REST on connect so the chart opens populated (default 24h; 0 or none for none)")
    parser.add_argument("--prior", type=leverage_prior, metavar="LEV:WEIGHT,...", help=PRIOR_HELP)
    parser.add_argument("--retention", type=duration, metavar="DURATION",
                        help="how long the session journal keeps events (default 7d)")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="save a screenshot of the whole window, then exit (needs --quit-after)")
    parser.add_argument("--quit-after", type=positive_float("seconds"), metavar="SECONDS",
                        help="close the window after this many seconds")


def run(args: argparse.Namespace) -> int:
    from liqdesk.main import run_window

    args.live = True
    return run_window(args)
