"""Dialogs of the chart window."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from liqdesk.app.hub import session_scenario
from liqdesk.app.session import Session


class _MarketDialog(QtWidgets.QDialog):
    """A form that asks a symbol (searchable list, or any typed) and a set of venues."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QtWidgets.QFormLayout(self)
        self.symbol_box = QtWidgets.QComboBox()
        self.symbol_box.setEditable(True)
        self.symbol_box.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        self.checks: dict[str, QtWidgets.QCheckBox] = {}

    def add_symbols(self, symbols) -> None:
        self.symbol_box.addItems(list(symbols))
        completer = self.symbol_box.completer()
        completer.setFilterMode(QtCore.Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        self.form.addRow("Symbol:", self.symbol_box)

    def add_venues(self, label: str, names, checked) -> None:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for name in names:
            cb = QtWidgets.QCheckBox(name)
            cb.setChecked(name in checked)
            row.addWidget(cb)
            self.checks[name] = cb
        self.form.addRow(label, box)

    def add_buttons(self) -> None:
        bb = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                        | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        self.form.addRow(bb)

    def symbol(self) -> str:
        return self.symbol_box.currentText().strip()

    def venues(self) -> tuple[str, ...]:
        return tuple(n for n, cb in self.checks.items() if cb.isChecked())


class NewWindowDialog(_MarketDialog):
    """Window → New chart window: the symbol (searchable list, or any typed) and the venues."""

    def __init__(self, session: Session, parent=None):
        super().__init__("New chart window", parent)
        from liqdesk.core.events import EXCHANGES

        settings = session.engine.settings
        self.add_symbols(dict.fromkeys([settings.symbol, *_shipped_symbols()]))
        self.symbol_box.setEnabled(not session.is_replay)
        self.symbol_box.setToolTip("the market to chart; a replay shows the symbol of its file")
        self.add_venues("Venues:", settings.exchanges if session.is_replay else EXCHANGES, settings.exchanges)
        self.scenario_box: QtWidgets.QComboBox | None = None
        if session.kind == "sim":
            self.add_scenarios(session_scenario(session))
        self.add_buttons()

    def add_scenarios(self, current: str | None) -> None:
        """The simulator's market presets (the default market first), the session's selected."""
        from liqdesk.sim.scenarios import SCENARIOS

        box = self.scenario_box = QtWidgets.QComboBox()
        box.addItem("default market", None)
        for s in SCENARIOS.values():
            box.addItem(s.name, s.name)
            box.setItemData(box.count() - 1, s.description, QtCore.Qt.ItemDataRole.ToolTipRole)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.setToolTip("the simulated market: a regime (calm, trend, crash) or a trader population "
                       "(lowlev, highlev); another preset opens a simulator of its own")
        self.form.addRow("Scenario:", box)

    def scenario(self) -> str | None:
        """The picked simulator preset (None: the default market, or not a simulator)."""
        return self.scenario_box.currentData() if self.scenario_box is not None else None


def _shipped_symbols() -> tuple[str, ...]:
    try:
        from liqdesk.core.markets import SHIPPED_SYMBOLS
    except ImportError:
        return ("BTC/USDT:USDT", "ETH/USDT:USDT")
    return tuple(SHIPPED_SYMBOLS)


class ConnectDialog(_MarketDialog):
    """File → Connect: the exchanges and the symbol of a live chart. Symbols come from the
    exchanges' own market lists when a live session has loaded them (searchable; any typed
    linear USDT perpetual is accepted), else from liqdesk's shipped list."""

    def __init__(self, session: Session, hub=None, parent=None):
        super().__init__("Connect to the live market", parent)
        from liqdesk.sources.live.source import ADAPTER_MODULES, DEFAULT_EXCHANGES

        self.add_symbols(live_symbols(hub, session.engine.settings.symbol))
        self.add_venues("Exchanges:", ADAPTER_MODULES, DEFAULT_EXCHANGES)
        note = QtWidgets.QLabel("public data only: no account or API key is used")
        note.setStyleSheet("color: gray")
        self.form.addRow(note)
        self.add_buttons()


def live_symbols(hub, current: str) -> list[str]:
    """Linear USDT perpetuals the running live sessions' exchanges list (their own market lists),
    the current symbol and the shipped ones first."""
    found: set[str] = set()
    for session in (hub.sessions if hub is not None else []):
        for symbols in (getattr(getattr(session, "source", None), "market_symbols", None) or {}).values():
            found.update(s for s in symbols if s.endswith("/USDT:USDT"))
    return list(dict.fromkeys([current, *_shipped_symbols(), *sorted(found)]))
