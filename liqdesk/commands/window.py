"""``liqdesk`` with no subcommand: the trading window, on the simulator in real time by default,
or on a recorded session with ``--replay``."""

from __future__ import annotations

import argparse
import math

from liqdesk.commands import PRIOR_HELP, add_strict, duration, leverage_prior, positive_float

HELP = "open the liquidation heatmap window (the simulator by default, or --replay SESSION)"


def _speed(text: str) -> float:
    t = text.strip().lower()
    if t in ("max", "inf"):
        return math.inf
    t = t.removesuffix("x")
    try:
        v = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number like 2 or 0.5, or 'max', not {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError("speed must be > 0")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from liqdesk.commands.simulate import scenario_name
    from liqdesk.sim.scenarios import SCENARIO_NAMES

    parser.add_argument("--replay", metavar="SESSION", help="replay a recorded or imported session (NAME.liqs)")
    parser.add_argument("--speed", type=_speed, default=1.0,
                        help="replay (or simulator) speed, a multiple of real time, or 'max' (default 1)")
    parser.add_argument("--symbol", help="simulated symbol (default BTC/USDT:USDT)")
    parser.add_argument("--scenario", type=scenario_name, metavar="NAME",
                        help="simulator market preset: " + ", ".join(SCENARIO_NAMES) + " (see 'liqdesk simulate "
                             "--help'); a crash is placed half an hour before the window opens")
    parser.add_argument("--exchanges", nargs="+", metavar="EXCHANGE",
                        help="venues to show (default: all of the source's)")
    parser.add_argument("--prior", type=leverage_prior, metavar="LEV:WEIGHT,...", help=PRIOR_HELP)
    parser.add_argument("--history", type=duration, metavar="DURATION",
                        help="simulator: market history built before it runs in real time (default 4h)")
    parser.add_argument("--retention", type=duration, metavar="DURATION",
                        help="how long the session journal keeps events for rebuilds and recording "
                             "(default 7d; memory up to 512 MB, then the cache folder)")
    parser.add_argument("--workspace", metavar="NAME",
                        help="open the saved workspace NAME (File → Workspaces): all its chart windows, where they "
                             "were; without it the last workspace saved or opened is reopened, unless a chart is "
                             "chosen here (--symbol, --replay ...)")
    parser.add_argument("--no-workspace", action="store_true",
                        help="open the default window, not the last workspace")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="save a screenshot of the whole window, then exit (needs --quit-after)")
    parser.add_argument("--quit-after", type=positive_float("seconds"), metavar="SECONDS",
                        help="close the window after this many seconds")
    add_strict(parser)


def run(args: argparse.Namespace) -> int:
    from liqdesk.main import run_window

    return run_window(args)
