"""The position-age view: the window's levels coloured by when their positions were opened
(:mod:`liqdesk.app.age_view`), on the heatmap's own time and price axes. The view's filters apply
(exchanges × tiers × sides; its age filter too, so a bucket left out goes dark). Redrawn when a
column closes or a filter changes."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from liqdesk.app.age_view import AgeImage, age_legend, age_summary
from liqdesk.core.position_age import BUCKET_KEYS, EDGE_NOTE

from . import scaling
from .linked_panel import LinkedPanel, header_note


class AgePanel(LinkedPanel):
    """Levels by position age, linked to the heatmap."""

    def __init__(self, parent=None, right_margin: int = 0):
        header = QtWidgets.QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 2)
        legend = " ".join(f"<span style='color:{colour}'>■ {label}</span>" for label, colour in age_legend())
        self.legend = QtWidgets.QLabel(f"opened: {legend}&nbsp;&nbsp;")
        self.legend.setToolTip("hue: the mix of ages in a cell; brightness: its notional (" + EDGE_NOTE + ")")
        header.addWidget(self.legend)
        self.note = header_note()
        header.addWidget(self.note, 1)
        super().__init__("agePanel", parent, right_margin, header)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.image.setZValue(-1)
        self.picture = AgeImage()

    def refresh(self, engine) -> None:
        model = engine.model
        if not self.redraw_due(model, model.mix.version):
            return
        s = model.settings
        v = self.view
        pic = self.picture
        pic.update(model, v.model_exchanges(model), v.tiers, v.long, v.short, shown=v.ages)
        buckets, cols, origin, top = pic.buckets, pic.columns, pic.origin, pic.top
        self.image.setImage(pic.rgb, autoLevels=False, levels=(0, 255))
        w, cm = model.bin_width, s.column_ms
        self.image.setRect(QtCore.QRectF(cols[0] * cm / 1000.0, origin * w, len(cols) * cm / 1000.0,
                                         buckets.shape[1] * w))
        mark = model.mark_price()
        if mark == mark:
            self.mark.setValue(mark)
        now = age_summary(buckets)
        total = sum(now.values()) or 1.0
        self.note.setText("now: " + " · ".join(f"{100 * now[k] / total:.0f} %" for k in BUCKET_KEYS)
                          + f" of {scaling.fmt_usd(sum(now.values()))} · full brightness {scaling.fmt_usd(top)}")
        self.last = {"buckets": buckets, "columns": cols, "origin": origin, "top_usd": top}
