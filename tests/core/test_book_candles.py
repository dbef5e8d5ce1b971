import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.book import OrderBooks, SideBook
from liqdesk.core.candles import CandleSeries, aggregate, make_candles
from liqdesk.core.events import records


def rows(spec, snapshot=False, t=1000, exchange=0):
    side, price, size = map(np.array, zip(*spec))
    return records("book", time_ms=t, exchange=exchange, side=side, price=price, size=size, snapshot=snapshot)


def test_snapshot_then_diffs():
    books = OrderBooks()
    books.apply(rows([(1, 99.0, 1), (1, 98.0, 2), (-1, 101.0, 3), (-1, 102.0, 4)], snapshot=True))
    books.apply(rows([(1, 99.0, 0), (1, 99.5, 5), (-1, 101.0, 1.5)], t=2000))
    book = books.books[0]
    assert not book.partial and book.best() == (99.5, 101.0)
    assert list(book.bids.price) == [98.0, 99.5] and list(book.asks.size) == [1.5, 4.0]
    edges, bids, asks = books.ladder(None, 100.0, 1.0, 6)
    assert list(edges) == [103, 102, 101, 100, 99, 98]
    assert bids[edges == 99].sum() == 5 and asks[edges == 102].sum() == 4


def test_snapshot_in_the_middle_of_a_batch_supersedes_earlier_diffs():
    books = OrderBooks()
    diff = rows([(1, 50.0, 1)], t=500)
    snap = rows([(1, 60.0, 1), (-1, 61.0, 1)], snapshot=True, t=600)
    after = rows([(-1, 62.0, 2)], t=700)
    books.apply(np.concatenate([diff, snap, after]))
    book = books.books[0]
    assert list(book.bids.price) == [60.0] and list(book.asks.price) == [61.0, 62.0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.floats(0, 5)), max_size=40))
def test_sidebook_last_update_wins(updates):
    book = SideBook()
    expect = {}
    for p, s in updates:
        book.merge(np.array([float(p)]), np.array([s]))
        expect[float(p)] = s
    expect = {p: s for p, s in expect.items() if s > 0}
    assert dict(zip(book.price.tolist(), book.size.tolist())) == expect
    assert np.all(np.diff(book.price) > 0)


def test_candles_from_trades_and_aggregation():
    t = np.array([0, 400, 999, 1000, 2500, 2600])
    p = np.array([10.0, 12.0, 9.0, 11.0, 13.0, 8.0])
    q = np.ones(6)
    c = make_candles(t, p, q, 1000)
    assert list(c["open"]) == [10, 11, 13] and list(c["high"]) == [12, 11, 13] and list(c["low"]) == [9, 11, 8]
    assert list(c["close"]) == [9, 11, 8] and list(c["volume"]) == [3, 1, 2]
    agg = aggregate(c, 3000)
    assert len(agg) == 1 and agg["open"][0] == 10 and agg["close"][0] == 8 and agg["high"][0] == 13


def test_candle_series_merges_a_candle_split_across_batches():
    s = CandleSeries(base_ms=1000)
    for t, p in ((100, 10.0), (600, 14.0), (900, 7.0), (1200, 8.0)):
        s.update(records("trades", time_ms=[t], exchange=0, side=1, price=[p], size=[1.0]))
    c = s.window(0, 10_000, 1000)
    assert len(c) == 2 and c["open"][0] == 10 and c["high"][0] == 14 and c["low"][0] == 7 and c["close"][0] == 7
    assert c["volume"][0] == pytest.approx(3)
