"""One module per ``liqdesk`` subcommand (see liqdesk.cli), and the argument types they share."""

from __future__ import annotations

import argparse
import math


def positive_float(what: str = "a number"):
    """An argparse type: a finite number > 0, with ``what`` naming it in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be {what} > 0, not {text!r}")
        return value

    parse.__name__ = what
    return parse


PRIOR_HELP = ("the model's leverage prior, LEVERAGE:WEIGHT,... (weights normalized; any leverage > 1, e.g. "
              "125x: on an exchange whose maximum is lower that tier sits at the maximum). By default the "
              "mix is learned from the market's liquidations, starting from this prior (default: 10x-125x, "
              "mostly even on 10, 20, 25, 50, 75 and 100x); 'fixed:LEV:WEIGHT,...' uses the prior as it is "
              "(no learning) and 'fixed' alone the earlier fixed prior (even on 10, 20, 25, 50, 75, 100x)")


def add_age(parser) -> None:
    """``--age BUCKETS``: the position-age filter of ``render`` and ``export`` (a tuple of bucket
    keys, None for all; a bad name is argparse's one-line error, exit 2)."""
    parser.add_argument("--age", metavar="BUCKETS", type=_age_buckets,
                        help="only levels whose positions were opened in these age buckets, comma-separated: "
                             "hour (last hour), day (1-24 h), week (1-7 d), older (default: all)")


def _age_buckets(text: str) -> tuple[str, ...]:
    import argparse

    from liqdesk.core.position_age import parse_ages

    try:
        return parse_ages(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def leverage_prior(text: str) -> dict:
    """An argparse type: ``"10:0.3,25:0.3,100:0.4"`` (learned from there), ``"fixed:10:0.5,25:0.5"``
    or ``"fixed"`` (not learned) -> the keyword arguments of
    :class:`liqdesk.core.levels.ModelSettings` it sets."""
    from liqdesk.core.levels import FIXED_LEVERAGES, parse_prior
    from liqdesk.core.leverage_mix import MixSettings

    text = str(text).strip()
    fixed = text.lower() == "fixed" or text.lower().startswith("fixed:")
    if text.lower() == "fixed":
        leverages, weights = FIXED_LEVERAGES, (1 / len(FIXED_LEVERAGES),) * len(FIXED_LEVERAGES)
    else:
        try:
            leverages, weights = parse_prior(text[len("fixed:"):] if fixed else text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    out = {"leverages": leverages, "weights": weights}
    if fixed:
        out["mix"] = MixSettings(learn=False)
    return out


def duration(text: str) -> int:
    """An argparse type: ``90s``, ``15m``, ``24h``, ``7d`` -> milliseconds."""
    from liqdesk.core.timefmt import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def duration_or_none(text: str) -> int:
    """An argparse type like :func:`duration` that also takes ``0``, ``0s`` or ``none`` (0 ms):
    for spans a user may switch off, such as the live backfill."""
    import re

    if re.fullmatch(r"\s*(none|0+(\.0*)?\s*(ms|s|m|min|h|d|w)?)\s*", str(text).lower()):
        return 0
    return duration(text)


STRICT_HELP = ("exit 2 with one line when anything in the session had to be left out, repaired or rebuilt "
               "(by default each such problem is said on stderr and the rest of the session is used)")


def add_strict(parser: argparse.ArgumentParser) -> None:
    """The ``--strict`` option of every command that reads a session."""
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)


class Omissions:
    """Says on stderr, once each, what a session reader left out (its recovery notes: damaged
    regions and row groups, files missing or refused, entries dropped, an index rebuilt), as
    ``liqdesk: warning: NAME.liqs: <note>``; with ``strict``, raises a one-line ``UserError``
    instead.

    :meth:`check` (after opening, and whenever convenient) only enforces ``strict``, so a command
    refuses a damaged session before doing its work; :meth:`say` (once the work is done, before
    the result is written) enforces it again (a damaged row group is found when it is read) and
    prints the warnings. A command that then fails prints only its one error line."""

    def __init__(self, reader, strict: bool = False, stream=None):
        self.reader = reader
        self.strict = strict
        self.stream = stream
        self.said = 0

    def check(self) -> None:
        from liqdesk.errors import UserError

        notes = list(self.reader.recovery)
        if self.strict and notes:
            more = f" (and {len(notes) - 1} more)" if len(notes) > 1 else ""
            raise UserError(f"{self.reader.path}: not readable whole, and --strict leaves nothing out: "
                            f"{notes[0]}{more}")

    def say(self) -> None:
        import sys

        self.check()
        notes = list(self.reader.recovery)
        stream = self.stream or sys.stderr
        for note in notes[self.said:]:
            print(f"liqdesk: warning: {self.reader.path.name}: {' '.join(str(note).split())}", file=stream)
        self.said = len(notes)
