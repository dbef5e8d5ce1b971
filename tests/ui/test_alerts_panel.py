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
