"""The simulated market looks like a market: statistics on a fixed-seed 24-hour episode."""

from __future__ import annotations

import numpy as np
import pytest

from .market_stats import (
    abs_return_acf,
    kurtosis,
    liquidation_dispersion,
    minute_returns,
    oi_regression,
    oi_trend_flush,
    oi_windows,
)

#: one worker builds the shared simulated day (pytest-xdist): it is the suite's costliest fixture
pytestmark = [pytest.mark.xdist_group("sim_market"), pytest.mark.slow]


def test_fat_tails(market):
    for v in range(market.sim.V):
        r = minute_returns(market.marks(v))
        assert len(r) >= 1400
        assert kurtosis(r) > 3.0, market.sim.venues[v]
    r = minute_returns(market.marks(0))
    # a BTC-like scale: 1-minute moves of a few hundredths of a percent
    assert 1e-4 < r.std() < 2e-3


def test_volatility_clusters(market):
    r = minute_returns(market.marks(0))
    acf = abs_return_acf(r)
    shuffled = abs_return_acf(np.random.default_rng(0).permutation(r))
    assert acf > 0.1
    assert acf > shuffled + 0.08


def test_liquidations_come_in_bursts(market):
    sim = market.sim
    liq = sim.truth_liquidations()
    assert len(liq) > 500
    minutes = int((sim.now - sim.start_ms) // 60_000)
    assert liquidation_dispersion(liq, sim.start_ms, minutes) > 5.0     # Poisson would give 1
    # most liquidations have another one within the same minute on some venue
    t = np.sort(liq["time_ms"])
    gap = np.minimum(np.diff(t, prepend=t[0] - 10**9), np.diff(t, append=t[-1] + 10**9))
    assert np.mean(gap < 60_000) > 0.7
    # both sides get liquidated over an episode
    assert (liq["side"] > 0).sum() > 20 and (liq["side"] < 0).sum() > 20


def test_open_interest_rises_in_trends_and_drops_in_flushes(market):
    sim = market.sim
    liq = sim.truth_liquidations()
    d_oi, ret, liq_share = oi_windows(market.batch, liq, sim.start_ms, sim.now, 30 * 60_000, sim.exchange_ids[0])
    flush, trend, quiet = oi_trend_flush(d_oi, ret, liq_share)
    assert flush < -0.01                        # a flush takes percents of open interest away
    assert trend > 0 and trend > quiet
    coef, t = oi_regression(d_oi, ret, liq_share)
    assert coef[1] > 0 and t[2] < -2.0          # grows with |return|, shrinks with liquidations
    assert np.corrcoef(liq_share, d_oi)[0, 1] < -0.2


def test_spread_is_positive_and_book_has_depth(market):
    book = market.batch.book
    assert len(book)
    assert (book["size"] > 0).all() and book["snapshot"].all()
    key = book["time_ms"] * 8 + book["exchange"]
    bids = book["side"] > 0
    best_bid = {}
    for k, p in zip(key[bids], book["price"][bids]):
        best_bid[k] = max(best_bid.get(k, -np.inf), p)
    best_ask = {}
    for k, p in zip(key[~bids], book["price"][~bids]):
        best_ask[k] = min(best_ask.get(k, np.inf), p)
    spreads = np.array([best_ask[k] - best_bid[k] for k in best_bid])
    assert len(spreads) == len(best_ask)
    assert (spreads > 0).all()
    # depth thins and refills: top-20 depth varies over time
    depth = np.bincount(np.unique(key, return_inverse=True)[1], book["size"])
    assert depth.std() / depth.mean() > 0.05


def test_venues_are_arbitraged_together(market):
    a, b = market.marks(0)["price"], market.marks(1)["price"]
    gap = np.abs(a / b - 1)
    assert np.median(gap) < 5e-4 and gap.max() < 0.02
    trades = market.batch.trades
    assert set(np.unique(trades["side"]).tolist()) == {-1, 1}
    assert set(np.unique(trades["exchange"]).tolist()) == set(market.sim.exchange_ids.tolist())


def test_events_are_public_kinds_at_their_cadence(market):
    sim, batch = market.sim, market.batch
    seconds = (sim.now - sim.start_ms) // 1000
    assert len(batch.marks) == seconds * sim.V
    oi = batch.open_interest
    for e in sim.exchange_ids:
        t = oi["time_ms"][oi["exchange"] == e]
        assert np.all(np.diff(t) == sim.params.oi_poll_ms)
    assert (batch.funding["rate"] != 0).all()
    assert len(batch.funding) == (seconds // 60) * sim.V
