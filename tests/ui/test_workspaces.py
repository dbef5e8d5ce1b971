"""Workspaces in the window: every chart window saved by name and reopened as it was, on the
screens there are; Ctrl+W and the shortcuts in every window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_window_left():
    """Windows this module opened (second windows delete themselves on close) are closed after
    each test, passed or failed."""
    yield
    from liqdesk.ui.workspaces import chart_windows

    for w in chart_windows():
        w.close_alone()


@pytest.fixture
def hub():
    """A session hub on short simulator histories (each symbol its own simulator)."""
    from liqdesk.app.hub import SessionHub
    from liqdesk.main import sim_session

    hub = SessionHub(lambda spec: sim_session(spec.symbol, spec.venues, history_ms=120_000, scenario=spec.scenario))
    yield hub
    hub.stop_all()


@pytest.fixture
def replay_window(themed, qtbot, session_path, store):
    """A chart window replaying the test session, its hub opening more replays."""
    from liqdesk.app.hub import SessionHub
    from liqdesk.main import replay_session
    from liqdesk.ui.chart_window import ChartWindow

    hub = SessionHub(lambda spec: replay_session(spec.path, exchanges=spec.venues))
    session = hub.adopt(replay_session(session_path))
    win = ChartWindow(session, None, store, restore=False, hub=hub)
    qtbot.addWidget(win)
    yield win
    hub.stop_all()


@pytest.fixture
def wstore(tmp_path):
    from liqdesk.app.workspace_store import WorkspaceStore

    return WorkspaceStore(tmp_path / "workspaces.json")


def _main_window(hub, store, wstore, qtbot, symbol=None):
    from liqdesk.main import sim_session
    from liqdesk.ui.chart_window import ChartWindow

    session = hub.adopt(sim_session(symbol, history_ms=120_000))
    session.start()
    win = ChartWindow(session, None, store, restore=False, hub=hub)
    win.workspaces.store = wstore
    qtbot.addWidget(win)
    return win


def _wait_settled(qtbot, windows):
    """Pump the sessions until their history and any rebuild are done."""
    def settled():
        for w in windows:
            w.session.pump(0.05)
        return all(w.session.history is None and w.session.rebuild is None for w in windows)
    qtbot.waitUntil(settled, timeout=60_000)


def _visible(widget) -> bool:
    """Whether ``widget``'s frame is as visible as it can be on its screen: wholly on it, or, when
    its content needs more than the screen (the offscreen screen is 800 px square), over all of
    the screen's width or height with its top-left corner (the title bar) on it."""
    frame = widget.frameGeometry()
    area = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    seen = frame.intersected(area)
    return (area.contains(frame.topLeft()) and seen.width() >= min(frame.width(), area.width())
            and seen.height() >= min(frame.height(), area.height()))


def _put(win, x, y, width, height):
    """Give ``win`` this geometry, moved left or up as needed to stay on its screen at the size it
    takes (no smaller than its content allows)."""
    QtWidgets.QApplication.processEvents()
    hint = win.minimumSizeHint()
    width, height = max(width, hint.width()), max(height, hint.height())
    area = win.screen().availableGeometry()
    frame = 2                                    # the offscreen platform's frame, on each side
    x = max(area.left() + frame, min(x, area.right() + 1 - width - frame))
    y = max(area.top() + frame, min(y, area.bottom() + 1 - height - frame))
    win.setGeometry(x, y, width, height)
    QtWidgets.QApplication.processEvents()
    assert QtGui.QGuiApplication.primaryScreen().availableGeometry().contains(win.frameGeometry())


def _close_all(windows):
    for w in windows:
        if not w._closed:
            w.close_alone()


