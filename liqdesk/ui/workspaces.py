"""Workspaces in the window: capturing every open chart window into a
:class:`~liqdesk.app.workspace.Workspace`, opening one (each window on a screen that exists,
visible), and the File → Workspaces menu. The data, its checks and its file are in
:mod:`liqdesk.app.workspace` and :mod:`liqdesk.app.workspace_store` (no Qt there).

A dock layout from a workspace is checked by :mod:`.dock_state` before Qt reads it, as for the
per-window layouts: Qt's own reader crashes on some damaged ones.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from liqdesk.app.chart_settings import settings_for_window
from liqdesk.app.hub import session_scenario
from liqdesk.app.workspace import ChartLayout, Rect, Screen, Workspace, WorkspaceError, place_rect
from liqdesk.app.workspace_store import WorkspaceFileError, WorkspaceStore

from . import scaling
from .dock_state import dock_state_problem
from .layouts import LAYOUT_VERSION

if TYPE_CHECKING:
    from .chart_window import ChartWindow


# ---------------------------------------------------------------------------------- screens
def _rect(r: QtCore.QRect) -> Rect:
    return Rect(r.x(), r.y(), r.width(), r.height())


def current_screens() -> list[Screen]:
    """The monitors there are now, the primary first."""
    primary = QtGui.QGuiApplication.primaryScreen()
    screens = QtGui.QGuiApplication.screens()
    ordered = ([primary] if primary is not None else []) + [s for s in screens if s is not primary]
    return [Screen(s.name(), _rect(s.geometry()), _rect(s.availableGeometry())) for s in ordered]


def _frame_margins(widget: QtWidgets.QWidget) -> tuple[int, int, int, int]:
    """The window frame around ``widget``'s client area (title bar included), or a guess before
    the window manager framed it (a title bar is about 30 px)."""
    frame, inner = widget.frameGeometry(), widget.geometry()
    if widget.isVisible() and frame != inner:
        return (inner.x() - frame.x(), inner.y() - frame.y(),
                frame.right() - inner.right(), frame.bottom() - inner.bottom())
    return (0, 0, 0, 0) if QtGui.QGuiApplication.platformName() == "offscreen" else (4, 30, 4, 4)


def place_on_screens(widget: QtWidgets.QWidget, rect: Rect, screen: str | None = None,
                     screen_geometry: Rect | None = None) -> Rect:
    """Move ``widget`` (a top-level window or floating dock) to ``rect`` put on a screen that
    exists (:func:`~liqdesk.app.workspace.place_rect`); returns where it went."""
    placed = place_rect(rect, current_screens(), screen, screen_geometry, _frame_margins(widget))
    widget.setGeometry(placed.x, placed.y, placed.width, placed.height)
    return placed


def keep_floating_docks_visible(window: ChartWindow) -> None:
    """Floating docks restored from a layout saved on other monitors: each on a screen that exists."""
    for dock in window.docks.values():
        if dock.isFloating():
            place_on_screens(dock, _rect(dock.geometry()))


# ---------------------------------------------------------------------------------- capture
def chart_windows() -> list[ChartWindow]:
    """The chart windows open now, in the order they were opened."""
    from .chart_window import ChartWindow

    wins = [w for w in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(w, ChartWindow) and not w._closed and w.isVisible()]
    return sorted(wins, key=lambda w: w.opened_at)


def capture_window(win: ChartWindow) -> ChartLayout:
    """What ``win`` shows and where, as a :class:`ChartLayout`."""
    session = win.session
    settings = session.engine.settings
    key = session.key or ()
    view = win.view
    heat = win.heatmap
    (x0, x1), (y0, y1) = heat.vb.viewRange()
    ranged = not heat.follow and x0 < x1 and y0 < y1
    screen = win.screen()
    if win.isMaximized() or win.isFullScreen():
        geometry = win.normalGeometry()
    else:
        geometry = win.geometry()
    state = "fullscreen" if win.isFullScreen() else "maximized" if win.isMaximized() else "normal"
    filters = win.filters
    return ChartLayout(
        kind=session.kind,
        symbol=settings.symbol,
        venues=tuple(settings.exchanges) or None,
        scenario=session_scenario(session),
        path=str(key[3]) if session.kind == "replay" and len(key) > 3 else None,
        exchanges=view.exchanges,
        tiers=view.tiers,
        ages=view.ages,
        long=view.long,
        short=view.short,
        scale=view.scale,
        candle_ms=view.candle_ms,
        window=filters.window_combo.currentText(),
        bin_pct=float(filters.bin_combo.currentData()),
        decay=filters.decay_combo.currentText(),
        follow=bool(heat.follow),
        time_range_s=(float(x0), float(x1)) if ranged else None,
        price_range=(float(y0), float(y1)) if ranged else None,
        geometry=_rect(geometry) if geometry.width() > 0 and geometry.height() > 0 else None,
        window_state=state,
        screen=screen.name() if screen is not None and screen.name() else None,
        screen_geometry=_rect(screen.geometry()) if screen is not None else None,
        docks=bytes(win.saveState(LAYOUT_VERSION).data()),
    )


def capture(windows: list[ChartWindow] | None = None) -> Workspace:
    """Every open chart window (or ``windows``) as a workspace."""
    return Workspace(tuple(capture_window(w) for w in (chart_windows() if windows is None else windows)))


# ---------------------------------------------------------------------------------- restore
def apply_layout(win: ChartWindow, layout: ChartLayout) -> list[str]:
    """Give ``win`` the layout's filters, model settings, dock layout, follow state or range, and
    geometry on a screen that exists. Returns one-line notes on what could not be applied."""
    notes: list[str] = []
    engine_settings = win.session.engine.settings
    venues = engine_settings.exchanges
    shown = None if layout.exchanges is None else tuple(e for e in venues if e in layout.exchanges)
    view = win.view.with_(exchanges=shown or None, tiers=layout.tiers, ages=layout.ages, long=layout.long,
                          short=layout.short,
                          scale=layout.scale if layout.scale in scaling.MODES else win.view.scale,
                          candle_ms=layout.candle_ms)
    win.filters.populate(engine_settings, view)
    win.set_view(view)
    wanted = settings_for_window(engine_settings, layout.window, layout.bin_pct, layout.decay)
    if (wanted.column_ms, wanted.bin_width_pct, wanted.decay_half_life_s) != (
            engine_settings.column_ms, engine_settings.bin_width_pct, engine_settings.decay_half_life_s):
        win.filters.show_settings(wanted)
        win.session.apply_settings(wanted)
    if layout.docks is not None:
        docks = [d.objectName() for d in win.findChildren(QtWidgets.QDockWidget)]
        problem = dock_state_problem(layout.docks, LAYOUT_VERSION, docks)
        if problem is not None:
            notes.append(f"its dock layout is unreadable ({problem}): the default is used")
        elif not win.restoreState(QtCore.QByteArray(layout.docks), LAYOUT_VERSION):
            notes.append("its dock layout is unreadable: the default is used")
    if layout.geometry is not None:
        place_on_screens(win, layout.geometry, layout.screen, layout.screen_geometry)
    keep_floating_docks_visible(win)
    heat = win.heatmap
    if not layout.follow and layout.time_range_s is not None and layout.price_range is not None:
        heat.set_follow(False)
        heat.vb.setXRange(*layout.time_range_s, padding=0)
        heat.vb.setYRange(*layout.price_range, padding=0)
        heat._ranged = True                 # the saved range, not the opening hour
    else:
        heat.set_follow(layout.follow)
    return notes


def show_placed(win: ChartWindow, layout: ChartLayout | None) -> None:
    """Show ``win`` in the layout's window state (the normal geometry is already placed)."""
    state = layout.window_state if layout is not None else "normal"
    if state == "maximized":
        win.showMaximized()
    elif state == "fullscreen":
        win.showFullScreen()
    else:
        win.show()
        if layout is not None and layout.geometry is not None:
            # framed now: its title bar and borders too on the screen
            place_on_screens(win, _rect(win.geometry()), layout.screen, layout.screen_geometry)
    keep_floating_docks_visible(win)


