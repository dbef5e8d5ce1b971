"""Parameters: defaults, validation with one-line messages."""

from __future__ import annotations

import json

import pytest

from liqdesk.core.levels import ModelSettings, parse_prior
from liqdesk.core.markets import SHIPPED_SYMBOLS, market_profile
from liqdesk.sim import DEFAULT_LEVERAGE_PRIOR, SimParams, Simulator, venues_for


def test_defaults():
    p = SimParams()
    assert p.venues == ("binance", "bybit", "okx")
    assert p.symbol == "BTC/USDT:USDT"
    # the BTC market's price level is its profile's (dated), no longer a fixed 60,000; the market is
    # defined in USD and in relative steps, so 0.4 bp of price is a 2.5 step (2 at 60,000), 0.1 % a 50 bin
    assert p.start_price == market_profile("BTC").price == 88_640.0
    assert p.oi_poll_ms == 5_000 and p.truth_every_ms == 60_000
    assert p.bin_width == 50.0 and p.tick == 2.5
    assert (p.open_rate, p.trade_rate, p.min_notional) == (0.8, 2.0, 1_000.0)
    assert SimParams(start_price=60_000.0).tick == 2.0          # an explicit price keeps the old market
    levs, weights = parse_prior(DEFAULT_LEVERAGE_PRIOR)
    model = ModelSettings()
    assert levs != model.leverages
    json.dumps(p.to_meta())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hours": -1}, "hours must be a finite number > 0"),
        ({"hours": float("nan")}, "hours"),
        ({"leverage_prior": "5:0,10:0"}, "weights must sum to a positive number"),
        ({"leverage_prior": "5:-1,10:2"}, "bad leverage prior entry"),
        ({"leverage_prior": "ten:1"}, "bad leverage prior entry"),
        ({"venues": ("binance", "kraken")}, "unknown venue 'kraken'"),
        ({"venues": ()}, "at least one venue"),
        ({"venues": ("okx", "okx")}, "listed twice"),
        ({"bias": 1.5}, "bias must be a finite number"),
        ({"start_price": 0}, "start_price"),
        ({"oi_poll_ms": 1500}, "multiple of 1000"),
        ({"seed": -3}, "seed must be an integer"),
        ({"truth_bin_width": -5}, "truth_bin_width"),
        ({"scenario": "storm"}, "unknown scenario 'storm'; expected one of calm, trend, crash, lowlev, highlev"),
        ({"scenario": "crash", "crash_depth": 0.9}, "crash_depth must be a finite number"),
        ({"drift_per_day": float("inf")}, "drift_per_day"),
        ({"jump_scale": 0}, "jump_scale"),
    ],
)
def test_bad_parameters_raise_one_line_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        SimParams(**kwargs)
    assert "\n" not in str(info.value)


def test_venue_counts():
    assert venues_for(1) == ("binance",)
    assert venues_for(4) == ("binance", "bybit", "okx", "hyperliquid")
    for bad in (0, 6, 2.5, "3", True):
        with pytest.raises(ValueError, match="venue count"):
            venues_for(bad)
    # a venue liqdesk knows but ships no tier table for cannot be simulated honestly
    params = SimParams(venues=venues_for(5))
    try:
        Simulator(params)
    except ValueError as exc:
        assert "bitget" in str(exc) and "\n" not in str(exc)


def test_venues_accept_a_comma_list():
    assert SimParams(venues="okx, bybit").venues == ("okx", "bybit")


@pytest.mark.parametrize("symbol", SHIPPED_SYMBOLS)
def test_the_market_comes_from_the_symbol(symbol):
    p = SimParams(symbol=symbol)
    prof = market_profile(symbol)
    assert p.start_price == prof.price and p.market == prof and not prof.approximate
    assert p.start_price * 1e-6 < p.tick <= p.start_price * 1e-3
    if prof.tick is not None:
        assert p.tick >= prof.tick                     # never finer than the venue's published step
    scale = (prof.open_interest_usd / market_profile("BTC").open_interest_usd) ** 0.5
    assert p.open_rate == pytest.approx(0.8 * scale) and p.trade_rate == pytest.approx(2.0 * scale)
    assert p.to_meta()["market"]["symbol"] == prof.symbol


def test_explicit_values_win_over_the_symbol():
    p = SimParams(symbol="ETH/USDT:USDT", start_price=60_000.0, open_rate=0.8, trade_rate=2.0, min_notional=1_000.0)
    assert (p.start_price, p.tick, p.open_rate, p.trade_rate, p.min_notional) == (60_000.0, 2.0, 0.8, 2.0, 1_000.0)


def test_an_unknown_symbol_gets_the_generic_market():
    p = SimParams(symbol="FOOUSDT")
    assert p.market.approximate and p.start_price == 1.0 and p.open_rate < 0.1
    assert p.to_meta()["market"]["approximate"] is True
