import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.tiers import TierTable, derive_cum, liquidation_price, load_tiers, resource_path

BRIEF_BINANCE = [  # PRODUCT.md §1: Binance BTCUSDT, older table
    {"floor": 0, "cap": 50_000, "max_leverage": 125, "mmr": 0.004},
    {"floor": 50_000, "cap": 250_000, "max_leverage": 100, "mmr": 0.005},
    {"floor": 250_000, "cap": 1_000_000, "max_leverage": 50, "mmr": 0.01},
]


def test_cum_derived_from_bands_matches_the_brief():
    t = TierTable.from_bands("binance", "BTC/USDT:USDT", "binance", BRIEF_BINANCE)
    assert list(t.cum) == [0.0, 50.0, 1300.0]


@pytest.mark.parametrize("exchange", ["binance", "bybit"])
def test_derived_cum_matches_what_the_exchange_publishes(exchange):
    data = json.loads(resource_path("tiers", f"{exchange}.json").read_text())
    for market in data["markets"].values():
        if "published_cum" not in market:
            continue
        floor = np.array([b["floor"] for b in market["tiers"]], float)
        mmr = np.array([b["mmr"] for b in market["tiers"]], float)
        assert np.allclose(derive_cum(floor, mmr), market["published_cum"], rtol=1e-9, atol=1e-6)


def test_bybit_documented_example():
    # Bybit: long 1 BTC at 20,000, 50x, MMR 0.5 % -> 19,700
    price, tier = liquidation_price(load_tiers("bybit"), 1, 20_000, 50, 1)
    assert float(price) == pytest.approx(19_700, abs=1e-6)
    assert load_tiers("bybit").mmr[int(tier)] == 0.005


def test_binance_100x_long_is_about_06_pct_under_entry_not_1():
    t = TierTable.from_bands("binance", "BTC/USDT:USDT", "binance", BRIEF_BINANCE)
    price, _ = liquidation_price(t, 1, 60_000, 100, 0.1)
    assert (1 - float(price) / 60_000) == pytest.approx(0.00602, abs=1e-4)


def test_tier_is_taken_at_the_liquidation_notional():
    t = TierTable.from_bands("binance", "BTC/USDT:USDT", "binance", BRIEF_BINANCE)
    # entry notional 50,400 (tier 2) but at 20x the liquidation notional is under 50k (tier 1)
    price, tier = liquidation_price(t, 1, 50_400, 20, 1.0)
    assert int(tier) == 0
    assert float(price) == pytest.approx(50_400 * (1 - 1 / 20) / (1 - 0.004))


def test_okx_includes_the_taker_fee():
    t = load_tiers("okx")
    price, tier = liquidation_price(t, 1, 60_000, 20, 1.0)
    mmr = t.mmr[int(tier)]
    assert float(price) == pytest.approx(60_000 * (1 - 1 / 20) / (1 - mmr - t.taker_fee))
    assert t.taker_fee > 0


def test_vectorized_broadcast():
    t = load_tiers("binance")
    price, tier = liquidation_price(t, np.array([1, -1])[:, None], np.array([50_000.0, 60_000.0]), 10, 0.1)
    assert price.shape == (2, 2) and tier.shape == (2, 2)
    assert np.all(price[0] < [50_000, 60_000]) and np.all(price[1] > [50_000, 60_000])


def test_every_shipped_market_loads_with_source_and_date():
    for ex in ("binance", "bybit", "okx", "hyperliquid"):
        for sym in ("BTC", "ETH"):
            t = load_tiers(ex, sym)
            assert t.source and t.as_of and len(t.mmr) >= 2
    with pytest.raises(ValueError, match="no okx tier table for 'DOGE"):
        load_tiers("okx", "DOGE/USDT:USDT")


@settings(max_examples=200, deadline=None)
@given(exchange=st.sampled_from(["binance", "bybit", "okx", "hyperliquid"]),
       entry=st.floats(100, 200_000), notional=st.floats(10, 5_000_000), lev_frac=st.floats(0.05, 1.0),
       long=st.booleans())
def test_long_liquidates_below_entry_short_above(exchange, entry, notional, lev_frac, long):
    t = load_tiers(exchange)
    size = notional / entry
    amount = notional if t.basis == "notional" else size
    max_lev = t.max_leverage_at(amount)
    lev = max(1.01, max_lev * lev_frac)
    price, _ = liquidation_price(t, 1 if long else -1, entry, lev, size)
    price = float(price)
    assert np.isfinite(price)
    if long:
        assert price < entry
    else:
        assert price > entry
