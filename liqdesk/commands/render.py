"""``liqdesk render``: a session's heatmap panel (candles, liquidations, axes, colour bar) as a
PNG, drawn offscreen with the window's own code."""

from __future__ import annotations

import argparse
from pathlib import Path

from liqdesk.commands import Omissions, add_age, add_strict

HELP = "draw a session's heatmap with candles to a PNG (offscreen)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session folder (NAME.liqs)")
    parser.add_argument("--out", required=True, help="output .png file")
    parser.add_argument("--at", help="draw the state at this time (ms since epoch or ISO 8601; default: the end)")
    parser.add_argument("--width", type=int, default=1600, help="picture width in pixels (default 1600)")
    parser.add_argument("--height", type=int, default=900, help="picture height in pixels (default 900)")
    parser.add_argument("--view", default="heatmap",
                        choices=("heatmap", "context", "liquidity", "delta", "hotlines", "age"),
                        help="heatmap: the heatmap panel (default); context: with the open interest, "
                             "funding, CVD and liquidation panes under it; liquidity: with the order-book "
                             "heatmap under it; delta: with the levels' change over --period under it; "
                             "hotlines: with the 10 strongest levels as labelled lines; age: with the levels "
                             "coloured by when their positions were opened under it")
    add_age(parser)
    from liqdesk.app.views import DELTA_PERIODS

    parser.add_argument("--period", default="4h", choices=tuple(DELTA_PERIODS),
                        help="the delta view's period (default 4h; shorter than the session's time window)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_strict(parser)


def run(args: argparse.Namespace) -> int:
    from liqdesk.commands.progress import Progress
    from liqdesk.core.timefmt import format_time, parse_time
    from liqdesk.errors import UserError
    from liqdesk.main import render_session
    from liqdesk.store.atomic import atomic_file, check_target, one_line

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must end in .png, not {out.name!r}")
    try:
        check_target(out, args.overwrite)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    if not (200 <= args.width <= 8000 and 150 <= args.height <= 8000):
        raise UserError("--width must be 200..8000 and --height 150..8000 pixels")
    at = parse_time(args.at) if args.at is not None else None
    ages = args.age
    # render_session reports the share of the span replayed; events/s from the session's count
    progress = Progress("render", total=_events(args.session))
    tmp = out
    made: list[Omissions] = []

    def omissions(reader) -> Omissions:
        made.append(Omissions(reader, args.strict))
        return made[-1]

    try:
        # drawn to a temporary PNG beside --out, renamed to it once written
        with atomic_file(out, overwrite=args.overwrite) as tmp:
            info = render_session(args.session, tmp, at, args.width, args.height, progress=progress,
                                  omissions=omissions, view=args.view, delta_period=args.period, ages=ages)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    except (UserError, OSError) as exc:
        if isinstance(exc, UserError) and str(tmp) not in str(exc):
            raise  # not about writing (a bad --at...)
        kept = "it is unchanged" if out.exists() else "nothing was written there"
        raise UserError(f"{one_line(exc, tmp, out)}; {kept}") from None
    finally:
        progress.close()
    for said in made:
        said.say()
    print(f"wrote {out} ({args.width}x{args.height}, state at {format_time(info['time_ms'])})")
    return 0


def _events(session) -> int | None:
    """The session's event count, None when it cannot be read (render_session says why)."""
    from liqdesk.store import SessionReader

    try:
        with SessionReader(session) as reader:
            counts = reader.counts()
    except (OSError, ValueError):
        return None
    return sum(sum(per.values()) for per in counts.values())
