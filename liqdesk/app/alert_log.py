"""Alerts in a chart session: the user's rules loaded, a monitor on the session's engine, and the
alert log file every firing is appended to (no Qt; the window adds the dock, notification and
sound)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .alert_rules import Rule, RuleError, alert_log_path, load_rules, user_rules_path
from .alerts import Alert, AlertMonitor


class AlertLog:
    """Appends one line per alert (:meth:`Alert.line`) to ``path``. A write that fails is said
    once through ``on_error`` and the alerts go on (the dock still shows them)."""

    def __init__(self, path, on_error: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.on_error = on_error
        self.failed = False

    def append(self, alert: Alert) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(alert.line() + "\n")
            self.failed = False
        except OSError as exc:
            if not self.failed and self.on_error is not None:
                self.on_error(f"could not write the alert log {self.path}: {exc.strerror or exc}")
            self.failed = True


def load_user_rules(path=None) -> tuple[list[Rule], str | None]:
    """The user's rules (``alerts.toml`` in the config folder): (rules, None); no file: ([],
    None); a file that cannot be used: ([], one line saying why), so the window still opens."""
    p = Path(path) if path is not None else user_rules_path()
    if not p.exists():
        return [], None
    try:
        return load_rules(p), None
    except RuleError as exc:
        return [], f"alerts off: {exc}"


def watch(session, rules: list[Rule], log_path=None) -> AlertMonitor:
    """Put an :class:`AlertMonitor` with ``rules`` on ``session``'s engine (or give it the new
    rules if it has one), paused while the session catches up (a seek, the simulator's history),
    its firings appended to the alert log (``log_path``, default ``alerts.log`` in the config
    folder)."""
    engine = session.engine
    monitor = engine.alerts
    if monitor is not None:
        monitor.set_rules(rules)
        return monitor
    monitor = AlertMonitor(rules, engine.settings.symbol)
    monitor.paused = lambda: session.seek is not None or session.history is not None
    monitor.on_error = session.message
    log = AlertLog(log_path or alert_log_path(), on_error=session.message)
    monitor.listeners.append(log.append)
    monitor.log = log
    engine.alerts = monitor
    return monitor
