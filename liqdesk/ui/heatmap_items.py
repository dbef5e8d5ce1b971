"""Graphics items of the heatmap panel: the price and dollar axes, the colour bar in dollars, and
the graphics view that reports painted frames."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from . import scaling


class PriceAxis(pg.AxisItem):
    """Prices with thousands separators and only the decimals the tick spacing needs."""

    def __init__(self, orientation="right", **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):
        decimals = max(0, min(8, -math.floor(math.log10(spacing)))) if 0 < spacing < 1 else 0
        return [f"{v:,.{decimals}f}" for v in values]


class DollarAxis(pg.AxisItem):
    """Dollar amounts ($12.5M); in log mode the values are log10(1 + $). ``empty``: the data
    shown on it are all zero, so it reads "$0" alone rather than a made-up scale."""

    def __init__(self, orientation="right", **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self.log = False
        self.empty = False

    def tickStrings(self, values, scale, spacing):
        if self.log:
            return [scaling.fmt_usd(scaling.to_dollars(v, "log")) for v in values]
        return [scaling.fmt_usd_tick(v, spacing) for v in values]

    def tickValues(self, minVal, maxVal, size):
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        if self.empty:
            return [(1.0, [0.0] if lo <= 0.0 <= hi else [])]
        # dollar labels are wide: about one per 80 px, so a narrow panel does not run them together
        n = max(1, int(size / 80))
        values = scaling.usd_ticks(lo, hi, n)
        spacing = values[1] - values[0] if len(values) > 1 else (hi - lo or 1.0)
        return [(spacing, values)]


#: the colour bar's axis title, and what it says when there is nothing to scale
COLORBAR_LABEL = "est. liquidation notional per bin (USD)"
COLORBAR_EMPTY = "no estimated liquidations in view"
COLORBAR_RELATIVE = "relative intensity: % of the top colour (not dollars)"
#: shorter wordings, for a short colour bar (the longest that fits is shown)
_COLORBAR_SHORTER = {COLORBAR_LABEL: ("est. notional per bin", "USD per bin"),
                     COLORBAR_EMPTY: ("none in view",),
                     COLORBAR_RELATIVE: ("relative: % of top colour", "% of top")}


class ColorBar(pg.PlotItem):
    """A vertical strip of the lookup table with a dollar axis: what each colour means.

    The strip and the view range stay fixed at 0 … 1 (so a change of levels re-lays nothing
    out); only the tick labels move: the tick for $v sits at (display(v) − low) / (high − low).
    The top of the strip is always labelled (the maximum, or "≥" the percentile clip); with
    nothing to show it reads "$0" and says so.
    """

    MIN_GAP = 0.08      # labels closer than this (fraction of the bar) give way to the end labels

    def __init__(self, lut: np.ndarray):
        self.axis = pg.AxisItem("right")
        super().__init__(axisItems={"right": self.axis})
        self.hideAxis("left")
        self.showAxis("right")
        # an empty bottom axis as tall as the heatmap's time axis keeps the two vertically aligned
        bottom = self.getAxis("bottom")
        bottom.setStyle(showValues=False, tickLength=0)
        bottom.setPen(pg.mkPen(None))
        bottom.setLabel(" ")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.strip = pg.ImageItem(np.arange(256, dtype=np.float32).reshape(256, 1), axisOrder="row-major")
        self.strip.setLookupTable(lut)
        self.strip.setLevels((0, 255))
        self.strip.setRect(QtCore.QRectF(0.0, 0.0, 1.0, 1.0))
        self.addItem(self.strip)
        self._label = COLORBAR_LABEL
        self._label_shown = None
        # the axis holds the tick text (7 characters at most: "≥$11.2M"), the tick and the rotated title
        tick_font = QtGui.QFont()
        tick_font.setPointSizeF(8.0)
        self.axis.setStyle(tickTextOffset=3, tickFont=tick_font)
        self.axis.setWidth(QtGui.QFontMetrics(tick_font).horizontalAdvance("≥$88.8M") + 3 + 5
                           + QtGui.QFontMetrics(_label_font()).height() + 2)
        # an (empty) title row as tall as the heatmap's keeps the strip level with the image; it
        # holds no text, which would hold the strip's column wider than the strip
        self.setTitle("", size="8pt")
        self._fit_label()
        self.vb.sigResized.connect(self._fit_label)
        self.setXRange(0, 1, padding=0)
        self.setYRange(0, 1, padding=0)
        self._levels = None
        self._ticks = None
        self.empty = False
        self.set_levels(0.0, 1.0, "linear", top=0.0)       # nothing yet: "$0", not 0 … 1

    def _fit_label(self, *_) -> None:
        """The axis title in the longest wording that fits the bar's height (it runs along it)."""
        room = self.vb.height()
        text = self._label
        if room > 0:
            fm = QtGui.QFontMetrics(_label_font())
            for t in (self._label, *_COLORBAR_SHORTER[self._label], ""):
                text = t
                if fm.horizontalAdvance(t) + 8 <= room:
                    break
        if text != self._label_shown:
            self._label_shown = text
            self.axis.setLabel(text, **{"font-size": "8pt"})
            self.axis.showLabel(bool(text))
            self.axis.resizeEvent()      # pyqtgraph places a new label only on the next resize

    @property
    def label(self) -> str:
        """What the bar says it shows (its full axis title)."""
        return self._label

    def set_levels(self, lo: float, hi: float, mode: str, top: float | None = None, relative: bool = False) -> None:
        """Label the bar for display levels (``lo``, ``hi``) in ``mode``; ``top``: the largest
        dollar value in the data (0: nothing at all; None: unknown). ``relative``: label the
        colours as a share of the top colour (0–100 %) rather than dollars — the same colours,
        said the other way (users confuse the two: the bar says which it is)."""
        if self._levels == (lo, hi, mode, top, relative):
            return
        self._levels = (lo, hi, mode, top, relative)
        empty = top is not None and not top > 0
        label = COLORBAR_EMPTY if empty else (COLORBAR_RELATIVE if relative else COLORBAR_LABEL)
        if label != self._label:
            self.empty = empty
            self._label = label
            self._fit_label()
        self.empty = empty
        if empty:
            ticks = [(0.0, "$0")]
        elif relative:
            ticks = [(p, f"{p * 100:.0f}%") for p in (0.0, 0.25, 0.5, 0.75)] + [(1.0, "100%")]
        if not empty and not relative:
            hi = hi if hi > lo else lo + 1.0
            span = hi - lo
            if mode == "log":
                ticks = [((math.log10(1 + v) - lo) / span, scaling.fmt_usd_tick(v, v))
                         for v in scaling.log_ticks(lo, hi)]
                top_label = scaling.fmt_usd_sig(scaling.to_dollars(hi, "log"))
            else:
                values = scaling.usd_ticks(lo, hi, 5)
                ticks = [((v - lo) / span, t) for v, t in zip(values, scaling.usd_tick_labels(values))]
                clipped = mode == "percentile" and (top is None or top > hi)
                top_label = ("≥" if clipped else "") + scaling.fmt_usd_sig(hi)
            ticks = [(p, t) for p, t in ticks if -1e-9 <= p <= 1.0 - self.MIN_GAP]
            ticks.append((1.0, top_label))
            if len(ticks) < 2:
                # a narrow log range holding no round value: label the floor as well
                ticks.insert(0, (0.0, "≤" + scaling.fmt_usd_sig(scaling.to_dollars(lo, mode))))
            elif mode == "log" and ticks[0][0] >= self.MIN_GAP:
                ticks.insert(0, (0.0, "≤" + scaling.fmt_usd_sig(scaling.to_dollars(lo, mode))))
        ticks = [(round(max(0.0, p), 4), text) for p, text in ticks]
        if ticks != self._ticks:
            self._ticks = ticks
            self.axis.setTicks([ticks, []])


