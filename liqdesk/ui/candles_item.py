"""Candlesticks over the heatmap, drawn from numpy arrays as four painter paths (no per-candle
Python objects): wicks and bodies for up and down candles. Bodies carry a dark outline so they
read on any heatmap colour. x in Unix seconds, y in price."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from . import theme


def _rect_path(x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> QtGui.QPainterPath:
    n = len(x0)
    if not n:
        return QtGui.QPainterPath()
    xs = np.stack([x0, x1, x1, x0, x0], axis=1).ravel()
    ys = np.stack([y0, y0, y1, y1, y0], axis=1).ravel()
    connect = np.ones(5 * n, dtype=np.int32)
    connect[4::5] = 0
    return pg.arrayToQPath(xs, ys, connect=connect, finiteCheck=False)


def _wick_path(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> QtGui.QPainterPath:
    if not len(x):
        return QtGui.QPainterPath()
    xs = np.repeat(x, 2)
    ys = np.stack([lo, hi], axis=1).ravel()
    return pg.arrayToQPath(xs, ys, connect="pairs", finiteCheck=False)


class _CandlePaths(pg.GraphicsObject):
    """Some candles of one interval as painter paths; repaints its own bounds when they change."""

    def __init__(self, wick_pens, body_pen, brushes):
        super().__init__()
        self._paths: list[tuple[QtGui.QPainterPath, QtGui.QPen, QtGui.QBrush | None]] = []
        self._bounds = QtCore.QRectF()
        self._key = None
        self._wick_pens, self._body_pen, self._brushes = wick_pens, body_pen, brushes

    def set_candles(self, candles: np.ndarray, interval_ms: int, min_h: float) -> None:
        """Replace the candles (skipped when nothing changed); ``min_h``: the least body height
        (price), so that a flat candle still shows a sliver of body."""
        key = (interval_ms, min_h, len(candles), candles[-1].tobytes() if len(candles) else b"",
               candles[0]["time_ms"] if len(candles) else 0)
        if key == self._key:
            return
        self._key = key
        self.prepareGeometryChange()
        self._paths = []
        if not len(candles):
            self._bounds = QtCore.QRectF()
            self.update()
            return
        step = interval_ms / 1000.0
        t = candles["time_ms"] / 1000.0
        o, h, lo, c = candles["open"], candles["high"], candles["low"], candles["close"]
        mid = t + step / 2
        half = step * 0.36
        body_lo, body_hi = np.minimum(o, c), np.maximum(o, c)
        thin = (body_hi - body_lo) < min_h
        body_hi = np.where(thin, body_lo + min_h, body_hi)
        up = c >= o
        for i, sel in enumerate((up, ~up)):
            if not sel.any():
                continue
            self._paths.append((_wick_path(mid[sel], lo[sel], h[sel]), self._wick_pens[i], None))
            self._paths.append((_rect_path(mid[sel] - half, mid[sel] + half, body_lo[sel], body_hi[sel]),
                                self._body_pen, self._brushes[i]))
        self._bounds = QtCore.QRectF(float(t[0]), float(lo.min()), float(t[-1] + step - t[0]),
                                     float(max(h.max(), body_hi.max()) - lo.min()))
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        return self._bounds

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        for path, pen, brush in self._paths:
            painter.setPen(pen)
            painter.setBrush(brush if brush is not None else QtCore.Qt.BrushStyle.NoBrush)
            painter.drawPath(path)


def min_body(candles: np.ndarray) -> float:
    """The least body height drawn (price): 5 % of the median range, at least 2 ppm of the
    median close, so that a flat candle still shows a sliver of body."""
    if not len(candles):
        return 0.0
    h, lo, c = candles["high"], candles["low"], candles["close"]
    return max(float(np.median(h - lo)) * 0.05, float(np.median(c)) * 2e-6)


class CandlesItem(pg.GraphicsObject):
    """OHLC candles (``CANDLE_DTYPE`` rows) of one interval.

    Drawn as two children: the closed candles and the newest one (still moving). A live frame
    changes only the newest, so only its own small rectangle is repainted; the closed candles
    (and their least body height, :func:`min_body` of the closed ones) change once per candle.
    """

    def __init__(self):
        super().__init__()
        up, down = QtGui.QColor(theme.CANDLE_UP), QtGui.QColor(theme.CANDLE_DOWN)
        wick_pens = [pg.mkPen(up, width=1), pg.mkPen(down, width=1)]
        outline = QtGui.QColor(0, 0, 0, 200)
        body_pen = pg.mkPen(outline, width=1)
        brushes = [QtGui.QBrush(up), QtGui.QBrush(down)]
        for p in wick_pens + [body_pen]:
            p.setCosmetic(True)
        self.closed = _CandlePaths(wick_pens, body_pen, brushes)
        self.newest = _CandlePaths(wick_pens, body_pen, brushes)
        for child in (self.closed, self.newest):
            child.setParentItem(self)
        self.setFlag(self.GraphicsItemFlag.ItemHasNoContents)
        self._closed_source, self._closed_min_h = None, 0.0
        self.setZValue(10)

    def set_candles(self, candles: np.ndarray, interval_ms: int) -> None:
        """Replace the candles (each part skipped when it did not change)."""
        self.set_parts(candles[:-1], candles[-1:], interval_ms)

    def set_parts(self, closed: np.ndarray, newest: np.ndarray, interval_ms: int) -> None:
        """The closed candles and the newest (still moving: none or one), each skipped when it
        did not change."""
        if closed is not self._closed_source:
            self._closed_source = closed
            self._closed_min_h = min_body(closed)
        min_h = self._closed_min_h if len(closed) else min_body(newest)
        self.closed.set_candles(closed, interval_ms, min_h)
        self.newest.set_candles(newest, interval_ms, min_h)

    def boundingRect(self) -> QtCore.QRectF:
        return self.closed.boundingRect().united(self.newest.boundingRect())

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        pass                          # the children paint
