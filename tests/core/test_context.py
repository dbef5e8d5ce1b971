"""The context panes' series: what they read at a time equals the events behind it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.context import ContextSeries
from liqdesk.core.events import EventBatch, records


def batch_of(trades=(), liqs=(), oi=(), funding=()):
    """Rows as tuples: trades (t, ex, side, price, size), liqs (t, ex, side, notional),
    oi (t, ex, notional), funding (t, ex, rate)."""
    kinds = {}
    if trades:
        t, ex, side, price, size = map(np.array, zip(*trades))
        kinds["trades"] = records("trades", time_ms=t, exchange=ex, side=side, price=price, size=size)
    if liqs:
        t, ex, side, notional = map(np.array, zip(*liqs))
        kinds["liquidations"] = records("liquidations", time_ms=t, exchange=ex, side=side, price=100.0,
                                        size=notional / 100.0, notional=notional)
    if oi:
        t, ex, notional = map(np.array, zip(*oi))
        kinds["open_interest"] = records("open_interest", time_ms=t, exchange=ex, oi_base=notional / 100.0,
                                         oi_notional=notional)
    if funding:
        t, ex, rate = map(np.array, zip(*funding))
        kinds["funding"] = records("funding", time_ms=t, exchange=ex, rate=rate)
    return EventBatch(**{k: v[np.argsort(v["time_ms"], kind="stable")] for k, v in kinds.items()})


T0 = 1_699_999_800_000          # a multiple of 5 minutes

trade_rows = st.lists(st.tuples(st.integers(0, 600_000), st.integers(0, 2), st.sampled_from([-1, 1]),
                                st.floats(10, 1000), st.floats(0.001, 5)), max_size=60)
liq_rows = st.lists(st.tuples(st.integers(0, 600_000), st.integers(0, 2), st.sampled_from([-1, 1]),
                              st.floats(1, 1e6)), max_size=20)
oi_rows = st.lists(st.tuples(st.integers(0, 600_000), st.integers(0, 2), st.floats(1e6, 1e9)), max_size=30)


def shifted(rows):
    return [(T0 + r[0], *r[1:]) for r in rows]


@settings(max_examples=150, deadline=None)
@given(trade_rows, liq_rows, oi_rows, st.lists(st.integers(1, 600_000), max_size=4),
       st.sampled_from([5_000, 60_000, 300_000]))
def test_window_sums_and_last_values_equal_the_events(trades, liqs, oi, cuts, interval):
    trades, liqs, oi = shifted(trades), shifted(liqs), shifted(oi)
    whole = batch_of(trades, liqs, oi)
    series = ContextSeries()
    # fed in time-ordered pieces, as a source delivers them: the same as one batch
    cuts = [T0] + sorted(T0 + c for c in cuts) + [T0 + 600_001]
    for a, b in zip(cuts[:-1], cuts[1:]):
        series.update(EventBatch(**{k: v[(v["time_ms"] >= a) & (v["time_ms"] < b)]
                                    for k, v in whole.arrays().items()}))
    w = series.window(T0, T0 + 600_001, interval)
    notional = np.array([p * s for _, _, _, p, s in trades])
    sides = np.array([r[2] for r in trades])
    assert np.isclose(w.buy.sum(), notional[sides > 0].sum() if len(trades) else 0.0)
    assert np.isclose(w.sell.sum(), notional[sides < 0].sum() if len(trades) else 0.0)
    assert np.isclose(w.cvd[-1] if len(w.cvd) else 0.0, w.buy.sum() - w.sell.sum())
    assert np.isclose(w.liq_long.sum(), sum(n for _, _, s, n in liqs if s > 0))
    assert np.isclose(w.liq_short.sum(), sum(n for _, _, s, n in liqs if s < 0))
    # each bucket holds what happened in it
    for t, _, side, price, size in trades[:10]:
        i = w.at(t)
        assert i is not None and (w.buy if side > 0 else w.sell)[i] >= price * size * (1 - 1e-9)
    # open interest at a bucket's end: the last value of the last 5-s bucket that began before it
    for name, values in w.open_interest.items():
        ex = ["binance", "bybit", "okx"].index(name)
        mine = sorted((t, n) for t, e, n in oi if e == ex)
        for i, end in enumerate(w.time_ms + w.interval_ms):
            before = [(t, n) for t, n in mine if (t // 5_000) * 5_000 < end]
            want = before[-1][1] if before else np.nan
            # (within one 5-s bucket the last event of the batch it came in wins)
            bucket_rows = [n for t, n in mine if before and t // 5_000 == before[-1][0] // 5_000]
            assert (np.isnan(want) and np.isnan(values[i])) or values[i] in bucket_rows


def test_panes_read_the_exchanges_chosen_and_sum_open_interest():
    s = ContextSeries()
    s.update(batch_of(trades=[(T0 + 1_000, 0, 1, 100.0, 2.0), (T0 + 2_000, 1, -1, 100.0, 1.0)],
                      oi=[(T0, 0, 5e8), (T0 + 61_000, 0, 6e8), (T0, 1, 1e8)],
                      funding=[(T0, 0, 0.0001), (T0, 1, -0.0002)]))
    w = s.window(T0, T0 + 120_000, 60_000)
    assert w.buy.tolist() == [200.0, 0.0] and w.sell.tolist() == [100.0, 0.0]
    assert w.open_interest["binance"].tolist() == [5e8, 6e8]
    assert w.open_interest_total.tolist() == [6e8, 7e8]
    assert w.funding["bybit"].tolist() == [-0.0002, -0.0002]
    only = s.window(T0, T0 + 120_000, 60_000, exchanges=["bybit"])
    assert only.buy.sum() == 0 and only.sell.sum() == 100.0 and set(only.open_interest) == {"bybit"}


def test_memory_is_bounded_by_the_kept_span():
    s = ContextSeries(base_ms=1_000, keep_ms=60_000)
    for minute in range(30):
        t = T0 + minute * 60_000 + np.arange(0, 60_000, 250)
        s.update(batch_of(trades=[(int(x), 0, 1, 100.0, 1.0) for x in t], oi=[(int(x), 0, 1e6) for x in t[::8]]))
    assert len(s) <= 2 * 61                      # one row a second per table, a minute kept
    assert s.nbytes < 64_000
    w = s.window(T0, s.newest_ms + 1, 1_000)
    assert w.buy[: len(w.buy) - 61].sum() == 0   # older than kept: forgotten


def test_a_late_event_joins_the_newest_bucket_and_is_not_lost():
    s = ContextSeries()
    s.update(batch_of(trades=[(T0 + 20_000, 0, 1, 100.0, 1.0)]))
    s.update(batch_of(liqs=[(T0 + 3_000, 0, 1, 500.0)]))          # a liquidation 17 s behind
    w = s.window(T0, T0 + 30_000, 5_000)
    assert w.liq_long.sum() == 500.0 and w.liq_long[w.at(T0 + 20_000)] == 500.0
