"""Tier tables refreshed from the exchanges that publish them (Bybit risk limits, OKX position
tiers, Bitget position tiers, via ccxt ``fetch_market_leverage_tiers``), cached on disk with the
date they were fetched, and used in place of the shipped tables (:func:`~liqdesk.core.tiers.
use_fetched_tiers`). Binance's need an API key and Hyperliquid's come with its metadata: those keep
the shipped tables. A failed fetch keeps the cached copy when it is younger than
:data:`MAX_AGE_S`, else the shipped table; nothing is ever refused.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from liqdesk.core.tiers import TierTable, load_tiers, use_fetched_tiers

#: exchanges whose tiers are public through ccxt, and whether their rule has a maintenance
#: deduction (Bybit's ``mmDeduction``; OKX and Bitget apply the tier's rate to the whole position)
PUBLIC_TIERS = {"bybit": True, "okx": False, "bitget": False}
MAX_AGE_S = 7 * 86_400
FRESH_S = 86_400


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("liqdesk")) / "tiers"


def _cache_path(exchange: str, symbol: str) -> Path:
    safe = "".join(ch if ch.isalnum() else "_" for ch in symbol)
    return cache_dir() / f"{exchange}-{safe}.json"


def table_from_ccxt(exchange: str, symbol: str, tiers: list[dict], contract_size: float | None) -> TierTable:
    """A :class:`TierTable` from ccxt's unified tiers (``minNotional``/``maxNotional``,
    ``maintenanceMarginRate``, ``maxLeverage``). OKX's bounds are contracts: times the contract
    size they are base currency, the basis of liqdesk's OKX rule."""
    shipped = load_tiers(exchange, symbol)
    scale = float(contract_size) if exchange == "okx" and contract_size else 1.0
    bands, floor = [], 0.0
    for t in sorted(tiers, key=lambda x: float(x.get("maxNotional") or 0)):
        cap = float(t["maxNotional"]) * scale
        if cap <= floor:
            continue
        bands.append({"floor": floor, "cap": cap, "max_leverage": float(t["maxLeverage"]),
                      "mmr": float(t["maintenanceMarginRate"])})
        floor = cap
    today = datetime.now(tz=UTC).strftime("%Y-%m-%d")
    return TierTable.from_bands(exchange, symbol, shipped.rule, bands, basis=shipped.basis,
                                uses_deduction=PUBLIC_TIERS.get(exchange, bool(shipped.cum.any())),
                                taker_fee=shipped.taker_fee,
                                source=f"{exchange} public tiers via ccxt fetch_market_leverage_tiers, fetched {today}",
                                as_of=today)


def _read_cache(exchange: str, symbol: str, max_age_s: float) -> TierTable | None:
    path = _cache_path(exchange, symbol)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if time.time() - float(doc["fetched_s"]) > max_age_s:
            return None
        return TierTable.from_bands(exchange, symbol, doc["rule"], doc["bands"], basis=doc["basis"],
                                    uses_deduction=bool(doc["uses_deduction"]), taker_fee=float(doc["taker_fee"]),
                                    source=doc["source"], as_of=doc["as_of"])
    except (OSError, ValueError, KeyError, TypeError):
        return None   # missing or unreadable: fetch again


def _write_cache(table: TierTable) -> None:
    doc = {"fetched_s": time.time(), "rule": table.rule, "basis": table.basis,
           "uses_deduction": PUBLIC_TIERS.get(table.exchange, bool(table.cum.any())), "taker_fee": table.taker_fee, "source": table.source,
           "as_of": table.as_of,
           "bands": [{"floor": float(f), "cap": float(c), "max_leverage": float(lv), "mmr": float(m)}
                     for f, c, lv, m in zip(table.floor, table.cap, table.max_leverage, table.mmr)]}
    path = _cache_path(table.exchange, table.symbol)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass   # a read-only cache only means fetching again next time


async def refresh_tiers(adapter) -> str:
    """Fetch (or take from a fresh cache) ``adapter``'s exchange tiers for its market and use
    them; returns what happened, one line."""
    name = adapter.name
    if name not in PUBLIC_TIERS or adapter.market is None:
        return "shipped table"
    symbol = adapter.symbol
    cached = _read_cache(name, symbol, FRESH_S)
    if cached is not None:
        use_fetched_tiers(cached)
        return f"cached table of {cached.as_of}"
    try:
        tiers = await adapter.exchange.fetch_market_leverage_tiers(adapter.market_symbol())
        table = table_from_ccxt(name, symbol, tiers, adapter.market.get("contractSize"))
    except Exception as exc:  # noqa: BLE001 - an unreachable or odd endpoint keeps the older table
        stale = _read_cache(name, symbol, MAX_AGE_S)
        if stale is not None:
            use_fetched_tiers(stale)
            return f"cached table of {stale.as_of} (refresh failed: {type(exc).__name__})"
        return f"shipped table (refresh failed: {type(exc).__name__}: {str(exc)[:80]})"
    use_fetched_tiers(table)
    _write_cache(table)
    return f"fetched {table.as_of}, {len(table.floor)} tiers"
