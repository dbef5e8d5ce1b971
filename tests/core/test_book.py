"""A book built from diffs alone knows it is partial, and a crossed book gives no spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqdesk.core.book import OrderBooks
from liqdesk.core.events import EXCHANGE_ID, records


def rows(spec, snapshot=False, t=1000, exchange=0):
    side, price, size = map(np.array, zip(*spec))
    return records("book", time_ms=t, exchange=exchange, side=side, price=price, size=size, snapshot=snapshot)


def test_a_book_from_diffs_only_is_partial_until_a_snapshot():
    books = OrderBooks()
    books.apply(rows([(1, 99.0, 1.0), (-1, 101.0, 2.0)]))
    book = books.books[0]
    assert book.partial and not book.synced
    assert books.state().partial == ("binance",)
    books.apply(rows([(1, 98.0, 1.0)], t=2000))                       # more diffs: still partial
    assert books.books[0].partial
    books.apply(rows([(1, 99.5, 1.0), (-1, 100.5, 1.0)], snapshot=True, t=3000))
    assert book.synced and not book.partial
    assert books.state().partial == ()
    books.apply(rows([(1, 99.6, 1.0)], t=4000))                       # diffs after it: still synced
    assert book.synced


def test_a_partial_book_crossed_by_a_level_it_never_saw_removed():
    books = OrderBooks()
    # diffs only: a bid at 101 the book never saw removed, asks down to 100.5 since
    books.apply(rows([(1, 101.0, 2.0), (1, 100.0, 1.0), (-1, 100.5, 1.0), (-1, 102.0, 3.0)]))
    book = books.books[0]
    assert book.best() == (101.0, 100.5)
    assert book.crossed and book.partial
    st = books.state()
    assert st.crossed == ("binance",) and st.partial == ("binance",)
    assert not st.venues_crossed
    assert math.isnan(st.spread)            # never "spread 0" or a negative spread
    # a locked book (bid == ask) is no spread either
    locked = OrderBooks()
    locked.apply(rows([(1, 100.0, 1.0), (-1, 100.0, 1.0)]))
    assert locked.books[0].crossed and math.isnan(locked.state().spread)


def test_state_over_venues():
    b, y = EXCHANGE_ID["binance"], EXCHANGE_ID["bybit"]
    books = OrderBooks()
    books.apply(np.concatenate([
        rows([(1, 99.0, 1.0), (-1, 100.0, 1.0)], snapshot=True, exchange=b),
        rows([(1, 99.5, 1.0), (-1, 100.5, 1.0)], snapshot=True, exchange=y),
    ]))
    st = books.state()
    assert (st.best_bid, st.best_ask) == (99.5, 100.0) and st.spread == 0.5
    assert st.partial == () and st.crossed == () and not st.venues_crossed
    assert books.state([b]).spread == 1.0
    # bybit's bid goes above binance's ask: each book is sound, the venues cross
    books.apply(rows([(1, 100.2, 1.0)], t=2000, exchange=y))
    st = books.state()
    assert st.venues_crossed and st.crossed == () and math.isnan(st.spread)
    assert not books.state([y]).venues_crossed and books.state([y]).spread == pytest.approx(0.3)
    # no book at all
    assert math.isnan(OrderBooks().state().spread)


def test_each_books_time_is_its_own_last_update():
    b, y = EXCHANGE_ID["binance"], EXCHANGE_ID["bybit"]
    books = OrderBooks()
    books.apply(np.concatenate([rows([(1, 99.0, 1.0)], t=1000, exchange=b),
                                rows([(1, 99.0, 1.0)], t=2000, exchange=y)]))
    assert books.books[b].time_ms == 1000 and books.books[y].time_ms == 2000
