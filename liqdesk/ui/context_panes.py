"""The context panes under the heatmap: open interest, funding, cumulative volume delta and real
liquidations, on the heatmap's time axis (linked: zoom and pan move them together), each one
hideable, with the heatmap's crosshair time drawn across them and read out.

They draw :meth:`liqdesk.core.context.ContextSeries.window` over the visible time span, at about
one bucket per 3 pixels (never finer than the series' 5-s buckets), for the view's exchanges.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from liqdesk.app.view_state import ViewState
from liqdesk.core.events import EXCHANGES

from . import scaling, theme
from .heatmap_items import DollarAxis

#: pane key -> title (funding: % per funding interval; the others in quote dollars)
PANES = {
    "open_interest": "Open interest",
    "funding": "Funding % / interval",
    "cvd": "CVD (taker buy − sell, from the left edge)",
    "liquidations": "Liquidations (longs ↑ shorts ↓)",
}
EXCHANGE_COLOURS = dict(zip(EXCHANGES, ("#f0b90b", "#ff9c2e", "#8fa3ff", "#5fd3a0", "#1da2b4")))
#: pixels per bucket drawn
PX_PER_BUCKET = 3


class PercentAxis(pg.AxisItem):
    """Funding as a percentage with enough decimals for its small values."""

    def __init__(self, orientation="right", **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self.setStyle(textFillLimits=[(0, 1.0)])

    def tickValues(self, minVal, maxVal, size):
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        values = scaling.nice_ticks(lo, hi, max(2, int(size / 24)), mults=(1, 2, 5, 10))
        spacing = values[1] - values[0] if len(values) > 1 else (10.0 ** math.floor(math.log10(hi - lo))
                                                                 if hi > lo else 1.0)
        return [(spacing, values)]

    def tickStrings(self, values, scale, spacing):
        decimals = max(0, min(5, -int(math.floor(math.log10(spacing))) if spacing > 0 else 3))
        return [f"{v:.{decimals}f}%" for v in values]


class PaneDollarAxis(DollarAxis):
    """Dollars on a short vertical axis: a tick per ~24 px, at least two."""

    def __init__(self, orientation="right", **kw):
        super().__init__(orientation, **kw)
        # pyqtgraph leaves out labels that would fill more than 80 % of a short axis
        self.setStyle(textFillLimits=[(0, 1.0)])

    def tickValues(self, minVal, maxVal, size):
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        values = scaling.usd_ticks(lo, hi, max(2, int(size / 24)))
        if len(values) > 1:
            spacing = values[1] - values[0]
        else:
            # one tick in view: a round spacing, so its label has the decimals it needs ($9.00B)
            spacing = 10.0 ** math.floor(math.log10(hi - lo)) if hi > lo else 1.0
        return [(spacing, values)]


class ContextPanes(QtWidgets.QWidget):
    """Open interest, funding, CVD and liquidations of the chart's market, time-linked to the heatmap."""

    def __init__(self, parent=None, right_margin: int = 0):
        super().__init__(parent)
        self.setObjectName("contextPanes")
        self.view = ViewState()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        header = QtWidgets.QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 2)
        self.toggles: dict[str, QtWidgets.QToolButton] = {}
        for key, title in PANES.items():
            button = QtWidgets.QToolButton()
            button.setText(title.split(" (")[0].replace(" % / interval", ""))
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Show or hide the {title.lower()} pane")
            button.toggled.connect(lambda on, k=key: self.set_pane_visible(k, on))
            header.addWidget(button)
            self.toggles[key] = button
        self.per_venue = QtWidgets.QToolButton()
        self.per_venue.setText("OI per venue")
        self.per_venue.setCheckable(True)
        self.per_venue.setToolTip("Open interest of each exchange (checked) or their total (unchecked)")
        self.per_venue.toggled.connect(lambda _: self.set_view(self.view))
        header.addSpacing(12)
        header.addWidget(self.per_venue)
        header.addStretch(1)
        self.readout = QtWidgets.QLabel("")
        self.readout.setFont(theme.mono_font(8))
        self.readout.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.readout.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        header.addWidget(self.readout)
        layout.addLayout(header)

        self.gview = pg.GraphicsLayoutWidget()
        self.gview.ci.layout.setContentsMargins(4, 0, 2, 2)
        self.gview.ci.layout.setVerticalSpacing(0)
        layout.addWidget(self.gview, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.lines: dict[str, pg.InfiniteLine] = {}
        cross_pen = pg.mkPen(theme.CROSSHAIR, width=1, style=QtCore.Qt.PenStyle.DotLine)
        for row, (key, title) in enumerate(PANES.items()):
            right = PercentAxis("right") if key == "funding" else PaneDollarAxis("right")
            plot = pg.PlotItem(axisItems={"bottom": pg.DateAxisItem("bottom", utcOffset=0), "right": right})
            plot.hideAxis("left")
            plot.showAxis("right")
            plot.getAxis("right").setWidth(66)
            plot.getAxis("bottom").setStyle(showValues=False)
            plot.getAxis("bottom").setHeight(4)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=True, y=False)
            plot.getViewBox().setDefaultPadding(0.08)
            label = pg.TextItem(title, color=theme.TEXT_DIM, anchor=(0, 0), fill=pg.mkBrush(11, 14, 20, 190))
            label.setParentItem(plot.getViewBox())
            label.setPos(2, 1)
            label.setZValue(40)
            zero = pg.InfiniteLine(0.0, angle=0, movable=False, pen=pg.mkPen(theme.BORDER, width=1))
            plot.addItem(zero, ignoreBounds=True)
            line = pg.InfiniteLine(angle=90, movable=False, pen=cross_pen)
            line.setZValue(30)
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            self.gview.addItem(plot, row=row, col=0)
            self.plots[key] = plot
            self.lines[key] = line
        if right_margin:
            # the heatmap's colour-bar column: the panes' time axis lines up with the heatmap's
            self.gview.ci.layout.setColumnFixedWidth(1, right_margin)
            self.gview.ci.layout.setColumnStretchFactor(0, 1)
            self.gview.addLabel("", row=0, col=1)
        last = self.plots["liquidations"]
        last.getAxis("bottom").setStyle(showValues=True)
        last.getAxis("bottom").setHeight(None)

        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.long_bars = pg.BarGraphItem(x=[], height=[], width=1, brush=theme.LONG, pen=pg.mkPen(None))
        self.short_bars = pg.BarGraphItem(x=[], height=[], width=1, brush=theme.SHORT, pen=pg.mkPen(None))
        self.plots["liquidations"].addItem(self.long_bars)
        self.plots["liquidations"].addItem(self.short_bars)
        self.window = None                     # the last ContextWindow drawn
        self._crosshair_s: float | None = None
        self._key = None

    # ------------------------------------------------------------------ wiring
    def link_time_axis(self, vb: pg.ViewBox) -> None:
        """Zoom and pan with ``vb`` (the heatmap's view box)."""
        for plot in self.plots.values():
            plot.setXLink(vb)

    def follow_crosshair(self, vline: pg.InfiniteLine) -> None:
        """Draw ``vline``'s time (the heatmap's crosshair) across the panes and read it out."""
        def moved(*_):
            self.set_crosshair(vline.value() if vline.isVisible() else None)
        vline.sigPositionChanged.connect(moved)
        vline.visibleChanged.connect(moved)

    def set_pane_visible(self, key: str, on: bool) -> None:
        """Show or hide one pane; a hidden pane gives its height to the others."""
        row = list(PANES).index(key)
        plot = self.plots[key]
        plot.setVisible(on)
        limit = 16_777_215 if on else 0
        plot.setMaximumHeight(limit)
        self.gview.ci.layout.setRowMaximumHeight(row, limit)
        if self.toggles[key].isChecked() != on:
            self.toggles[key].setChecked(on)

    def visible_panes(self) -> list[str]:
        return [k for k, b in self.toggles.items() if b.isChecked()]

    def set_view(self, view: ViewState) -> None:
        self.view = view
        self._key = None

    def set_crosshair(self, time_s: float | None) -> None:
        self._crosshair_s = time_s
        for line in self.lines.values():
            if time_s is None:
                line.hide()
            else:
                line.setValue(time_s)
                line.show()
        self._update_readout()

    # ------------------------------------------------------------------ drawing
    def refresh(self, engine) -> None:
        """Redraw from ``engine.context`` over the visible time span."""
        (x0, x1), _ = self.plots["cvd"].getViewBox().viewRange()
        width_px = max(50, int(self.plots["cvd"].getViewBox().width()))
        series = engine.context
        if series.newest_ms is None or not math.isfinite(x0) or x1 <= x0:
            return
        start, end = int(x0 * 1000), int(x1 * 1000) + 1
        interval = _nice_interval((end - start) * PX_PER_BUCKET / width_px, series.base_ms)
        key = (id(series), engine.version, self.view.exchanges, start // interval, end // interval, interval)
        if key == self._key:
            return
        self._key = key
        w = series.window(start, end, interval, self.view.exchanges)
        self.window = w
        t = (w.time_ms + w.interval_ms / 2) / 1000.0
        seen = set()
        # per venue, or their total alone: on one axis the venues' lines would flatten the total
        if self.per_venue.isChecked():
            for name, values in w.open_interest.items():
                self._curve("open_interest", name, t, values, EXCHANGE_COLOURS[name], 1)
                seen.add(("open_interest", name))
        elif w.open_interest:
            self._curve("open_interest", "total", t, w.open_interest_total, theme.TEXT, 1)
            seen.add(("open_interest", "total"))
        for name, values in w.funding.items():
            self._curve("funding", name, t, values * 100.0, EXCHANGE_COLOURS[name], 1)
            seen.add(("funding", name))
        self._curve("cvd", "all", t, w.cvd, theme.ACCENT, 1)
        seen.add(("cvd", "all"))
        for k, curve in list(self.curves.items()):
            if k not in seen:
                curve.setData([], [])
        bar_w = w.interval_ms / 1000.0 * 0.9
        self.long_bars.setOpts(x=t, height=w.liq_long, width=bar_w)
        self.short_bars.setOpts(x=t, height=-w.liq_short, width=bar_w)
        self._update_readout()

    def _curve(self, pane: str, name: str, t, values, colour: str, width: int) -> None:
        curve = self.curves.get((pane, name))
        if curve is None:
            curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=width), connect="finite", name=name)
            self.plots[pane].addItem(curve)
            self.curves[(pane, name)] = curve
        curve.setData(t, values)

    def value_at(self, pane: str, name: str, time_s: float) -> float | None:
        """What ``pane`` draws for ``name`` (an exchange, "total", "all", "long", "short") in the
        bucket holding ``time_s`` (None outside the drawn span)."""
        w = self.window
        if w is None:
            return None
        i = w.at(int(time_s * 1000))
        if i is None:
            return None
        if pane == "liquidations":
            return float((w.liq_long if name == "long" else w.liq_short)[i])
        if pane == "cvd":
            return float(w.cvd[i])
        if pane == "open_interest" and name == "total":
            return float(w.open_interest_total[i])
        values = (w.open_interest if pane == "open_interest" else w.funding).get(name)
        return None if values is None else float(values[i])

    def _update_readout(self) -> None:
        t = self._crosshair_s
        if t is None or self.window is None or self.window.at(int(t * 1000)) is None:
            self.readout.setText("")
            return
        parts = []
        if self.window.open_interest:
            oi = self.value_at("open_interest", "total", t)
            if oi is not None and math.isfinite(oi):
                parts.append(f"OI {scaling.fmt_usd(oi)}")
        rates = [v for v in (self.value_at("funding", n, t) for n in self.window.funding) if v is not None
                 and math.isfinite(v)]
        if rates:
            parts.append(f"funding {np.mean(rates) * 100:+.4f}%")
        parts.append(f"CVD {scaling.fmt_usd(self.value_at('cvd', 'all', t), signed=True)}")
        parts.append(f"liq L {scaling.fmt_usd(self.value_at('liquidations', 'long', t))}"
                     f" S {scaling.fmt_usd(self.value_at('liquidations', 'short', t))}")
        self.readout.setText("  ·  ".join(parts))


def _nice_interval(ms: float, base_ms: int) -> int:
    """The smallest of 5 s, 15 s, 1 m, 5 m, 15 m, 1 h, 4 h, 1 d (multiples of ``base_ms``) ≥ ``ms``."""
    for step in (5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000, 14_400_000, 86_400_000):
        if step >= ms and step % base_ms == 0:
            return step
    return 86_400_000
