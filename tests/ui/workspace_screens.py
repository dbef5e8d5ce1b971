"""Test helper, run in its own process on Qt's offscreen platform with three screens
(``QT_QPA_PLATFORM=offscreen:configfile=...``): saves a workspace named "three" of three replay
windows, one per screen, the third with its DOM ladder floating on the right-hand screen.

    python -m tests.ui.workspace_screens SESSION WORKSPACES_JSON
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(session_path: str, out: str) -> int:
    from PySide6 import QtWidgets

    from liqdesk.app.hub import SessionHub
    from liqdesk.app.workspace_store import WorkspaceStore
    from liqdesk.main import replay_session
    from liqdesk.ui.chart_window import ChartWindow, LayoutStore

    app = QtWidgets.QApplication([])
    screens = {s.name(): s.geometry() for s in app.screens()}
    assert set(screens) == {"left", "middle", "right"}, screens
    session = replay_session(session_path)
    hub = SessionHub(lambda spec: replay_session(spec.path, exchanges=spec.venues))
    hub.adopt(session)
    layouts = LayoutStore(Path(tempfile.mkdtemp()) / "layouts.json")
    first = ChartWindow(session, None, layouts, restore=False, hub=hub)
    first.workspaces.store = WorkspaceStore(out)
    first.setGeometry(100, 100, 1200, 800)
    first.show()
    middle = first.open_window(("binance",))
    middle.setGeometry(screens["middle"].x() + 300, 200, 1600, 1000)
    right = first.open_window(None)
    right.setGeometry(screens["right"].x() + 500, 150, 1300, 850)
    ladder = right.docks["ladder"]
    ladder.setFloating(True)
    ladder.setGeometry(screens["right"].x() + 1500, 600, 300, 400)
    app.processEvents()
    placed = [w.screen().name() for w in (first, middle, right)]
    assert placed == ["left", "middle", "right"], placed
    note = first.workspaces.save("three")
    hub.stop_all()
    if note:
        print(note, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
