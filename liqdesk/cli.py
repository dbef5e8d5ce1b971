"""The command line: ``liqdesk [SUBCOMMAND] ...``.

Each subcommand lives in ``liqdesk/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
subcommand runs, so ``liqdesk liq-price`` never loads Qt.

User errors (bad arguments, unreadable or corrupt files, invalid values) print one line,
``liqdesk: error: <reason>``, and exit 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from liqdesk import package_version
from liqdesk.errors import UserError

#: subcommand -> module under liqdesk.commands
COMMANDS: dict[str, str] = {
    "liq-price": "liq_price",
    "bench": "bench",
    "export": "export",
    "evaluate": "evaluate",
    "info": "info",
    "import": "import_",
    "window": "window",
    "render": "render",
    "simulate": "simulate",
    "emulate": "emulate",
    "live": "live",
    "record": "record",
    "alerts": "alerts",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in the project's one-line form."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"liqdesk: error: {message} (see '{self.prog} --help')\n")


def _load(name: str):
    return importlib.import_module(f"liqdesk.commands.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, every subcommand registered."""
    parser = _Parser(
        prog="liqdesk",
        description="Real-time crypto liquidation heatmap. With no subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"liqdesk {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _split_window_args(argv: list[str]) -> bool:
    """True when argv starts with no subcommand (the window, or its options)."""
    return not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``liqdesk`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if _split_window_args(argv) and "window" in COMMANDS:
            module = _load("window")
            parser = _Parser(prog="liqdesk", description=module.HELP)
            module.add_arguments(parser)
            return int(module.run(parser.parse_args(argv)) or 0)
        parser = build_parser()
        if not argv:
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 0
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # output piped into a command that stopped reading (e.g. `| head`): not an error
        sys.stderr.close()
        return 0
    except (UserError, ValueError, OSError) as exc:
        print(f"liqdesk: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("liqdesk: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return " ".join(text.split())