def test_a_workspace_of_three_windows_on_three_symbols_round_trips_through_save_and_open(
        themed, qtbot, hub, store, wstore):
    from liqdesk.ui.workspaces import capture_window, chart_windows

    btc = _main_window(hub, store, wstore, qtbot)
    btc.show()
    eth = btc.open_window(("binance", "okx"), symbol="ETH/USDT:USDT")
    sol = btc.open_window(None, symbol="SOL/USDT:USDT", scenario="crash")
    eth.filters.window_combo.setCurrentText("1d")
    eth.filters.decay_combo.setCurrentText("1h")
    sol.filters.bin_combo.setCurrentIndex(sol.filters.bin_combo.findData(0.1))
    sol.filters.long_cb.setChecked(False)
    sol.set_view(sol.view.with_(scale="log", candle_ms=300_000))
    eth.filters.ex_checks["okx"].setChecked(False)          # the session has both; the view shows one
    sol.docks["ladder"].setFloating(True)
    sol.docks["ladder"].setGeometry(300, 320, 260, 300)
    sol.docks["stats"].hide()
    _wait_settled(qtbot, [btc, eth, sol])
    for w in (btc, eth, sol):
        w.on_frame(force=True)
    for w in (btc, eth, sol):
        # its messages can make a window's minimum width larger than the 800-px offscreen screen
        # (a window wider than its screen cannot be put back where it was, only on the screen)
        w.statusBar().hide()
    _put(btc, 10, 40, 660, 420)
    _put(eth, 120, 150, 670, 450)
    _put(sol, 60, 300, 680, 480)
    btc.heatmap.set_follow(False)
    btc.heatmap.vb.setXRange(btc.heatmap.vb.viewRange()[0][0] - 600, btc.heatmap.vb.viewRange()[0][1] - 600,
                             padding=0)
    before = [capture_window(w) for w in chart_windows()]
    assert [b.symbol for b in before] == ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]

    assert btc.workspaces.save("desk") is None
    assert wstore.last() == "desk"
    _close_all([btc, eth, sol])
    assert chart_windows() == []

    other = _main_window(hub, store, wstore, qtbot, symbol="XRP/USDT:USDT")
    other.show()
    opened = other.workspaces.open("desk")
    # where they were put (their content, filling in later, may ask for a larger minimum size)
    placed = [capture_window(w).geometry for w in opened]
    assert other._closed, "the windows open before are closed, the workspace's take their place"
    assert chart_windows() == opened
    _wait_settled(qtbot, opened)
    after = [capture_window(w) for w in opened]
    assert [a.symbol for a in after] == [b.symbol for b in before]
    assert placed == [b.geometry for b in before]
    for a, b in zip(after, before, strict=True):
        assert (a.kind, a.venues, a.scenario, a.exchanges, a.tiers, a.long, a.short, a.scale, a.candle_ms) == \
            (b.kind, b.venues, b.scenario, b.exchanges, b.tiers, b.long, b.short, b.scale, b.candle_ms)
        assert (a.window, a.bin_pct, a.decay, a.follow) == (b.window, b.bin_pct, b.decay, b.follow)
        assert a.time_range_s == pytest.approx(b.time_range_s) if b.time_range_s else a.time_range_s is None
    e, s = opened[1], opened[2]
    assert e.session.engine.settings.column_ms == 60_000 and e.session.engine.settings.decay_half_life_s == 3600
    assert e.view.exchanges == ("binance",) and not e.filters.ex_checks["okx"].isChecked()
    assert s.session.source.params.scenario == "crash" and s.session.engine.settings.bin_width_pct == 0.1
    assert s.docks["ladder"].isFloating() and s.docks["stats"].isHidden()
    assert not opened[0].heatmap.follow
    _close_all(opened)


def _workspace_on_three_monitors(tmp_path, session_path) -> Path:
    """Save a workspace in another liqdesk process that has three monitors: windows and a floating
    dock on the middle and right ones. Returns the workspaces file."""
    config = tmp_path / "screens.json"
    screens = [{"name": name, "x": x, "y": 0, "width": w, "height": h, "logicalDpi": 96, "logicalBaseDpi": 96,
                "dpr": 1} for name, x, w, h in (("left", 0, 1920, 1080), ("middle", 1920, 2560, 1440),
                                                 ("right", 4480, 1920, 1080))]
    config.write_text(json.dumps({"screens": screens}))
    out = tmp_path / "workspaces.json"
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tests.ui.workspace_screens", str(session_path), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def test_a_workspace_saved_on_three_monitors_opens_visible_on_one(replay_window, tmp_path, session_path):
    from liqdesk.app.workspace_store import WorkspaceStore

    wstore = WorkspaceStore(_workspace_on_three_monitors(tmp_path, session_path))
    saved = wstore.load("three")
    assert [w.screen for w in saved.windows] == ["left", "middle", "right"]
    assert saved.windows[2].geometry.x > 4480
    assert len(QtGui.QGuiApplication.screens()) == 1

    replay_window.workspaces.store = wstore
    replay_window.show()
    opened = replay_window.workspaces.open("three")
    assert len(opened) == 3
    for win in opened:
        assert win.isVisible()
        assert _visible(win), win.frameGeometry()
    floating = opened[2].docks["ladder"]
    assert floating.isFloating() and floating.isVisible()
    assert _visible(floating), floating.frameGeometry()
    _close_all(opened)


