"""The Alerts dock: a replay in the window lists the same alerts as ``liqdesk alerts`` on that
session, each with a notification, a sound and a line in the alert log; clicking a line moves the
chart there; a bad rules file is said and the window opens without alerts."""

from __future__ import annotations

import pytest

from tests.app.test_alerts_command import LOW_RULES, write_short_session


class FakeOutput:
    """Stands for the application's AlertOutput: records the requests instead of making noise."""

    def __init__(self):
        self.requests = []
        self.sound_on = self.notify_on = True

    def alert(self, alert) -> bool:
        self.requests.append(("notify", alert.rule, alert.detail))
        self.requests.append(("sound", alert.side))
        return True


@pytest.fixture(scope="module")
def short_session(tmp_path_factory):
    return write_short_session(tmp_path_factory.mktemp("alerts_ui") / "short.liqs")


@pytest.fixture
def rules_config(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    (config / "alerts.toml").write_text(LOW_RULES)
    monkeypatch.setenv("LIQDESK_CONFIG_DIR", str(config))
    return config


def test_a_replay_in_the_window_lists_what_liqdesk_alerts_prints(themed, qtbot, short_session, store,
                                                                   rules_config, monkeypatch):
    from liqdesk.app.alert_rules import parse_rules
    from liqdesk.app.alerts import replay_alerts
    from liqdesk.main import open_reader, replay_session, replay_settings
    from liqdesk.ui import alert_sound
    from liqdesk.ui.chart_window import ChartWindow, FrameClock

    reader = open_reader(short_session)
    expected = replay_alerts(reader, parse_rules(LOW_RULES), replay_settings(reader))
    assert len(expected) > 10
    output = FakeOutput()
    monkeypatch.setattr(alert_sound.AlertOutput, "_instance", output)
    session = replay_session(short_session, speed=600)   # about 2 s: batches of every size
    clock = FrameClock(session)
    win = ChartWindow(session, clock, store, restore=False)
    qtbot.addWidget(win)
    session.start()
    session.play()
    clock.start()
    try:
        qtbot.waitUntil(lambda: session.source.finished and session.inbox.queue.empty()
                        and len(win.alerts.shown) >= len(expected), timeout=60_000)
        qtbot.wait(200)
    finally:
        clock.stop()
        session.stop()
    assert win.alerts.shown == expected
    assert win.alerts.table.rowCount() == len(expected)
    assert win.alerts.table.item(0, 2).text() == expected[0].rule
    # one notification and one sound (long or short) per alert, one log line each
    assert [r for r in output.requests if r[0] == "notify"] == [("notify", a.rule, a.detail) for a in expected]
    assert [r[1] for r in output.requests if r[0] == "sound"] == [a.side for a in expected]
    log = (rules_config / "alerts.log").read_text().splitlines()
    assert log == [a.line() for a in expected]


def test_clicking_an_alert_moves_the_chart_there(window, qtbot):
    from liqdesk.app.alerts import Alert, AlertMonitor

    engine = window.session.engine
    t = engine.now_ms - 15 * 60_000
    monitor = AlertMonitor([], engine.settings.symbol)
    monitor.alerts.append(Alert(t, engine.settings.symbol, "near", "near_cluster", "long", 60_000.0, "a detail"))
    monitor.fired = 1
    window.alerts.refresh(monitor)
    assert window.alerts.table.rowCount() == 1
    window.heatmap.set_follow(True)
    window.alerts.table.cellClicked.emit(0, 3)
    (x0, x1), (y0, y1) = window.heatmap.vb.viewRange()
    assert abs((x0 + x1) / 2 - t / 1000) < 1 and abs((y0 + y1) / 2 - 60_000.0) < 1
    assert not window.heatmap.follow


def test_a_bad_rules_file_is_said_and_the_window_opens_without_alerts(window, tmp_path, monkeypatch):
    from liqdesk.ui.alerts_panel import attach

    (tmp_path / "alerts.toml").write_text('[[rule]]\nname = "x"\nkind = "asymmetry"\n')
    monkeypatch.setenv("LIQDESK_CONFIG_DIR", str(tmp_path))
    window.session.engine.alerts = None
    monitor, note = attach(window.session)
    assert monitor.rules == [] and "rule 'x' (#1), field 'ratio': required" in note
    assert window.session.messages[-1] == note


def test_sounds_are_distinct_wav_files_and_notifications_fall_back_without_a_tray(themed, tmp_path):
    import wave

    from liqdesk.ui.alert_sound import AlertOutput

    out = AlertOutput(sound_folder=tmp_path)
    played = []
    out._play = played.append
    out.play("long")
    out.play("short")
    assert [r[1] for r in out.requests] == ["long", "short"] and played == [r[2] for r in out.requests]
    long_wav, short_wav = (p.read_bytes() for p in played)
    assert long_wav != short_wav
    with wave.open(str(played[0])) as w:
        assert w.getnchannels() == 1 and 0.2 < w.getnframes() / w.getframerate() < 1.0
    shown = out.notify("liqdesk: near", "a detail")
    assert out.requests[-1] == ("notify", "liqdesk: near", "a detail", shown)
    assert shown is False   # offscreen: no system tray, nothing raised


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQDESK_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_right_click_adds_a_price_alert_and_a_cluster_alert(window, user_config):
    from liqdesk.app.alert_rules import load_rules

    engine = window.session.engine
    mark = engine.model.mark_price()
    menu = window.alert_commands.context_menu(mark * 1.01)
    texts = [a.text() for a in menu.actions()]
    assert texts[0].startswith("Alert when price reaches ") and texts[1] == "Alert on this cluster"
    rule = window.alert_commands.add_price_alert(mark * 1.01)
    assert rule.kind == "price_level" and rule.price == pytest.approx(mark * 1.01)
    # click on the brightest long bin under the price
    import numpy as np

    from liqdesk.app.alert_probe import moment_now

    view = moment_now(engine).view(engine.settings.exchanges)
    centres = view.edges + view.width / 2
    longs = np.where(centres < view.price, view.levels[0], 0)
    at = float(centres[int(np.argmax(longs))])
    cluster = window.alert_commands.add_cluster_alert(at)
    assert cluster.kind == "near_cluster" and cluster.side == "long"
    assert cluster.price_low <= at <= cluster.price_high and cluster.min_usd > 0
    saved = load_rules(user_config / "alerts.toml")
    assert [r.name for r in saved] == [rule.name, cluster.name]
    assert [r.name for r in engine.alerts.rules] == [rule.name, cluster.name]
    # a second one at the same price gets a name of its own
    again = window.alert_commands.add_price_alert(mark * 1.01)
    assert again.name == f"{rule.name} (2)"


def test_a_bad_rules_file_is_never_overwritten_by_a_right_click(window, user_config, monkeypatch):
    from PySide6 import QtWidgets

    (user_config / "alerts.toml").write_text("[[rule]\nbroken")
    warned = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert window.alert_commands.add_price_alert(60_000.0) is None
    assert (user_config / "alerts.toml").read_text() == "[[rule]\nbroken"
    assert "not valid TOML" in warned[0]


def test_the_rules_editor_adds_edits_tests_and_deletes(window, qtbot):
    from liqdesk.app.alert_rules import example_rules_path, load_rules
    from liqdesk.ui.alert_editor import RulesEditor

    rules = load_rules(example_rules_path())
    dlg = RulesEditor(rules, window.session.engine, window)
    qtbot.addWidget(dlg)
    assert dlg.list.count() == len(rules) and dlg.edits["name"].text() == rules[0].name
    dlg.edits["min_usd"].setText("lots")
    dlg.add_rule()                               # refused: the form is bad
    assert dlg.list.count() == len(rules) and "field 'min_usd': must be a number" in dlg.result.text()
    dlg.edits["min_usd"].setText("20_000")
    assert "would" in dlg.test_rule()            # near cluster: "would (not) fire now"
    assert dlg.rules[0].min_usd == 20_000
    dlg.add_rule()
    assert dlg.list.count() == len(rules) + 1 and dlg.rules[-1].name == "new rule"
    dlg.kind.setCurrentText("liquidation_burst")
    dlg.edits["name"].setText("burst on okx")
    dlg.edits["venues"].setText('["okx"]')
    dlg.edits["min_usd"].setText("250000")
    assert dlg.test_rule() in ("would not fire now",) or dlg.test_rule().startswith("would fire now")
    dlg.list.setCurrentRow(1)
    dlg.delete_rule()
    dlg.accept()
    names = [r.name for r in dlg.rules]
    assert rules[1].name not in names and "burst on okx" in names
    burst = dlg.rules[-1]
    assert burst.kind == "liquidation_burst" and burst.venues == ("okx",) and burst.min_usd == 250_000


def test_a_layout_saved_before_the_alerts_dock_existed_still_shows_it(window, qtbot, store):
    from liqdesk.ui.chart_window import LAYOUT_VERSION, ChartWindow

    window.show()
    window.removeDockWidget(window.docks["alerts"])     # the dock set of earlier versions
    old = window.saveState(LAYOUT_VERSION)
    assert b"dock-alerts" not in bytes(old)
    again = ChartWindow(window.session, None, store, restore=False)
    qtbot.addWidget(again)
    again.show()
    assert again.restoreState(old, LAYOUT_VERSION)
    qtbot.wait(20)
    dock = again.docks["alerts"]
    assert dock.isVisible() and dock.width() > 50 and dock.height() > 50
