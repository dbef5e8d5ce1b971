"""Market profiles: every spelling of a symbol finds its profile; anything else is generic."""

import pytest

from liqdesk.core.markets import GENERIC_PRICE, SHIPPED_SYMBOLS, MarketProfile, market_profile
from liqdesk.core.tiers import has_tier_table


@pytest.mark.parametrize("spelling", ["BTC/USDT:USDT", "BTCUSDT", "btcusdt", "BTC-USDT-SWAP", "BTC", "BTC_USDT",
                                      "BTC/USDC:USDC"])
def test_every_common_spelling_finds_the_profile(spelling):
    p = market_profile(spelling)
    assert (p.symbol, p.base, p.approximate) == ("BTC/USDT:USDT", "BTC", False)
    assert p.price == 88_640.0 and p.size_vs_btc == 1.0


def test_shipped_symbols_are_sourced_dated_and_ordered_by_open_interest():
    assert len(SHIPPED_SYMBOLS) == 10 and SHIPPED_SYMBOLS[:2] == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    profiles = [market_profile(s) for s in SHIPPED_SYMBOLS]
    assert all(isinstance(p, MarketProfile) and p.symbol == s for p, s in zip(profiles, SHIPPED_SYMBOLS))
    assert all(p.source and p.as_of and not p.approximate and p.price > 0 for p in profiles)
    oi = [p.open_interest_usd for p in profiles]
    assert oi == sorted(oi, reverse=True)
    # every shipped symbol has a sourced Binance table
    assert all(has_tier_table("binance", s) for s in SHIPPED_SYMBOLS)


@pytest.mark.parametrize("symbol", ["PEPE/USDT:USDT", "FOOUSDT", "WIF-USDT-SWAP"])
def test_an_unknown_symbol_gets_the_generic_profile(symbol):
    p = market_profile(symbol)
    assert p.approximate and p.price == GENERIC_PRICE and p.source.startswith("Generic, approximate")
    assert p.open_interest_usd < min(market_profile(s).open_interest_usd for s in SHIPPED_SYMBOLS)
    assert p.symbol.endswith("/USDT:USDT") and p.tick is None


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_a_blank_or_non_text_symbol_is_a_value_error(bad):
    with pytest.raises(ValueError, match="symbol must be a non-empty string"):
        market_profile(bad)