@pytest.mark.parametrize("damage", ["not json", "oversized", "deep", "wrong shape", "bad dock state"])
def test_a_damaged_workspace_gives_a_message_and_leaves_the_windows_as_they_are(
        replay_window, qtbot, tmp_path, damage):
    from liqdesk.app.workspace_store import MAX_FILE_BYTES, WorkspaceStore
    from liqdesk.ui.workspaces import chart_windows

    window = replay_window
    wstore = WorkspaceStore(tmp_path / "workspaces.json")
    window.workspaces.store = wstore
    window.show()
    assert window.workspaces.save("desk") is None
    doc = json.loads(wstore.path.read_text())
    if damage == "not json":
        wstore.path.write_text('{"format": "liqdesk-workspaces", "version": 1, "workspaces": {"desk": [')
    elif damage == "oversized":
        wstore.path.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    elif damage == "deep":
        wstore.path.write_text('{"format": "liqdesk-workspaces", "version": 1, "x": ' + "[" * 100_000
                               + "]" * 100_000 + "}")
    elif damage == "wrong shape":
        doc["workspaces"]["desk"]["windows"][0]["view"]["long"] = "yes"
        wstore.path.write_text(json.dumps(doc))
    else:
        import base64

        doc["workspaces"]["desk"]["windows"][0]["docks"] = base64.b64encode(b"\x00\x00\x00\xff" + b"\x7f" * 40).decode()
        wstore.path.write_text(json.dumps(doc))
    opened = window.workspaces.open("desk")
    message = window.statusBar().currentMessage() if not opened else opened[0].statusBar().currentMessage()
    assert message and "\n" not in message
    if damage == "bad dock state":      # the window opens; its docks are the default ones
        assert len(opened) == 1 and "dock layout is unreadable" in message
        assert all(not d.isFloating() and not d.isHidden() for d in opened[0].docks.values())
        opened[0].close_alone()
    else:
        assert opened == [] and not window._closed and chart_windows() == [window]
        expected = {"not json": "not JSON", "oversized": "bytes", "deep": "nested too deeply",
                    "wrong shape": "view long"}[damage]
        assert expected in message, message


def _second_window_active(window, qtbot):
    """The window shown, a second chart window (Binance) opened and made the active one."""
    window.show()
    qtbot.waitExposed(window)
    second = window.open_window(("binance",))
    qtbot.waitExposed(second)
    second.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is second)
    return second


def test_ctrl_w_closes_only_the_focused_window(window, qtbot):
    from PySide6.QtTest import QTest

    second = _second_window_active(window, qtbot)
    QTest.keyClick(QtWidgets.QApplication.focusWidget() or second, QtCore.Qt.Key.Key_W,
                   QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: second._closed)
    assert not window._closed and window.isVisible()
    # and the main window alone, the other one open
    third = window.open_window(("okx",))
    qtbot.waitExposed(third)
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    QTest.keyClick(QtWidgets.QApplication.focusWidget() or window, QtCore.Qt.Key.Key_W,
                   QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window._closed)
    assert not third._closed and third.isVisible()
    third.close_alone()


def test_a_shortcut_works_in_the_second_window(window, qtbot):
    from PySide6.QtTest import QTest

    second = _second_window_active(window, qtbot)
    scale = second.view.scale
    QTest.keyClick(QtWidgets.QApplication.focusWidget() or second, QtCore.Qt.Key.Key_L)
    assert second.view.scale != scale and window.view.scale == scale
    # and in a dock of the second window floating on its own (a window of its own)
    dock = second.docks["ladder"]
    dock.setFloating(True)
    dock.show()
    qtbot.waitExposed(dock)
    dock.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is dock)
    scale = second.view.scale
    QTest.keyClick(QtWidgets.QApplication.focusWidget() or dock, QtCore.Qt.Key.Key_L)
    assert second.view.scale != scale and window.view.scale != second.view.scale
    second.close()


def _liqdesk(*args, config: Path, timeout=120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LIQDESK_CONFIG_DIR=str(config))
    return subprocess.run([sys.executable, "-m", "liqdesk", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def test_liqdesk_workspace_opens_its_windows_and_says_in_one_line_what_it_left_out(session_path, tmp_path):
    from liqdesk.app.workspace import ChartLayout, Rect, Workspace
    from liqdesk.app.workspace_store import WorkspaceStore

    store = WorkspaceStore(tmp_path / "workspaces.json")
    replay = ChartLayout(kind="replay", symbol="BTCUSDT", path=str(session_path), scale="log",
                         geometry=Rect(5000, 100, 700, 600), screen="gone", screen_geometry=Rect(4480, 0, 1920, 1080))
    gone = ChartLayout(kind="replay", symbol="BTCUSDT", path=str(tmp_path / "moved.liqs"))
    damaged = ChartLayout(kind="replay", symbol="BTCUSDT", path=str(session_path), exchanges=("okx",),
                          docks=b"\x00\x00\x00\xff\x00\x00\x00\x03\x7f")
    assert store.save("desk", Workspace((gone, replay, damaged))) is None
    store.set_last(None)
    out = tmp_path / "shot.png"
    r = _liqdesk("--workspace", "desk", "--screenshot", str(out), "--quit-after", "3", config=tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.exists()
    lines = [line for line in r.stderr.splitlines() if line.startswith("liqdesk:")]
    assert any(line.startswith("liqdesk: window 1 (BTCUSDT) was not opened: no session at") for line in lines), lines
    assert any(line.startswith("liqdesk: window 3 (BTCUSDT): its dock layout is unreadable") for line in lines), lines
    assert "Traceback" not in r.stderr
    assert store.last() == "desk"
    # with no option choosing a chart, the last workspace opens again
    r = _liqdesk("--quit-after", "3", config=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "liqdesk: window 1 (BTCUSDT) was not opened: no session at" in r.stderr, r.stderr

    r = _liqdesk("--workspace", "nope", config=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "liqdesk: error: no workspace named 'nope' (desk)"
