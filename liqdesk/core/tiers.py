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
- ``bitget`` (USDT-M, isolated): Bitget's help-centre article "Bitget futures: Estimated liquidation
  price" (support article 12560603808759, 2025-09-18) gives
  ``LP = (margin − Q·EP·d) / (Q·(MMR + TakerFeeRatio − d))`` with ``d`` = +1 long, −1 short and
  ``margin = Q·EP/L`` for a freshly opened isolated position; the tier's ``keepMarginRate`` (MMR)
  applies to the whole position ("Position Tier", support article 360052911052: margin rate =
  (position margin + unrealized PnL) / position value, liquidation when it falls to the MMR), so
  there is no deduction. Simplified this is the same algebra as OKX's:
  long ``EP·(1 − 1/L) / (1 − MMR − fee)``, short ``EP·(1 + 1/L) / (1 + MMR + fee)``. Bitget's
  tier bands are position values in USDT (``GET /api/v2/mix/market/query-position-lever``:
  ``startUnit``/``endUnit``, ``leverage``, ``keepMarginRate``); the fee is the contract's
  ``takerFeeRate`` 0.0006 (``GET /api/v2/mix/market/contracts``).

A long's formula can reach 0 or below (at 1x under the rules whose maintenance scales with the mark
price: equity ``Q·P`` never falls under ``MMR·Q·P`` while ``P > 0``); the price is then reported as 0:
the position cannot be liquidated at a positive price, it can lose at most its margin.

Every exchange file also holds a ``generic`` table, returned (with ``approximate=True``) for a
symbol the exchange file does not list; ``resources/tiers/README.md`` says how each was derived.

Prices are in quote currency, sizes in base currency, notionals in quote currency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np

from .resources import resource_path

RULES = ("binance", "bybit", "okx", "hyperliquid", "bitget")


def derive_cum(floor: np.ndarray, mmr: np.ndarray) -> np.ndarray:
    """Maintenance amount per band (quote currency) from band floors and MMRs."""
    steps = np.concatenate([[0.0], floor[1:] * np.diff(mmr)])
    return np.cumsum(steps)


@dataclass(frozen=True)
class TierTable:
    """The tiers of one market on one exchange.

    ``floor``/``cap`` are band edges in quote currency (``basis == "notional"``) or in base
    currency (``basis == "size"``, OKX). ``mmr`` is a fraction, ``cum`` in quote currency.
    ``approximate`` is True for an exchange's generic table, used for a symbol it has no shipped
    table for: anything printed from it must say "approximate tiers".
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
    approximate: bool = False

    @classmethod
    def from_bands(cls, exchange: str, symbol: str, rule: str, bands: list[dict], *,
                   basis: str = "notional", uses_deduction: bool = True, taker_fee: float = 0.0,
                   source: str = "", as_of: str = "", approximate: bool = False) -> TierTable:
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
                   source, as_of, bool(approximate))

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
    else:  # okx, bitget: the tier's MMR on the whole position, the taker fee in the maintenance
        long_p = entry * (1 - inv) / (1 - mmr - fee)
        short_p = entry * (1 + inv) / (1 + mmr + fee)
    # a long liquidated "at or under 0" is never liquidated at a positive price (see the module doc)
    return np.where(is_long, np.maximum(long_p, 0.0), short_p)


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


def base_asset(symbol: str) -> str:
    """Base asset of a symbol in any common spelling (upper case): BTC/USDT:USDT, BTCUSDT,
    BTC-USDT-SWAP, BTC_USDT, BTC -> BTC."""
    return _normalize_symbol(symbol)


@cache
def _exchange_file(exchange: str) -> dict:
    if exchange not in RULES:
        raise ValueError(f"no tier table shipped for exchange {exchange!r}; known: {', '.join(RULES)}")
    try:
        path = resource_path("tiers", f"{exchange}.json")
    except FileNotFoundError:
        raise ValueError(f"no tier table shipped for exchange {exchange!r}; known: {', '.join(RULES)}") from None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _table(data: dict, name: str, market: dict, *, approximate: bool) -> TierTable:
    return TierTable.from_bands(
        data["exchange"], name, data["rule"], market["tiers"],
        basis="size" if market.get("tier_basis", data.get("tier_basis")) in ("base", "size") else "notional",
        uses_deduction=bool(market.get("uses_deduction", data.get("uses_deduction", True))),
        taker_fee=float(data.get("taker_fee", 0.0)),
        source=market.get("source", data.get("source", "")), as_of=market.get("as_of", data.get("as_of", "")),
        approximate=approximate,
    )


def _shipped_market(data: dict, symbol: str) -> str | None:
    base = _normalize_symbol(symbol)
    for name in data["markets"]:
        if _normalize_symbol(name) == base:
            return name
    return None


#: Tables fetched from an exchange while liqdesk runs (a live session refreshes them where the
#: exchange publishes its tiers): (exchange, base asset) -> table; they win over the shipped ones.
_FETCHED: dict[tuple[str, str], TierTable] = {}


def use_fetched_tiers(table: TierTable) -> None:
    """From now on, :func:`load_tiers` gives ``table`` for its exchange and base asset."""
    _FETCHED[(table.exchange.lower(), _normalize_symbol(table.symbol))] = table


def forget_fetched_tiers() -> None:
    _FETCHED.clear()


def load_tiers(exchange: str, symbol: str = "BTC/USDT:USDT") -> TierTable:
    """The tier table of ``exchange`` for the market whose base asset matches ``symbol``: one
    fetched from the exchange in this run (:func:`use_fetched_tiers`), else the shipped one.

    A symbol the exchange file does not list gets the exchange's documented generic table, with
    ``approximate=True`` and ``symbol`` as asked; it never raises for a symbol. An exchange that is
    not one of :data:`RULES` raises ``ValueError`` (one line).
    """
    fetched = _FETCHED.get((str(exchange).lower(), _normalize_symbol(symbol)))
    if fetched is not None:
        return fetched
    data = _exchange_file(str(exchange).lower())
    name = _shipped_market(data, symbol)
    if name is not None:
        return _table(data, name, data["markets"][name], approximate=False)
    return _table(data, str(symbol), data["generic"], approximate=True)


def has_tier_table(exchange: str, symbol: str) -> bool:
    """True when ``exchange`` ships a sourced (not generic) table for ``symbol``'s base asset."""
    return _shipped_market(_exchange_file(str(exchange).lower()), symbol) is not None


def tiers_are_approximate(exchanges, symbol: str) -> list[str]:
    """The exchanges of ``exchanges`` (in the order given) whose table for ``symbol`` is generic.

    For the window's stats panel: a non-empty list means the liquidation levels of those venues
    come from an approximate tier table. Unknown exchange names raise ``ValueError``.
    """
    return [str(e) for e in exchanges if not has_tier_table(e, symbol)]


def available_markets(exchange: str) -> list[str]:
    """Markets with a shipped (sourced) tier table on ``exchange``."""
    return sorted(_exchange_file(exchange.lower())["markets"])