class HeatmapView(pg.GraphicsLayoutWidget):
    """The graphics view; reports when a frame has been painted (for latency and FPS)."""

    painted = QtCore.Signal(float)

    def paintEvent(self, ev):
        super().paintEvent(ev)
        self.painted.emit(time.perf_counter())


def _label_font() -> QtGui.QFont:
    f = QtGui.QFont()
    f.setPointSizeF(8.0)
    return f


def _title_font() -> QtGui.QFont:
    f = QtGui.QFont()
    f.setPointSizeF(9.0)
    f.setBold(True)          # measured bold: a little wider than drawn, never narrower
    return f


def time_price_plot(gview: pg.GraphicsLayoutWidget, right_margin: int = 0) -> pg.PlotItem:
    """A plot of time (UTC) × price laid out like the heatmap's (price axis on the right, 66 px;
    no buttons or menu), added to ``gview``; ``right_margin``: an empty column of that width
    after it, standing for the heatmap's colour bar so that times line up across linked panels."""
    plot = pg.PlotItem(axisItems={"bottom": pg.DateAxisItem("bottom", utcOffset=0), "right": PriceAxis("right")})
    plot.hideAxis("left")
    plot.showAxis("right")
    plot.getAxis("right").setWidth(66)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    plot.getViewBox().setDefaultPadding(0.0)
    gview.addItem(plot, row=0, col=0)
    if right_margin:
        gview.ci.layout.setColumnFixedWidth(1, right_margin)
        gview.ci.layout.setColumnStretchFactor(0, 1)
        gview.addLabel("", row=0, col=1)
    return plot
