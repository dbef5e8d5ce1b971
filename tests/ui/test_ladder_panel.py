"""The DOM ladder says when a book is partial (no snapshot) and shows a crossed book as crossed,
never as a spread of 0."""

from __future__ import annotations

import numpy as np

from liqdesk.core.book import OrderBooks
from liqdesk.core.events import EXCHANGE_ID, records


def _book_rows(spec, exchange="binance", snapshot=False, t=None):
    side, price, size = map(np.array, zip(*spec))
    return records("book", time_ms=t or 0, exchange=EXCHANGE_ID[exchange], side=side, price=price, size=size,
                   snapshot=snapshot)


def _set_books(window, *batches):
    engine = window.session.engine
    engine.books = OrderBooks()
    for b in batches:
        engine.books.apply(b)
    window.ladder.refresh(engine)
    return window.ladder


def _mid(window):
    return round(window.session.engine.model.mark_price() / 10) * 10.0


def test_a_book_from_diffs_only_is_marked_partial(window):
    m = _mid(window)
    ladder = _set_books(window, _book_rows([(1, m - 20, 1.0), (1, m - 40, 2.0), (-1, m + 20, 1.5)]))
    header = ladder.info.text() + " " + ladder.warning.text()
    assert "partial" in header and "binance" in header
    assert ladder.warning.isVisibleTo(ladder)
    assert "spread" in ladder.info.text()          # not crossed: its spread is shown
    # a snapshot arrives: the warning goes
    _set_books(window, _book_rows([(1, m - 20, 1.0), (-1, m + 20, 1.5)], snapshot=True))
    assert "partial" not in ladder.info.text() + ladder.warning.text()
    assert not ladder.warning.isVisibleTo(ladder)


def test_a_crossed_partial_book_is_shown_crossed_without_a_spread(window):
    m = _mid(window)
    w = window.session.engine.model.bin_width
    # diffs only: the book never saw the bids above m - 3w removed, the asks came down since
    ladder = _set_books(window, _book_rows([(1, m + 2 * w, 1.0), (1, m - w, 2.0), (-1, m - 3 * w, 1.5),
                                            (-1, m + 4 * w, 1.0)]))
    assert "book crossed" in ladder.info.text()    # was "venues crossed": it is one venue's book
    assert "spread" not in ladder.info.text()
    text = ladder.info.text() + " " + ladder.warning.text()
    assert "crossed" in text and "partial" in text and "binance" in ladder.warning.text()
    d = ladder.ladder.data
    zone = d[-1]
    assert zone == (m - 3 * w, m + 2 * w)          # from the best ask up to the best bid
    crossed_rows = ladder.ladder.crossed_rows()
    edges = d[0]
    assert crossed_rows.any()
    assert np.all(edges[crossed_rows] + w > m - 3 * w) and np.all(edges[crossed_rows] <= m + 2 * w)
    img = ladder.ladder.grab()                     # paints without error
    assert not img.isNull()
    # a locked partial book (bid == ask) was shown as "spread 0"
    _set_books(window, _book_rows([(1, m, 1.0), (-1, m, 1.0), (-1, m + w, 1.0)]))
    assert "book crossed" in ladder.info.text() and "spread" not in ladder.info.text()


def test_venues_crossing_each_other_say_so(window):
    m = _mid(window)
    ladder = _set_books(window, np.concatenate([
        _book_rows([(1, m - 10, 1.0), (-1, m + 10, 1.0)], "binance", snapshot=True),
        _book_rows([(1, m + 20, 1.0), (-1, m + 30, 1.0)], "bybit", snapshot=True),
    ]))
    assert "venues crossed" in ladder.info.text() and "spread" not in ladder.info.text()
    assert "partial" not in ladder.info.text() + ladder.warning.text()


def test_spread_is_written_at_the_books_precision_not_the_bins(window):
    m = _mid(window)
    ladder = _set_books(window, _book_rows([(1, m, 1.0), (-1, m + 0.1, 1.0)], snapshot=True))
    assert "spread 0.1" in ladder.info.text()      # was "spread 0" (rounded to the 25-dollar bin)


def test_a_large_resting_order_at_a_cluster_is_framed(window):
    """A big bid in the strongest long cluster below price (the ladder scrolled to it) is marked
    as a wall at a cluster; the same bid in a bin that is no cluster is only a large order."""
    from liqdesk.app.view_state import live_level_map

    engine = window.session.engine
    w = engine.model.bin_width
    m = _mid(window)
    spec = [(1, m - i * w / 2, 0.5) for i in range(1, 30)] + [(-1, m + i * w / 2, 0.5) for i in range(1, 30)]
    ladder = _set_books(window, _book_rows(spec, snapshot=True))
    assert not ladder.last["walls"].any()                 # no large order: no wall
    origin, full = live_level_map(engine, window.view)
    centres = (origin + np.arange(full.shape[1]) + 0.5) * w
    in_band = (centres < m) & (centres >= m * 0.97)          # (the Stats panel's ±3 %)
    cluster_price = float(centres[np.argmax(np.where(in_band, full[0], 0.0))])
    ladder.ladder.scroll_rows = int(round((cluster_price - ladder.centre) / w))
    spec += [(1, cluster_price + i * w / 2, 0.5) for i in range(-20, 20) if i]     # a book down there too
    plain = _set_books(window, _book_rows(spec, snapshot=True)).last
    row = int(np.flatnonzero((plain["edges"] <= cluster_price) & (cluster_price < plain["edges"] + w))[0])
    assert plain["liq"][row] >= plain["cluster_usd"][0] > 0
    ladder = _set_books(window, _book_rows(spec + [(1, cluster_price, 50.0)], snapshot=True))
    last = ladder.last
    assert np.array_equal(last["edges"], plain["edges"])
    assert last["walls"][row] and last["walls"].sum() == 1
    ladder.ladder.grab()                                  # painted with its frame and flag
    # in a bin under the cluster threshold the same order is not a wall
    weak = np.flatnonzero((last["liq"] < last["cluster_usd"][0]) & (last["edges"] + w <= m))
    assert len(weak)
    elsewhere = (1, float(last["edges"][weak[0]]) + w / 2, 50.0)
    assert not _set_books(window, _book_rows(spec + [elsewhere], snapshot=True)).last["walls"].any()
