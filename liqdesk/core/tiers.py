"""Exchange tier tables and liquidation prices (isolated margin, one-way mode), vectorized.

A tier table lists notional (or size) bands with their maximum leverage and maintenance margin
rate (MMR). The maintenance amount ``cum`` of each band is derived from the bands so that the
maintenance margin is continuous at every band edge:

    cum_0 = 0,   cum_n = floor_n · (MMR_n − MMR_{n−1}) + cum_{n−1}

Liquidation price per exchange rule (``EP`` entry price, ``L`` leverage, ``Q`` size in base,
``MMR``/``cum`` of the tier looked up at the *liquidation* notional, fees left out unless noted):

- ``binance``, ``hyperliquid``:  long ``(EP·(1 − 1/L) − cum/Q) / (1 − MMR)``,
  short ``(EP·(1 + 1/L) + cum/Q) / (1 + MMR)`` (Binance's isolated formula with WB = EP·Q/L;
  Hyperliquid's maintenance deduction plays the role of ``cum``).
- ``bybit``: ``EP ∓ (IM − MM)/Q`` with ``IM = EP·Q/L`` and ``MM = EP·Q·MMR − deduction``
  (Bybit values maintenance at the entry price). Its documented example: long 1 BTC at 20,000,
  50x, MMR 0.5 % → 19,700.
- ``okx``: liquidation when the margin ratio falls under 100 %, the maintenance including the taker
  fee and the tier's MMR applying to the whole position (no deduction):
  long ``EP·(1 − 1/L) / (1 − MMR − fee)``, short ``EP·(1 + 1/L) / (1 + MMR + fee)``.

Prices are in quote currency, sizes in base currency, notionals in quote currency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

RULES = ("binance", "bybit", "okx", "hyperliquid")
_HERE = Path(__file__).resolve()
#: Where the shipped tier tables live: ``liqdesk/resources`` when installed, ``resources/`` in a checkout.
RESOURCE_DIRS = (_HERE.parents[1] / "resources", _HERE.parents[2] / "resources")


def resource_path(*parts: str) -> Path:
    """The path of a shipped data file, looked up in the installed and the checkout layout."""
    for base in RESOURCE_DIRS:
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"liqdesk resource {'/'.join(parts)} not found in {RESOURCE_DIRS[-1]}")


def derive_cum(floor: np.ndarray, mmr: np.ndarray) -> np.ndarray:
    """Maintenance amount per band (quote currency) from band floors and MMRs."""
    steps = np.concatenate([[0.0], floor[1:] * np.diff(mmr)])
    return np.cumsum(steps)


@dataclass(frozen=True)
class TierTable:
    """The tiers of one market on one exchange.

    ``floor``/``cap`` are band edges in quote currency (``basis == "notional"``) or in base
    currency (``basis == "size"``, OKX). ``mmr`` is a fraction, ``cum`` in quote currency.
    """

    exchange: str
    symbol: str
    rule: str
    basis: str
    floor: np.ndarray
    cap: np.ndarray
    max_leverage: np.ndarray
    mmr: np.ndarray
    cum: np.ndarray
    taker_fee: float
    source: str = ""
    as_of: str = ""

    @classmethod
    def from_bands(cls, exchange: str, symbol: str, rule: str, bands: list[dict], *,
                   basis: str = "notional", uses_deduction: bool = True, taker_fee: float = 0.0,
                   source: str = "", as_of: str = "") -> TierTable:
        """Build from ``[{"floor", "cap", "max_leverage", "mmr"}, ...]``; checks the bands."""
        if rule not in RULES:
            raise ValueError(f"unknown liquidation rule {rule!r}; expected one of {', '.join(RULES)}")
        if basis not in ("notional", "size"):
            raise ValueError(f"tier basis must be 'notional' or 'size', not {basis!r}")
        if not bands:
            raise ValueError(f"{exchange} {symbol}: empty tier table")
        floor = np.array([float(b["floor"]) for b in bands])
        cap = np.array([float(b["cap"]) for b in bands])
        lev = np.array([float(b["max_leverage"]) for b in bands])
        mmr = np.array([float(b["mmr"]) for b in bands])
        if floor[0] != 0 or np.any(cap <= floor) or np.any(floor[1:] != cap[:-1]):
            raise ValueError(f"{exchange} {symbol}: tier bands must start at 0 and be contiguous")
        if np.any(~((mmr > 0) & (mmr < 1))) or np.any(lev < 1):
            raise ValueError(f"{exchange} {symbol}: MMR must be in (0, 1) and max leverage >= 1")
        cum = derive_cum(floor, mmr) if uses_deduction else np.zeros_like(mmr)
        return cls(exchange, symbol, rule, basis, floor, cap, lev, mmr, cum, float(taker_fee),
                   source, as_of)

    def tier_at(self, amount: np.ndarray | float) -> np.ndarray:
        """Tier index (0-based) of a position whose notional (or size, per ``basis``) is ``amount``."""
        idx = np.searchsorted(self.floor, np.asarray(amount, dtype=float), side="right") - 1
        return np.clip(idx, 0, len(self.floor) - 1)

    def max_leverage_at(self, amount: float) -> float:
        """The highest leverage the exchange allows at this notional (or size)."""
        return float(self.max_leverage[self.tier_at(amount)])


def _liq_price_for_tier(rule: str, is_long: np.ndarray, entry: np.ndarray, leverage: np.ndarray,
                        size: np.ndarray, mmr: np.ndarray, cum: np.ndarray, fee: float) -> np.ndarray:
    inv = 1.0 / leverage
    if rule in ("binance", "hyperliquid"):
        long_p = (entry * (1 - inv) - cum / size) / (1 - mmr)
        short_p = (entry * (1 + inv) + cum / size) / (1 + mmr)
    elif rule == "bybit":
        long_p = entry * (1 - inv + mmr) - cum / size
        short_p = entry * (1 + inv - mmr) + cum / size
    else:  # okx
        long_p = entry * (1 - inv) / (1 - mmr - fee)
        short_p = entry * (1 + inv) / (1 + mmr + fee)
    return np.where(is_long, long_p, short_p)


def liquidation_price(table: TierTable, side, entry, leverage, size) -> tuple[np.ndarray, np.ndarray]:
    """Liquidation price (quote currency) and tier index, element-wise and broadcast.

    ``side``: +1 long, -1 short (or booleans, True = long). ``entry`` in quote currency,
    ``leverage`` as a multiple, ``size`` in base currency (> 0). The tier is the one in force at
    the liquidation notional, found by iterating price -> tier -> price until it settles (at most
    eight rounds; tier edges make the map monotone, so it settles in two or three).
    """
    side = np.asarray(side)
    is_long = side if side.dtype == bool else side > 0
    entry, leverage, size = (np.asarray(x, dtype=float) for x in (entry, leverage, size))
    is_long, entry, leverage, size = np.broadcast_arrays(is_long, entry, leverage, size)
    amount = entry * size if table.basis == "notional" else size
    tier = table.tier_at(amount)
    price = entry
    for _ in range(8):
        price = _liq_price_for_tier(table.rule, is_long, entry, leverage, size,
                                    table.mmr[tier], table.cum[tier], table.taker_fee)
        if table.basis != "notional":
            break
        new_tier = table.tier_at(np.abs(price) * size)
        if np.array_equal(new_tier, tier):
            break
        tier = new_tier
    return price, tier


def _normalize_symbol(symbol: str) -> str:
    """Base asset of a symbol in any common spelling: BTC/USDT:USDT, BTCUSDT, BTC-USDT-SWAP, BTC."""
    s = symbol.upper().split(":")[0].replace("-SWAP", "")
    for sep in ("/", "-", "_"):
        if sep in s:
            return s.split(sep)[0]
    for quote in ("USDT", "USDC", "USD", "PERP"):
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)]
    return s


@cache
def _exchange_file(exchange: str) -> dict:
    try:
        path = resource_path("tiers", f"{exchange}.json")
    except FileNotFoundError:
        raise ValueError(f"no tier table shipped for exchange {exchange!r}; known: {', '.join(RULES)}") from None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_tiers(exchange: str, symbol: str = "BTC/USDT:USDT") -> TierTable:
    """The shipped tier table of ``exchange`` for the market whose base asset matches ``symbol``."""
    data = _exchange_file(exchange.lower())
    base = _normalize_symbol(symbol)
    for name, market in data["markets"].items():
        if _normalize_symbol(name) == base:
            return TierTable.from_bands(
                data["exchange"], name, data["rule"], market["tiers"],
                basis="size" if data.get("tier_basis") in ("base", "size") else "notional",
                uses_deduction=bool(data.get("uses_deduction", True)),
                taker_fee=float(data.get("taker_fee", 0.0)),
                source=data.get("source", ""), as_of=data.get("as_of", ""),
            )
    known = ", ".join(sorted(data["markets"]))
    raise ValueError(f"no {exchange} tier table for {symbol!r}; shipped markets: {known}")


def available_markets(exchange: str) -> list[str]:
    """Markets with a shipped tier table on ``exchange``."""
    return sorted(_exchange_file(exchange.lower())["markets"])
