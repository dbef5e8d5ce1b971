"""``liqdesk evaluate``: how well the model's hottest bins caught the real liquidations."""

from __future__ import annotations

import argparse
import json
import math

from liqdesk.commands import PRIOR_HELP, Omissions, add_strict, leverage_prior

HELP = "score the liquidation estimate against a session's real liquidations (capture and lift)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session folder (NAME.liqs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--lead-s", type=float, default=60.0, help="look at the estimate this long before (60)")
    parser.add_argument("--band-pct", type=float, default=5.0, help="bins within this %% of price (5)")
    parser.add_argument("--top", type=float, default=0.1, help="share of bins called hot (0.1)")
    parser.add_argument("--prior", type=leverage_prior, metavar="LEV:WEIGHT,...", help=PRIOR_HELP)
    add_strict(parser)


def run(args: argparse.Namespace) -> int:
    from liqdesk.app.analysis import evaluate, liquidation_feeds, settings_for
    from liqdesk.app.truth import has_truth, truth_metrics
    from liqdesk.commands.progress import Progress, TrackedReader
    from liqdesk.store import SessionReader

    reader = SessionReader(args.session)
    omissions = Omissions(reader, args.strict)
    omissions.check()
    settings = settings_for(reader, window_columns=2, rows=64, **(args.prior or {}))
    # one pass over the session for the public feed, two more for a simulated session's truth
    with Progress("evaluate") as progress:
        tracked = TrackedReader(reader, progress, passes=3 if has_truth(reader) else 1)
        result = evaluate(tracked, args.lead_s, args.band_pct, args.top, settings=settings)
        result["prior"] = ",".join(f"{lev:g}:{w:.4g}" for lev, w in zip(settings.leverages, settings.prior))
        # ground-truth scores when the session comes from the simulator (none otherwise)
        result.update(truth_metrics(tracked, args.lead_s, args.band_pct, args.top, settings=settings))
    feeds = liquidation_feeds(reader)
    omissions.say()  # damaged row groups are found while reading
    if feeds:
        result["liquidation_feeds"] = feeds
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}))
        return 0
    print(f"{result['events']} liquidations, {result['liquidation_usd']:,.0f} USD; model in {result['mode']} mode, "
          f"leverage prior {result['prior']}")
    print(f"hot bins (top {args.top:.0%} within ±{args.band_pct:g}% of price, {args.lead_s:g} s before) caught "
          f"{result['capture']:.1%} of the liquidated notional; a random pick of as many bins: "
          f"{result['baseline']:.1%}; lift {result['lift']:.2f}x")
    if feeds:
        print("liquidations scored: " + ", ".join(f"{name} {kind}" for name, kind in feeds.items())
              + " (sampled feeds show at most one liquidation per second: the truth is larger)")
    for key in ("truth_lift", "truth_correlation", "truth_capture"):
        if key in result:
            print(f"{key}: {result[key]:.3f}")
    return 0


