"""Saved layouts: a crafted old settings file runs no code, the old layouts are migrated once, the
JSON store round-trips, and a damaged one gives the default layout with a reason."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import pickle
import shutil
import string
import struct

import pytest
from PySide6 import QtCore

from liqdesk.ui.layouts import LAYOUT_VERSION, LayoutStore


class _TouchOnUnpickle:
    """Unpickling this creates ``path``: the stand-in for a shell command."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (self.path,)


def _ini_escaped(text: str) -> str:
    """``text`` as QSettings writes a ``@ByteArray(...)``/``@Variant(...)`` value (its
    iniEscapedString): control and non-ASCII characters as ``\\x..``, a hex digit after one
    escaped too, quoted when it holds ``;,=``."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             '"': '\\"', "\\": "\\\\"}
    out, escape_hex, quote = [], False, False
    for ch in text:
        quote |= ch in ";,="
        if escape_hex and ch in string.hexdigits:
            out.append(f"\\x{ord(ch):x}")
            continue
        escape_hex = False
        if ch == "\0":
            out.append("\\0")
            escape_hex = True
        elif ch in named:
            out.append(named[ch])
        elif ord(ch) <= 0x1F or ord(ch) >= 0x7F:
            out.append(f"\\x{ord(ch):x}")
            escape_hex = True
        else:
            out.append(ch)
    return f'"{"".join(out)}"' if quote else "".join(out)


def _malicious_variant(marker: pathlib.Path) -> str:
    """A ``@Variant`` holding a ``PySide::PyObjectWrapper`` (QDataStream, Qt 4.0 layout: user type
    127, the type's name, then the pickle as a byte array) whose pickle creates ``marker``."""
    payload = pickle.dumps(_TouchOnUnpickle(marker), protocol=4)
    name = b"PySide::PyObjectWrapper\0"
    stream = struct.pack(">II", 127, len(name)) + name + struct.pack(">I", len(payload)) + payload
    return _ini_escaped("@Variant(" + stream.decode("latin-1") + ")")


@pytest.fixture
def saved_window(window):
    """(geometry, state) of the test window with the ladder floating and the stats dock hidden."""
    window.docks["ladder"].setFloating(True)
    window.docks["stats"].hide()
    return window.saveGeometry(), window.saveState(LAYOUT_VERSION)


def _old_liqdesk_conf(path: pathlib.Path, geometry, state) -> None:
    """The settings file the QSettings-based liqdesk wrote (its keys, Qt's INI writer)."""
    qs = QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)
    qs.setValue("windows/main/geometry", geometry)
    qs.setValue("windows/main/state", state)
    qs.setValue("layouts/my trading, 2 screens/state", state)
    qs.setValue("layouts/my trading, 2 screens/geometry", geometry)
    qs.sync()
    del qs


def _docks_default(win) -> bool:
    return all(not d.isFloating() and not d.isHidden() for d in win.docks.values())


def test_a_crafted_settings_file_runs_code_through_qsettings_but_not_when_liqdesk_starts(
        window, saved_window, qtbot, tmp_path, monkeypatch):
    from liqdesk.ui.chart_window import ChartWindow

    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("LIQDESK_CONFIG_DIR", str(config))
    marker = tmp_path / "code-ran"
    conf = config / "liqdesk.conf"
    _old_liqdesk_conf(conf, *saved_window)
    # the attacker's edit: the main window's dock state becomes a pickling variant
    text = conf.read_text("latin-1")
    start = text.index("main\\state=")
    end = text.index("\n", start)
    conf.write_text(text[:start] + "main\\state=" + _malicious_variant(marker) + text[end:], "latin-1")
    before = conf.read_bytes()

    # liqdesk's start-up: the default store, the main window restoring its layout. Nothing may
    # construct a QSettings on the way (the stub would raise) and the pickle must not run.
    class NoQSettings:
        def __init__(self, *args, **kwargs):
            raise AssertionError("liqdesk opened a QSettings")

    monkeypatch.setattr(QtCore, "QSettings", NoQSettings)
    win = ChartWindow(window.session, None, None, restore=True)
    qtbot.addWidget(win)
    monkeypatch.undo()
    assert not marker.exists()
    assert win.layout_message is None
    assert _docks_default(win)                     # the variant was left out, not decoded
    assert win.store.path == config / "layouts.json"
    note = win.store.migration_note
    assert note and "2 saved layouts moved" in note and "1 other value left out" in note
    assert note in window.session.messages
    assert conf.read_bytes() == before             # the old file is left as it was
    assert win.store.named() == ["my trading, 2 screens"]

    # the same file through QSettings: the pickle runs (so the test above could have failed)
    copy = tmp_path / "copy.conf"
    shutil.copyfile(conf, copy)
    QtCore.QSettings(str(copy), QtCore.QSettings.Format.IniFormat).value("windows/main/geometry")
    assert marker.exists()


def test_the_migration_keeps_a_real_saved_layout_and_runs_once(window, saved_window, qtbot, tmp_path):
    from liqdesk.ui.chart_window import ChartWindow

    conf = tmp_path / "liqdesk.conf"
    _old_liqdesk_conf(conf, *saved_window)
    store = LayoutStore(tmp_path / "layouts.json", legacy=conf)
    win = ChartWindow(window.session, None, store, restore=True)
    qtbot.addWidget(win)
    assert win.layout_message is None
    assert win.docks["ladder"].isFloating() and win.docks["stats"].isHidden()
    assert store.migration_note and "2 saved layouts moved" in store.migration_note
    # the named layout came along too
    win.reset_layout(save=False)
    assert _docks_default(win)
    assert store.load_named("my trading, 2 screens", win)
    assert win.docks["stats"].isHidden()
    # once: the old file is not read again (even when it changes)
    conf.write_text("[windows]\nmain\\state=@ByteArray(other)\n")
    again = LayoutStore(tmp_path / "layouts.json", legacy=conf)
    assert again.named() == ["my trading, 2 screens"]
    assert again.migration_note is None


