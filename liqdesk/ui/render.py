"""Headless pictures: the heatmap panel (the window's own drawing code) for a session at a time,
rendered offscreen to a PNG."""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtWidgets

from .age_panel import AgePanel
from .context_panes import ContextPanes
from .delta_panel import DeltaPanel
from .heatmap_panel import HeatmapPanel
from .hot_lines import HotLinesOverlay
from .liquidity_panel import LiquidityPanel

#: what ``render_engine`` can draw
VIEWS = ("heatmap", "context", "liquidity", "delta", "hotlines", "age")


def render_engine(engine, out, width: int = 1600, height: int = 900, span_ms: int | None = None,
                  view: str = "heatmap", delta_period: str = "4h", ages=None) -> bool:
    """Draw ``engine``'s heatmap panel (candles, bubbles, mark line, axes, colour bar) to ``out``;
    ``view`` "context" adds the context panes (open interest, funding, CVD, liquidations) under
    it on the same time axis, "liquidity" the order-book heatmap on the same axes, "delta" the
    change of the levels over ``delta_period`` (1h, 4h, 24h) on the same axes, "hotlines"
    draws the 10 strongest levels in view over it as labelled lines, "age" the levels coloured
    by position age under it. ``ages``: the age filter (bucket keys; None = all) for every part.

    The time range shown ends at the engine's newest event and covers ``span_ms`` (default:
    everything the window holds that has data); the price range fits the candles of that span.
    """
    from .app import application

    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    if view == "delta":
        from liqdesk.app.views import DELTA_PERIODS, period_columns

        s = engine.model.settings
        period_columns(DELTA_PERIODS[delta_period], s.column_ms, s.window_columns)   # ValueError: one line
    application()
    panel = HeatmapPanel(interactive=False)
    top = panel
    panes = None
    if view in ("context", "liquidity", "delta", "age"):
        top = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(top)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(panel, 3 if view == "context" else 1)
        margin = int(panel.gview.ci.layout.columnMaximumWidth(1))
        if view == "context":
            panes = ContextPanes(right_margin=margin)
            panes.link_time_axis(panel.vb)
        elif view == "liquidity":
            panes = LiquidityPanel(right_margin=margin)
            panes.link_axes(panel.vb)
        elif view == "age":
            panes = AgePanel(right_margin=margin)
            panes.link_axes(panel.vb)
        else:
            panes = DeltaPanel(right_margin=margin)
            panes.set_period(delta_period)
            panes.link_axes(panel.vb)
        layout.addWidget(panes, 2 if view == "context" else 1)
    hot = HotLinesOverlay(panel.plot) if view == "hotlines" else None
    if hot is not None:
        hot.set_enabled(True)
    if ages is not None:
        panel.set_view(panel.view.with_(ages=tuple(ages)))
        if panes is not None and hasattr(panes, "set_view"):
            panes.set_view(panes.view.with_(ages=tuple(ages)))
    top.resize(width, height)
    top.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    top.show()
    QtWidgets.QApplication.processEvents()
    panel.refresh(engine, force=True)
    model = engine.model
    if model.watermark is not None and model.bin_width:
        s = model.settings
        end_s = (model.watermark // s.column_ms + 1) * s.column_ms / 1000.0
        candles = engine.candles.candles
        first_ms = int(candles["time_ms"][0]) if len(candles) else model.watermark - s.column_ms
        window_start = (model.watermark // s.column_ms + 1 - s.window_columns) * s.column_ms
        start_ms = max(first_ms, window_start) if span_ms is None else model.watermark - span_ms
        start_s = start_ms / 1000.0
        panel.set_follow(False)
        panel._ranged = True
        margin = 0.03 * (end_s - start_s)
        panel.vb.setXRange(start_s, end_s + margin, padding=0)
        c = candles[(candles["time_ms"] >= start_ms)] if len(candles) else candles
        mark = model.mark_price()
        if len(c):
            lo, hi = float(c["low"].min()), float(c["high"].max())
        else:
            lo = hi = mark
        if math.isfinite(mark):
            lo, hi = min(lo, mark), max(hi, mark)
        pad = max((hi - lo) * 0.35, (hi + lo) / 2 * 0.006)
        panel.vb.setYRange(lo - pad, hi + pad, padding=0)
        panel.refresh(engine, force=True)
    QtWidgets.QApplication.processEvents()
    if panes is not None:
        panes.refresh(engine)
        QtWidgets.QApplication.processEvents()
    if hot is not None:
        hot.refresh(engine, panel.view, panel.vb.viewRange()[1])
        QtWidgets.QApplication.processEvents()
    ok = top.grab().save(str(out), "PNG")
    top.close()
    top.deleteLater()
    return ok


def heatmap_area_stats(png_path, rect: tuple[int, int, int, int] | None = None) -> dict:
    """Distinct colours and the share of non-background pixels in an image (or a part of it)."""
    from PySide6 import QtGui

    img = QtGui.QImage(str(png_path)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    w, h = img.width(), img.height()
    ptr = img.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(h, img.bytesPerLine() // 4, 4)[:, :w, :3]
    if rect is not None:
        x, y, rw, rh = rect
        arr = arr[y:y + rh, x:x + rw]
    flat = arr.reshape(-1, 3)
    colours = np.unique(flat[:: max(1, len(flat) // 200_000)], axis=0)
    bg = np.array([20, 14, 11])  # BGR of the background #0b0e14
    non_bg = float(np.mean(np.abs(flat.astype(int) - bg).sum(axis=1) > 30))
    return {"width": w, "height": h, "colours": int(len(colours)), "non_background": non_bg}
