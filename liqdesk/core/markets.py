"""Market profiles: price level, price step and size of each shipped symbol's perpetual market.

The simulator takes its market from the symbol (:class:`liqdesk.sim.SimParams`); the window's
symbol chooser lists :data:`SHIPPED_SYMBOLS`. Every number below comes from a named source:

- ``price`` (USDT) and ``open_interest_usd`` (USD, all venues together): the "Cryptocurrency Futures
  Open Interest Overview Across Networks" table of deriexs.com/open-interests (stored copy; the page
  carries no date). Its prices (BTC 88,640.00, ETH 2,996.26, SOL 125.86, ...) lie within 1-4 % of
  Binance USDⓈ-M fills of 2025-12-18..28 for BTC, ETH, SOL, XRP, BNB and SUI (liquidation orders,
  ``forceOrder``) and DOGE (aggTrades), within 3-7 % for HYPE and BCH (riftfern/data-streams, kept
  in ``shared/data/real/liquidations/binance-2025-12``), so the snapshot is dated late December 2025;
  ZEC, the most volatile, traded 16-21 % above the table's 437.50 on 2025-12-27.
  The ten symbols are the table's ten largest by open interest in that snapshot.
- ``tick`` (USDT): Bitget USDT-M ``GET /api/v2/mix/market/contracts`` ``pricePlace`` (BTCUSDT 1,
  ETHUSDT 2, XRPUSDT 4 decimals), as recorded from the live venue on 2026-09-25 in the public
  test fixture ``BitgetPayloads`` (the same recording as ``resources/tiers/bitget.json``). ``None``
  where no published step was found; the simulator then uses its own step (0.4 bp of price).
- ``volume_usd_24h``: ``None`` for every shipped symbol: no dated per-coin 24 h volume could be
  sourced. The simulator scales activity by open interest instead.

The generic profile (any other symbol) is approximate by construction: price 1.0 USDT and open
interest one tenth of the smallest shipped market's (SUI), so a simulated unknown market is small.

Prices in quote currency (USDT), amounts in USD.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tiers import base_asset

_OI_SOURCE = ("deriexs.com/open-interests, 'Cryptocurrency Futures Open Interest Overview Across Networks' "
              "(stored copy, undated; prices agree with Binance USDⓈ-M liquidation fills of 2025-12-18..28)")
_TICK_SOURCE = "tick: Bitget USDT-M contracts pricePlace, recorded 2026-09-25 (fixture BitgetPayloads)"
_AS_OF = "2025-12"


@dataclass(frozen=True)
class MarketProfile:
    """One perpetual market as the simulator needs it.

    ``symbol`` is the ccxt unified name (``SOL/USDT:USDT``), ``base`` the base asset. ``price`` is
    a typical price (USDT), ``tick`` a venue's published price step (USDT, or ``None``),
    ``volume_usd_24h`` and ``open_interest_usd`` the market's size over all venues (USD, ``None``
    when not sourced). ``approximate`` is True for the generic profile of an unknown symbol.
    """

    symbol: str
    base: str
    price: float
    tick: float | None
    volume_usd_24h: float | None
    open_interest_usd: float
    approximate: bool
    as_of: str
    source: str

    @property
    def size_vs_btc(self) -> float:
        """Open interest relative to BTC's (BTC = 1)."""
        return self.open_interest_usd / _BTC_OI


# base: (price, open interest USD, tick or None)
_PROFILES: dict[str, tuple[float, float, float | None]] = {
    "BTC": (88_640.00, 30.70e9, 0.1),
    "ETH": (2_996.26, 19.26e9, 0.01),
    "SOL": (125.86, 3.10e9, None),
    "XRP": (1.93, 1.47e9, 0.0001),
    "BNB": (855.78, 870.55e6, None),
    "DOGE": (0.1320, 653.76e6, None),
    "HYPE": (24.29, 501.74e6, None),
    "ZEC": (437.50, 495.45e6, None),
    "BCH": (587.38, 378.99e6, None),
    "SUI": (1.46, 325.53e6, None),
}
_BTC_OI = _PROFILES["BTC"][1]

#: The shipped symbols (ccxt unified names), largest open interest first.
SHIPPED_SYMBOLS: tuple[str, ...] = tuple(f"{base}/USDT:USDT" for base in _PROFILES)

#: The generic profile's open interest: a tenth of the smallest shipped market's.
GENERIC_OPEN_INTEREST_USD = min(oi for _, oi, _ in _PROFILES.values()) / 10
GENERIC_PRICE = 1.0


def market_profile(symbol: str) -> MarketProfile:
    """The profile of ``symbol`` in any common spelling (``BTC/USDT:USDT``, ``BTCUSDT``,
    ``BTC-USDT-SWAP``, ``BTC``); an unknown symbol gets the generic, approximate profile."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError("symbol must be a non-empty string")
    base = base_asset(symbol.strip())
    known = _PROFILES.get(base)
    if known is None:
        return MarketProfile(
            symbol=f"{base}/USDT:USDT", base=base, price=GENERIC_PRICE, tick=None, volume_usd_24h=None,
            open_interest_usd=GENERIC_OPEN_INTEREST_USD, approximate=True, as_of=_AS_OF,
            source="Generic, approximate: price 1.0 USDT and a tenth of the smallest shipped market's open "
                   f"interest (SUI, {_OI_SOURCE})",
        )
    price, oi, tick = known
    source = _OI_SOURCE + ("; " + _TICK_SOURCE if tick is not None else "")
    return MarketProfile(symbol=f"{base}/USDT:USDT", base=base, price=price, tick=tick, volume_usd_24h=None,
                         open_interest_usd=oi, approximate=False, as_of=_AS_OF, source=source)


__all__ = ["GENERIC_OPEN_INTEREST_USD", "GENERIC_PRICE", "SHIPPED_SYMBOLS", "MarketProfile", "market_profile"]
