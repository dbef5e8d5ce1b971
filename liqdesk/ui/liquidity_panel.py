"""The order-book heatmap: resting bid and ask notional by price over time
(:class:`~liqdesk.core.liquidity.LiquidityGrid`, the books at each column end, merged over the
view's venues in quote dollars), on the liquidation heatmap's own time and price axes (linked: it
sits beside the estimate, so a trader sees whether passive orders wait at a cluster).

Bids are drawn in the bid colour, asks in the ask colour, brightness on a log scale of the
dollars up to the 99th percentile of the window (heavy tails: one wall would darken the rest).
Columns already drawn are kept; a refresh fills in the columns that closed since.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from . import scaling, theme
from .linked_panel import LinkedPanel


def side_lut(colour: str, n: int = 256) -> np.ndarray:
    """``[n, 4]`` RGBA: transparent for nothing, then the side's colour growing brighter."""
    c = np.array(pg.mkColor(colour).getRgb()[:3], float)
    x = np.linspace(0.0, 1.0, n)[:, None]
    rgb = np.array([11, 14, 20], float) + (c * 1.15 - np.array([11, 14, 20])) * x ** 0.8
    alpha = np.where(x[:, 0] > 0, 255, 0)
    return np.concatenate([np.clip(rgb, 0, 255), alpha[:, None]], axis=1).astype(np.uint8)


class LiquidityPanel(LinkedPanel):
    """Resting bids and asks by price over time, time- and price-linked to the heatmap."""

    def __init__(self, parent=None, right_margin: int = 0):
        super().__init__("liquidityPanel", parent, right_margin)
        self.bids = pg.ImageItem(axisOrder="row-major")
        self.asks = pg.ImageItem(axisOrder="row-major")
        self.bids.setLookupTable(side_lut(theme.BID))
        self.asks.setLookupTable(side_lut(theme.ASK))
        for item in (self.bids, self.asks):
            self.plot.addItem(item)
            item.setZValue(-1)                   # under the mark line
        self.label = pg.TextItem("resting bids / asks (log $) · books at each column end", color=theme.TEXT_DIM,
                                 anchor=(0, 0), fill=pg.mkBrush(11, 14, 20, 190))
        self.label.setParentItem(self.vb)
        self.label.setPos(4, 2)

    def refresh(self, engine) -> None:
        """Draw the grid's window: the model's columns and display rows."""
        grid, model = engine.liquidity, engine.model
        if not getattr(engine, "order_book_grid", True):
            self.label.setText("the order-book heatmap is not kept for this chart")
            return
        if model.watermark is None or not grid.bin_width or not grid.columns:
            return
        s = model.settings
        newest = max(grid.columns)
        origin = model.display_origin or model.origin
        key = (id(grid), newest, origin, s.rows, self.view.exchanges)
        if key == self._key:
            return
        self._key = key
        cols = np.arange(newest - s.window_columns + 1, newest + 1)
        ids = None if self.view.exchanges is None else self.view.exchanges
        images = {}
        for side in ("bid", "ask"):
            img = grid.image(origin, s.rows, cols, side, exchanges=ids)
            images[side] = np.log10(1.0 + img)
        top = float(np.percentile(np.concatenate([images["bid"][images["bid"] > 0],
                                                  images["ask"][images["ask"] > 0]]), 99)) \
            if (images["bid"] > 0).any() or (images["ask"] > 0).any() else 1.0
        w, cm = grid.bin_width, s.column_ms
        rect = QtCore.QRectF(cols[0] * cm / 1000.0, origin * w, len(cols) * cm / 1000.0, s.rows * w)
        for item, side in ((self.bids, "bid"), (self.asks, "ask")):
            item.setImage(images[side], autoLevels=False, levels=(0.0, max(top, 1e-9)))
            item.setRect(rect)
        mark = model.mark_price()
        if np.isfinite(mark):
            self.mark.setValue(mark)
        self.last = {"columns": cols, "origin": origin, "images": images, "top_usd": 10 ** top - 1}
        self.label.setText(f"resting bids / asks · log $ up to {scaling.fmt_usd(10 ** top - 1)} per bin"
                           " · books at each column end")
