"""What the panels drawn on the heatmap's own time and price axes share (the order-book heatmap,
the delta view): a plot laid out like the heatmap's, a dashed mark-price line, the axes linked to
the heatmap's view box, the view's filters, and a key that says when a redraw is due."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from liqdesk.app.view_state import ViewState

from . import theme
from .heatmap_items import time_price_plot


def header_note() -> QtWidgets.QLabel:
    """The dim one-line read-out of a panel's header; a long one is cut at the panel's edge
    rather than widening the dock."""
    note = QtWidgets.QLabel("")
    note.setStyleSheet(f"color: {theme.TEXT_DIM};")
    note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
    return note


class LinkedPanel(QtWidgets.QWidget):
    """A panel with an optional header row above a time × price plot linked to the heatmap.
    Subclasses draw in :meth:`refresh` and reset ``_key`` when what they show changes."""

    def __init__(self, name: str, parent=None, right_margin: int = 0, header: QtWidgets.QLayout | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.view = ViewState()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        if header is not None:
            layout.addLayout(header)
        self.gview = pg.GraphicsLayoutWidget()
        self.gview.ci.layout.setContentsMargins(4, 2, 2, 2)
        layout.addWidget(self.gview, 1)
        self.plot = time_price_plot(self.gview, right_margin)
        self.vb = self.plot.getViewBox()
        self.mark = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(theme.MARK, width=1,
                                                                        style=QtCore.Qt.PenStyle.DashLine))
        self.plot.addItem(self.mark, ignoreBounds=True)
        self._key = None
        #: what was drawn last (for tests and read-outs), None until something was
        self.last: dict | None = None

    def link_axes(self, vb: pg.ViewBox) -> None:
        """Share ``vb``'s time and price axes (the heatmap's)."""
        self.plot.setXLink(vb)
        self.plot.setYLink(vb)

    def redraw_due(self, model, *extra) -> bool:
        """Whether to redraw: the model has something to draw and, since the last redraw, a column
        closed or the filters, the display rows or ``extra`` changed (then it is remembered)."""
        if model.watermark is None or not model.bin_width:
            return False
        key = (id(model), model.grid.last_column, self.view.filter_key, model.display_origin, *extra)
        if key == self._key:
            return False
        self._key = key
        return True

    def set_view(self, view: ViewState) -> None:
        self.view = view
        self._key = None
