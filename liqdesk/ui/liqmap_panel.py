"""The liquidation map (``core/stats.py``'s cumulative map): the live column of the heatmap drawn
against price — per-bin bars (long levels under price, short levels over it) and the cumulative
notional a move to each price would liquidate — sharing the heatmap's price axis (linked views).

Bars are one painter path per side built from numpy arrays; the cumulative curves live in a
second view box with their own dollar axis on top, linked in price to the first. A refresh that
would move nothing in view by half a pixel (most live updates) leaves the drawing alone.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from liqdesk.app.view_state import ViewState, live_level_map
from liqdesk.core.stats import cumulative_map

from . import scaling, theme
from .heatmap_items import DollarAxis, PriceAxis


def bars_path(values: np.ndarray, edges: np.ndarray, width: float) -> QtGui.QPainterPath:
    """Horizontal bars from x = 0 to each non-zero value, one per bin ``[edge, edge + width)``."""
    nz = np.flatnonzero(values > 0)
    if not len(nz):
        return QtGui.QPainterPath()
    v, y0 = values[nz].astype(float), edges[nz]
    y1 = y0 + width * 0.92
    zero = np.zeros(len(nz))
    xs = np.stack([zero, v, v, zero, zero], axis=1).ravel()
    ys = np.stack([y0, y0, y1, y1, y0], axis=1).ravel()
    connect = np.ones(len(xs), dtype=np.int32)
    connect[4::5] = 0
    return pg.arrayToQPath(xs, ys, connect=connect, finiteCheck=False)


class LiqMapPanel(QtWidgets.QWidget):
    """Cumulative long/short liquidation notional and per-bin bars against price."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("liqmapPanel")
        self.view = ViewState()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.gview = pg.GraphicsLayoutWidget()
        self.gview.ci.layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.gview)
        self.bar_axis = DollarAxis("bottom")
        self.cum_axis = DollarAxis("top")
        self.plot = pg.PlotItem(axisItems={"bottom": self.bar_axis, "top": self.cum_axis,
                                           "right": PriceAxis("right")})
        self.plot.hideAxis("left")
        self.plot.showAxis("right")
        self.plot.showAxis("top")
        self.plot.getAxis("right").setWidth(64)
        self.plot.setLabel("bottom", "per bin")
        self.plot.setLabel("top", "cumulative from price")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=True)
        self.gview.addItem(self.plot)
        self.vb = self.plot.getViewBox()
        self.vb.setDefaultPadding(0.0)
        self.vb.sigResized.connect(self._fit_labels)
        self._top_label = None

        self.long_bars = QtWidgets.QGraphicsPathItem()
        self.short_bars = QtWidgets.QGraphicsPathItem()
        for item, colour in ((self.long_bars, theme.LONG), (self.short_bars, theme.SHORT)):
            c = QtGui.QColor(colour)
            c.setAlpha(170)
            item.setBrush(QtGui.QBrush(c))
            item.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
            self.vb.addItem(item, ignoreBounds=True)

        # cumulative curves: a second view box sharing the price axis, scaled on the top axis
        self.vb2 = pg.ViewBox()
        self.vb2.setMouseEnabled(x=False, y=False)
        self.vb2.setDefaultPadding(0.0)
        self.plot.scene().addItem(self.vb2)
        self.cum_axis.linkToView(self.vb2)
        self.vb2.setYLink(self.vb)
        self.vb.sigResized.connect(self._sync_geometry)
        self.cum_long = pg.PlotCurveItem(pen=pg.mkPen(theme.LONG, width=2))
        self.cum_short = pg.PlotCurveItem(pen=pg.mkPen(theme.SHORT, width=2))
        self.vb2.addItem(self.cum_long)
        self.vb2.addItem(self.cum_short)
        self.mark_line = pg.InfiniteLine(angle=0, movable=False,
                                         pen=pg.mkPen(theme.MARK, width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.mark_line.hide()
        self.vb.addItem(self.mark_line, ignoreBounds=True)
        self.vb.sigYRangeChanged.connect(lambda *_: self._rescale_x())
        self._data = None
        self._master: pg.ViewBox | None = None
        self._bars_range = None
        self._sync_key = None
        self._syncing = False
        self.last_long = self.last_short = self.last_cum_long = self.last_cum_short = None
        self._drawn = None          # (first edge, bins, mark) of the data drawn
        self.skipped = 0            # refreshes that changed nothing visible (not redrawn)

    def _fit_labels(self, *_) -> None:
        """The top axis title in the longest wording that fits the panel's width."""
        fm = QtGui.QFontMetrics(QtGui.QFont())
        room = self.vb.width()
        for text in ("cumulative from price", "cumulative", "cumul."):
            if fm.horizontalAdvance(text) + 6 <= room:
                break
        if text != self._top_label:
            self._top_label = text
            self.plot.setLabel("top", text)
            self.cum_axis.resizeEvent()     # pyqtgraph places a new label only on the next resize

    def _sync_geometry(self) -> None:
        self.vb2.setGeometry(self.vb.sceneBoundingRect())
        self.vb2.linkedViewChanged(self.vb, self.vb2.YAxis)

    def link_price_axis(self, master: pg.ViewBox) -> None:
        """Share the heatmap's price axis: the same price sits at the same screen height when the
        two panels are side by side (as pyqtgraph's linked views do), the same price range when
        they are apart (a floating dock on another monitor). Panning or zooming the price axis
        here moves the heatmap too."""
        self._master = master
        master.sigYRangeChanged.connect(self.sync_price_axis)
        master.sigResized.connect(self.sync_price_axis)
        self.vb.sigResized.connect(self.sync_price_axis)
        self.vb.sigRangeChangedManually.connect(self._moved_here)

    @staticmethod
    def _screen_span(vb: pg.ViewBox) -> tuple[float, float] | None:
        view = vb.getViewWidget()
        if view is None or not view.isVisible():
            return None
        r = vb.sceneBoundingRect()
        top = view.viewport().mapToGlobal(view.mapFromScene(r.topLeft()))
        bottom = view.viewport().mapToGlobal(view.mapFromScene(r.bottomLeft()))
        if bottom.y() - top.y() < 4:
            return None
        return float(top.y()), float(bottom.y())

    def _aligned(self) -> tuple[float, float, float] | None:
        """(master top, master bottom, this top − master top) in screen px when the views overlap."""
        ma, sb = self._screen_span(self._master), self._screen_span(self.vb)
        if ma is None or sb is None:
            return None
        overlap = min(ma[1], sb[1]) - max(ma[0], sb[0])
        if overlap < min(ma[1] - ma[0], sb[1] - sb[0]) / 3:
            return None
        return ma[0], ma[1], sb

    def sync_price_axis(self, *_) -> None:
        if self._master is None or self._syncing:
            return
        a0, a1 = self._master.viewRange()[1]
        key = (a0, a1, self._master.sceneBoundingRect(), self.vb.sceneBoundingRect(),
               self._master.getViewWidget().window().pos() if self._master.getViewWidget() else None,
               self.window().pos())
        if key == self._sync_key and _ == ():
            return
        self._sync_key = key
        al = self._aligned()
        if al is None:
            b0, b1 = a0, a1
        else:
            mt, mb, (st, sbot) = al
            upp = (a1 - a0) / (mb - mt)
            b1 = a1 - (st - mt) * upp
            b0 = b1 - (sbot - st) * upp
        self._syncing = True
        try:
            self.vb.setYRange(b0, b1, padding=0)
        finally:
            self._syncing = False

    def _moved_here(self, *_) -> None:
        if self._master is None or self._syncing:
            return
        b0, b1 = self.vb.viewRange()[1]
        al = self._aligned()
        if al is None:
            a0, a1 = b0, b1
        else:
            mt, mb, (st, sbot) = al
            upp = (b1 - b0) / (sbot - st)
            a1 = b1 + (st - mt) * upp
            a0 = a1 - (mb - mt) * upp
        self._syncing = True
        try:
            self._master.setYRange(a0, a1, padding=0)
        finally:
            self._syncing = False

    def set_view(self, view: ViewState) -> None:
        self.view = view

    def refresh(self, engine) -> None:
        model = engine.model
        if not model.bin_width or model.watermark is None:
            for item in (self.long_bars, self.short_bars):
                item.setPath(QtGui.QPainterPath())
            self.cum_long.setData([], [])
            self.cum_short.setData([], [])
            self.mark_line.hide()
            self._drawn = self._data = None
            return
        s = model.settings
        w = model.bin_width
        mark = model.mark_price()
        if not math.isfinite(mark):
            return
        origin, lm = live_level_map(engine, self.view)
        long = lm[0] if self.view.long else np.zeros(s.rows)
        short = lm[1] if self.view.short else np.zeros(s.rows)
        edges = model.bin_prices(origin, s.rows)
        cum_l, cum_s = cumulative_map(long, short, edges, w, mark)
        self.last_long, self.last_short, self.last_cum_long, self.last_cum_short = long, short, cum_l, cum_s
        centres = edges + w / 2
        if self._drawn_same(edges, long, short, cum_l, cum_s, mark):
            self.skipped += 1
            return                  # nothing in view would move by half a pixel: no repaint
        below, above = centres < mark, centres > mark
        self.cum_long.setData(np.concatenate([[0.0], cum_l[below][::-1]]),
                              np.concatenate([[mark], centres[below][::-1]]))
        self.cum_short.setData(np.concatenate([[0.0], cum_s[above]]), np.concatenate([[mark], centres[above]]))
        self.mark_line.setValue(mark)
        self.mark_line.show()
        self._data = (edges, long, short, centres, cum_l, cum_s)
        self._drawn = (edges[0], len(edges), mark)
        self._bars_range = None
        self.sync_price_axis()
        self._rebuild_bars()
        self._rescale_x()
        # pyqtgraph applies a new range to its items when the scene prepares to paint, which
        # marks the items dirty again: the map was painted twice per refresh (measured in the
        # frame bench: 2 paints of ~4.4 ms per filter change). Applied now, it paints once.
        for vb in (self.vb, self.vb2):
            vb.prepareForPaint()

    def _drawn_same(self, edges, long, short, cum_l, cum_s, mark: float) -> bool:
        """Whether the new map would look the same as the one drawn: the same bins, the mark
        within half a pixel, and no bar or cumulative value in view off by half a pixel or more.
        The live column changes with almost every event; most changes are far below a pixel."""
        if self._drawn is None or self._data is None or not self.isVisible():
            return False
        first, n, drawn_mark = self._drawn
        if n != len(edges) or first != edges[0]:
            return False
        (bx0, bx1), (y0, y1) = self.vb.viewRange()
        cx1 = self.vb2.viewRange()[0][1]
        height, width = max(self.vb.height(), 1.0), max(self.vb.width(), 1.0)
        if abs(mark - drawn_mark) >= 0.5 * (y1 - y0) / height:
            return False
        _, old_long, old_short, centres, old_cum_l, old_cum_s = self._data
        vis = (centres >= y0) & (centres <= y1)
        bar_px, cum_px = 0.5 * (bx1 - bx0) / width, 0.5 * cx1 / width
        return (np.abs(long[vis] - old_long[vis]).max(initial=0.0) < bar_px
                and np.abs(short[vis] - old_short[vis]).max(initial=0.0) < bar_px
                and np.abs(cum_l[vis] - old_cum_l[vis]).max(initial=0.0) < cum_px
                and np.abs(cum_s[vis] - old_cum_s[vis]).max(initial=0.0) < cum_px)

    def _rebuild_bars(self) -> None:
        """Bar paths for the bins in the visible price range (and a little more)."""
        if self._data is None:
            return
        edges, long, short = self._data[:3]
        y0, y1 = self.vb.viewRange()[1]
        if self._bars_range is not None and self._bars_range[0] <= y0 and y1 <= self._bars_range[1]:
            return
        h = y1 - y0
        lo, hi = y0 - 0.1 * h, y1 + 0.1 * h
        sel = slice(int(np.searchsorted(edges, lo)), int(np.searchsorted(edges, hi)) + 1)
        w = edges[1] - edges[0] if len(edges) > 1 else 1.0
        self.long_bars.setPath(bars_path(long[sel], edges[sel], w))
        self.short_bars.setPath(bars_path(short[sel], edges[sel], w))
        self._bars_range = (lo, hi)

    def show_price_axis(self, on: bool) -> None:
        """Its own price labels: off when docked beside the heatmap (which has them), on when floating."""
        self.plot.showAxis("right", on)

    def _rescale_x(self) -> None:
        """X ranges fit what is visible in the current price range."""
        if self._data is None:
            return
        self._rebuild_bars()
        edges, long, short, centres, cum_l, cum_s = self._data
        y0, y1 = self.vb.viewRange()[1]
        vis = (centres >= y0) & (centres <= y1)
        bar_max = float(max(long[vis].max(initial=0.0), short[vis].max(initial=0.0)))
        cum_max = float(max(cum_l[vis].max(initial=0.0), cum_s[vis].max(initial=0.0)))
        for axis, top in ((self.bar_axis, bar_max), (self.cum_axis, cum_max)):
            if axis.empty != (not top > 0):
                axis.empty = not top > 0        # nothing in view: "$0", not a made-up scale
                axis.picture = None
                axis.update()
        for vb, top in ((self.vb, bar_max), (self.vb2, cum_max)):
            want = max(top, 1.0) * 1.05
            have = vb.viewRange()[0][1]
            # only when it changed visibly: every range change re-lays the axis out
            if not (0.97 * want <= have <= 1.12 * want):
                vb.setXRange(0, want * 1.05, padding=0)

    def summary_text(self) -> str:
        if self.last_cum_long is None:
            return ""
        return (f"cumulative long {scaling.fmt_usd(float(self.last_cum_long.max(initial=0)))} · "
                f"short {scaling.fmt_usd(float(self.last_cum_short.max(initial=0)))}")
