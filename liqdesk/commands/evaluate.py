"""``liqdesk evaluate``: how well the model's hottest bins caught the real liquidations."""

from __future__ import annotations

import argparse
import json
import math

from liqdesk.app.mix_view import mix_lines
from liqdesk.commands import PRIOR_HELP, Omissions, add_strict, leverage_prior

HELP = ("score the liquidation estimate against a session's real liquidations, beside trivial baselines "
        "(lift, swept-level score, skill, intervals over liquidation clusters)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session folder (NAME.liqs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--lead-s", type=float, default=60.0, help="look at the estimate this long before (60)")
    parser.add_argument("--band-pct", type=float, default=5.0, help="bins within this %% of price (5)")
    parser.add_argument("--top", type=float, default=0.1, help="share of bins called hot (0.1)")
    parser.add_argument("--horizon-min", type=float, default=15.0,
                        help="swept score: bins price crossed in this many minutes after each column (15)")
    parser.add_argument("--column-s", type=float, default=60.0, help="swept score: one column every so many seconds (60)")
    parser.add_argument("--cluster-gap-s", type=float, default=60.0,
                        help="liquidations further apart than this start a new cluster (independent event) (60)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples over clusters (1000)")
    parser.add_argument("--prior", type=leverage_prior, metavar="LEV:WEIGHT,...", help=PRIOR_HELP)
    add_strict(parser)


def run(args: argparse.Namespace) -> int:
    from liqdesk.app.analysis import evaluate, liquidation_feeds, settings_for
    from liqdesk.app.comparison import ScoreOptions
    from liqdesk.commands.progress import Progress, TrackedReader
    from liqdesk.store import SessionReader

    if not 0 < args.horizon_min <= 24 * 60:
        raise ValueError("--horizon-min must be in (0, 1440]")
    if not 1 <= args.column_s <= 3600:
        raise ValueError("--column-s must be in [1, 3600]")
    if not 0 <= args.cluster_gap_s <= 86_400:
        raise ValueError("--cluster-gap-s must be in [0, 86400]")
    if not 0 <= args.resamples <= 10_000:
        raise ValueError("--resamples must be in [0, 10000]")
    options = ScoreOptions(horizon_ms=int(args.horizon_min * 60_000), column_ms=int(args.column_s * 1000),
                           gap_ms=int(args.cluster_gap_s * 1000), resamples=args.resamples)
    reader = SessionReader(args.session)
    reader.read_in_time_order()
    omissions = Omissions(reader, args.strict)
    omissions.check()
    settings = settings_for(reader, window_columns=2, rows=64, **(args.prior or {}))
    # one pass over the session: public feed, baselines and, for a simulated session, its truth
    with Progress("evaluate") as progress:
        tracked = TrackedReader(reader, progress, passes=1)
        result = evaluate(tracked, args.lead_s, args.band_pct, args.top, settings=settings, options=options,
                          truth=True)
        result["prior"] = ",".join(f"{lev:g}:{w:.4g}" for lev, w in zip(settings.leverages, settings.prior))
    feeds = liquidation_feeds(reader)
    omissions.say()  # damaged row groups are found while reading
    if feeds:
        result["liquidation_feeds"] = feeds
    if args.json:
        print(json.dumps(_plain(result)))
        return 0
    print(f"{result['events']} liquidations in {result['clusters']} clusters (a gap over {args.cluster_gap_s:g} s "
          f"starts a new one), {result['liquidation_usd']:,.0f} USD; model in {result['mode']} mode, "
          f"leverage prior {result['prior']}")
    print(f"hot bins (top {args.top:.0%} within ±{args.band_pct:g}% of price, {args.lead_s:g} s before) caught "
          f"{result['capture']:.1%} of the liquidated notional; a random pick of as many bins: "
          f"{result['baseline']:.1%}; lift {result['lift']:.2f}x")
    print(f"swept: over the bins price crossed in the {args.horizon_min:g} min after each of "
          f"{result['swept_columns']} columns (those with a liquidation in their horizon), the share of their liquidated notional in the top {args.top:.0%} "
          f"÷ {args.top:g} (swept_lift), and the rank correlation (swept_spearman)")
    print(f"intervals: {result['interval_level']:.0%}, bootstrap over clusters ({args.resamples} resamples)")
    print(_table(result))
    print(_skill_line(result))
    for name, venue in result.get("venues", {}).items():
        flag = " (sampled feed: at most one liquidation a second is public)" if venue["feed"] == "sampled" else \
            f" ({venue['feed']} feed)"
        print(f"\n{name}{flag}: {venue['events']} liquidations in {venue['clusters']} clusters, "
              f"{venue['liquidation_usd']:,.0f} USD")
        print(_table(venue))
        print(_skill_line(venue))
    for key in ("truth_lift", "truth_correlation", "truth_capture"):
        if key in result:
            print(f"{key}: {result[key]:.3f}")
    print("\n  ".join(mix_lines(result.get("leverage_mix", []), bool(result.get("mix_learned")))))
    return 0


def _plain(value):
    """JSON-ready: NaN becomes null, at any depth."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _figure(block: dict, key: str) -> str:
    point, (lo, hi) = block[key], block[key + "_interval"]
    if math.isnan(point):
        return "—"
    return f"{point:.2f} [{lo:.2f}, {hi:.2f}]" if not math.isnan(lo) else f"{point:.2f}"


def _table(block: dict) -> str:
    """The model and every baseline, one row each: lift, swept_lift, swept_spearman."""
    rows = [("model", block)] + [(f"{name} (baseline)", b) for name, b in block["baselines"].items()]
    head = f"  {'':20} {'lift':>22} {'swept_lift':>22} {'swept_spearman':>24}"
    lines = [head]
    for name, b in rows:
        lines.append(f"  {name:20} {_figure(b, 'lift'):>22} {_figure(b, 'swept_lift'):>22} "
                     f"{_figure(b, 'swept_spearman'):>24}")
    return "\n".join(lines)


def _skill_line(block: dict) -> str:
    best = block.get("best_baseline")
    if best is None:
        return "  skill: — (no baseline could be scored)"
    return (f"  skill (model swept_lift ÷ best baseline's, {best}): {_figure(block, 'skill')}")
