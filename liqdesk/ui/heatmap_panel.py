"""The heatmap panel: the level model's time × price window (``core/levels.py``) as an image, with
candles, the mark-price line, real liquidations as bubbles, a crosshair read-out and a colour bar
in dollars.

Drawing paints only what changed (``heatmap_raster.py``): the closed columns are kept coloured
between frames in a ring of slots; a frame colours only the columns that closed since the last
one (the model says which) and the live column (the one in progress, where sweeps show). A filter,
scale, leverage-mix or price-origin change reads and colours the whole window once; the colour
scale's levels move only by the rule in :func:`heatmap_raster.levels_moved`. Only the rows in view
and half a view either side are read and coloured (more as the view pans), and the levels are
those of these rows. Every item repaints only its own changed rectangles (the view's
minimal-region update mode): the raster blits device-resolution pictures, the newest candle is an
item of its own, the bubbles are redrawn only when a liquidation enters or leaves the window.

Following the live edge moves the view in steps (see ``HeatmapPanel.FOLLOW_STEP``): it stands
still while the live column is 2–17 % of the width from the right edge and jumps by 15 % of the
width when it reaches the edge, so most live frames repaint only the new column.

x is Unix time in seconds (UTC), y is price in quote currency; column ``c`` covers
``[c·column_ms, (c+1)·column_ms)`` and bin ``k`` covers ``[k·w, (k+1)·w)``.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from liqdesk.app.readout import Readout, cell_breakdown, readout_for  # noqa: F401 (re-exported)
from liqdesk.app.view_state import (
    CANDLE_INTERVALS_MS,
    ViewState,
    auto_candle_ms,
    interval_label,
    live_level_map,
)
from liqdesk.core.events import EXCHANGE_ID

from . import scaling, theme
from .candles_item import CandlesItem
from .heatmap_items import (
    COLORBAR_EMPTY,
    ColorBar,
    HeatmapView,
    PriceAxis,
    _title_font,
)
from .heatmap_raster import WindowRaster


# ------------------------------------------------------------------------------------ read-out
def readout_html(r: Readout, step: float) -> str:
    from liqdesk.core.timefmt import format_time

    cm = r.column_ms
    span = (interval_label(cm) if cm % 1000 == 0 else f"{cm / 1000:g}s") if cm else ""
    what = (f"  <span style='color:{theme.WARNING}'>live column</span>" if r.live
            else f"  <span style='color:{theme.TEXT_DIM}'>{span} column</span>" if span else "")
    lines = [
        f"<b>{format_time(r.time_ms, with_ms=cm % 1000 != 0)}</b>{what}",
        f"price {scaling.fmt_price(r.price_low, step)} – {scaling.fmt_price(r.price_high, step)}",
        f"<span style='color:{theme.LONG}'>long&nbsp; {scaling.fmt_usd(r.long):>8}</span>  "
        f"<span style='color:{theme.SHORT}'>short {scaling.fmt_usd(r.short):>8}</span>",
    ]
    if r.total > 0:
        tiers = "  ".join(f"{lev:g}x {scaling.fmt_usd(lo + sh)}" for lev, lo, sh in r.by_tier if lo + sh > 0)
        if tiers:
            lines.append(f"<span style='color:{theme.TEXT_DIM}'>{tiers}</span>")
        exs = "  ".join(f"{name} {scaling.fmt_usd(lo + sh)}" for name, lo, sh in r.by_exchange if lo + sh > 0)
        if exs:
            lines.append(f"<span style='color:{theme.TEXT_DIM}'>{exs}</span>")
    if r.approximate:
        lines.append(f"<span style='color:{theme.WARNING}'>approximate tiers: {', '.join(r.approximate)}</span>")
    return "<pre style='margin:0'>" + "<br>".join(lines) + "</pre>"


# ------------------------------------------------------------------------------------ panel
class HeatmapPanel(QtWidgets.QWidget):
    """Heatmap + candles + mark line + liquidation bubbles + crosshair + colour bar."""

    followChanged = QtCore.Signal(bool)
    scaleChanged = QtCore.Signal(str)
    candleChanged = QtCore.Signal(int)

    DEFAULT_SPAN_S = 3600.0
    #: following the live edge: the view keeps the live column between these shares of its
    #: width from the right edge (2 % … 17 %) and stands still meanwhile; when the live edge
    #: comes within 2 % of the edge (or leaves that band: a zoom, follow switched on) the view
    #: jumps so that it is 17 % from the edge again, i.e. by 15 % of the width — 9 minutes of a
    #: 1-hour view. A scroll repaints the whole chart; a still view repaints only the new column.
    FOLLOW_MARGIN = 0.02
    FOLLOW_STEP = 0.15

    def __init__(self, parent=None, interactive: bool = True):
        super().__init__(parent)
        self.setObjectName("heatmapPanel")
        self.lut = scaling.colormap_lut(gamma=scaling.GAMMA["percentile"])
        self.view = ViewState()
        self.follow = True
        #: the colour bar labelled as relative intensity (% of the top colour) instead of dollars
        self.relative_bar = False
        self._top = None            # the largest dollar value shown (0: nothing at all)
        self._liq_key = None
        self._candle_key = None
        self._title = None
        self._origin = 0
        self._model = None
        self._engine = None
        self._step = 0.0
        self._ranged = False
        self._following_now = False
        self.last_live: np.ndarray | None = None         # live column, dollars [rows]
        self.candle_interval_ms = 60_000
        self.session_span_ms: tuple[int, int] | None = None    # a replay's recorded span
        self._fitted = False        # the time axis shows the whole session (see fit_session)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        if interactive:
            layout.addWidget(self._build_header())
        self.gview = HeatmapView()
        # repaint the bounding rectangle of a frame's changes, never a many-rectangle region:
        # Qt draws a scaled image through a non-rectangular clip by another route that rounds
        # rows differently, so parts of the heatmap would sit a pixel off the rest
        self.gview.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.gview.ci.layout.setContentsMargins(4, 2, 2, 2)
        layout.addWidget(self.gview, 1)

        self.plot = pg.PlotItem(axisItems={"bottom": pg.DateAxisItem("bottom", utcOffset=0),
                                           "right": PriceAxis("right")})
        self.plot.hideAxis("left")
        self.plot.showAxis("right")
        self.plot.setLabel("bottom", "time (UTC)")
        self.plot.setLabel("right", "price (quote)")
        self.plot.getAxis("right").setWidth(66)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.vb = self.plot.getViewBox()
        self.vb.setDefaultPadding(0.0)
        self.gview.addItem(self.plot, row=0, col=0)
        self.colorbar = ColorBar(self.lut)
        self.gview.addItem(self.colorbar, row=0, col=1)
        self.gview.ci.layout.setColumnFixedWidth(1, self.colorbar.axis.width() + 16)    # + the strip
        self.gview.ci.layout.setColumnStretchFactor(0, 1)

        # the coloured closed columns and live column, kept between frames (heatmap_raster.py)
        self.raster = WindowRaster(self.plot, self.lut, self.view.scale)
        self.image, self.live_image = self.raster.image, self.raster.live_image
        self.candles = CandlesItem()
        self.plot.addItem(self.candles)
        mark_pen = pg.mkPen(theme.MARK, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.mark_line = pg.InfiniteLine(angle=0, movable=False, pen=mark_pen, label="{value:,.2f}",
                                         labelOpts={"position": 0.985, "color": "#000000",
                                                    "fill": pg.mkBrush(theme.MARK), "anchors": [(1, 1), (1, 1)]})
        self.mark_line.setZValue(20)
        # the label is a child of the (horizontal) line, so it moves with it: a new price needs
        # only its text, not pyqtgraph's re-placing along the line (which cost most of a frame's
        # mark update); a change of the view still re-places it (InfLineLabel.viewTransformChanged)
        self.mark_line.sigPositionChanged.disconnect(self.mark_line.label.valueChanged)
        self.mark_line.sigPositionChanged.connect(self._mark_text)
        self.mark_line.hide()
        self.plot.addItem(self.mark_line, ignoreBounds=True)
        self.bubbles = pg.ScatterPlotItem(pxMode=True, pen=pg.mkPen(0, 0, 0, 160, width=1))
        self.bubbles.setZValue(8)
        self.plot.addItem(self.bubbles)
        self._liq_brushes = (pg.mkBrush(QtGui.QColor(theme.LONG).lighter(110)),
                             pg.mkBrush(QtGui.QColor(theme.SHORT).lighter(110)))
        for b, c in zip(self._liq_brushes, (theme.LONG, theme.SHORT)):
            col = QtGui.QColor(c)
            col.setAlpha(150)
            b.setColor(col)
        # the span a live warm start backfilled from 1-minute candles: coarser than live data
        self.backfill_region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 255, 255, 14),
                                                   pen=pg.mkPen(theme.TEXT_DIM, width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.backfill_region.setZValue(5)
        self.backfill_region.hide()
        self.plot.addItem(self.backfill_region, ignoreBounds=True)
        self.backfill_label = pg.TextItem("backfill · 1-min candles (coarser)", color=theme.TEXT_DIM, anchor=(0, 0))
        self.backfill_label.setZValue(6)
        self.backfill_label.hide()
        self.plot.addItem(self.backfill_label, ignoreBounds=True)
        self._backfill_span = None
        cross_pen = pg.mkPen(theme.CROSSHAIR, width=1, style=QtCore.Qt.PenStyle.DotLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=cross_pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=cross_pen)
        for line in (self.vline, self.hline):
            line.setZValue(30)
            line.hide()
            self.plot.addItem(line, ignoreBounds=True)

        self.readout_label = QtWidgets.QLabel(self.gview)
        self.readout_label.setFont(theme.mono_font(9))
        self.readout_label.setStyleSheet(
            f"background: rgba(11,14,20,215); color: {theme.TEXT}; border: 1px solid {theme.BORDER}; padding: 4px;")
        self.readout_label.move(12, 40)
        self.readout_label.hide()
        self.readout_label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.message_label = QtWidgets.QLabel("waiting for data …", self.gview)
        self.message_label.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 14pt; background: transparent;")
        self.message_label.setWordWrap(True)
        self.message_label.move(40, 60)
        self._place_message()
        self.readout: Readout | None = None
        self._cursor_scene: QtCore.QPointF | None = None     # where the cursor is (scene), None: away
        self._cursor_pending = False

        if interactive:
            # the read-out follows the cursor at most 60 times a second (the first move at once)
            self._cursor_timer = QtCore.QTimer(self)
            self._cursor_timer.setSingleShot(True)
            self._cursor_timer.setInterval(16)
            self._cursor_timer.timeout.connect(self._cursor_timeout)
            self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
            self.gview.viewport().installEventFilter(self)
            self.vb.sigRangeChangedManually.connect(self._range_changed_manually)
        self.vb.sigXRangeChanged.connect(lambda *_: self._update_candles())
        self.vb.sigYRangeChanged.connect(self._show_rows)
        self.vb.sigResized.connect(self._fit_title)
        self.vb.sigResized.connect(self._place_message)

    # ------------------------------------------------------------------ header
    def _build_header(self) -> QtWidgets.QWidget:
        bar = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(bar)
        row.setContentsMargins(6, 2, 6, 2)
        row.setSpacing(6)
        self.follow_button = QtWidgets.QPushButton("Follow live ▶")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("Keep the live edge in view (F). Panning back in time turns it off.")
        self.follow_button.toggled.connect(self.set_follow)
        row.addWidget(self.follow_button)
        self.scale_label = QtWidgets.QLabel("scale")
        row.addWidget(self.scale_label)
        self.scale_combo = QtWidgets.QComboBox()
        self.scale_combo.addItems(scaling.MODES)
        self.scale_combo.setToolTip("colour scaling (L): clipped at the 99.5th percentile, linear to the max, or log")
        self.scale_combo.currentTextChanged.connect(self.scaleChanged.emit)
        row.addWidget(self.scale_combo)
        self.bar_button = QtWidgets.QToolButton()
        self.bar_button.setText("$")
        self.bar_button.setCheckable(True)
        self.bar_button.setToolTip("colour bar in dollars ($) or as relative intensity (%, a share of the "
                                   "top colour): the same colours, labelled the other way")
        self.bar_button.toggled.connect(self.set_relative_bar)
        row.addWidget(self.bar_button)
        self.candle_label = QtWidgets.QLabel("candles")
        row.addWidget(self.candle_label)
        self.candle_combo = QtWidgets.QComboBox()
        self.candle_combo.setToolTip("candle interval (auto: chosen by zoom)")
        self.candle_combo.addItem("auto", 0)
        for ms in CANDLE_INTERVALS_MS:
            self.candle_combo.addItem(interval_label(ms), ms)
        self.candle_combo.currentIndexChanged.connect(
            lambda i: self.candleChanged.emit(int(self.candle_combo.itemData(i))))
        row.addWidget(self.candle_combo)
        dot = (f"<span style='color:{theme.LONG}'>●</span> {{}}long &nbsp;"
               f"<span style='color:{theme.SHORT}'>●</span> {{}}short")
        # the legend in three lengths: the longest that fits the panel is shown (see _fit_header)
        self._legends = [dot.format("liquidated ", "liquidated ")
                         + f" &nbsp;<span style='color:{theme.TEXT_DIM}'>(size ∝ notional)</span>",
                         dot.format("liquidated ", "liquidated "),
                         dot.format("", "") + " liq."]
        self.legend = QtWidgets.QLabel(self._legends[0])
        self.legend.setToolTip("real liquidations, as bubbles sized by notional")
        row.addWidget(self.legend)
        row.addStretch(1)
        for w in (self.scale_label, self.candle_label, self.legend):
            w.setMinimumWidth(1)     # they never hold the panel wide: _fit_header shortens them
        self.header = bar
        return bar

    def _fit_header(self) -> None:
        """Shorten the header as the panel narrows (legend, then the combo captions) so that
        nothing in it is cut off."""
        if not hasattr(self, "header"):
            return
        room = self.width() - 12
        lay = self.header.layout()
        fixed = sum(w.sizeHint().width() + lay.spacing()
                    for w in (self.follow_button, self.scale_combo, self.bar_button, self.candle_combo))
        captions = self.scale_label.sizeHint().width() + self.candle_label.sizeHint().width() + 2 * lay.spacing()
        probe = QtWidgets.QLabel()
        probe.setFont(self.legend.font())
        for with_captions in (True, False):
            for text in self._legends:
                probe.setText(text)
                if fixed + (captions if with_captions else 0) + probe.sizeHint().width() <= room:
                    self._set_header(text, with_captions)
                    return
        self._set_header("", False)

    def _set_header(self, legend: str, captions: bool) -> None:
        if self.legend.text() != legend:
            self.legend.setText(legend)
        self.legend.setVisible(bool(legend))
        self.scale_label.setVisible(captions)
        self.candle_label.setVisible(captions)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._fit_header()

    # ------------------------------------------------------------------ view control
    def _show_backfill(self, span) -> None:
        """Shade the backfilled span (ms) and say it is coarser; hide it when there is none."""
        if span == self._backfill_span:
            if span is not None:
                self._place_backfill_label(span)
            return
        self._backfill_span = span
        if span is None:
            self.backfill_region.hide()
            self.backfill_label.hide()
            return
        self.backfill_region.setRegion((span[0] / 1000.0, span[1] / 1000.0))
        self.backfill_region.show()
        self._place_backfill_label(span)
        self.backfill_label.show()

    def _place_backfill_label(self, span) -> None:
        """At the top of the backfilled span's visible part (hidden when none of it is in view)."""
        (x0, x1), (_, top) = self.vb.viewRange()
        left, right = max(span[0] / 1000.0, x0), min(span[1] / 1000.0, x1)
        self.backfill_label.setVisible(right > left)
        self.backfill_label.setPos(left, top)

    def set_relative_bar(self, on: bool) -> None:
        """Label the colour bar as relative intensity (True) or in dollars (False)."""
        self.relative_bar = bool(on)
        if hasattr(self, "bar_button"):
            self.bar_button.setText("%" if on else "$")
            if self.bar_button.isChecked() != self.relative_bar:
                self.bar_button.setChecked(self.relative_bar)
        lo_hi = getattr(self.colorbar, "_levels", None)
        if lo_hi is not None:
            lo, hi, mode, top, _ = lo_hi
            self.colorbar.set_levels(lo, hi, mode, top=top, relative=self.relative_bar)

    def set_view(self, view: ViewState) -> None:
        """New filters / display choices: the next refresh redraws the whole window."""
        if view.scale != self.view.scale:
            self.lut = scaling.colormap_lut(gamma=scaling.GAMMA.get(view.scale, 1.0))
            self.colorbar.strip.setLookupTable(self.lut)
            self.raster.set_lut(self.lut, view.scale)
        self.view = view
        if hasattr(self, "scale_combo") and self.scale_combo.currentText() != view.scale:
            self.scale_combo.blockSignals(True)
            self.scale_combo.setCurrentText(view.scale)
            self.scale_combo.blockSignals(False)
        self._liq_key = None
        self._candle_key = None

    def set_follow(self, on: bool) -> None:
        if on == self.follow:
            return
        self.follow = on
        if hasattr(self, "follow_button") and self.follow_button.isChecked() != on:
            self.follow_button.blockSignals(True)
            self.follow_button.setChecked(on)
            self.follow_button.blockSignals(False)
        if on and self._engine is not None:
            self._follow(self._engine, recentre_y=True)
        self.followChanged.emit(on)

    def _range_changed_manually(self, mask) -> None:
        self._fitted = False        # the user zoomed or panned: their range, not the session's
        if not self.follow or self._engine is None or self._model is None:
            return
        live_end = self._live_end_s()
        if live_end is None:
            return
        (x0, x1), _ = self.vb.viewRange()
        # panned back so the live edge left the view: stop following (a zoom keeps following)
        if x1 < live_end - 0.02 * (x1 - x0):
            self.set_follow(False)

    def reset_view(self) -> None:
        """Back to the last hour around the price (a whole replay shorter than that), following."""
        self._ranged = False
        self.set_follow(True)
        if self._engine is not None:
            self._initial_range(self._engine)

    # ------------------------------------------------------------------ fit session
    def set_session_span(self, start_ms: int | None, end_ms: int | None) -> None:
        """The time span of the session shown (a replay's first to last event, ms), which "fit
        session" zooms to and which a replay shorter than the default span opens on."""
        ok = start_ms is not None and end_ms is not None and end_ms > start_ms
        self.session_span_ms = (int(start_ms), int(end_ms)) if ok else None

    def session_span_s(self) -> tuple[float, float] | None:
        """(start, end) in seconds: a replay's recorded span; otherwise (live, simulator) from the
        first data still in the model's window to the live edge. None before any data."""
        if self.session_span_ms is not None:
            a, b = self.session_span_ms
            return a / 1000.0, b / 1000.0
        end = self._live_end_s()
        engine = self._engine
        if end is None or engine is None or not len(engine.candles.candles):
            return None
        s = self._model.settings
        first = float(engine.candles.candles["time_ms"][0]) / 1000.0
        return max(first, end - s.column_ms * s.window_columns / 1000.0), end

    def fit_session(self) -> bool:
        """Zoom the time axis to the whole session (and the price axis to hold what it traded);
        follow stays on while the live edge is in view. False when there is nothing yet."""
        span = self.session_span_s()
        if span is None or self._engine is None:
            return False
        t0, t1 = span
        width = max(t1 - t0, 1.0)
        self.vb.setXRange(t0, t1 + 0.02 * width, padding=0)
        c = self._engine.candles.candles
        part = c[(c["time_ms"] >= t0 * 1000.0) & (c["time_ms"] < t1 * 1000.0)]
        if len(part):
            lo, hi = float(part["low"].min()), float(part["high"].max())
            (y0, y1) = self.vb.viewRange()[1]
            if not (y0 <= lo and hi <= y1):
                h = max(y1 - y0, (hi - lo) * 1.2)
                mid = (lo + hi) / 2
                self.vb.setYRange(mid - h / 2, mid + h / 2, padding=0)
        self._fitted = True
        self._ranged = True
        if not self.follow:
            self.set_follow(True)
        return True

    # ------------------------------------------------------------------ refresh
    def refresh(self, engine, force: bool = False, image: tuple | None = None) -> None:
        """Redraw from the engine: the whole window when a column closed, the grid re-centred or a
        filter changed; else only the live column, candles, mark and new liquidations.

        ``image``: an already computed ``model.image(..., include_live=False)`` result to show
        (the benchmark hands the same grid to this panel and to a bare image item)."""
        self._engine = engine
        self._show_backfill(getattr(engine, "backfill_span", None))
        model = engine.model
        if self._model is not model:
            self._model = model
            self._liq_key = None
            self._candle_key = None
        if not model.bin_width or model.watermark is None:
            self.message_label.setText("waiting for data …")
            self._place_message()
            self._top = None
            self.colorbar.set_levels(0.0, 1.0, self.view.scale, top=0.0, relative=self.relative_bar)
            self.message_label.adjustSize()
            self.message_label.show()
            self.raster.clear()
            self.candles.set_candles(np.empty(0, dtype=engine.candles.candles.dtype), 1000)
            self.bubbles.clear()
            self.mark_line.hide()
            self.hide_crosshair()
            return
        s = model.settings
        w = model.bin_width
        self._step = w
        # before the first column closes the model would centre the grid on the current price
        origin, live_map = live_level_map(engine, self.view)
        live = np.zeros(s.rows, np.float32)
        if self.view.long:
            live += live_map[0]
        if self.view.short:
            live += live_map[1]
        self.last_live = live
        self._origin = origin
        # the ring reads only the columns that closed since the last frame, unless the filters,
        # scale, mix or price origin changed (then the whole band: a rebuild)
        rebuilds = self.raster.rebuilds
        levels_changed = self.raster.sync(model, self.view, origin, live, self._rows_in_view(origin, w, s.rows),
                                          force=force, image=image)
        full = self.raster.rebuilds != rebuilds
        if levels_changed or full or (not self._top and live.max(initial=0.0) > 0):
            self._scale_changed()

        mark = model.mark_price()
        if math.isfinite(mark):
            if not self.mark_line.isVisible():
                self.mark_line.show()
                self.mark_line.label.show()
                self.mark_line.setValue(mark)
                self.mark_line.label.valueChanged()
            elif mark != self.mark_line.value():
                self.mark_line.setValue(mark)       # its label follows (sigPositionChanged)
        self._update_title(engine)
        if not self._ranged:
            self._initial_range(engine)
        elif self.follow:
            self._follow(engine)
        self._update_candles()
        self._update_liquidations(engine, full)
        if self._cursor_scene is not None:
            self._update_crosshair()

    def _mark_text(self, *_) -> None:
        label = self.mark_line.label
        if label.isVisible():
            text = label.format.format(value=self.mark_line.value())
            if text != label.toPlainText():
                label.setText(text)

    def _show_empty_message(self) -> None:
        """Say so when the view holds no estimated notional at all (rather than a black image)."""
        if self._top:
            self.message_label.hide()
            return
        v = self.view
        none_selected = v.exchanges == () or v.tiers == () or v.ages == () or not (v.long or v.short)
        why = " (the filters select nothing)" if none_selected else ""
        self.message_label.setText(COLORBAR_EMPTY + why)
        self._place_message()
        self.message_label.show()

    def _place_message(self) -> None:
        """The message over the plot, wrapped to the plot's width (never running past it)."""
        lab = self.message_label
        room = max(120, int(self.vb.width()) - 40 if self.vb.width() > 0 else self.gview.width() - 80)
        natural = QtGui.QFontMetrics(lab.font()).horizontalAdvance(lab.text()) + 8
        lab.setFixedWidth(min(natural, room))
        lab.setFixedHeight(lab.heightForWidth(lab.width()))

    def _rows_in_view(self, origin: int, w: float, rows: int) -> tuple[int, int]:
        """Grid rows covering the visible price range and half a view more on each side."""
        y0, y1 = self.vb.viewRange()[1]
        h = max(y1 - y0, w)
        r0 = int(math.floor((y0 - 0.5 * h) / w)) - origin
        r1 = int(math.ceil((y1 + 0.5 * h) / w)) - origin
        return max(0, min(r0, rows)), max(0, min(r1, rows))

    def _show_rows(self, *_) -> None:
        """A pan or zoom that shows rows the ring has not read: read and colour those rows only."""
        m = self._model
        if m is None or self.raster.vals is None or not m.bin_width:
            return
        b0, b1 = self.raster.band
        w, origin, rows = m.bin_width, self.raster.origin, m.settings.rows
        y0, y1 = self.vb.viewRange()[1]
        v0 = max(0, min(int(math.floor(y0 / w)) - origin, rows))
        v1 = max(0, min(int(math.ceil(y1 / w)) - origin, rows))
        if b0 <= v0 and v1 <= b1:
            return                  # every visible row is read: nothing to do
        # read half a view beyond what is in view, so that a small pan reads nothing
        r0, r1 = self._rows_in_view(origin, w, rows)
        if self.raster.extend(m, self.view, (r0, r1)) or not self._top:
            self._scale_changed()

    def _scale_changed(self) -> None:
        """The colour scale's levels moved (or nothing was shown yet): the colour bar follows."""
        self._top = self.raster.top()
        self.colorbar.set_levels(*self.raster.levels, self.view.scale, top=self._top, relative=self.relative_bar)
        self._show_empty_message()

    def _live_end_s(self) -> float | None:
        m = self._model
        if m is None or m.watermark is None:
            return None
        cm = m.settings.column_ms
        return (m.watermark // cm + 1) * cm / 1000.0

    def _initial_range(self, engine) -> None:
        model = engine.model
        end = self._live_end_s()
        mark = model.mark_price()
        if end is None or not math.isfinite(mark):
            return
        span = min(self.DEFAULT_SPAN_S, model.settings.column_ms * model.settings.window_columns / 1000.0)
        self._fitted = False
        self.vb.setXRange(end - span, end + 0.04 * span, padding=0)
        half = max(mark * 0.015, model.bin_width * 20)
        self.vb.setYRange(mark - half, mark + half, padding=0)
        self._ranged = True
        if self.session_span_ms is not None:
            a, b = self.session_span_ms
            if (b - a) / 1000.0 < span:
                # a replay shorter than the default span opens on all of it, not a mostly empty hour
                self.fit_session()

    def _follow(self, engine, recentre_y: bool = False) -> None:
        end = self._live_end_s()
        if end is None:
            return
        (x0, x1), (y0, y1) = self.vb.viewRange()
        span = max(x1 - x0, 1.0)
        if self._fitted and x0 <= end <= x1:
            pass                    # the whole session is in view: the live edge moves within it
        else:
            self._fitted = False
            # stepped: the view stays still while the live edge is within the right margin band,
            # and jumps when it reaches the edge (a scroll repaints the whole chart)
            least, most = self.FOLLOW_MARGIN * span, (self.FOLLOW_MARGIN + self.FOLLOW_STEP) * span
            if not least <= x1 - end <= most + 1e-6 * span:
                self.vb.setXRange(end + most - span, end + most, padding=0)
        mark = engine.model.mark_price()
        if math.isfinite(mark):
            h = y1 - y0
            if recentre_y or not (y0 + 0.1 * h <= mark <= y1 - 0.1 * h):
                self.vb.setYRange(mark - h / 2, mark + h / 2, padding=0)

    def _update_title(self, engine) -> None:
        model = engine.model
        s = model.settings
        cols = interval_label(s.column_ms) if s.column_ms % 1000 == 0 else f"{s.column_ms / 1000:g}s"
        bin_s = scaling.fmt_price(model.bin_width, model.bin_width)
        if model.mode == "oi":
            mode_full = mode_short = "estimate from open interest"
            mode_colour = theme.TEXT_DIM
        else:
            names = ", ".join(n for n, m in model.modes.items() if m == "volume")
            mode_full, mode_short = f"VOLUME-ONLY estimate (no open interest: {names})", "VOLUME-ONLY estimate"
            mode_colour = theme.WARNING
        # the full title when the plot is wide enough, else a compact one (never cut off)
        variants = [(f"{s.symbol} · estimated liquidation levels · bin {bin_s} · {cols} columns · ", mode_full),
                    (f"{s.symbol} · bin {bin_s} · {cols} · ", mode_short),
                    (f"{s.symbol} · ", mode_short)]
        key = (tuple(variants), mode_colour)
        if key != self._title:
            self._title = key
            quote = s.symbol.split("/")[-1].split(":")[0] if "/" in s.symbol else "quote"
            self.plot.setLabel("right", f"price ({quote})")
            self._price_label_on = None      # setLabel shows it: _fit_title decides again
            self._title_shown = None
        self._fit_title()

    def _fit_title(self, *_) -> None:
        # the price axis names itself ("price (USDT)") only when the plot is wide; narrow, its
        # numbers say enough and the image keeps the room (decided on the width both share, so
        # that showing or hiding the name cannot flip the decision)
        axis = self.plot.getAxis("right")
        wide = self.vb.width() + axis.width() >= 560
        if wide != getattr(self, "_price_label_on", None):
            self._price_label_on = wide
            axis.showLabel(wide)
            axis.setWidth(66 if wide else 50)
        if not self._title:
            return
        variants, mode_colour = self._title
        fm = QtGui.QFontMetrics(_title_font())
        room = self.vb.width() - 8
        head, mode = variants[-1]
        for h, m in variants:
            if fm.horizontalAdvance(h + m) <= room:
                head, mode = h, m
                break
        sym, _, rest = head.partition(" · ")
        bold = "font-weight:bold" if mode_colour == theme.WARNING else ""
        html = (f"<span style='color:{theme.TEXT}'><b>{sym}</b></span>"
                f"<span style='color:{theme.TEXT_DIM}'> · {rest}</span>"
                f"<span style='color:{mode_colour}; {bold}'>{mode}</span>")
        if html != getattr(self, "_title_shown", None):
            self._title_shown = html
            self.plot.setTitle(html, size="9pt")
            self.title_text = head + mode

    def _update_candles(self) -> None:
        engine = self._engine
        if engine is None or self._model is None or self._model.watermark is None:
            return
        (x0, x1), _ = self.vb.viewRange()
        width_px = max(self.vb.width(), 100.0)
        ms = self.view.candle_ms or auto_candle_ms(x1 - x0, width_px)
        self.candle_interval_ms = ms
        start = int(x0 * 1000) - ms
        end = int(x1 * 1000) + ms
        series = engine.candles
        t = series.candles["time_ms"]
        if not len(t):
            key = (ms, None)
            if key != self._candle_key:
                self._candle_key = key
                self.candles.set_parts(series.candles[:0], series.candles[:0], ms)
            return
        # the closed intervals are aggregated again only when they change (a candle closed, the
        # view moved, a late trade in the last closed base candle); a frame re-aggregates the
        # newest interval only
        newest = int(t[-1]) - int(t[-1]) % ms
        cut = int(np.searchsorted(t, newest))
        key = (ms, start // ms, end // ms, newest, cut, series.candles[cut - 1].tobytes() if cut else b"")
        if key != self._candle_key:
            self._candle_key = key
            self._closed_candles = series.window(start, min(end, newest), ms)
        fresh = series.window(newest, end, ms) if newest < end else series.candles[:0]
        self.candles.set_parts(self._closed_candles, fresh, ms)

    def _update_liquidations(self, engine, full: bool) -> None:
        liq = engine.liquidations
        if not len(liq) or self.raster.vals is None:
            if self._liq_key is not None:
                self._liq_key = None
                self.bubbles.clear()
            return
        s = self._model.settings
        start_ms = (self.raster.seen_column - s.window_columns + 1) * s.column_ms
        sel = liq["time_ms"] >= start_ms
        # redrawn only when a liquidation came in or left the window (a new column alone moves
        # nothing: setData would repaint every bubble's area)
        key = (len(liq), self.view.filter_key, int(np.count_nonzero(sel)))
        if key == self._liq_key:
            return
        self._liq_key = key
        if self.view.exchanges is not None:
            ids = [EXCHANGE_ID[e] for e in self.view.exchanges if e in EXCHANGE_ID]
            sel &= np.isin(liq["exchange"], ids)
        if not self.view.long:
            sel &= liq["side"] != 1
        if not self.view.short:
            sel &= liq["side"] != -1
        ev = liq[sel][-5000:]
        if not len(ev):
            self.bubbles.clear()
            return
        size = bubble_size(ev["notional"])
        brushes = [self._liq_brushes[0] if sd > 0 else self._liq_brushes[1] for sd in ev["side"].tolist()]
        self.bubbles.setData(x=ev["time_ms"] / 1000.0, y=ev["price"], size=size, brush=brushes,
                             data=np.arange(len(ev)))

    # ------------------------------------------------------------------ crosshair
    def _mouse_moved(self, pos) -> None:
        self._cursor_scene = QtCore.QPointF(pos)
        if self._cursor_timer.isActive():
            self._cursor_pending = True
            return
        self._cursor_timer.start()
        self._update_crosshair()

    def _cursor_timeout(self) -> None:
        if self._cursor_pending:
            self._cursor_pending = False
            self._update_crosshair()

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() == QtCore.QEvent.Type.Leave:
            # the cursor left the chart: no read-out of a place it is no longer at
            self._cursor_scene = None
            self._cursor_pending = False
            self.hide_crosshair()
        return super().eventFilter(obj, ev)

    def _update_crosshair(self) -> None:
        """The read-out of what is under the cursor now: called when the cursor moves and when
        the chart moves under a still cursor (following the live edge, new data)."""
        pos = self._cursor_scene
        if pos is None or self._model is None or not self.vb.sceneBoundingRect().contains(pos):
            self.hide_crosshair()        # away, or over an axis or the title: nothing to read
            return
        p = self.vb.mapSceneToView(pos)
        self.show_crosshair_at(p.x(), p.y())

    def show_crosshair_at(self, time_s: float, price: float) -> Readout | None:
        """Move the crosshair to the cell at (time, price) and fill the read-out; returns it."""
        if self._model is None:
            return None
        r = readout_for(self._model, self.view, time_s, price, self._origin)
        self.readout = r
        if r is None:
            self.hide_crosshair()
            return None
        # the lines mark the cell read: the column's middle, the price bin's middle
        self.vline.setValue((r.time_ms + r.column_ms / 2) / 1000.0)
        self.hline.setValue((r.price_low + r.price_high) / 2)
        self.vline.show()
        self.hline.show()
        html = readout_html(r, self._step)
        if html != self.readout_label.text():
            self.readout_label.setText(html)
            self.readout_label.adjustSize()
        self.readout_label.show()
        return r

    def hide_crosshair(self) -> None:
        self.vline.hide()
        self.hline.hide()
        self.readout_label.hide()

    # ------------------------------------------------------------------ helpers for tests/export
    def displayed_value(self, time_s: float, price: float) -> float | None:
        """The dollars the image shows at (time, price) (None outside the window)."""
        m = self._model
        raster = self.raster
        if m is None or raster.vals is None:
            return None
        s = m.settings
        column = int(math.floor(time_s * 1000.0 / s.column_ms))
        row = int(math.floor(price / m.bin_width)) - self._origin
        if not 0 <= row < s.rows:
            return None
        if m.watermark is not None and column == m.watermark // s.column_ms:
            return float(self.last_live[row])
        first = raster.seen_column - s.window_columns + 1
        if not first <= column <= raster.seen_column:
            return None
        b0, b1 = raster.band
        if not b0 <= row < b1:
            if raster.extend(m, self.view, (min(b0, row), max(b1, row + 1))):
                self._scale_changed()
        return float(raster.vals[row, column % s.window_columns])

    def heatmap_rect(self) -> QtCore.QRect:
        """The image area in the panel's pixel coordinates."""
        r = self.vb.sceneBoundingRect().toRect()
        return QtCore.QRect(self.gview.mapTo(self, r.topLeft()), r.size())

    @property
    def levels(self) -> tuple[float, float]:
        return self.raster.levels

    @property
    def last_columns(self) -> np.ndarray | None:
        """Column numbers of the closed columns shown, oldest first."""
        return self.raster.columns()

    @property
    def last_image(self) -> np.ndarray | None:
        """The closed columns shown, dollars ``[rows, W]`` in time order (a copy; reads the rows
        not read yet first, so it is the whole window: for tests and read-outs, not frames)."""
        raster = self.raster
        if raster.vals is None or self._model is None:
            return None
        if raster.extend(self._model, self.view, (0, raster.vals.shape[0])):
            self._scale_changed()
        return raster.time_order(raster.vals)

    def shown_pixels(self) -> tuple[tuple[int, int], np.ndarray, np.ndarray] | None:
        """(band of rows drawn, closed columns' pixels ``[rows, W]`` in time order, live column's
        pixels ``[rows]``) as painted (uint32 ``0xffRRGGBB``; rows outside the band undefined)."""
        raster = self.raster
        if raster.px is None:
            return None
        return raster.band, raster.time_order(raster.px), raster.live_px[:, 0].copy()


def bubble_size(notional: np.ndarray) -> np.ndarray:
    """Bubble diameter in pixels, growing with notional: $10k → 4, $100k → 9, $1M → 16, $10M → 25."""
    n = np.maximum(np.asarray(notional, dtype=float), 1.0)
    x = np.log10(np.maximum(n / 10_000.0, 1.0))
    return np.clip(4.0 + 4.5 * x + 0.75 * x * x, 4.0, 36.0)


__all__ = ["HeatmapPanel", "Readout", "readout_for", "cell_breakdown", "bubble_size"]
