"""The order-book heatmap beside the liquidation estimate: the books at each column end, on the
heatmap's time and price axes."""

from __future__ import annotations

import os

import numpy as np


def test_the_order_book_heatmap_shows_the_books_of_each_column(book_window, qtbot):
    window = book_window
    engine = window.session.engine
    panel = window.liquidity
    window.docks["liquidity"].raise_()
    window.on_frame(force=True)
    last = panel.last
    assert last is not None
    grid = engine.liquidity
    cols, origin = last["columns"], last["origin"]
    bid = grid.image(origin, engine.model.settings.rows, cols, "bid")
    assert np.allclose(last["images"]["bid"], np.log10(1.0 + bid))
    assert (bid > 0).sum(axis=0).astype(bool).sum() >= 10           # many columns hold a book
    # a column's bins hold the books' bids as they stood then: near the price of that time
    j = int(np.flatnonzero(bid.sum(axis=0))[-1])
    rows = np.flatnonzero(bid[:, j])
    w = grid.bin_width
    assert abs((origin + rows.mean()) * w / engine.model.mark_price() - 1) < 0.02
    # linked to the heatmap: same time and price ranges
    (x0, x1), (y0, y1) = window.heatmap.vb.viewRange()
    (a0, a1), (b0, b1) = panel.vb.viewRange()
    assert np.allclose((x0, x1, y0, y1), (a0, a1, b0, b1))
    # the exchange filter applies
    window.set_view(window.view.with_(exchanges=("okx",)))
    window.on_frame(force=True)
    okx = grid.image(origin, engine.model.settings.rows, cols, "bid", exchanges=["okx"])
    assert np.allclose(panel.last["images"]["bid"], np.log10(1.0 + okx)) and okx.sum() < bid.sum()
    if os.environ.get("LIQDESK_SAVE_SHOT"):
        window.show()
        qtbot.waitExposed(window)
        window.set_view(window.view.with_(exchanges=None))
        window.on_frame(force=True)
        window.grab().save(os.environ["LIQDESK_SAVE_SHOT"])
