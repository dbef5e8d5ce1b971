"""The alert rules editor (Alerts → Edit rules…): add, edit, test against the chart's current
state, delete; saved to ``alerts.toml`` in the config folder and applied to every open market at
once. A field is typed as in the TOML file (``5_000_000``, ``0.5``, ``["binance", "okx"]``,
plain words for choices); an empty field takes the kind's default. A rule that cannot be used is
refused with the same one line as the file would get."""

from __future__ import annotations

import tomllib

from PySide6 import QtCore, QtWidgets

from liqdesk.app.alert_probe import probe
from liqdesk.app.alert_rules import COMMON, KINDS, REQUIRED, Rule, RuleError, parse_rules, toml_value

from . import theme


def _parse_field(text: str):
    """A field's text as a TOML value (a number, list, true/false), else as a string."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


class RulesEditor(QtWidgets.QDialog):
    """Edits a list of rules; ``rules`` after ``exec()`` is accepted holds the result.
    ``engine``: the chart's engine, for "Test now"."""

    def __init__(self, rules: list[Rule], engine=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Alert rules")
        self.resize(820, 520)
        self.rules = list(rules)
        self.engine = engine
        self._current = -1
        outer = QtWidgets.QHBoxLayout(self)
        left = QtWidgets.QVBoxLayout()
        self.list = QtWidgets.QListWidget()
        self.list.currentRowChanged.connect(self._select)
        left.addWidget(self.list, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton("Add")
        self.add_button.clicked.connect(self.add_rule)
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_rule)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.delete_button)
        left.addLayout(buttons)
        outer.addLayout(left, 1)
        right = QtWidgets.QVBoxLayout()
        self.kind = QtWidgets.QComboBox()
        self.kind.addItems(list(KINDS))
        self.kind.currentTextChanged.connect(self._kind_changed)
        kind_row = QtWidgets.QFormLayout()
        kind_row.addRow("kind", self.kind)
        right.addLayout(kind_row)
        self.form_box = QtWidgets.QWidget()
        self.form = QtWidgets.QFormLayout(self.form_box)
        right.addWidget(self.form_box, 1)
        self.result = QtWidgets.QLabel("")
        self.result.setWordWrap(True)
        self.result.setStyleSheet(f"color: {theme.TEXT_DIM}")
        right.addWidget(self.result)
        row = QtWidgets.QHBoxLayout()
        self.test_button = QtWidgets.QPushButton("Test now")
        self.test_button.setToolTip("what this rule reads on the chart's current state, and whether it would fire")
        self.test_button.clicked.connect(self.test_rule)
        self.test_button.setEnabled(engine is not None)
        row.addWidget(self.test_button)
        row.addStretch(1)
        box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        row.addWidget(box)
        right.addLayout(row)
        outer.addLayout(right, 2)
        self.edits: dict[str, QtWidgets.QLineEdit] = {}
        self._fill_list()
        if self.rules:
            self.list.setCurrentRow(0)
        else:
            self._build_form(None)

    # ------------------------------------------------------------------ list
    def _fill_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for r in self.rules:
            self.list.addItem(f"{r.name}  ·  {r.kind}" + ("" if r.enabled else "  (off)"))
        self.list.blockSignals(False)

    def _select(self, row: int) -> None:
        if self._current >= 0 and not self._commit():
            self.list.blockSignals(True)
            self.list.setCurrentRow(self._current)
            self.list.blockSignals(False)
            return
        self._current = row
        self._build_form(self.rules[row] if 0 <= row < len(self.rules) else None)

    def add_rule(self) -> None:
        if self._current >= 0 and not self._commit():
            return
        taken = {r.name for r in self.rules}
        name, i = "new rule", 2
        while name in taken:
            name, i = f"new rule ({i})", i + 1
        self.rules.append(Rule(name=name, kind="near_cluster", min_usd=1_000_000.0, within_pct=0.5,
                               given=("min_usd", "within_pct")))
        self._current = -1
        self._fill_list()
        self.list.setCurrentRow(len(self.rules) - 1)

    def delete_rule(self) -> None:
        row = self._current
        if 0 <= row < len(self.rules):
            del self.rules[row]
            self._current = -1
            self._fill_list()
            if self.rules:
                self.list.setCurrentRow(min(row, len(self.rules) - 1))
            else:
                self._build_form(None)

    # ------------------------------------------------------------------ form
    def _build_form(self, rule: Rule | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.edits = {}
        self.kind.setEnabled(rule is not None)
        if rule is None:
            self.result.setText("no rules: Add makes one")
            return
        self.kind.blockSignals(True)
        self.kind.setCurrentText(rule.kind)
        self.kind.blockSignals(False)
        table = rule.to_table()
        for key in [k for k in COMMON if k != "kind"] + list(KINDS[rule.kind]):
            edit = QtWidgets.QLineEdit()
            value = table.get(key)
            if key == "enabled" and value is None:
                value = True
            if key == "symbol" and value is None:
                value = "all"
            if key == "venues" and value is None:
                value = "all"
            if value is not None:
                edit.setText(value if isinstance(value, str) else toml_value(value))
            default = KINDS[rule.kind].get(key)
            if default is REQUIRED:
                edit.setPlaceholderText("required")
            elif default is not None:
                edit.setPlaceholderText(f"default {toml_value(default)}")
            self.edits[key] = edit
            self.form.addRow(key, edit)
        self.result.setText("")

    def _kind_changed(self, kind: str) -> None:
        if 0 <= self._current < len(self.rules):
            old = self.rules[self._current]
            self.rules[self._current] = Rule(name=old.name, kind=kind, enabled=old.enabled, symbol=old.symbol,
                                             venues=old.venues, cooldown_s=old.cooldown_s)
            self._build_form(self.rules[self._current])

    def rule_from_form(self) -> Rule:
        """The rule the form describes; :class:`RuleError` (one line) when it cannot be used."""
        lines = ["[[rule]]", f"kind = {toml_value(self.kind.currentText())}"]
        for key, edit in self.edits.items():
            text = edit.text().strip()
            if not text:
                continue
            lines.append(f"{key} = {toml_value(_parse_field(text)) if key != 'name' else toml_value(text)}")
        others = {r.name for i, r in enumerate(self.rules) if i != self._current}
        rule = parse_rules("\n".join(lines), "rule")[0]
        if rule.name in others:
            raise RuleError(f"rule '{rule.name}', field 'name': another rule has that name")
        return rule

    def _commit(self) -> bool:
        """Store the form into the current rule; False (and the reason shown) when it is bad."""
        if not (0 <= self._current < len(self.rules)) or not self.edits:
            return True
        try:
            rule = self.rule_from_form()
        except (RuleError, TypeError) as exc:
            self.result.setText(f"<span style='color:{theme.DANGER}'>{exc}</span>")
            return False
        self.rules[self._current] = rule
        item = self.list.item(self._current)
        if item is not None:
            item.setText(f"{rule.name}  ·  {rule.kind}" + ("" if rule.enabled else "  (off)"))
        return True

    def test_rule(self) -> str:
        """Check the form, then say what the rule reads on the chart now."""
        if not self._commit() or not (0 <= self._current < len(self.rules)):
            return self.result.text()
        text = probe(self.rules[self._current], self.engine) if self.engine is not None else "no chart"
        self.result.setText(text)
        return text

    def accept(self) -> None:
        if self._commit():
            super().accept()


def edit_rules(parent, rules: list[Rule], engine) -> list[Rule] | None:
    """Show the editor; the new rules, or None when cancelled."""
    dlg = RulesEditor(rules, engine, parent)
    dlg.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    return dlg.rules if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted else None
