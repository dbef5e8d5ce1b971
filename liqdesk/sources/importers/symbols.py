"""Symbol names: every venue's spelling turned into one unified form, and OKX contract sizes.

The unified form is ccxt's: ``BTC/USDT:USDT`` for a linear perpetual, ``BTC/USD:BTC`` for an
inverse one, ``BTC/USDT:USDT-240927`` for a dated future and ``BTC/USDT`` for spot. Events of the
same unified symbol from different exchanges belong to one session.
"""

from __future__ import annotations

import re

#: Quote currencies recognised at the end of a concatenated symbol such as ``BTCUSDT``.
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")

#: OKX contract values (``ctVal``): instrument family -> (value, unit). ``"base"`` means one
#: contract is ``value`` units of the base currency (linear USDT swaps and futures); ``"usd"``
#: means one contract is worth ``value`` USD (inverse, coin-margined). Values as listed by OKX's
#: public instruments endpoint (they are also in the instrument lists that the reference OKX capture
#: recorded). A capture that recorded its own instrument list overrides this table; an instrument
#: in neither is skipped and counted ("unknown contract size").
OKX_CONTRACTS: dict[str, tuple[float, str]] = {
    "BTC-USDT": (0.01, "base"),
    "ETH-USDT": (0.1, "base"),
    "SOL-USDT": (1.0, "base"),
    "DOGE-USDT": (1000.0, "base"),
    "BTC-USD": (100.0, "usd"),
    "ETH-USD": (10.0, "usd"),
}

_DATE = re.compile(r"^\d{6}$")


def split_concat(raw: str) -> tuple[str, str] | None:
    """``BTCUSDT`` -> (``BTC``, ``USDT``); None when no known quote ends it."""
    for q in QUOTES:
        if raw.endswith(q) and len(raw) > len(q):
            return raw[: -len(q)], q
    return None


def _unified(base: str, quote: str, market: str, expiry: str = "") -> str:
    if market == "spot":
        return f"{base}/{quote}"
    settle = base if market == "inverse" else quote
    return f"{base}/{quote}:{settle}" + (f"-{expiry}" if expiry else "")


def binance_symbol(raw: str) -> str:
    """Binance futures: ``BTCUSDT`` (USDⓈ-M perp), ``BTCUSDT_240927``, ``BTCUSD_PERP`` (COIN-M)."""
    raw = raw.upper()
    name, _, suffix = raw.partition("_")
    pair = split_concat(name)
    if pair is None:
        return raw
    base, quote = pair
    market = "inverse" if quote == "USD" else "linear"
    expiry = suffix if _DATE.match(suffix) else ""
    return _unified(base, quote, market, expiry)


def bybit_symbol(raw: str, market: str = "linear") -> str:
    """Bybit v5: ``BTCUSDT`` on the linear, inverse or spot connection."""
    raw = raw.upper()
    pair = split_concat(raw)
    if pair is None:
        return raw
    base, quote = pair
    if market not in ("spot", "inverse"):
        market = "inverse" if quote == "USD" else "linear"
    return _unified(base, quote, market)


def okx_symbol(inst_id: str) -> str:
    """OKX: ``BTC-USDT-SWAP``, ``BTC-USD-SWAP``, ``BTC-USD-220527``, ``BTC-USDT`` (spot)."""
    parts = inst_id.upper().split("-")
    if len(parts) == 2:
        return _unified(parts[0], parts[1], "spot")
    if len(parts) == 3:
        base, quote, kind = parts
        market = "inverse" if quote == "USD" else "linear"
        if kind == "SWAP":
            return _unified(base, quote, market)
        if _DATE.match(kind):
            return _unified(base, quote, market, kind)
    return inst_id.upper()


def okx_contract(inst_id: str, learned: dict[str, tuple[float, str]] | None = None
                 ) -> tuple[float, bool] | None:
    """(contract value, inverse?) of an OKX instrument; spot is (1, False); None when unknown.

    Sizes in base currency are ``sz * value`` for linear contracts and ``sz * value / price``
    for inverse ones.
    """
    if learned and inst_id in learned:
        value, unit = learned[inst_id]
        return value, unit == "usd"
    parts = inst_id.upper().split("-")
    if len(parts) == 2:
        return 1.0, False
    if len(parts) == 3:
        entry = OKX_CONTRACTS.get(f"{parts[0]}-{parts[1]}")
        if entry is not None:
            return entry[0], entry[1] == "usd"
    return None


def parse_user_symbol(text: str) -> str:
    """What a user typed, in unified form. Spellings of one instrument give the same name:
    ``BTCUSDT``, ``btcusdt``, ``BTCUSDT.P``, ``BTCUSDT_PERP``, ``BTC-USDT-SWAP``, ``BTC-USDT-PERP``
    and ``BTC/USDT:USDT`` are the linear perpetual; ``BTC-USDT`` and ``BTC/USDT`` are spot;
    ``BTC-USDT-240927``, ``BTCUSDT_240927`` and ``BTC/USDT:USDT-240927`` a dated future. A bare
    concatenated pair means the perpetual (as on Binance and Bybit futures)."""
    s = text.strip().upper()
    if "/" in s:
        return s
    if "-" in s:
        parts = s.split("-")
        if len(parts) == 3 and parts[2] == "PERP":
            parts[2] = "SWAP"
        return okx_symbol("-".join(parts))
    if s.endswith(".P"):  # TradingView's perpetual suffix
        s = s[:-2]
    return binance_symbol(s)


def base_quote(unified: str) -> tuple[str, str]:
    """(``BTC``, ``USDT``) of a unified symbol (the whole name and "" when it has no slash)."""
    pair = unified.split(":", 1)[0]
    base, _, quote = pair.partition("/")
    return base, quote


def is_derivative(unified: str) -> bool:
    return ":" in unified


def is_perpetual(unified: str) -> bool:
    """A perpetual swap: settled (``:``) and without an expiry date."""
    return ":" in unified and "-" not in unified.split(":", 1)[1]


def market_kind(unified: str) -> str:
    """``spot``, ``perpetual``, ``inverse perpetual``, ``future 240927``, ``inverse future
    240927``, or ``unknown market`` for a name that is not in unified form."""
    base, quote = base_quote(unified)
    if not quote:
        return "unknown market"
    if ":" not in unified:
        return "spot"
    settle, _, expiry = unified.split(":", 1)[1].partition("-")
    inverse = "inverse " if settle == base else ""
    return f"{inverse}future {expiry}" if expiry else f"{inverse}perpetual"


def match_symbol(wanted: str, seen: list[str]) -> str | None:
    """The seen symbol a user's ``--symbol`` means: the same instrument or None. Another market
    of the same pair is never taken for it: spot, a perpetual and a dated future are different
    markets (``BTC-USDT`` spot is not ``BTC-USDT-SWAP``)."""
    target = parse_user_symbol(wanted)
    return target if target in seen else None
