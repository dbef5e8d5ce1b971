"""Hot lines: the N strongest estimated liquidation levels drawn over the heatmap as thin lines
with their dollar size (the way traders read Coinglass's levels), an alternative to reading the
filled bands. The levels come from :func:`liqdesk.app.views.hot_lines` over the live level map the
view's filters give (exchanges, tiers, sides), one line per cluster."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from liqdesk.app.view_state import ViewState, live_level_map
from liqdesk.app.views import HotLine, hot_lines

from . import scaling, theme

#: lines drawn
HOT_LINES = 10


class HotLinesOverlay:
    """Up to :data:`HOT_LINES` horizontal lines on ``plot`` (the heatmap's), labelled with their
    dollars; hidden until :meth:`set_enabled`."""

    def __init__(self, plot: pg.PlotItem, n: int = HOT_LINES):
        self.plot = plot
        self.enabled = False
        self.lines: list[pg.InfiniteLine] = []
        self.shown: list[HotLine] = []
        self._key = None
        for _ in range(n):
            line = pg.InfiniteLine(angle=0, movable=False, label="",
                                   labelOpts={"position": 0.06, "color": theme.TEXT, "anchors": [(0, 1), (0, 1)],
                                              "fill": pg.mkBrush(11, 14, 20, 200)})
            line.setZValue(15)
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self._key = None
        if not on:
            for line in self.lines:
                line.hide()
            self.shown = []

    def refresh(self, engine, view: ViewState, price_range: tuple[float, float] | None = None) -> None:
        """Place the lines at the strongest levels of the live map within ``price_range`` (the
        prices in view; None: all), once per model change or move of the range."""
        if not self.enabled:
            return
        model = engine.model
        w = model.bin_width
        bins = None
        if price_range is not None and w:
            bins = (int(price_range[0] // w), int(price_range[1] // w))
        key = (id(model), engine.version, view.exchanges, view.tiers, view.ages, view.long, view.short, bins)
        if key == self._key:
            return
        self._key = key
        found: list[HotLine] = []
        if model.bin_width:
            origin, full = live_level_map(engine, view)
            full = full.copy()
            if not view.long:
                full[0] = 0.0
            if not view.short:
                full[1] = 0.0
            if bins is not None:
                # only the levels in view: a line off screen tells nothing
                k = origin + np.arange(full.shape[1])
                full[:, (k < bins[0]) | (k > bins[1])] = 0.0
            found = hot_lines(full, origin, model.bin_width, len(self.lines))
        self.shown = found
        strongest = found[0].notional if found else 1.0
        for i, line in enumerate(self.lines):
            if i >= len(found):
                line.hide()
                continue
            h = found[i]
            colour = QtGui.QColor(theme.LONG if h.side > 0 else theme.SHORT)
            # the strongest lines are the most opaque and a little thicker (in 8 steps, so that a
            # live frame that changes a level by a little re-lays nothing out)
            colour.setAlphaF(0.45 + 0.55 * round(8 * min(1.0, h.notional / strongest)) / 8)
            text = f"{scaling.fmt_usd(h.notional)} {'long' if h.side > 0 else 'short'}"
            look = (colour.rgba(), 2 if i < 3 else 1, text)
            if getattr(line, "_look", None) != look:
                line._look = look
                line.setPen(pg.mkPen(colour, width=look[1], style=QtCore.Qt.PenStyle.SolidLine))
                line.label.setText(text)
                line.label.setColor(colour.lighter(130))
            if line.value() != h.price:
                line.setValue(h.price)
            line.show()