def test_save_and_restore_round_trip_through_the_json_file(window, qtbot, tmp_path):
    from liqdesk.ui.chart_window import ChartWindow

    store = LayoutStore(tmp_path / "sub" / "layouts.json")
    window.docks["filters"].hide()
    window.docks["ladder"].setFloating(True)
    assert store.save("main", window) is None
    assert store.save_named("wide", window) is None
    doc = json.loads(store.path.read_text())
    assert doc["format"] == "liqdesk-layouts" and doc["version"] == 1
    assert base64.b64decode(doc["windows"]["main"]["state"]) == bytes(window.saveState(LAYOUT_VERSION).data())
    assert [p.name for p in store.path.parent.iterdir()] == ["layouts.json"]      # no temporary left

    win = ChartWindow(window.session, None, LayoutStore(store.path), restore=True)
    qtbot.addWidget(win)
    assert win.layout_message is None
    assert win.docks["filters"].isHidden() and win.docks["ladder"].isFloating()
    assert LayoutStore(store.path).named() == ["wide"]
    assert store.forget("main") is None
    assert "main" not in json.loads(store.path.read_text())["windows"]
    assert store.named() == ["wide"]


def _fifo(path: pathlib.Path) -> None:
    os.mkfifo(path)


DAMAGE = {
    "not json": b"{\"format\": \"liqdesk-layouts\", \"version\": 1, \"windows\": {",
    "binary": bytes(range(256)),
    "nested": b"[" * 100_000 + b"]" * 100_000,
    "other file": b"[1, 2, 3]",
    "newer version": json.dumps({"format": "liqdesk-layouts", "version": 2, "windows": {}}).encode(),
    "windows not an object": json.dumps({"format": "liqdesk-layouts", "version": 1, "windows": []}).encode(),
    "entry not an object": json.dumps({"format": "liqdesk-layouts", "version": 1,
                                       "windows": {"main": "AAAA"}}).encode(),
    "state not base64": json.dumps({"format": "liqdesk-layouts", "version": 1,
                                    "windows": {"main": {"state": "not base64!"}}}).encode(),
    "state of another type": json.dumps({"format": "liqdesk-layouts", "version": 1,
                                         "windows": {"main": {"state": [1, 2]}}}).encode(),
    "state garbage": json.dumps({"format": "liqdesk-layouts", "version": 1,
                                 "windows": {"main": {"state": "AP9ub3QgYSBsYXlvdXQ="}}}).encode(),
    "fifo": _fifo,
    "too large": b" " * ((4 << 20) + 1),
}


def test_a_damaged_layouts_file_gives_the_default_layout_and_one_line(window, qtbot, tmp_path):
    from liqdesk.ui.chart_window import ChartWindow

    window.docks["stats"].hide()
    for damage, make in DAMAGE.items():              # one window for all: building one takes seconds
        path = tmp_path / damage / "layouts.json"
        path.parent.mkdir()
        if callable(make):
            make(path)
        else:
            path.write_bytes(make)
        win = ChartWindow(window.session, None, LayoutStore(path), restore=True)
        qtbot.addWidget(win)
        message = win.layout_message
        assert message and message.endswith("the default layout is used") and "\n" not in message, damage
        assert _docks_default(win), damage
        assert message in window.session.messages, damage


def test_saving_over_an_unreadable_layouts_file_keeps_it_aside(window, tmp_path):
    for damage in ("not json", "newer version"):
        path = tmp_path / damage / "layouts.json"
        path.parent.mkdir()
        path.write_bytes(DAMAGE[damage])
        store = LayoutStore(path)
        note = store.save("main", window)
        assert note and "was kept as layouts.json.unreadable-" in note
        kept = [p for p in path.parent.iterdir() if p.name.startswith("layouts.json.unreadable-")]
        assert len(kept) == 1 and kept[0].read_bytes() == DAMAGE[damage]
        assert store.restore("main", window) is None


def test_a_damaged_entry_is_kept_and_the_others_still_work(window, tmp_path):
    path = tmp_path / "layouts.json"
    store = LayoutStore(path)
    assert store.save_named("good", window) is None
    doc = json.loads(path.read_text())
    doc["layouts"]["bad"] = {"state": 7}
    doc["future"] = {"kept": True}
    path.write_text(json.dumps(doc))
    assert store.named() == ["bad", "good"]
    assert not store.load_named("bad", window)
    assert store.load_named("good", window)
    assert store.save("main", window) is None      # rewriting the file loses nothing it held
    doc = json.loads(path.read_text())
    assert doc["layouts"]["bad"] == {"state": 7} and doc["future"] == {"kept": True}


def test_a_layouts_file_that_cannot_be_written_is_said_not_raised(window, tmp_path):
    path = tmp_path / "layouts.json"
    path.mkdir()                                   # a folder where the file belongs
    note = LayoutStore(path).save("main", window)
    assert note and "\n" not in note


def test_the_reset_layout_action_forgets_the_saved_layout(window, store):
    """Regression: the menu action passed triggered's checked=False as save=False, so the saved
    layout stayed and the status bar said nothing."""
    window.docks["stats"].hide()
    window.save_layout()
    assert "main" in json.loads(store.path.read_text())["windows"]
    window.actions_["reset_layout"].trigger()
    assert "main" not in json.loads(store.path.read_text())["windows"]
    assert not window.docks["stats"].isHidden()
    assert window.statusBar().currentMessage() == "layout reset"
