"""The delta view: how each estimated level changed over a chosen period (1 h, 4 h, 24 h), in a
diverging colour map centred on zero — growth warm, shrinkage cool — on the heatmap's own time
and price axes, so a cluster that doubled in four hours stands out from one that has sat still
for days. Column ``c`` shows the filtered map at ``c`` minus the map one period earlier
(:func:`liqdesk.app.views.delta_image`); the first period of the window has nothing to compare
with and stays empty. Redrawn when a column closes or a filter changes.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from liqdesk.app.views import DELTA_PERIODS, delta_image, delta_levels, period_columns

from . import scaling
from .linked_panel import LinkedPanel, header_note


def diverging_lut(n: int = 256) -> np.ndarray:
    """``[n, 4]`` RGBA: shrinkage (cool, teal-blue) → nothing (background) → growth (warm)."""
    x = np.linspace(-1.0, 1.0, n)
    bg = np.array([11, 14, 20], float)
    cool = np.array([70, 150, 255], float)
    warm = np.array([255, 150, 60], float)
    a = np.abs(x)[:, None] ** 0.7
    rgb = np.where(x[:, None] < 0, bg + (cool - bg) * a, bg + (warm - bg) * a)
    return np.concatenate([np.clip(rgb, 0, 255), np.full((n, 1), 255.0)], axis=1).astype(np.uint8)


class DeltaPanel(LinkedPanel):
    """Growth and shrinkage of the estimated levels over a period, linked to the heatmap."""

    def __init__(self, parent=None, right_margin: int = 0):
        self.period = "4h"
        header = QtWidgets.QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 2)
        header.addWidget(QtWidgets.QLabel("change over"))
        self.periods = QtWidgets.QComboBox()
        self.periods.addItems(list(DELTA_PERIODS))
        self.periods.setCurrentText(self.period)
        header.addWidget(self.periods)
        self.note = header_note()
        header.addWidget(self.note, 1)
        super().__init__("deltaPanel", parent, right_margin, header)
        self.periods.currentTextChanged.connect(self.set_period)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(diverging_lut())
        self.plot.addItem(self.image)
        self.image.setZValue(-1)                 # under the mark line

    def set_period(self, period: str) -> None:
        if period in DELTA_PERIODS:
            self.period = period
            self._key = None
            if self.periods.currentText() != period:
                self.periods.setCurrentText(period)

    def refresh(self, engine) -> None:
        """Redraw when a column closed, the filters or the period changed."""
        model = engine.model
        if not self.redraw_due(model, self.period):
            return
        s = model.settings
        v = self.view
        try:
            k = period_columns(DELTA_PERIODS[self.period], s.column_ms, s.window_columns)
        except ValueError as exc:
            self.note.setText(str(exc))
            self.image.clear()
            self.last = None
            return
        img, cols, origin = model.image(v.model_exchanges(model), v.tiers, v.long, v.short, include_live=True,
                                        ages=v.ages)
        candles = engine.candles.candles
        first_data = 0
        if len(candles):
            first_data = max(0, int(candles["time_ms"][0]) // s.column_ms - int(cols[0]))
        d = delta_image(img, k, first_data)
        top = delta_levels(d)
        shown = np.nan_to_num(d, nan=0.0)
        self.image.setImage(shown, autoLevels=False, levels=(-top, top))
        w, cm = model.bin_width, s.column_ms
        self.image.setRect(QtCore.QRectF(cols[0] * cm / 1000.0, origin * w, len(cols) * cm / 1000.0,
                                         img.shape[0] * w))
        mark = model.mark_price()
        if np.isfinite(mark):
            self.mark.setValue(mark)
        grew = float(np.nansum(np.where(d[:, -1] > 0, d[:, -1], 0.0)))
        shrank = float(np.nansum(np.where(d[:, -1] < 0, d[:, -1], 0.0)))
        self.note.setText(f"newest column: {scaling.fmt_usd(grew, signed=True)} grew, {scaling.fmt_usd(shrank)} "
                          f"shrank · colour ±{scaling.fmt_usd(top)}: warm grew, cool shrank")
        self.last = {"delta": d, "columns": cols, "origin": origin, "period_columns": k, "top_usd": top}
