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
