"""The level model: the properties a trader relies on (PRODUCT.md §1)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqdesk.core.events import EventBatch, make_batch, records, slice_batch
from liqdesk.core.levels import LevelModel, ModelSettings, nice_bin_width, parse_prior
from liqdesk.core.synthetic import random_walk_stream

T0 = 1_700_000_000_000
SETTINGS = ModelSettings(exchanges=("binance", "bybit", "okx"), column_ms=10_000, window_columns=64, rows=400,
                         turnover=0.0)   # exact OI mechanics; turnover has its own test


def batch(trades=(), marks=(), oi=()):
    """trades: (t_ms, exchange, side, price, size); marks: (t_ms, exchange, price); oi: (t_ms, exchange, base)."""
    kw = {}
    if trades:
        t, e, s, p, q = map(np.array, zip(*trades))
        kw["trades"] = records("trades", time_ms=T0 + t, exchange=e, side=s, price=p, size=q)
    if marks:
        t, e, p = map(np.array, zip(*marks))
        kw["marks"] = records("marks", time_ms=T0 + t, exchange=e, price=p)
    if oi:
        t, e, q = map(np.array, zip(*oi))
        kw["open_interest"] = records("open_interest", time_ms=T0 + t, exchange=e, oi_base=q, oi_notional=q * 60_000)
    return make_batch(**kw)


def opened_at(price, exchange=0, oi_from=1_000.0, oi_to=1_010.0, model=None, buy=1):
    """A model in which OI rose by oi_to - oi_from around trades at ``price``."""
    model = model or LevelModel(SETTINGS)
    model.ingest(batch(trades=[(500, exchange, buy, price, 1.0), (1_500, exchange, -buy, price, 1.0)],
                       marks=[(100, exchange, price)],
                       oi=[(0, exchange, oi_from), (2_000, exchange, oi_to)]))
    model.flush()
    return model


def test_oi_rise_opens_both_sides_at_their_liquidation_prices():
    m = opened_at(60_000.0)
    lv = m.levels()
    assert m.modes["binance"] == "oi" and m.mode == "oi"
    longs, shorts = lv[lv["side"] == 1], lv[lv["side"] == -1]
    assert len(longs) == len(SETTINGS.leverages) and len(shorts) == len(SETTINGS.leverages)
    # 10 BTC opened at 60,000 on each side, spread over the prior
    assert longs["notional"].sum() == pytest.approx(600_000) and shorts["notional"].sum() == pytest.approx(600_000)
    # the 100x long sits about 0.6 % under entry (Binance tier 1 MMR 0.4 %), not at the naive 1 %
    l100 = longs[longs["leverage"] == 100]["price"][0]
    assert 1 - l100 / 60_000 == pytest.approx(0.006, abs=0.0005)


def test_taker_imbalance_tilts_the_split():
    m = LevelModel(SETTINGS)
    m.ingest(batch(trades=[(500, 0, 1, 60_000.0, 3.0), (600, 0, -1, 60_000.0, 1.0)], marks=[(100, 0, 60_000.0)],
                   oi=[(0, 0, 100.0), (2_000, 0, 110.0)]))
    m.flush()
    lv = m.levels()
    long_usd, short_usd = lv[lv["side"] == 1]["notional"].sum(), lv[lv["side"] == -1]["notional"].sum()
    # buy share 0.75, aggressor weight 0.5: longs 1.25 N, shorts 0.75 N with N = 10 * 60,000
    assert long_usd == pytest.approx(1.25 * 600_000) and short_usd == pytest.approx(0.75 * 600_000)


def test_oi_fall_shrinks_in_proportion_and_never_creates_levels():
    m = opened_at(60_000.0)
    before = m.levels()
    m.ingest(batch(marks=[(2_500, 0, 60_000.0)], oi=[(3_000, 0, 909.0), (4_000, 0, 808.0)]))
    m.flush()
    after = m.levels()
    assert np.array_equal(before["bin"], after["bin"])
    assert after["notional"] == pytest.approx(before["notional"] * 808.0 / 1_010.0)


def test_volume_mode_without_open_interest_and_says_so():
    m = LevelModel(SETTINGS)
    m.ingest(batch(trades=[(t, 1, 1 if t % 2000 else -1, 60_000.0 + t / 1000, 0.5) for t in range(0, 130_000, 1000)]))
    m.flush()
    assert m.modes["bybit"] == "volume" and m.mode == "volume"
    assert m.total_notional() > 0


def test_mark_crossing_sweeps_exactly_and_records_it():
    m = opened_at(60_000.0)
    top = m.levels()
    top = top[top["side"] == 1]
    top = top[np.argmax(top["price"])]
    just_above = np.nextafter(top["price"], np.inf)
    m.ingest(batch(marks=[(3_000, 0, just_above)]))
    assert top["price"] in m.levels()["price"], "swept before the mark crossed it"
    m.ingest(batch(marks=[(4_000, 0, top["price"])]))
    assert top["price"] not in m.levels()["price"]
    swept = m.swept()
    hit = swept[swept["price"] == top["price"]]
    assert len(hit) == 1 and hit["time_ms"][0] == T0 + 4_000 and hit["notional"][0] == top["notional"]
    assert hit["side"][0] == 1 and hit["leverage"][0] == top["leverage"]


def test_levels_born_already_crossed_are_not_added():
    m = LevelModel(SETTINGS)
    # trades at 60,000 but the mark has already fallen 5 %: 100x..25x longs would be liquidated at once
    m.ingest(batch(trades=[(500, 0, 1, 60_000.0, 1.0)], marks=[(1_000, 0, 57_000.0)],
                   oi=[(0, 0, 10.0), (2_000, 0, 20.0)]))
    m.flush()
    longs = m.levels()[m.levels()["side"] == 1]
    assert len(longs) and np.all(longs["price"] < 57_000.0)


def test_malformed_batch_raises_clearly_and_changes_nothing():
    m = opened_at(60_000.0)
    state = (m.notional.copy(), m.weighted.copy(), m.watermark, len(m.swept()))
    bad = EventBatch(trades=records("trades", time_ms=[T0 + 9_000] * 2, exchange=0, side=1,
                                    price=[np.nan, 59_000.0], size=[1.0, 1.0]))
    with pytest.raises(ValueError, match=r"trades\.price: 1 row"):
        m.ingest(bad)
    old = batch(marks=[(-60_000, 0, 50_000.0)])
    with pytest.raises(ValueError, match=r"marks\.time_ms: 1 row"):
        m.ingest(old)
    assert np.array_equal(m.notional, state[0]) and np.array_equal(m.weighted, state[1])
    assert m.watermark == state[2] and len(m.swept()) == state[3]


def test_decay_halves_levels_over_a_half_life():
    s = ModelSettings(exchanges=("binance",), column_ms=10_000, window_columns=64, rows=400, decay_half_life_s=60,
                      turnover=0.0)
    m = opened_at(60_000.0, model=LevelModel(s))
    m.ingest(batch(marks=[(9_000, 0, 60_000.0)]))
    before = m.total_notional()  # column end at 10 s not yet passed
    m.ingest(batch(marks=[(69_999, 0, 60_000.0), (70_000, 0, 60_000.0)]))
    # column ends at 10, 20, ..., 70 s have passed: 70 s of decay with a 60 s half-life
    assert m.total_notional() == pytest.approx(before * 0.5 ** (70 / 60), rel=1e-12)


def test_settings_and_prior_reject_bad_input():
    assert parse_prior("5:1,10:3") == ((5.0, 10.0), (0.25, 0.75))
    for bad in ("5:0,10:0", "x:1", "1:1", "5:-1", "5:1,5:1"):
        with pytest.raises(ValueError):
            parse_prior(bad)
    with pytest.raises(ValueError, match="unknown exchange"):
        ModelSettings(exchanges=("ftx",))
    assert nice_bin_width(60.0) == 50.0 and nice_bin_width(0.26) == 0.25


# ---------------------------------------------------------------- properties over random streams

def _random_stream(seed, minutes):
    return random_walk_stream(hours=minutes / 60, seed=seed, trades_per_s=20, oi_every_ms=3_000,
                              vol_per_sqrt_s=0.002)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 9 * 60_000 - 1), max_size=12))
def test_one_batch_or_many_give_identical_state_grid_and_sweeps(seed, cuts):
    stream = _random_stream(seed, 9)
    start = stream.time_span()[0]
    one = LevelModel(SETTINGS)
    one.ingest(stream)
    one.flush()
    many = LevelModel(SETTINGS)
    bounds = [None] + sorted(start + c for c in cuts) + [None]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        many.ingest(slice_batch(stream, lo, hi))
    many.flush()
    img1, cols1, o1 = one.image()
    img2, cols2, o2 = many.image()
    assert o1 == o2 and np.array_equal(cols1, cols2) and np.array_equal(img1, img2)
    assert np.array_equal(one.level_map(origin=o1 - 2000, rows=4400), many.level_map(origin=o1 - 2000, rows=4400))
    assert np.array_equal(one.swept(), many.swept())
    assert not np.isnan(img1).any()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_levels_never_negative_and_stay_on_their_side_of_the_mark(seed):
    stream = _random_stream(seed, 6)
    m = LevelModel(SETTINGS)
    start, end = stream.time_span()
    for lo in range(start, end + 1, 20_000):
        m.ingest(slice_batch(stream, lo, lo + 20_000))
        assert (m.notional >= 0).all() and (m.weighted >= 0).all()
        lv = m.levels()
        for name in SETTINGS.exchanges:
            mark = m.mark_price(name)
            mine = lv[lv["exchange"] == {"binance": 0, "bybit": 1, "okx": 2}[name]]
            assert np.all(mine[mine["side"] == 1]["price"] < mark)
            assert np.all(mine[mine["side"] == -1]["price"] > mark)
    sw = m.swept()
    assert np.all(sw["notional"] > 0)


@settings(max_examples=40, deadline=None)
@given(entry=st.floats(1_000, 150_000), marks=st.lists(st.floats(0.5, 1.5), min_size=1, max_size=20),
       exchange=st.integers(0, 2))
def test_a_level_disappears_exactly_when_the_mark_crosses_it(entry, marks, exchange):
    m = opened_at(entry, exchange=exchange)
    born = m.levels()
    low, high = entry, entry
    for i, f in enumerate(marks):
        price = entry * f
        m.ingest(batch(marks=[(3_000 + i * 10, exchange, price)]))
        low, high = min(low, price), max(high, price)
        alive = m.levels()
        expect_alive = born[((born["side"] == 1) & (born["price"] < low)) | ((born["side"] == -1) & (born["price"] > high))]
        assert np.array_equal(np.sort(alive["price"]), np.sort(expect_alive["price"]))
    swept = m.swept()
    assert len(swept) + len(m.levels()) == len(born)


@settings(max_examples=30, deadline=None)
@given(entry=st.floats(1_000, 150_000), exchange=st.integers(0, 2), buy=st.sampled_from([1, -1]))
def test_long_levels_sit_below_their_entry_and_short_levels_above(entry, exchange, buy):
    lv = opened_at(entry, exchange=exchange, buy=buy).levels()
    assert len(lv) == 2 * len(SETTINGS.leverages)
    assert np.all(lv[lv["side"] == 1]["price"] < entry) and np.all(lv[lv["side"] == -1]["price"] > entry)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), drops=st.lists(st.floats(0.0, 0.2), min_size=1, max_size=8))
def test_an_open_interest_decrease_never_creates_levels(seed, drops):
    m = opened_at(60_000.0)
    oi = 1_010.0
    for i, d in enumerate(drops):
        before = m.levels()
        oi *= 1 - d
        m.ingest(batch(trades=[(3_000 + i * 1000, 0, 1, 60_000.0 + i, 2.0)], marks=[(3_001 + i * 1000, 0, 60_000.0)],
                       oi=[(3_500 + i * 1000, 0, oi)]))
        m.flush()
        after = m.levels()
        assert set(after["bin"]) <= set(before["bin"])
        assert after["notional"].sum() <= before["notional"].sum() * (1 + 1e-12)
        assert not math.isnan(m.total_notional())


def test_an_absolute_bin_width_is_used_as_given():
    s = ModelSettings(exchanges=("binance",), bin_width=7.5, column_ms=10_000, window_columns=64, rows=400)
    m = opened_at(60_000.0, model=LevelModel(s))
    assert m.bin_width == 7.5 and len(m.levels()) == 2 * len(s.leverages)
    assert np.all(m.levels()["bin"] == np.floor(m.levels()["price"] / 7.5))


def test_turnover_closes_in_proportion_to_volume_and_reopens_at_current_prices():
    s = ModelSettings(exchanges=("binance",), column_ms=10_000, window_columns=64, rows=400, turnover=0.5)
    m = opened_at(60_000.0, model=LevelModel(s))       # OI 1,000 -> 1,010 with 2 BTC traded
    first = m.levels()
    # 0.5 x 2 BTC churn is opened on top of the 10 BTC OI rise
    assert first["notional"].sum() == pytest.approx(2 * 11 * 60_000)
    # flat OI, 20 BTC traded at 60,100 (no level crossed): 0.5 x 20 / 1,010 of every level
    # closes, and 10 BTC reopens there
    m.ingest(batch(trades=[(3_000, 0, 1, 60_100.0, 10.0), (3_500, 0, -1, 60_100.0, 10.0)],
                   marks=[(2_900, 0, 60_100.0)], oi=[(4_000, 0, 1_010.0)]))
    m.flush()
    after = m.levels()
    old = after[np.isin(after["bin"], first["bin"])]
    kept = 1 - 0.5 * 20 / 1_010
    assert old["notional"].sum() == pytest.approx(first["notional"].sum() * kept, rel=1e-9)
    assert len(m.swept()) == 0
    assert after["notional"].sum() - old["notional"].sum() == pytest.approx(2 * 10 * 60_100, rel=1e-9)
    # an OI fall still creates nothing, whatever the volume
    bins = set(after["bin"])
    m.ingest(batch(trades=[(5_000, 0, 1, 62_000.0, 50.0)], marks=[(4_900, 0, 62_000.0)], oi=[(6_000, 0, 900.0)]))
    m.flush()
    assert set(m.levels()["bin"]) <= bins


def test_leverage_spread_widens_each_tier_and_keeps_its_notional():
    sharp = opened_at(60_000.0)
    s = ModelSettings(exchanges=("binance", "bybit", "okx"), column_ms=10_000, window_columns=64, rows=400,
                      turnover=0.0, leverage_spread=0.3, spread_points=5)
    wide = opened_at(60_000.0, model=LevelModel(s))
    for lev in SETTINGS.leverages:
        a, b = sharp.levels(), wide.levels()
        a, b = a[a["leverage"] == lev], b[b["leverage"] == lev]
        assert b["notional"].sum() == pytest.approx(a["notional"].sum())
        assert len(b) >= len(a)
    assert len(wide.levels()) > len(sharp.levels())
    lv = wide.levels()
    assert np.all(lv[lv["side"] == 1]["price"] < 60_000) and np.all(lv[lv["side"] == -1]["price"] > 60_000)


def test_leverage_runs_above_100x_where_the_exchange_allows_it():
    """125x is placed at its own liquidation price where the exchange offers it (Binance BTC:
    150x for small positions) and at the exchange's maximum elsewhere (Bybit 100x, Hyperliquid
    40x): never at an impossible level on the wrong side of the entry."""
    from liqdesk.core.events import EXCHANGE_ID
    from liqdesk.core.tiers import liquidation_price, load_tiers

    venues = ("binance", "bybit", "hyperliquid")
    settings = ModelSettings(exchanges=venues, leverages=(50.0, 125.0), weights=(0.5, 0.5), column_ms=10_000,
                             window_columns=64, rows=400, turnover=0.0)
    assert parse_prior("50:1,125:1,150:1")[0] == (50.0, 125.0, 150.0)
    entry = 88_000.0
    model = LevelModel(settings)
    for name in venues:
        opened_at(entry, exchange=EXCHANGE_ID[name], model=model)
    lv = model.levels()
    for name, allowed in (("binance", 125.0), ("bybit", 100.0), ("hyperliquid", 40.0)):
        mine = lv[lv["exchange"] == EXCHANGE_ID[name]]
        assert len(mine) == 4, name                       # both tiers on both sides
        table = load_tiers(name, settings.symbol)
        for side in (1, -1):
            level = mine[(mine["side"] == side) & (mine["leverage"] == 125.0)]["price"][0]
            want, _ = liquidation_price(table, side, entry, allowed, settings.typical_position / entry)
            assert level == pytest.approx(float(want), rel=1e-9), (name, side)
            assert (level < entry) if side > 0 else (level > entry)


def test_swept_record_keeps_only_the_grid_window_so_memory_follows_the_window():
    """A long stream does not grow the swept record: sweeps older than the grid's oldest column
    are dropped, the ones inside it are exactly those a model with a longer window reports."""
    from dataclasses import replace

    stream = _random_stream(7, 40)
    wide = LevelModel(replace(SETTINGS, window_columns=1_000))    # 10,000 s: the whole stream
    narrow = LevelModel(SETTINGS)                                 # 640 s
    start, end = stream.time_span()
    for lo in range(start, end + 1, 5_000):
        part = slice_batch(stream, lo, lo + 5_000)
        wide.ingest(part)
        narrow.ingest(part)
    every, kept = wide.swept(), narrow.swept()
    cutoff = (narrow.watermark // SETTINGS.column_ms - SETTINGS.window_columns + 1) * SETTINGS.column_ms
    assert every["time_ms"].min() < cutoff, "the stream must sweep levels before the window"
    assert np.array_equal(kept, every[every["time_ms"] >= cutoff])
    stored = sum(len(p) for p in narrow._swept)
    assert stored == len(kept) < len(every) / 2
