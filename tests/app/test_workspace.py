"""Workspaces as data (no Qt): the JSON round trip and its checks, the file, placing windows on the
screens there are, and which workspace the window opens on at start."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from liqdesk.app.workspace import (
    ChartLayout,
    Rect,
    Screen,
    Workspace,
    WorkspaceError,
    layout_from_json,
    layout_to_json,
    place_rect,
    workspace_from_json,
)
from liqdesk.app.workspace_store import MAX_FILE_BYTES, WorkspaceFileError, WorkspaceStore

LAYOUT = ChartLayout(kind="sim", symbol="ETH/USDT:USDT", venues=("binance", "okx"), scenario="crash",
                     exchanges=("okx",), tiers=(25.0, 100.0), long=False, scale="log", candle_ms=300_000,
                     window="1d", bin_pct=0.1, decay="1h", follow=False, time_range_s=(1.7e9, 1.7e9 + 3600),
                     price_range=(2900.5, 3100.0), geometry=Rect(2000, 40, 1200, 800), window_state="maximized",
                     screen="DP-2", screen_geometry=Rect(1920, 0, 2560, 1440), docks=b"\x00\x00\x00\xff\x01")


def test_a_layout_round_trips_through_json_text():
    doc = json.loads(json.dumps(layout_to_json(LAYOUT)))
    assert layout_from_json(doc) == LAYOUT
    replay = ChartLayout(kind="replay", symbol="BTCUSDT", path="/data/day.liqs")
    assert layout_from_json(json.loads(json.dumps(layout_to_json(replay)))) == replay


@pytest.mark.parametrize("path, value, field", [
    (("source", "kind"), "pickle", "source kind"),
    (("source", "symbol"), ["BTC"], "symbol"),
    (("source", "symbol"), "x" * 500, "symbol"),
    (("source", "venues"), ["binance", "nasdaq"], "source venue"),
    (("source", "venues"), ["okx", "okx"], "source venues"),
    (("source", "scenario"), "doom", "scenario"),
    (("source", "path"), "/x.liqs", "source path"),
    (("view", "long"), 1, "view long"),
    (("view", "tiers"), [1, "2"], "view tier"),
    (("view", "tiers"), list(range(100)), "view tiers"),
    (("view", "scale"), "cubic", "colour scale"),
    (("view", "candle_ms"), 7, "candle interval"),
    (("view", "candle_ms"), True, "candle interval"),
    (("chart", "window"), "2h", "time window"),
    (("chart", "bin_pct"), 0.3, "bin size"),
    (("chart", "decay"), None, "decay"),
    (("follow",), "no", "follow"),
    (("time_range_s",), [5, 1], "time range"),
    (("price_range",), [1, float("nan")], "price range"),
    (("window", "geometry"), {"x": 0, "y": 0, "width": 0, "height": 10}, "window geometry width"),
    (("window", "geometry"), {"x": 1 << 40, "y": 0, "width": 10, "height": 10}, "window geometry x"),
    (("window", "state"), "minimized", "window state"),
    (("window", "screen"), "\x00", "screen name"),
    (("docks",), "not base64!", "dock layout"),
    (("docks",), "A" * 300_000, "dock layout"),
    (("view",), [], "view"),
])
def test_a_wrong_field_is_refused_with_a_line_naming_it(path, value, field):
    doc = layout_to_json(LAYOUT)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(WorkspaceError) as err:
        layout_from_json(doc)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_a_workspace_holds_one_to_32_windows():
    one = layout_to_json(LAYOUT)
    assert len(workspace_from_json({"windows": [one] * 3}).windows) == 3
    for bad in ({"windows": []}, {"windows": [one] * 33}, {"windows": "all"}, [one]):
        with pytest.raises(WorkspaceError):
            workspace_from_json(bad)
    with pytest.raises(WorkspaceError, match="window 2: its follow"):
        workspace_from_json({"windows": [one, {**one, "follow": None}]})


# ---------------------------------------------------------------------------------- file
def test_the_store_saves_lists_loads_and_deletes(tmp_path):
    store = WorkspaceStore(tmp_path / "workspaces.json")
    assert store.names() == [] and store.last() is None
    ws = Workspace((LAYOUT, ChartLayout()))
    assert store.save("morning", ws) is None
    assert store.save("evening", Workspace((ChartLayout(),))) is None
    assert store.names() == ["evening", "morning"] and store.last() == "evening"
    assert store.load("morning") == ws
    assert store.set_last("morning") is None and store.last() == "morning"
    assert store.delete("morning") is None
    assert store.names() == ["evening"] and store.last() is None
    with pytest.raises(WorkspaceError, match="no workspace named 'morning'"):
        store.load("morning")
    assert store.save("", ws) and store.save("a\nb", ws)          # refused names: a note, nothing saved
    assert store.names() == ["evening"]
    unopenable = Workspace((ChartLayout(kind="replay", symbol="BTCUSDT", path=None),))
    note = store.save("replay", unopenable)
    assert note and "not saved" in note and "replayed session path" in note
    assert store.names() == ["evening"]


def test_one_damaged_workspace_leaves_the_others_usable_and_is_kept_on_save(tmp_path):
    store = WorkspaceStore(tmp_path / "workspaces.json")
    store.save("good", Workspace((LAYOUT,)))
    doc = json.loads(store.path.read_text())
    doc["workspaces"]["bad"] = {"windows": [{"source": {"kind": 3}}]}
    doc["extra"] = {"kept": True}
    store.path.write_text(json.dumps(doc))
    with pytest.raises(WorkspaceError, match="workspace 'bad' is unreadable: window 1: its source kind"):
        store.load("bad")
    assert store.load("good").windows == (LAYOUT,)
    store.save("new", Workspace((ChartLayout(),)))
    after = json.loads(store.path.read_text())
    assert after["workspaces"]["bad"] == doc["workspaces"]["bad"] and after["extra"] == {"kept": True}


@pytest.mark.parametrize("content", [
    b"\xff\xfe not utf-8",
    b"{not json",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"format": "liqdesk-layouts", "version": 1}',
    b'{"format": "liqdesk-workspaces", "version": 99, "workspaces": {}}',
    b'{"format": "liqdesk-workspaces", "version": 1, "workspaces": []}',
    b" " * (MAX_FILE_BYTES + 1),
])
def test_an_unreadable_file_gives_a_line_and_is_set_aside_when_saving(tmp_path, content):
    store = WorkspaceStore(tmp_path / "workspaces.json")
    store.path.write_bytes(content)
    with pytest.raises(WorkspaceFileError) as err:
        store.read()
    assert "\n" not in str(err.value)
    assert store.names() == [] and store.last() is None
    note = store.save("fresh", Workspace((ChartLayout(),)))
    assert note and "kept as workspaces.json.unreadable-" in note
    kept = [p for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert store.names() == ["fresh"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_place_of_the_file_is_refused_without_blocking(tmp_path):
    path = tmp_path / "workspaces.json"
    os.mkfifo(path)
    with pytest.raises(WorkspaceFileError, match="not a regular file"):
        WorkspaceStore(path).read()


# ---------------------------------------------------------------------------------- screens
ONE = [Screen("eDP-1", Rect(0, 0, 1920, 1080), Rect(0, 32, 1920, 1048))]
THREE = [Screen("left", Rect(0, 0, 1920, 1080), Rect(0, 0, 1920, 1080)),
         Screen("middle", Rect(1920, 0, 2560, 1440), Rect(1920, 0, 2560, 1400)),
         Screen("right", Rect(4480, 0, 1920, 1080), Rect(4480, 0, 1920, 1080))]


def _inside(rect: Rect, area: Rect, frame=(0, 0, 0, 0)) -> bool:
    left, top, right, bottom = frame
    return (rect.x - left >= area.x and rect.y - top >= area.y
            and rect.x + rect.width + right <= area.x + area.width
            and rect.y + rect.height + bottom <= area.y + area.height)


def test_a_window_on_a_screen_that_exists_stays_where_it_was():
    rect = Rect(2100, 100, 1400, 900)
    assert place_rect(rect, THREE, "middle") == rect


def test_a_window_whose_screen_is_gone_comes_onto_the_primary_at_the_same_place_in_it():
    placed = place_rect(Rect(4480 + 200, 150, 1000, 700), ONE, "right", Rect(4480, 0, 1920, 1080))
    assert placed == Rect(200, 150, 1000, 700)


def test_a_window_larger_than_the_screen_or_off_it_is_shrunk_and_moved_into_view():
    frame = (2, 30, 2, 2)
    for rect in (Rect(-5000, -3000, 800, 600), Rect(100, 100, 2560, 1440), Rect(1900, 1060, 800, 600),
                 Rect(7000, 0, 1300, 900)):
        placed = place_rect(rect, ONE, "gone", Rect(6400, 0, 1920, 1080), frame)
        assert _inside(placed, ONE[0].available, frame), (rect, placed)
        assert placed.width <= rect.width and placed.height <= rect.height
    assert place_rect(Rect(100, 100, 2560, 1440), ONE, frame=frame).width == 1920 - 4


def test_a_window_saved_astride_two_screens_goes_to_the_one_showing_most_of_it():
    placed = place_rect(Rect(1800, 100, 1000, 700), THREE)
    assert _inside(placed, THREE[1].available) and placed.y == 100


# ---------------------------------------------------------------------------------- start
def _args(**kw) -> argparse.Namespace:
    base = {"workspace": None, "no_workspace": False, "replay": None, "symbol": None, "exchanges": None,
            "scenario": None, "screenshot": None}
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQDESK_CONFIG_DIR", str(tmp_path))
    return WorkspaceStore()


def test_the_last_workspace_opens_at_start_unless_a_chart_is_chosen(config):
    from liqdesk.main import startup_workspace

    assert startup_workspace(_args()) == (None, None, None)
    config.save("desk", Workspace((LAYOUT,)))
    ws, name, note = startup_workspace(_args())
    assert name == "desk" and ws.windows == (LAYOUT,) and note is None
    for chosen in ({"symbol": "ETH/USDT:USDT"}, {"replay": "x.liqs"}, {"exchanges": ["okx"]},
                   {"scenario": "calm"}, {"no_workspace": True}, {"screenshot": "x.png"}):
        assert startup_workspace(_args(**chosen)) == (None, None, None), chosen


def test_workspace_option_opens_that_one_and_refuses_a_chart_option_or_an_unknown_name(config):
    from liqdesk.errors import UserError
    from liqdesk.main import startup_workspace

    config.save("desk", Workspace((LAYOUT,)))
    config.save("other", Workspace((ChartLayout(),)))
    ws, name, _ = startup_workspace(_args(workspace="desk"))
    assert name == "desk" and ws.windows == (LAYOUT,)
    with pytest.raises(UserError, match="leave out --symbol"):
        startup_workspace(_args(workspace="desk", symbol="BTC/USDT:USDT"))
    with pytest.raises(UserError, match="no workspace named 'nope'"):
        startup_workspace(_args(workspace="nope"))


def test_a_damaged_last_workspace_gives_a_line_and_the_default_window(config):
    from liqdesk.main import startup_workspace

    config.save("desk", Workspace((LAYOUT,)))
    doc = json.loads(config.path.read_text())
    doc["workspaces"]["desk"]["windows"][0]["view"]["scale"] = 7
    config.path.write_text(json.dumps(doc))
    ws, name, note = startup_workspace(_args())
    assert ws is None and name == "desk"
    assert "colour scale" in note and note.endswith("the default window is used") and "\n" not in note
    config.path.write_text("{")
    assert startup_workspace(_args()) == (None, None, None)      # no readable file: no last workspace
    ws, _, note = startup_workspace(_args(workspace="desk"))
    assert ws is None and "not JSON" in note
