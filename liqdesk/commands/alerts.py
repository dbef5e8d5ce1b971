"""``liqdesk alerts``: replay a session through the alert engine and print every alert its rules
would have fired (deterministic: same session and rules, same list)."""

from __future__ import annotations

import argparse
import json
import math

from liqdesk.commands import add_strict

HELP = ("replay a session through the alert rules of a TOML file and print every alert they would have "
        "fired (the window's Alerts dock gives the same list)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session folder (NAME.liqs)")
    parser.add_argument("--rules", required=True, metavar="FILE",
                        help="rules file (TOML; resources/alerts/example.toml documents every kind)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    add_strict(parser)


def run(args: argparse.Namespace) -> int:
    from liqdesk.app.alert_rules import load_rules
    from liqdesk.app.alerts import replay_alerts
    from liqdesk.commands import Omissions
    from liqdesk.commands.progress import Progress
    from liqdesk.main import open_reader, replay_settings

    rules = load_rules(args.rules)        # a bad rules file: one line, exit 2, before any work
    reader = open_reader(args.session)
    omissions = Omissions(reader, args.strict)
    omissions.check()
    settings = replay_settings(reader)    # the replay window's settings: the same alerts
    with Progress("alerts") as progress:
        alerts = replay_alerts(reader, rules, settings, progress=progress)
    omissions.say()
    for alert in alerts:
        if args.json:
            d = alert.to_dict()
            d["price"] = None if math.isnan(d["price"]) else d["price"]
            print(json.dumps(d))
        else:
            print(alert.line())
    if not args.json:
        used = [r for r in rules if r.enabled and r.applies_to(settings.symbol)]
        print(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} from {len(used)} of {len(rules)} rules "
              f"on {settings.symbol}", flush=True)
    return 0
