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


class ChartAlerts:
    """A chart window's alert commands: the Alerts menu (edit rules, sound, notifications) and
    right-click on the heatmap or the ladder → "alert when price reaches here" / "alert on this
    cluster". Rules are saved to the user's ``alerts.toml`` and applied to every open market."""

    def __init__(self, win):
        self.win = win
        mb = win.menuBar()
        self.menu = QtWidgets.QMenu("&Alerts", win)
        before = mb.actions()[-1] if mb.actions() else None    # before Help
        mb.insertMenu(before, self.menu) if before is not None else mb.addMenu(self.menu)
        self.menu.addAction("Edit rules…", self.edit_rules)
        out = AlertOutput.instance()
        sound = self.menu.addAction("Sound")
        sound.setCheckable(True)
        sound.setChecked(out.sound_on)
        sound.toggled.connect(lambda on: setattr(AlertOutput.instance(), "sound_on", bool(on)))
        notify = self.menu.addAction("Desktop notifications")
        notify.setCheckable(True)
        notify.setChecked(out.notify_on)
        notify.toggled.connect(lambda on: setattr(AlertOutput.instance(), "notify_on", bool(on)))
        win.heatmap.plot.scene().sigMouseClicked.connect(self._heatmap_clicked)
        ladder = win.ladder.ladder
        ladder.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        ladder.customContextMenuRequested.connect(self._ladder_menu)

    # ------------------------------------------------------------------ rules
    def current_rules(self) -> list | None:
        """The user's rules, or None (said) when the file cannot be used: it is not overwritten."""
        from liqdesk.app.alert_rules import user_rules_path

        rules, note = load_user_rules()
        if note:
            QtWidgets.QMessageBox.warning(self.win, "Alert rules",
                                          f"{note}\n\nFix {user_rules_path()} first: it is left as it is.")
            return None
        return rules

    def apply(self, rules: list) -> str | None:
        """Save ``rules`` and give them to every open market; a note when they could not be saved."""
        from liqdesk.app.alert_rules import save_rules, user_rules_path

        try:
            save_rules(rules, user_rules_path())
            note = None
        except OSError as exc:
            note = f"could not save the alert rules: {exc}"
        hub = self.win.hub
        sessions = list(hub.sessions) if hub is not None else []
        if self.win.session not in sessions:
            sessions.append(self.win.session)
        for session in sessions:
            monitor, _ = attach(session)
            monitor.set_rules(rules)
        self.win.alerts.refresh(self.win.session.engine.alerts)
        self.win.alerts._say_rules(self.win.session.engine.alerts)
        if note:
            self.win.status.showMessage(note, 10000)
        return note

    def edit_rules(self) -> None:
        from .alert_editor import edit_rules

        rules = self.current_rules()
        if rules is None:
            return
        new = edit_rules(self.win, rules, self.win.session.engine)
        if new is not None:
            self.apply(new)

    def add_price_alert(self, price: float):
        from liqdesk.app.alert_probe import price_rule

        rules = self.current_rules()
        if rules is None:
            return None
        rule = price_rule(self.win.session.engine.settings.symbol, price, [r.name for r in rules])
        self.apply(rules + [rule])
        self.win.status.showMessage(f"alert added: {rule.name}", 8000)
        return rule

    def add_cluster_alert(self, price: float):
        from liqdesk.app.alert_probe import cluster_at, cluster_rule

        cluster = cluster_at(self.win.session.engine, price)
        if cluster is None:
            self.win.status.showMessage("no cluster there", 5000)
            return None
        rules = self.current_rules()
        if rules is None:
            return None
        rule = cluster_rule(self.win.session.engine.settings.symbol, cluster, [r.name for r in rules])
        self.apply(rules + [rule])
        self.win.status.showMessage(f"alert added: {rule.name} (price within 0.3 % of it)", 8000)
        return rule

    # ------------------------------------------------------------------ right-click
    def context_menu(self, price: float) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu(self.win)
        menu.addAction(f"Alert when price reaches {scaling.fmt_price(price)}", lambda: self.add_price_alert(price))
        menu.addAction("Alert on this cluster", lambda: self.add_cluster_alert(price))
        return menu

    def _heatmap_clicked(self, ev) -> None:
        if ev.button() != QtCore.Qt.MouseButton.RightButton:
            return
        vb = self.win.heatmap.vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        price = float(vb.mapSceneToView(ev.scenePos()).y())
        self.context_menu(price).popup(ev.screenPos().toPoint())

    def _ladder_menu(self, pos) -> None:
        view = self.win.ladder.ladder
        d = view.data
        if d is None:
            return
        edges, step = d[0], d[10]
        row = int(pos.y() // view.row_h) - 1
        if 0 <= row < len(edges):
            self.context_menu(float(edges[row]) + step / 2).popup(view.mapToGlobal(pos))
