"""``liqdesk liq-price``: the liquidation price of one isolated position, per exchange rule."""

from __future__ import annotations

import argparse
import json

from liqdesk.commands import positive_float
from liqdesk.errors import UserError

HELP = "liquidation price of one isolated-margin position (prints the price on the last line)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exchange", required=True, choices=["binance", "bybit", "okx", "hyperliquid"])
    parser.add_argument("--side", required=True, choices=["long", "short"])
    parser.add_argument("--entry", required=True, type=positive_float("a price"), help="entry price, quote currency")
    parser.add_argument("--leverage", required=True, type=positive_float("a leverage"), help="leverage multiple, e.g. 50")
    parser.add_argument("--size", required=True, type=positive_float("a size"), help="position size in base currency")
    parser.add_argument("--symbol", default="BTC/USDT:USDT", help="market (default BTC/USDT:USDT)")
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
    if not (price > 0) or (sign > 0 and price >= args.entry) or (sign < 0 and price <= args.entry):
        raise UserError(f"at {args.leverage:g}x the maintenance margin ({table.mmr[tier]:.4%}) exceeds the "
                        "initial margin: the position would be liquidated at once")
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
        "taker_fee_included": table.rule == "okx",
        "tiers_as_of": table.as_of,
    }
    if args.json:
        print(json.dumps(info))
    else:
        print(f"{args.exchange} {table.symbol} {args.side} {args.size:g} @ {args.entry:g}, {args.leverage:g}x: "
              f"tier {tier + 1} (MMR {table.mmr[tier]:.3%}, maintenance amount {table.cum[tier]:,.2f}); "
              f"liquidation {price / args.entry - 1:+.3%} from entry")
        print(f"{price:.8g}")
    return 0
