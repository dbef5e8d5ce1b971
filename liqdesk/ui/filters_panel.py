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

from . import theme


class FiltersPanel(QtWidgets.QWidget):
    viewChanged = QtCore.Signal(object)            # ViewState
    settingsChanged = QtCore.Signal(str, float, str)   # window, bin %, decay

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("filtersPanel")
        self.view = ViewState()
        self._building = False
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(4)
        self.ex_box = QtWidgets.QGroupBox("exchanges")
        self.ex_layout = QtWidgets.QHBoxLayout(self.ex_box)
        self.tier_box = QtWidgets.QGroupBox("leverage tiers")
        self.tier_layout = QtWidgets.QHBoxLayout(self.tier_box)
        side_box = QtWidgets.QGroupBox("sides")
        side_layout = QtWidgets.QHBoxLayout(side_box)
        self.long_cb = QtWidgets.QCheckBox("long (under price)")
        self.short_cb = QtWidgets.QCheckBox("short (over price)")
        for cb, colour in ((self.long_cb, theme.LONG), (self.short_cb, theme.SHORT)):
            cb.setChecked(True)
            cb.setStyleSheet(f"color: {colour}")
            cb.toggled.connect(self._emit_view)
            side_layout.addWidget(cb)
        for box in (self.ex_box, self.tier_box, side_box):
            outer.addWidget(box)
        model_box = QtWidgets.QGroupBox("model (rebuilds the window)")
        form = QtWidgets.QFormLayout(model_box)
        self.window_combo = QtWidgets.QComboBox()
        self.window_combo.addItems(list(WINDOWS_MS))
        self.bin_combo = QtWidgets.QComboBox()
        for p in BIN_PCTS:
            self.bin_combo.addItem(f"{p:g} % of price", p)
        self.decay_combo = QtWidgets.QComboBox()
        self.decay_combo.addItems(list(DECAYS_S))
        form.addRow("time window", self.window_combo)
        form.addRow("bin size", self.bin_combo)
        form.addRow("decay half-life", self.decay_combo)
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
        return self.view.with_(
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
