"""The liquidation engine, the public feed against the truth, the true level map."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.core.events import KINDS
from liqdesk.core.levels import ModelSettings, parse_prior
from liqdesk.core.tiers import liquidation_price
from liqdesk.sim import DEFAULT_LEVERAGE_PRIOR, POSITION_DTYPE
from liqdesk.sim.positions import CLOSED, LIQUIDATED, OPEN, STOP_LOSS, TAKE_PROFIT

#: one worker builds the shared simulated day (pytest-xdist): it is the suite's costliest fixture
pytestmark = [pytest.mark.xdist_group("sim_market"), pytest.mark.slow]


def _range_extreme(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, fn) -> np.ndarray:
    """fn-reduce ``values[lo:hi]`` for every pair (sparse table; empty ranges give the identity)."""
    ident = np.inf if fn is np.minimum else -np.inf
    levels = [values]
    k = 1
    while 2 * k <= len(values):
        levels.append(fn(levels[-1][:-k], levels[-1][k:]))
        k *= 2
    out = np.full(len(lo), ident)
    n = hi - lo
    ok = n > 0
    j = np.zeros(len(lo), int)
    j[ok] = np.floor(np.log2(n[ok])).astype(int)
    for jj in np.unique(j[ok]):
        sel = ok & (j == jj)
        out[sel] = fn(levels[jj][lo[sel]], levels[jj][hi[sel] - (1 << jj)])
    return out


def test_liquidated_exactly_when_the_mark_crosses(market):
    sim, pos = market.sim, market.positions
    assert pos.dtype == POSITION_DTYPE
    assert (pos["reason"] == LIQUIDATED).sum() > 200
    for v in range(sim.V):
        m = market.marks(v)
        t, price = m["time_ms"], m["price"]
        P = pos[pos["venue"] == v]
        # the liquidation price is the venue's own rule and tier table (core.tiers)
        lp, _ = liquidation_price(sim.tables[v], P["side"], P["entry"], P["leverage"], P["size"])
        np.testing.assert_allclose(lp, P["liq_price"], rtol=1e-12)
        long = P["side"] > 0
        assert np.all(np.where(long, P["liq_price"] < P["entry"], P["liq_price"] > P["entry"]))
        first = np.searchsorted(t, P["open_ms"], "left")          # first mark at or after opening
        reason, close = P["reason"], P["close_ms"]
        at_close = np.searchsorted(t, close, "left")
        # marks that must not have crossed: up to the close (a take-profit / stop's own mark
        # included: it did not reach the liquidation price), all of them while open
        end = np.where(reason == OPEN, len(t),
                       np.where(np.isin(reason, [TAKE_PROFIT, STOP_LOSS]), at_close + 1, at_close))
        low = _range_extreme(price, first, end, np.minimum)
        high = _range_extreme(price, first, end, np.maximum)
        crossed = np.where(long, low <= P["liq_price"], high >= P["liq_price"])
        assert not crossed.any(), f"{sim.venues[v]}: {crossed.sum()} positions outlived a crossing"
        # ... and a liquidated one was closed by the very mark that crossed
        liq = reason == LIQUIDATED
        i = at_close[liq]
        assert np.all(t[i] == close[liq])
        assert np.all(price[i] == P["close_mark"][liq])
        assert np.all(np.where(long[liq], price[i] <= P["liq_price"][liq], price[i] >= P["liq_price"][liq]))
        # hazard closes happen between marks, triggers on marks
        assert np.all(close[reason == CLOSED] >= P["open_ms"][reason == CLOSED])


def test_every_liquidation_is_in_the_truth(market):
    sim, pos = market.sim, market.positions
    liq = sim.truth_liquidations()
    assert liq.dtype == KINDS["liquidations"] and not liq.flags.writeable
    done = pos[(pos["reason"] == LIQUIDATED) & (pos["close_ms"] < sim.now)]   # the last mark's: after the end
    assert len(liq) == len(done)
    for e in sim.exchange_ids:
        for side in (1, -1):
            a = liq[(liq["exchange"] == e) & (liq["side"] == side)]
            b = done[(done["exchange"] == e) & (done["side"] == side)]
            np.testing.assert_allclose(np.sort(a["size"]), np.sort(b["size"]))
    assert np.all(np.diff(liq["time_ms"]) >= 0)
    np.testing.assert_allclose(liq["notional"], liq["price"] * liq["size"], rtol=1e-12)
    # the venue's liquidation order reaches the book within half a second of the triggering mark,
    # and fills near it (the book's slippage, not an arbitrary price)
    marks = market.batch.marks
    for e in sim.exchange_ids:
        L = liq[liq["exchange"] == e]
        m = marks[marks["exchange"] == e]
        i = np.searchsorted(m["time_ms"], L["time_ms"], "right") - 1
        assert np.all((L["time_ms"] - m["time_ms"][i] > 0) & (L["time_ms"] - m["time_ms"][i] < 500))
        assert np.all(np.abs(L["price"] / m["price"][i] - 1) < 0.02)


def test_public_feed_is_the_latest_liquidation_per_venue_per_second(market):
    sim = market.sim
    truth = sim.truth_liquidations()
    public = market.batch.liquidations
    assert 0 < len(public) < len(truth)
    key_t = truth["exchange"].astype(np.int64) * 10**13 + truth["time_ms"] // 1000
    key_p = public["exchange"].astype(np.int64) * 10**13 + public["time_ms"] // 1000
    assert len(np.unique(key_p)) == len(public) == len(np.unique(key_t))
    # each published row is the last of its venue-second in the truth
    order = np.lexsort((truth["time_ms"], key_t))
    last = np.r_[key_t[order][1:] != key_t[order][:-1], True]
    expected = truth[order][last]
    expected = expected[np.argsort(expected["time_ms"], kind="stable")]
    np.testing.assert_array_equal(np.sort(public, order=["time_ms", "exchange"]),
                                  np.sort(expected, order=["time_ms", "exchange"]))
    assert public["notional"].sum() < truth["notional"].sum()


def test_truth_map_matches_the_open_positions(market):
    sim, pos = market.sim, market.positions
    t, side, k, notional = sim.truth_map()
    times = np.unique(t)
    assert len(times) == int((sim.now - sim.start_ms) // sim.params.truth_every_ms)
    assert np.all(np.diff(times) == sim.params.truth_every_ms)
    w = sim.bin_width
    assert w == 50.0
    for T in times[[0, len(times) // 2, -1]]:
        open_at = (pos["open_ms"] <= T) & ((pos["close_ms"] == -1) | (pos["close_ms"] > T))
        P = pos[open_at]
        bins = np.floor(P["liq_price"] / w).astype(np.int64)
        for s in (1, -1):
            sel = P["side"] == s
            ref_k, inv = np.unique(bins[sel], return_inverse=True)
            ref_n = np.bincount(inv, (P["size"] * P["entry"])[sel])
            row = (t == T) & (side == s)
            np.testing.assert_array_equal(k[row], ref_k)
            np.testing.assert_allclose(notional[row], ref_n, rtol=1e-9)
    # long levels sit under the price, short levels above
    last = t == times[-1]
    price = market.marks(0)["price"][-1]
    long_mid = np.average(k[last & (side > 0)], weights=notional[last & (side > 0)]) * w
    short_mid = np.average(k[last & (side < 0)], weights=notional[last & (side < 0)]) * w
    assert long_mid < price < short_mid


def test_truth_map_rebins_to_multiples_only(market):
    sim = market.sim
    t, side, k, n = sim.truth_map()
    t2, side2, k2, n2 = sim.truth_map(2 * sim.bin_width)
    assert n2.sum() == pytest.approx(n.sum(), rel=1e-12)
    assert len(k2) < len(k)
    sel = (t == t[-1]) & (side == 1)
    sel2 = (t2 == t[-1]) & (side2 == 1)
    assert n2[sel2].sum() == pytest.approx(n[sel].sum(), rel=1e-12)
    assert set((k[sel] // 2).tolist()) == set(k2[sel2].tolist())
    with pytest.raises(ValueError, match="whole multiple"):
        sim.truth_map(sim.bin_width * 1.5)
    table = sim.truth_map_table()
    assert table.dtype.names == ("time_ms", "side", "bin", "notional")


def test_true_leverage_distribution_is_the_simulators_own(market):
    pos = market.positions
    levs, weights = parse_prior(DEFAULT_LEVERAGE_PRIOR)
    settings = ModelSettings()
    assert (levs, weights) != (settings.leverages, tuple(np.asarray(settings.weights) / sum(settings.weights)))
    binance = pos[(pos["exchange"] == 0) & (pos["open_ms"] >= market.sim.start_ms)]
    shares = np.array([(binance["leverage"] == lev).mean() for lev in levs])
    np.testing.assert_allclose(shares, weights, atol=0.02)
    # Hyperliquid-style caps apply per venue: no position above its venue's tier maximum
    for v, table in enumerate(market.sim.tables):
        P = pos[pos["venue"] == v]
        assert P["leverage"].max() <= table.max_leverage.max()


def test_positions_have_heavy_tailed_sizes_and_exits(market):
    pos = market.positions
    notional = pos["size"] * pos["entry"]
    assert notional.min() >= 999.0
    assert np.quantile(notional, 0.999) > 20 * np.median(notional)
    reasons = np.bincount(pos["reason"], minlength=5)
    assert all(reasons[r] > 100 for r in (OPEN, CLOSED, TAKE_PROFIT, STOP_LOSS, LIQUIDATED))
    tp = pos[pos["reason"] == TAKE_PROFIT]
    assert np.all(np.where(tp["side"] > 0, tp["close_mark"] >= tp["take_profit"], tp["close_mark"] <= tp["take_profit"]))
