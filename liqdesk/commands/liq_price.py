"""``liqdesk liq-price``: the liquidation price of one isolated position, per exchange rule."""

from __future__ import annotations

import argparse
import json

from liqdesk.commands import positive_float
from liqdesk.errors import UserError

HELP = "liquidation price of one isolated-margin position (prints the price on the last line)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from liqdesk.core.tiers import RULES

    parser.add_argument("--exchange", required=True, choices=list(RULES))
    parser.add_argument("--side", required=True, choices=["long", "short"])
    parser.add_argument("--entry", required=True, type=positive_float("a price"), help="entry price, quote currency")
    parser.add_argument("--leverage", required=True, type=positive_float("a leverage"), help="leverage multiple, e.g. 50")
    parser.add_argument("--size", required=True, type=positive_float("a size"), help="position size in base currency")
    parser.add_argument("--symbol", default="BTC/USDT:USDT",
                        help="market (default BTC/USDT:USDT); one without a shipped table uses the exchange's "
                             "generic table and the output says 'approximate tiers'")
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def run(args: argparse.Namespace) -> int:
    from liqdesk.core.tiers import liquidation_price, load_tiers

    if args.leverage < 1:
        raise UserError(f"leverage must be at least 1, not {args.leverage:g}")
    table = load_tiers(args.exchange, args.symbol)
    notional = args.entry * args.size
    amount = notional if table.basis == "notional" else args.size
    allowed = table.max_leverage_at(amount)
    if args.leverage > allowed + 1e-9:
        unit = "USD notional" if table.basis == "notional" else "base size"
        raise UserError(f"{args.exchange} allows at most {allowed:g}x for a position of {amount:,.6g} "
                        f"{unit} on {table.symbol}; asked {args.leverage:g}x")
    sign = 1 if args.side == "long" else -1
    price, tier = liquidation_price(table, sign, args.entry, args.leverage, args.size)
    price, tier = float(price), int(tier)
    if (sign > 0 and price >= args.entry) or (sign < 0 and price <= args.entry):
        raise UserError(f"at {args.leverage:g}x the maintenance margin ({table.mmr[tier]:.4%}) exceeds the "
                        "initial margin: the position would be liquidated at once")
    # a long whose formula reaches 0 or less (1x under a rule whose maintenance scales with the mark
    # price) is never liquidated at a positive price: the core reports 0
    at_zero = sign > 0 and price <= 0.0
    info = {
        "exchange": args.exchange,
        "symbol": table.symbol,
        "side": args.side,
        "entry": args.entry,
        "leverage": args.leverage,
        "size": args.size,
        "notional": notional,
        "liquidation_price": price,
        "distance_pct": (price / args.entry - 1) * 100,
        "tier": tier + 1,
        "mmr": float(table.mmr[tier]),
        "maintenance_amount": float(table.cum[tier]),
        "tier_max_leverage": float(table.max_leverage[tier]),
        "taker_fee_included": table.rule in ("okx", "bitget"),
        "tiers_as_of": table.as_of,
        "approximate_tiers": table.approximate,
        "tiers_source": table.source,
    }
    if args.json:
        print(json.dumps(info))
    else:
        approx = f"approximate tiers (generic {args.exchange} table, none published for this symbol); " \
            if table.approximate else ""
        where = ("not liquidated above 0 (the maintenance margin never exceeds the equity at a positive price; "
                 "the loss is at most the margin)") if at_zero else f"liquidation {price / args.entry - 1:+.3%} from entry"
        print(f"{args.exchange} {table.symbol} {args.side} {args.size:g} @ {args.entry:g}, {args.leverage:g}x: "
              f"{approx}tier {tier + 1} (MMR {table.mmr[tier]:.3%}, maintenance amount {table.cum[tier]:,.2f}); {where}")
        print(f"{price:.8g}")
    return 0