def open_layouts(owner: ChartWindow, layouts, first_number: int = 1) -> tuple[list[ChartWindow], list[str]]:
    """Open a new chart window for each layout (its session through ``owner``'s hub). A window
    that cannot be opened (a replayed session gone, a live source refused) is left out with a
    note (windows numbered from ``first_number``). Returns (the windows opened, notes)."""
    opened: list[ChartWindow] = []
    notes: list[str] = []
    for i, layout in enumerate(layouts, first_number):
        try:
            win = owner.open_window(layout.venues, symbol=layout.symbol, kind=layout.kind,
                                    scenario=layout.scenario, path=layout.path, show=False)
        except (ValueError, OSError) as exc:
            notes.append(f"window {i} ({layout.symbol}) was not opened: {_one_line(exc)}")
            continue
        notes += [f"window {i} ({layout.symbol}): {n}" for n in apply_layout(win, layout)]
        show_placed(win, layout)
        opened.append(win)
    return opened, notes


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


def say(win: ChartWindow, notes: list[str], done: str | None = None) -> None:
    """Notes on the status bar and in the session's messages (and on stderr), or ``done``."""
    for note in notes:
        print(f"liqdesk: {note}", file=sys.stderr)
        win.session.message(note)
    text = "; ".join(notes) if notes else done
    if text:
        win.status.showMessage(text, 15000)


