"""The order-book heatmap's grid: each column holds the books as they stood at its end."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.book import OrderBooks
from liqdesk.core.events import records
from liqdesk.core.liquidity import LiquidityGrid

CM = 10_000
W = 5.0
T0 = 1_700_000_000_000 - 1_700_000_000_000 % CM


def book_stream(rng, n_updates=60, span_ms=300_000):
    """Snapshots and diffs of two exchanges at random times (time-sorted rows)."""
    parts = []
    for e in (0, 1):
        mid = 1000.0 + 20 * e
        prices = mid + np.arange(-20, 21) * 0.5
        parts.append(records("book", time_ms=T0 + 1 + e, exchange=e, side=np.where(prices < mid, 1, -1),
                             snapshot=True, price=prices, size=rng.gamma(1.0, 2.0, len(prices))))
        times = np.sort(rng.integers(T0 + 10, T0 + span_ms, n_updates))
        p = mid + rng.integers(-20, 21, n_updates) * 0.5
        parts.append(records("book", time_ms=times, exchange=e, side=np.where(p < mid, 1, -1), snapshot=False,
                             price=p, size=np.where(rng.random(n_updates) < 0.2, 0.0, rng.gamma(1.0, 2.0, n_updates))))
    rows = np.concatenate(parts)
    return rows[np.argsort(rows["time_ms"], kind="stable")]


def expected_column(rows, column, exchanges=None):
    books = OrderBooks()
    books.apply(rows[rows["time_ms"] < (column + 1) * CM])
    bids, asks = {}, {}
    for e, bk in books.books.items():
        if exchanges is not None and e not in exchanges:
            continue
        for out, side in ((bids, bk.bids), (asks, bk.asks)):
            for p, s in zip(side.price.tolist(), side.size.tolist()):
                if s > 0:
                    k = int(np.floor(p / W))
                    out[k] = out.get(k, 0.0) + p * s
    return bids, asks


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 299_999), max_size=6))
def test_each_column_holds_the_books_at_its_end_however_the_rows_are_cut(seed, cuts):
    rows = book_stream(np.random.default_rng(seed))
    grid = LiquidityGrid(CM, 1440)
    grid.set_bin_width(W)
    bounds = [T0] + sorted(T0 + c for c in cuts) + [T0 + 300_000]
    for a, b in zip(bounds[:-1], bounds[1:]):
        grid.apply(rows[(rows["time_ms"] >= a) & (rows["time_ms"] < b)], watermark_ms=b - 1)
    last_closed = (T0 + 300_000 - 1) // CM - 1
    assert max(grid.columns) == last_closed
    for column in (T0 // CM, T0 // CM + 7, last_closed):
        bids, asks = expected_column(rows, column)
        origin = min(bids | asks) - 2
        img_b = grid.image(origin, 60, np.array([column]), "bid")[:, 0]
        img_a = grid.image(origin, 60, np.array([column]), "ask")[:, 0]
        for k, v in bids.items():
            assert np.isclose(img_b[k - origin], v, rtol=1e-5)
        for k, v in asks.items():
            assert np.isclose(img_a[k - origin], v, rtol=1e-5)
        assert np.isclose(img_b.sum(), sum(bids.values()), rtol=1e-5)
        assert np.isclose(img_a.sum(), sum(asks.values()), rtol=1e-5)


def test_memory_is_bounded_by_the_window():
    rows = book_stream(np.random.default_rng(1), n_updates=2000, span_ms=3_600_000)
    grid = LiquidityGrid(CM, 30)
    grid.set_bin_width(W)
    grid.apply(rows, watermark_ms=T0 + 3_600_000)
    assert len(grid.columns) == 30
    assert grid.nbytes < 30 * 2 * 4 * 200


def test_one_exchange_only_and_a_price_read_out():
    rows = book_stream(np.random.default_rng(2))
    only = LiquidityGrid(CM, 100, exchange_ids=[1])
    both = LiquidityGrid(CM, 100)
    for grid in (only, both):
        grid.set_bin_width(W)
        grid.apply(rows, watermark_ms=T0 + 300_000)
    column = max(only.columns)
    bids, asks = expected_column(rows, column, exchanges=[1])
    k = max(bids)
    assert np.isclose(only.at(column, k * W + W / 2)[0], bids[k], rtol=1e-5)
    assert only.at(column, 1.0) == (0.0, 0.0)
    # the view's exchange filter on a grid of both gives the grid of one
    cols = np.array(sorted(both.columns))
    origin = k - 40
    assert np.allclose(both.image(origin, 80, cols, exchanges=["bybit"]), only.image(origin, 80, cols))
    assert both.image(origin, 80, cols).sum() > only.image(origin, 80, cols).sum()
