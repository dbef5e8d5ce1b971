"""Starting the window: the Qt application on an asyncio loop (qasync), the chart window, the
frame clock, and the ``--screenshot FILE --quit-after SECONDS`` mode."""

from __future__ import annotations

import asyncio
import os
import sys

from PySide6 import QtCore, QtWidgets

from liqdesk.app.hub import SessionHub
from liqdesk.app.session import Session

from . import theme, workspaces
from .chart_window import ChartWindow, FrameClock, LayoutStore
from .icon import app_icon

#: How long ``--screenshot`` waits past ``--quit-after`` for the history or a rebuild to finish.
SCREENSHOT_WAIT_S = 120.0


def ensure_platform(headless: bool) -> None:
    """Use Qt's offscreen platform when asked to (or when there is no display and the run is
    headless); a windowed run without a display is a user error."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "win32", "darwin")
    if headless or not has_display:
        if not headless:
            from liqdesk.errors import UserError

            raise UserError("no display to open the window on (set DISPLAY, or use --screenshot FILE "
                            "--quit-after SECONDS for a headless run)")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def _qt_message(mode, context, message: str) -> None:
    """Qt's own warnings, minus the offscreen platform's notes that it cannot do window-manager
    things (raise, size hints, keyboard grabs): they mean nothing to a user of a headless run."""
    if message.startswith("This plugin does not support"):
        return
    sys.stderr.write(message + "\n")


def application() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.qInstallMessageHandler(_qt_message)
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("liqdesk")
        app.setOrganizationName("liqdesk")
        app.setDesktopFileName("liqdesk")  # Wayland/X11 match the window to liqdesk.desktop
    theme.apply(app)
    # every window and dialog without an icon of its own shows the application's (set once: the
    # headless renderer calls this for every picture)
    if app.windowIcon().isNull():
        app.setWindowIcon(app_icon())
    return app


def run_window(session: Session, screenshot: str | None = None, quit_after: float | None = None,
               store: LayoutStore | None = None, hub: SessionHub | None = None,
               workspace: tuple | None = None, notes: list[str] | None = None) -> int:
    """Open the chart window on ``session`` and run until it is closed (or for ``quit_after``
    seconds, saving a screenshot of the whole window to ``screenshot`` first). ``workspace``:
    (name, the layouts of its windows, the first one's number in it), the first shown by this
    window on ``session``, the others opened beside it; ``notes``: one-line messages for the status bar and stderr (a workspace
    that could not be read). Returns the exit code."""
    import qasync

    app = application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)

    hub = hub or SessionHub(lambda spec: session)
    hub.adopt(session)
    clock = FrameClock()
    window = ChartWindow(session, clock, store, hub=hub, restore=workspace is None)
    notes = list(notes or [])
    if workspace is not None:
        name, layouts, number = workspace
        notes += [f"window {number} ({layouts[0].symbol}): {n}" for n in workspaces.apply_layout(window, layouts[0])]
    if screenshot is not None and os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        window.resize(1920, 1080)
        window.fit_docks_to_width(1920)
    trace_path = os.environ.get("LIQDESK_STARTUP_TRACE")
    if trace_path:
        StartupTrace(trace_path, window, clock)
    if workspace is not None:
        workspaces.show_placed(window, layouts[0])
    else:
        window.show()
    QtWidgets.QApplication.processEvents()     # paint the window before the feed's work starts
    result = {"code": 0}

    waited = {"s": 0.0}

    def finish():
        if screenshot is not None and session.busy() is not None and waited["s"] < SCREENSHOT_WAIT_S:
            # a picture of a half-built history is not what was asked for: wait for the work
            waited["s"] += 0.2
            QtCore.QTimer.singleShot(200, finish)
            return
        if screenshot is not None:
            window.on_frame(force=True)
            QtWidgets.QApplication.processEvents()
            ok = window.grab().save(str(screenshot), "PNG")
            if not ok:
                print(f"liqdesk: error: could not write {screenshot}", file=sys.stderr)
                result["code"] = 2
            else:
                print(f"wrote {screenshot}")
        window.close()
        app.quit()

    if quit_after is not None:
        QtCore.QTimer.singleShot(int(quit_after * 1000), finish)
    session.start()
    if session.is_replay and getattr(session.source, "playing", False) is False:
        session.play()
    if workspace is not None:
        opened, more = workspaces.open_layouts(window, layouts[1:], number + 1)
        notes += more
        for win in opened:
            if win.session.is_replay and getattr(win.session.source, "playing", False) is False:
                win.session.play()
        window.workspaces.store_last(name)
    if notes:
        workspaces.say(window, notes)
    clock.start()
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        clock.stop()
        hub.stop_all()
    return result["code"]


class StartupTrace(QtCore.QObject):
    """Milestones of the first seconds, in ms since the process was created, written as JSON to
    ``path`` as each is reached (``liqdesk bench`` reads them; ``LIQDESK_STARTUP_TRACE=FILE``):
    ``window_shown_ms`` (first frame painted), ``first_heatmap_ms`` (first frame painted with
    estimated levels in it), ``history_complete_ms`` (the opening history is built and the
    market runs in real time)."""

    def __init__(self, path: str, window, clock):
        super().__init__(window)
        import json
        import time

        self._json, self._time = json, time
        self.path = path
        self.window = window
        self.t0 = process_start_time()
        self.marks: dict[str, float] = {}
        window.heatmap.gview.painted.connect(self._painted)
        clock.ticked.connect(self._ticked)

    def _mark(self, name: str) -> None:
        if name not in self.marks:
            self.marks[name] = round((self._time.time() - self.t0) * 1000.0, 1)
            with open(self.path, "w", encoding="utf-8") as fh:
                self._json.dump(self.marks, fh)

    def _painted(self, _t: float) -> None:
        self._mark("window_shown_ms")
        if "first_heatmap_ms" not in self.marks:
            model = self.window.session.engine.model
            if model.bin_width and model.grid.last_column >= 0 and model.total_notional() > 0:
                self._mark("first_heatmap_ms")

    def _ticked(self) -> None:
        if self.window.session.history is None and "window_shown_ms" in self.marks:
            self._mark("history_complete_ms")


def process_start_time() -> float:
    """When this process started (``time.time()`` scale): the launcher's own clock when it passed
    ``LIQDESK_LAUNCH_T``, else the kernel's start time measured against the uptime clock
    (psutil's ``create_time`` adds the boot time, which Linux gives only to the whole second)."""
    import time

    launch = os.environ.get("LIQDESK_LAUNCH_T")
    if launch:
        try:
            return float(launch)
        except ValueError:
            pass
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        import psutil

        return psutil.Process().create_time()
