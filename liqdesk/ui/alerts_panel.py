"""The Alerts dock (``app/alerts.py``): every alert of the window's market, newest at the bottom —
time, symbol, rule, price, detail; clicking a line moves the heatmap to that time and price.

The rules run in the engine (:class:`~liqdesk.app.alerts.AlertMonitor`, attached by
:func:`attach`): an alert is fired in the ``ingest`` that shows its cause, and this panel,
refreshed by the same frame, lists it. Each firing also posts a desktop notification and plays
the long or short tone (:mod:`.alert_sound`) once for the application, however many windows
show the market, and is appended to the alert log file.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from liqdesk.app.alert_log import load_user_rules, watch
from liqdesk.app.alerts import Alert, AlertMonitor
from liqdesk.core.timefmt import format_time

from . import scaling, theme
from .alert_sound import AlertOutput

COLUMNS = ("time", "symbol", "rule", "price", "detail")
MAX_ROWS = 2_000


def attach(session, output: AlertOutput | None = None, rules_path=None) -> tuple[AlertMonitor, str | None]:
    """The session's alert monitor, made on first use with the user's rules (a rules file that
    cannot be used: no rules, and the one-line reason returned for the status bar). Each firing
    goes to ``output`` (notification and sound) once."""
    monitor = session.engine.alerts
    if monitor is not None:
        return monitor, None
    rules, note = load_user_rules(rules_path)
    monitor = watch(session, rules)
    out = output or AlertOutput.instance()

    def fired(alert: Alert) -> None:
        if not out.alert(alert):
            session.message(f"alert: {alert.rule} — {alert.detail}")
    monitor.listeners.append(fired)
    if note:
        session.message(note)
    return monitor, note


class AlertsPanel(QtWidgets.QWidget):
    """The list of alerts. ``jumpRequested(time_ms, price)`` when a line is clicked."""

    jumpRequested = QtCore.Signal(object, float)   # (time ms: past 32 bits, so not int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("alertsPanel")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.summary = QtWidgets.QLabel("no alert rules (Alerts → Edit rules…)")
        self.summary.setStyleSheet(f"color: {theme.TEXT_DIM}")
        self.summary.setWordWrap(True)   # a narrow column must not widen the window's side panels
        self.summary.setMinimumWidth(60)
        layout.addWidget(self.summary)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(QtGui.QFontMetrics(theme.mono_font(8.5)).height() + 6)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setFont(theme.mono_font(8.5))
        self.table.setMinimumSize(60, 40)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        header = self.table.horizontalHeader()
        for i in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(i, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.cellClicked.connect(self._clicked)
        layout.addWidget(self.table, 1)
        self.shown: list[Alert] = []
        self._seen = 0
        self._monitor: AlertMonitor | None = None

    def refresh(self, monitor: AlertMonitor | None) -> int:
        """Add the alerts fired since the last call; returns how many were added."""
        if monitor is not self._monitor:
            self._monitor, self._seen = monitor, 0
            self.shown.clear()
            self.table.setRowCount(0)
            self._say_rules(monitor)
        if monitor is None or monitor.fired == self._seen:
            return 0
        new = monitor.alerts[-min(len(monitor.alerts), monitor.fired - self._seen):]
        self._seen = monitor.fired
        for alert in new:
            self._add(alert)
        excess = self.table.rowCount() - MAX_ROWS
        if excess > 0:
            for _ in range(excess):
                self.table.removeRow(0)
            del self.shown[:excess]
        self.table.scrollToBottom()
        self._say_rules(monitor)
        return len(new)

    def _say_rules(self, monitor: AlertMonitor | None) -> None:
        if monitor is None or not monitor.rules:
            self.summary.setText("no alert rules for this market (Alerts → Edit rules…)")
        else:
            n = len(monitor.rules)
            self.summary.setText(f"{n} rule{'s' if n != 1 else ''} watching · {len(self.shown)} alerts "
                                 f"· click a line to see it on the chart")

    def _add(self, alert: Alert) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        colour = QtGui.QColor(theme.LONG if alert.side == "long" else theme.SHORT if alert.side == "short"
                              else theme.TEXT)
        values = (format_time(alert.time_ms).replace("T", " ").rstrip("Z"), alert.symbol.split(":")[0],
                  alert.rule, scaling.fmt_price(alert.price), alert.detail)
        for col, text in enumerate(values):
            item = QtWidgets.QTableWidgetItem(text)
            if col in (2, 4):
                item.setForeground(colour)
            item.setToolTip(f"{alert.kind}: {alert.detail}")
            self.table.setItem(row, col, item)
        self.shown.append(alert)

    def _clicked(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.shown):
            a = self.shown[row]
            self.jumpRequested.emit(int(a.time_ms), float(a.price))


def jump_to(heatmap, time_ms: int, price: float) -> None:
    """Centre ``heatmap`` on (time, price) keeping its zoom, and stop following the live edge."""
    heatmap.set_follow(False)
    (x0, x1), (y0, y1) = heatmap.vb.viewRange()
    t = time_ms / 1000.0
    half_x, half_y = (x1 - x0) / 2, (y1 - y0) / 2
    heatmap.vb.setXRange(t - half_x, t + half_x, padding=0)
    if price == price:   # not NaN
        heatmap.vb.setYRange(price - half_y, price + half_y, padding=0)