# ---------------------------------------------------------------------------------- menu
class WorkspaceMenu(QtCore.QObject):
    """File → Workspaces: Save as…, Open ▸ NAME, Delete ▸ NAME, for the window ``window``."""

    def __init__(self, window: ChartWindow, menu: QtWidgets.QMenu, store: WorkspaceStore | None = None):
        super().__init__(window)
        self.window = window
        self.store = store
        self.menu = menu
        self.save_action = menu.addAction("Save as…", self.ask_save)
        self.open_menu = menu.addMenu("Open")
        self.delete_menu = menu.addMenu("Delete")
        self.open_menu.aboutToShow.connect(lambda: self._fill(self.open_menu, self.open))
        self.delete_menu.aboutToShow.connect(lambda: self._fill(self.delete_menu, self.ask_delete))

    def _store(self) -> WorkspaceStore:
        return self.store or WorkspaceStore()

    def _fill(self, menu: QtWidgets.QMenu, slot) -> None:
        menu.clear()
        names = self._store().names()
        if not names:
            menu.addAction("(no saved workspaces)").setEnabled(False)
        for name in names:
            menu.addAction(name, lambda n=name: slot(n))

    def ask_save(self) -> None:
        name, ok = QtWidgets.QInputDialog.getText(self.window, "Save workspace", "Workspace name:")
        if ok and name.strip():
            self.save(name.strip())

    def save(self, name: str) -> str | None:
        """Save every open chart window as workspace ``name``; returns the note (None: saved)."""
        note = self._store().save(name, capture())
        say(self.window, [note] if note else [], f"workspace '{name}' saved")
        return note

    def open(self, name: str) -> list[ChartWindow]:
        """Open workspace ``name`` in place of the windows open now. A workspace that cannot be
        read leaves them as they are, with a one-line message."""
        store = self._store()
        try:
            workspace = store.load(name)
        except (WorkspaceError, WorkspaceFileError) as exc:
            say(self.window, [_one_line(exc)])
            return []
        before = chart_windows()
        opened, notes = open_layouts(self.window, workspace.windows)
        if not opened:
            say(self.window, notes + [f"workspace '{name}' has no window that could be opened"])
            return []
        for win in before:
            win.close_alone()
        store.set_last(name)
        say(opened[0], notes, f"workspace '{name}' opened")
        return opened

    def store_last(self, name: str) -> None:
        """Remember ``name`` as the workspace to reopen on start (said on the status bar if not)."""
        note = self._store().set_last(name)
        if note:
            say(self.window, [note])

    def ask_delete(self, name: str) -> None:
        answer = QtWidgets.QMessageBox.question(self.window, "Delete workspace", f"Delete the workspace '{name}'?")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            self.delete(name)

    def delete(self, name: str) -> str | None:
        note = self._store().delete(name)
        say(self.window, [note] if note else [], f"workspace '{name}' deleted")
        return note
