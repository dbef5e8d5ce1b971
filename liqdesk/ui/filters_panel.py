"""Filters: exchanges, leverage tiers and sides (applied to the displayed window at once, from
the stored grid), and the time window, bin size and decay (which rebuild the model: from the
session for a replay, by restarting it for the simulator)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from liqdesk.app.chart_settings import (
    BIN_PCTS,
    DECAYS_S,
    WINDOWS_MS,
    decay_name,
    default_bin_pct,
    window_name,
)
from liqdesk.app.view_state import ViewState
from liqdesk.core.levels import ModelSettings
from liqdesk.core.position_age import BUCKETS, EDGE_NOTE

from . import theme


class FlowLayout(QtWidgets.QLayout):
    """Widgets left to right, wrapping onto the next line when the panel is narrow (so a row of
    check boxes never forces the panel wider or gets cut off)."""

    def __init__(self, parent=None, spacing: int = 8):
        super().__init__(parent)
        self._items: list[QtWidgets.QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(6, 4, 6, 4)

    def addItem(self, item) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i):
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i):
        return self._items.pop(i) if 0 <= i < len(self._items) else None

    def expandingDirections(self):
        return QtCore.Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QtCore.QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QtCore.QSize:
        m = self.contentsMargins()
        w = sum(it.sizeHint().width() for it in self._items) + self._spacing * max(0, len(self._items) - 1)
        h = max((it.sizeHint().height() for it in self._items), default=0)
        return QtCore.QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def minimumSize(self) -> QtCore.QSize:
        m = self.contentsMargins()
        w = max((it.minimumSize().width() for it in self._items), default=0)
        h = max((it.minimumSize().height() for it in self._items), default=0)
        return QtCore.QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def _place(self, rect: QtCore.QRect, move: bool) -> int:
        m = self.contentsMargins()
        x0, right = rect.x() + m.left(), rect.right() - m.right()
        x, y, line = x0, rect.y() + m.top(), 0
        for it in self._items:
            hint = it.sizeHint()
            if x > x0 and x + hint.width() > right + 1:
                x, y, line = x0, y + line + self._spacing // 2, 0
            if move:
                it.setGeometry(QtCore.QRect(QtCore.QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line + m.bottom() - rect.y()


class FiltersPanel(QtWidgets.QWidget):
    viewChanged = QtCore.Signal(object)            # ViewState
    settingsChanged = QtCore.Signal(str, float, str)   # window, bin %, decay

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("filtersPanel")
        self.view = ViewState()
        self._building = False
        # in a scroll area: a short dock scrolls rather than squeezing the groups into each other
        self.scroll, body = theme.vertical_scroll(self, "filtersScroll")
        outer = QtWidgets.QVBoxLayout(body)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(2)
        self.ex_box = QtWidgets.QGroupBox("exchanges")
        self.ex_layout = FlowLayout(self.ex_box)
        self.tier_box = QtWidgets.QGroupBox("leverage tiers")
        self.tier_layout = FlowLayout(self.tier_box)
        side_box = QtWidgets.QGroupBox("sides")
        side_layout = FlowLayout(side_box)
        self.long_cb = QtWidgets.QCheckBox("long ↓")
        self.short_cb = QtWidgets.QCheckBox("short ↑")
        self.long_cb.setToolTip("long levels (under the price: liquidated by a drop)")
        self.short_cb.setToolTip("short levels (over the price: liquidated by a rise)")
        for cb, colour in ((self.long_cb, theme.LONG), (self.short_cb, theme.SHORT)):
            cb.setChecked(True)
            cb.setStyleSheet(f"color: {colour}")
            cb.toggled.connect(self._emit_view)
            side_layout.addWidget(cb)
        age_box = QtWidgets.QGroupBox("position age")
        age_box.setToolTip("levels by when their positions were opened (" + EDGE_NOTE + ")")
        age_layout = FlowLayout(age_box)
        self.age_checks: dict[str, QtWidgets.QCheckBox] = {}
        for key, label in BUCKETS:
            cb = QtWidgets.QCheckBox(label)
            cb.setChecked(True)
            cb.toggled.connect(self._emit_view)
            age_layout.addWidget(cb)
            self.age_checks[key] = cb
        for box in (self.ex_box, self.tier_box, side_box, age_box):
            outer.addWidget(box)
        model_box = QtWidgets.QGroupBox("model")
        model_box.setToolTip("a change here rebuilds the whole window from the session")
        form = QtWidgets.QFormLayout(model_box)
        form.setContentsMargins(6, 4, 6, 4)
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.window_combo = QtWidgets.QComboBox()
        self.window_combo.addItems(list(WINDOWS_MS))
        self.bin_combo = QtWidgets.QComboBox()
        for p in BIN_PCTS:
            self.bin_combo.addItem(f"{p:g} %", p)
        self.bin_combo.setToolTip("price bin size, in % of the price")
        self.decay_combo = QtWidgets.QComboBox()
        self.decay_combo.addItems(list(DECAYS_S))
        for combo in (self.window_combo, self.bin_combo, self.decay_combo):
            # narrow docks: the combo may shrink to a few characters (it shows the rest when open)
            combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(5)
        form.addRow("window", self.window_combo)
        form.addRow("bin", self.bin_combo)
        form.addRow("decay", self.decay_combo)
        self.window_combo.setToolTip("time window the heatmap keeps (1,440 columns)")
        self.decay_combo.setToolTip("decay half-life of old levels")
        for combo in (self.window_combo, self.bin_combo, self.decay_combo):
            combo.currentIndexChanged.connect(self._emit_settings)
        outer.addWidget(model_box)
        outer.addStretch(1)
        self.ex_checks: dict[str, QtWidgets.QCheckBox] = {}
        self.tier_checks: dict[float, QtWidgets.QCheckBox] = {}

    def populate(self, settings: ModelSettings, view: ViewState) -> None:
        """Build the checkboxes for the model's exchanges and tiers; show ``view`` and ``settings``."""
        self._building = True
        try:
            for layout, checks in ((self.ex_layout, self.ex_checks), (self.tier_layout, self.tier_checks)):
                for cb in checks.values():
                    layout.removeWidget(cb)
                    cb.deleteLater()
                checks.clear()
            for name in settings.exchanges:
                cb = QtWidgets.QCheckBox(name)
                cb.setChecked(view.exchanges is None or name in view.exchanges)
                cb.toggled.connect(self._emit_view)
                self.ex_layout.addWidget(cb)
                self.ex_checks[name] = cb
            for lev in settings.leverages:
                cb = QtWidgets.QCheckBox(f"{lev:g}x")
                cb.setChecked(view.tiers is None or float(lev) in view.tiers)
                cb.toggled.connect(self._emit_view)
                self.tier_layout.addWidget(cb)
                self.tier_checks[float(lev)] = cb
            self.long_cb.setChecked(view.long)
            self.short_cb.setChecked(view.short)
            for key, cb in self.age_checks.items():
                cb.setChecked(view.ages is None or key in view.ages)
            self.show_settings(settings)
            self.view = view
        finally:
            self._building = False

    def show_settings(self, settings: ModelSettings) -> None:
        was = self._building
        self._building = True
        try:
            self.window_combo.setCurrentText(window_name(settings))
            self.bin_combo.setCurrentIndex(BIN_PCTS.index(default_bin_pct(settings)))
            self.decay_combo.setCurrentText(decay_name(settings))
        finally:
            self._building = was

    def current_view(self) -> ViewState:
        ex = tuple(n for n, cb in self.ex_checks.items() if cb.isChecked())
        tiers = tuple(t for t, cb in self.tier_checks.items() if cb.isChecked())
        ages = tuple(k for k, cb in self.age_checks.items() if cb.isChecked())
        return self.view.with_(
            ages=None if len(ages) == len(self.age_checks) else ages,
            exchanges=None if len(ex) == len(self.ex_checks) else ex,
            tiers=None if len(tiers) == len(self.tier_checks) else tiers,
            long=self.long_cb.isChecked(), short=self.short_cb.isChecked())

    def _emit_view(self, *_):
        if self._building:
            return
        self.view = self.current_view()
        self.viewChanged.emit(self.view)

    def _emit_settings(self, *_):
        if self._building:
            return
        self.settingsChanged.emit(self.window_combo.currentText(), float(self.bin_combo.currentData()),
                                  self.decay_combo.currentText())
