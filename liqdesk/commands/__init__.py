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


PRIOR_HELP = ("the model's leverage prior, LEVERAGE:WEIGHT,... (default even weights on 10, 20, 25, "
              "50, 75 and 100x); weights are normalized")


def leverage_prior(text: str) -> dict:
    """An argparse type: ``"10:0.3,25:0.3,100:0.4"`` -> ``{"leverages": ..., "weights": ...}``,
    the keyword arguments of :class:`liqdesk.core.levels.ModelSettings` it sets."""
    from liqdesk.core.levels import parse_prior

    try:
        leverages, weights = parse_prior(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return {"leverages": leverages, "weights": weights}


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
