"""Which market an import keeps, and what else the inputs held.

A market is one unified symbol (see :mod:`.symbols`): spot, a perpetual and a dated future of
the same pair are three markets, and one is never taken for another.

- With ``--symbol``, the market with exactly that name (any common spelling of the same
  instrument), or none: the report then lists what the inputs hold.
- Without it, the perpetual with the most events (events parsed: trades, book rows, marks, OI,
  funding, liquidations); when no perpetual gave an event, the market with the most events.
  The report says which was picked, why, and what else the inputs held.
"""

from __future__ import annotations

import numpy as np

from . import report as R
from .symbols import is_perpetual, market_kind, match_symbol


def market_table(col) -> list[dict]:
    """One entry per market seen (lines, or events, > 0), most active first (events, then
    trades, then lines; as parsed, before duplicates and invalid rows are dropped): ``symbol``, ``ids`` (the exchanges' own), ``exchanges``, ``kind``,
    ``trades``, ``events``, ``lines``."""
    n = len(col.names)
    trades = np.zeros(n, dtype=np.int64)
    events = np.zeros(n, dtype=np.int64)
    for kind, parts in col.parts.items():
        for part in parts:
            if not len(part):
                continue
            sym = part["sym"]
            counts = np.bincount(sym[sym >= 0], minlength=n)[:n]
            events += counts
            if kind in ("trades", "aggtrades"):
                trades += counts
    out = []
    for code, name in enumerate(col.names):
        if not (col.lines[code] or events[code]):
            continue
        natives = sorted(col.natives[code])
        ids = list(dict.fromkeys(native for _, native in natives))
        out.append({"symbol": name, "ids": ids, "exchanges": sorted(col.exchanges[code]),
                    "kind": market_kind(name), "trades": int(trades[code]), "events": int(events[code]),
                    "lines": int(col.lines[code])})
    out.sort(key=lambda m: (-m["events"], -m["trades"], -m["lines"], m["symbol"]))
    return out


def describe(market: dict) -> str:
    """``BTC-USDT-SWAP (okx perpetual, 1,234 trades, 56,789 events)``."""
    trades, events = market["trades"], market["events"]
    return (f"{'/'.join(market['ids'])} ({', '.join(market['exchanges'])} {market['kind']}, "
            f"{trades:,} trade{'s' if trades != 1 else ''}, {events:,} event{'s' if events != 1 else ''})")


def describe_all(markets: list[dict], limit: int = 12) -> str:
    """The markets, most active first, as one line (the first ``limit`` of them)."""
    if not markets:
        return "no market"
    text = ", ".join(describe(m) for m in markets[:limit])
    if len(markets) > limit:
        text += f" and {len(markets) - limit} more"
    return text


def choose_market(col, wanted: str | None, report: R.ImportReport) -> int | None:
    """The symbol code to import (None when there is none); fills ``report.markets``,
    ``report.wanted`` and ``report.choice`` (why this market)."""
    markets = market_table(col)
    report.markets = markets
    report.wanted = wanted
    if wanted:
        name = match_symbol(wanted, [m["symbol"] for m in markets])
        report.choice = "not in the input" if name is None else "as asked"
        return None if name is None else col.codes[name]
    if not markets:
        return None
    perps = [m for m in markets if is_perpetual(m["symbol"]) and m["events"]]
    active = [m for m in markets if m["events"]]
    if perps:  # the table is sorted by events
        best = perps[0]
        report.choice = "the perpetual with the most events" if len(perps) > 1 else "the only perpetual with events"
    elif active:
        best = active[0]
        report.choice = "no perpetual had events; the market with the most events"
    else:
        best = max(markets, key=lambda m: (m["lines"], m["symbol"]))
        report.choice = "no market had events; the one with the most lines"
    return col.codes[best["symbol"]]


def kept(report: R.ImportReport) -> None:
    """Put the imported market's final counts (duplicates and invalid rows dropped) in its entry."""
    for m in report.markets:
        if m["symbol"] == report.symbol:
            m["trades"] = report.events.get("trades", 0)
            m["events"] = report.total_events
