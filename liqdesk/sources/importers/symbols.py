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
    """What a user typed (``BTCUSDT``, ``BTC/USDT:USDT``, ``BTC-USDT-SWAP``, ``btcusdt``,
    ``BTC-USDT-PERP``) in unified form. A bare concatenated pair means the perpetual."""
    s = text.strip().upper()
    if "/" in s:
        return s
    if "-" in s:
        parts = s.split("-")
        if len(parts) == 3 and parts[2] == "PERP":
            parts[2] = "SWAP"
        return okx_symbol("-".join(parts))
    return binance_symbol(s)


def base_quote(unified: str) -> tuple[str, str]:
    """(``BTC``, ``USDT``) of a unified symbol (the whole name and "" when it has no slash)."""
    pair = unified.split(":", 1)[0]
    base, _, quote = pair.partition("/")
    return base, quote


def is_derivative(unified: str) -> bool:
    return ":" in unified


def match_symbol(wanted: str, seen: list[str]) -> str | None:
    """The seen symbol a user's ``--symbol`` means: the same unified name, else the same base and
    quote (a perpetual first, then any derivative, then spot); None when nothing fits."""
    target = parse_user_symbol(wanted)
    if target in seen:
        return target
    bq = base_quote(target)
    same = [s for s in seen if base_quote(s) == bq]
    if not same:
        return None

    def rank(s: str) -> tuple[int, str]:
        if is_derivative(s) and "-" not in s.split(":", 1)[1]:
            return 0, s
        return (1 if is_derivative(s) else 2), s

    return min(same, key=rank)
