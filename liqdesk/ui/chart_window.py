"""The chart window: every panel a dock that can float onto another monitor, menus and shortcuts,
recording and exports, new windows. Its frame timer (:mod:`.frame_clock`), layouts
(:mod:`.layouts`), workspaces (:mod:`.workspaces`), status bar (:mod:`.status_bar`) and dialogs
(:mod:`.dialogs`) have modules of their own.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from liqdesk.app.chart_settings import settings_for_window
from liqdesk.app.hub import ChartSpec, SessionHub, session_scenario
from liqdesk.app.session import Session
from liqdesk.app.view_state import ViewState

from . import scaling, theme
from .age_panel import AgePanel
from .alerts_panel import AlertsPanel, ChartAlerts, attach, jump_to
from .context_panes import ContextPanes
from .delta_panel import DeltaPanel
from .dialogs import NewWindowDialog
from .export import grid_table, write_grid
from .filters_panel import FiltersPanel
from .frame_clock import FPS, FrameClock
from .heatmap_panel import HeatmapPanel
from .hot_lines import HotLinesOverlay
from .ladder_panel import LadderPanel
from .layouts import LAYOUT_VERSION, LayoutStore, report_note
from .liqmap_panel import LiqMapPanel
from .liquidity_panel import LiquidityPanel
from .replay_bar import ReplayBar
from .stats_panel import StatsPanel
from .status_bar import StatusBar

SHORTCUTS = [
    ("F", "follow the live edge on/off"),
    ("Home", "back to the last hour around the price, following"),
    ("S", "fit session: the whole session on the time axis"),
    ("C", "re-centre the DOM ladder"),
    ("L", "cycle colour scaling (percentile, linear, log)"),
    ("Space", "replay: play / pause"),
    ("→", "replay: step one column"),
    ("[ / ]", "replay: slower / faster"),
    ("Ctrl+R", "record on/off"),
    ("Ctrl+E", "export the displayed grid to CSV/Parquet"),
    ("Ctrl+P", "export the heatmap panel to PNG"),
    ("Ctrl+N", "new chart window"),
    ("Ctrl+L", "connect to the live market"),
    ("Ctrl+W", "close this window (the others stay open)"),
    ("Ctrl+Shift+R", "reset the layout"),
    ("F1", "this list"),
    ("Ctrl+Q", "quit"),
]


def default_dock_widths(width: int) -> list[int]:
    """Default widths of the heatmap, liquidation map, ladder and stats/filters columns for a
    window ``width`` px wide: the side panels get what they need to stay legible (more of a
    narrow window than of a wide one), the heatmap the rest. Qt keeps these proportions when the
    window is resized later."""
    liqmap = int(min(190, max(64, 0.09 * width - 26)))
    ladder = int(min(300, max(170, 0.16 * width)))
    side = int(min(330, max(196, 0.16 * width)))
    return [width - liqmap - ladder - side - 16, liqmap, ladder, side]


#: the order chart windows were opened in (a workspace keeps it)
_OPENED = itertools.count()


# ---------------------------------------------------------------------------------- window
class ChartWindow(QtWidgets.QMainWindow):
    """One chart: heatmap, liquidation map, ladder, stats, filters (docks) over a shared session."""

    #: a message for the status bar, from any thread (queued onto the UI thread)
    messagePosted = QtCore.Signal(str)

    def __init__(self, session: Session, clock: FrameClock | None = None, store: LayoutStore | None = None,
                 name: str = "main", view: ViewState | None = None, restore: bool = True,
                 hub: SessionHub | None = None):
        super().__init__()
        self.session = session
        self.hub = hub
        self.clock = clock
        self.store = store or LayoutStore()
        self.name = name
        self.view = view or ViewState()
        self._version = -1
        self._dirty = True
        self._last = {"ladder": 0.0, "stats": 0.0, "status": 0.0, "replay": 0.0}
        self.extra_windows: list[ChartWindow] = []
        self.layout_message: str | None = None
        self.opened_at = next(_OPENED)
        self._alone = False
        self.setObjectName(f"chartWindow-{name}")
        sym = session.engine.settings.symbol
        self.setWindowTitle(f"liqdesk — {sym} — {session.label}" + (f" ({name})" if name != "main" else ""))
        self.setDockNestingEnabled(True)
        self.setDockOptions(QtWidgets.QMainWindow.DockOption.AllowNestedDocks
                            | QtWidgets.QMainWindow.DockOption.AllowTabbedDocks
                            | QtWidgets.QMainWindow.DockOption.AnimatedDocks)

        self.heatmap = HeatmapPanel()
        self.liqmap = LiqMapPanel()
        self.ladder = LadderPanel()
        self.stats = StatsPanel()
        self.filters = FiltersPanel()
        self.alerts = AlertsPanel()
        # (the heatmap's colour-bar column: the panes keep the same margin so their times line up)
        self.context = ContextPanes(right_margin=int(self.heatmap.gview.ci.layout.columnMaximumWidth(1)))
        self.liqmap.link_price_axis(self.heatmap.vb)
        self.context.link_time_axis(self.heatmap.vb)
        self.context.follow_crosshair(self.heatmap.vline)
        self.hot_lines = HotLinesOverlay(self.heatmap.plot)
        self.liquidity = LiquidityPanel(right_margin=int(self.heatmap.gview.ci.layout.columnMaximumWidth(1)))
        self.liquidity.link_axes(self.heatmap.vb)
        self.delta = DeltaPanel(right_margin=int(self.heatmap.gview.ci.layout.columnMaximumWidth(1)))
        self.delta.link_axes(self.heatmap.vb)
        self.age = AgePanel(right_margin=int(self.heatmap.gview.ci.layout.columnMaximumWidth(1)))
        self.age.link_axes(self.heatmap.vb)
        self.heatmap.vb.sigXRangeChanged.connect(lambda *_: self._refresh_context())
        self.heatmap.vb.sigYRangeChanged.connect(
            lambda *_: self.hot_lines.refresh(self.session.engine, self.view, self.heatmap.vb.viewRange()[1]))
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for key, title, widget in (("heatmap", "Heatmap", self.heatmap), ("liqmap", "Liq. map", self.liqmap),
                                   ("ladder", "DOM ladder", self.ladder), ("stats", "Stats", self.stats),
                                   ("filters", "Filters", self.filters), ("alerts", "Alerts", self.alerts),
                                   ("context", "Context: OI · funding · CVD · liquidations", self.context),
                                   ("liquidity", "Order-book heatmap", self.liquidity),
                                   ("delta", "Δ levels (change over a period)", self.delta),
                                   ("age", "Position age", self.age)):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(widget)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)
            self.docks[key] = dock
        # (the dock's title is short to fit its narrow column; menus use the full name)
        self.docks["liqmap"].toggleViewAction().setText("Liquidation map")
        self.liqmap.show_price_axis(False)
        self.docks["liqmap"].topLevelChanged.connect(self.liqmap.show_price_axis)
        self.replay_bar: ReplayBar | None = None
        if session.is_replay:
            self.replay_bar = ReplayBar(session, self)
            self.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, self.replay_bar)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.default_layout()
        self._default_state = self.saveState(LAYOUT_VERSION)

        self.filters.populate(session.engine.settings, self.view)
        self.filters.viewChanged.connect(self._filters_changed)
        self.filters.settingsChanged.connect(self._settings_changed)
        self.heatmap.scaleChanged.connect(lambda mode: self.set_view(self.view.with_(scale=mode)))
        self.heatmap.candleChanged.connect(lambda ms: self.set_view(self.view.with_(candle_ms=ms)))
        self.heatmap.gview.painted.connect(self._painted)
        self.alert_monitor, _ = attach(session)
        self.alerts.jumpRequested.connect(lambda t, p: jump_to(self.heatmap, t, p))
        self.alert_commands = ChartAlerts(self)
        self.set_view(self.view)
        if clock is not None:
            clock.windows.append(self)
        if restore:
            reason = self.store.restore(name, self)
            if reason:
                self.reset_layout(save=False)
                self.layout_message = f"{reason}: the default layout is used"
                self.status.showMessage(self.layout_message, 15000)
                session.message(self.layout_message)
            elif self.store.migration_note:
                self.status.showMessage(self.store.migration_note, 15000)
                session.message(self.store.migration_note)
        self.messagePosted.connect(lambda text: self.status.showMessage(text, 10000))
        if session.messages and not self.layout_message:
            # said before the window existed, e.g. what a replayed session's reader left out
            self.status.showMessage(session.messages[-1], 15000)
        session.subscribe("message", self._session_message)
        session.subscribe("reset", self._engine_reset)
        self._closed = False

    # ------------------------------------------------------------------ layout
    def default_layout(self) -> None:
        """Every dock in its place, the window as large as the screen allows (up to 1920×1080),
        the panels' widths for that size (see :func:`default_dock_widths`)."""
        d = self.docks
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, d["heatmap"])
        self.splitDockWidget(d["heatmap"], d["liqmap"], QtCore.Qt.Orientation.Horizontal)
        self.splitDockWidget(d["heatmap"], d["context"], QtCore.Qt.Orientation.Vertical)
        # the order-book heatmap shares the context panes' place, as a tab (same time axis)
        self.tabifyDockWidget(d["context"], d["liquidity"])
        self.tabifyDockWidget(d["context"], d["delta"])
        self.tabifyDockWidget(d["context"], d["age"])
        d["context"].raise_()
        self.splitDockWidget(d["liqmap"], d["ladder"], QtCore.Qt.Orientation.Horizontal)
        self.splitDockWidget(d["ladder"], d["stats"], QtCore.Qt.Orientation.Horizontal)
        self.splitDockWidget(d["stats"], d["filters"], QtCore.Qt.Orientation.Vertical)
        self.splitDockWidget(d["filters"], d["alerts"], QtCore.Qt.Orientation.Vertical)
        screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else QtCore.QRect(0, 0, 1920, 1080)
        width = min(1920, max(1000, avail.width()))
        height = min(1080, max(650, avail.height()))
        self.resize(width, height)
        self.fit_docks_to_width(width)
        self.resizeDocks([d["stats"], d["filters"], d["alerts"]], [40, 36, 24], QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([d["heatmap"], d["context"]], [70, 30], QtCore.Qt.Orientation.Vertical)

    def fit_docks_to_width(self, width: int) -> None:
        """The default dock widths for a window ``width`` px wide (after a resize by a program,
        e.g. the 1920-px headless screenshot on a small offscreen screen)."""
        d = self.docks
        self.resizeDocks([d["heatmap"], d["liqmap"], d["ladder"], d["stats"]], default_dock_widths(width),
                         QtCore.Qt.Orientation.Horizontal)

    def reset_layout(self, save: bool = True) -> None:
        """Back to the default dock arrangement (and forget the saved one)."""
        if not self.restoreState(self._default_state, LAYOUT_VERSION):
            self.default_layout()
        for dock in self.docks.values():
            if dock.isFloating():
                dock.setFloating(False)
            dock.show()
        if save:
            note = self.store.forget(self.name)
            self.status.showMessage(note or "layout reset", 10000 if note else 5000)

    def save_layout(self) -> str | None:
        """Remember this window's layout (not for a headless run in the user's own layouts file:
        an offscreen screen's geometry would then be restored on the user's real screens).
        Returns None, or a one-line note when it could not be saved as asked."""
        if QtGui.QGuiApplication.platformName() == "offscreen" and self.store.is_default:
            return None
        note = self.store.save(self.name, self)
        if note:
            self.status.showMessage(note, 10000)
        return note

    # ------------------------------------------------------------------ actions and menus
    def _action(self, text, slot, shortcut=None, checkable=False, tip=None) -> QtGui.QAction:
        act = QtGui.QAction(text, self)
        if shortcut:
            act.setShortcut(QtGui.QKeySequence(shortcut))
        act.setCheckable(checkable)
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        a = {}
        a["follow"] = self._action("Follow live edge", lambda on: self.heatmap.set_follow(bool(on)), "F", True)
        a["follow"].setChecked(True)
        self.heatmap.followChanged.connect(a["follow"].setChecked)
        a["home"] = self._action("Reset zoom", self.heatmap.reset_view, "Home")
        a["fit"] = self._action("Fit session", lambda: self.heatmap.fit_session(), "S",
                                tip="zoom the heatmap's time axis to the whole session")
        if self.session.is_replay:
            src = self.session.source
            self.heatmap.set_session_span(getattr(src, "start_ms", None), getattr(src, "end_ms", None))
        a["recentre"] = self._action("Re-centre ladder", self.ladder.recentre, "C")
        a["scale"] = self._action("Cycle colour scaling", self._cycle_scale, "L")
        a["hot_lines"] = self._action("Hot lines (the 10 strongest levels)", self._toggle_hot_lines, "H", True,
                                      "the strongest estimated levels as thin lines with their dollars")
        a["play"] = self._action("Play / pause", self.session.toggle_play, "Space")
        a["step"] = self._action("Step one column", self.session.step, "Right")
        a["slower"] = self._action("Slower", lambda: self.replay_bar and self.replay_bar.faster(-1), "[")
        a["faster"] = self._action("Faster", lambda: self.replay_bar and self.replay_bar.faster(1), "]")
        for k in ("play", "step", "slower", "faster"):
            a[k].setEnabled(self.session.is_replay)
        a["record"] = self._action("● Record", self._toggle_record, "Ctrl+R", True,
                                   "record every event shown to a session you can replay")
        a["export_grid"] = self._action("Export grid to CSV/Parquet…", self._export_grid, "Ctrl+E")
        a["export_heatmap"] = self._action("Export heatmap to PNG…", lambda: self._export_panel("heatmap"), "Ctrl+P")
        a["new_window"] = self._action("New chart window…", self._new_window, "Ctrl+N")
        a["connect"] = self._action("Connect to the live market…", self._connect, "Ctrl+L",
                                    tip="a chart of the live market: exchanges and symbol")
        # (not the bound method itself: triggered(checked=False) would arrive as save=False)
        a["reset_layout"] = self._action("Reset layout", lambda: self.reset_layout(), "Ctrl+Shift+R")
        a["save_layout"] = self._action("Save layout as…", self._save_named_layout)
        a["help"] = self._action("Keyboard shortcuts", self._show_shortcuts, "F1")
        a["close"] = self._action("Close window", self.close_alone, "Ctrl+W",
                                  tip="close this chart window only; the last one quits")
        a["quit"] = self._action("Quit", QtWidgets.QApplication.closeAllWindows, "Ctrl+Q")
        self.actions_ = a
        # floating docks are windows of their own: give them the shortcuts too
        for dock in self.docks.values():
            dock.addActions(list(a.values()))

    def _build_menus(self) -> None:
        a = self.actions_
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(a["connect"])
        f.addAction(a["record"])
        exp = f.addMenu("Export panel to PNG")
        for key, dock in self.docks.items():
            exp.addAction(dock.toggleViewAction().text(), lambda k=key: self._export_panel(k))
        exp.addAction("Whole window", lambda: self._export_panel(None))
        f.addAction(a["export_grid"])
        f.addSeparator()
        from .workspaces import WorkspaceMenu

        self.workspaces = WorkspaceMenu(self, f.addMenu("Workspaces"))
        f.addSeparator()
        f.addAction(a["close"])
        f.addAction(a["quit"])
        v = mb.addMenu("&View")
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        v.addSeparator()
        for k in ("follow", "home", "fit", "recentre", "scale", "hot_lines"):
            v.addAction(a[k])
        if self.session.is_replay:
            r = mb.addMenu("&Replay")
            for k in ("play", "step", "slower", "faster"):
                r.addAction(a[k])
        w = mb.addMenu("&Window")
        w.addAction(a["new_window"])
        w.addSeparator()
        w.addAction(a["save_layout"])
        self.load_menu = w.addMenu("Load layout")
        self.load_menu.aboutToShow.connect(self._fill_load_menu)
        w.addAction(a["reset_layout"])
        h = mb.addMenu("&Help")
        h.addAction(a["help"])
        h.addAction("About the estimate", self._about)

    def _build_toolbar(self) -> None:
        tb = QtWidgets.QToolBar("Session", self)
        tb.setObjectName("sessionBar")
        tb.setMovable(True)
        a = self.actions_
        rec = QtWidgets.QToolButton()
        rec.setDefaultAction(a["record"])
        rec.setText("● Record")
        rec.setToolTip("record every event shown to a session you can replay (Ctrl+R)")
        rec.setStyleSheet(f"QToolButton:checked {{ background: #5a1f24; border-color: {theme.DANGER}; color: #fff; }}")
        tb.addWidget(rec)
        for key, text in (("new_window", "New window"), ("export_grid", "Export grid"), ("reset_layout", "Reset layout")):
            b = QtWidgets.QToolButton()
            b.setDefaultAction(a[key])
            b.setText(text)
            tb.addWidget(b)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, tb)
        self.session_bar = tb

    def _fill_load_menu(self) -> None:
        self.load_menu.clear()
        names = self.store.named()
        if not names:
            self.load_menu.addAction("(no saved layouts)").setEnabled(False)
        for n in names:
            self.load_menu.addAction(n, lambda n=n: self._load_named_layout(n))

    # ------------------------------------------------------------------ view and settings
    def set_view(self, view: ViewState) -> None:
        """Apply filters/display choices to every panel; the whole window redraws next frame."""
        self.view = view
        for panel in (self.heatmap, self.liqmap, self.ladder, self.stats, self.context, self.liquidity, self.delta,
                      self.age):
            panel.set_view(view)
        self._dirty = True

    def _filters_changed(self, v: ViewState) -> None:
        self.set_view(self.view.with_(exchanges=v.exchanges, tiers=v.tiers, long=v.long, short=v.short, ages=v.ages))
        self.on_frame(force=True)

    def _settings_changed(self, window: str, bin_pct: float, decay: str) -> None:
        settings = settings_for_window(self.session.engine.settings, window, bin_pct, decay)
        self.session.apply_settings(settings)
        self._dirty = True

    def _engine_reset(self) -> None:
        self.heatmap._ranged = False if self.heatmap.follow else self.heatmap._ranged
        self.filters.show_settings(self.session.engine.settings)
        self._dirty = True

    def _cycle_scale(self) -> None:
        modes = scaling.MODES
        self.set_view(self.view.with_(scale=modes[(modes.index(self.view.scale) + 1) % len(modes)]))

    # ------------------------------------------------------------------ frame
    def on_frame(self, force: bool = False, image: tuple | None = None) -> None:
        """Redraw what changed since the last frame (called by the frame clock). ``force``:
        every panel, the whole heatmap window (``image``: a ready grid for it, see the bench)."""
        engine = self.session.engine
        now = time.perf_counter()
        changed = force or self._dirty or engine.version != self._version
        # alerts fired by the ingest this frame: listed in the same frame
        self.alerts.refresh(engine.alerts)
        if changed and not force and self.session.busy() is not None:
            # history being built or a seek: redraw 4 times a second and leave the CPU to the work
            if now - self._last.get("busy", 0.0) < 0.25:
                changed = False
            else:
                self._last["busy"] = now
        if changed:
            full = self._dirty or force
            self._version = engine.version
            self._dirty = False
            if self._visible("heatmap"):
                self.heatmap.refresh(engine, force=full, image=image)
                self.hot_lines.refresh(engine, self.view, self.heatmap.vb.viewRange()[1])
            # a filter or settings change shows at once; live changes wait for their turn
            self._liqmap_stale = "now" if full else (getattr(self, "_liqmap_stale", None) or "due")
        # the liquidation map (the live column's levels as bars) at most 10 times a second, as
        # the ladder: redrawn every frame it cost as much as the rest of a still frame
        stale = getattr(self, "_liqmap_stale", None)
        if stale == "now" or (stale and now - self._last.get("liqmap", -1.0) >= 0.1):
            self._last["liqmap"] = now
            self._liqmap_stale = None
            if self._visible("liqmap"):
                self.liqmap.refresh(engine)
        if (changed and now - self._last.get("context", 0.0) >= 0.1) or force:
            self._refresh_context(now)
        if (changed and now - self._last.get("liquidity", 0.0) >= 0.5) or force:
            self._last["liquidity"] = now
            if self._visible("liquidity"):
                self.liquidity.refresh(engine)
            if self._tab_shown("delta"):
                self.delta.refresh(engine)
            if self._tab_shown("age"):
                self.age.refresh(engine)
        if (changed and now - self._last["ladder"] >= 0.1) or force:
            self._last["ladder"] = now
            if self._visible("ladder"):
                self.ladder.refresh(engine)
        if now - self._last["stats"] >= 0.25 or force:
            self._last["stats"] = now
            if self._visible("stats"):
                self.stats.refresh(engine)
        if self.replay_bar is not None and (now - self._last["replay"] >= 0.1 or force):
            self._last["replay"] = now
            self.replay_bar.refresh()
        if now - self._last["status"] >= 0.5 or force:
            self._last["status"] = now
            self.status.refresh(self.session, self.clock)

    def _toggle_hot_lines(self, on: bool) -> None:
        self.hot_lines.set_enabled(on)
        self.hot_lines.refresh(self.session.engine, self.view, self.heatmap.vb.viewRange()[1])

    def _refresh_context(self, now: float | None = None) -> None:
        self._last["context"] = time.perf_counter() if now is None else now
        if self._visible("context"):
            self.context.refresh(self.session.engine)

    def _visible(self, key: str) -> bool:
        dock = self.docks[key]
        return not dock.isHidden() and dock.widget().isVisible() or not self.isVisible()

    def _tab_shown(self, key: str) -> bool:
        """As :meth:`_visible`, and for a dock tabbed behind another (whose widget still counts
        as visible) only when its tab is the one shown: the whole-window reads of the delta and
        position-age tabs are not paid for a tab nobody sees — nor in a window not shown (a
        render or a test: each of those tabs is a whole-window read, ~0.6 s on a 1 h window)."""
        return self.isVisible() and self._visible(key) and not self.docks[key].widget().visibleRegion().isEmpty()

    def _painted(self, t: float) -> None:
        if self.clock is None or getattr(self, "_painted_tick", None) != self.clock.tick_id:
            self._painted_tick = self.clock.tick_id if self.clock else None
            self.session.frame_shown(t)

    def _session_message(self, text: str) -> None:
        # may come from the recorder's closing thread: a signal queues it onto the UI thread
        self.messagePosted.emit(text)

    # ------------------------------------------------------------------ commands
    def _ask_record_start(self) -> bool | None:
        """Record from now on (False), from the start of the journal (True), or cancel (None)."""
        journal = self.session.journal
        if journal is None or not journal.events:
            return False
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Record")
        box.setText("Save the session from now on, or from the start?")
        box.setInformativeText(f"The session's {journal.describe()}.")
        now_b = box.addButton("From now on", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        start_b = box.addButton("From the start", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(start_b)
        box.exec()
        clicked = box.clickedButton()
        return True if clicked is start_b else False if clicked is now_b else None

    def _toggle_record(self, on: bool) -> None:
        if on and not self.session.recording:
            from platformdirs import user_data_dir

            from_start = self._ask_record_start()
            if from_start is None:
                self.actions_["record"].setChecked(False)
                return
            stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
            sym = self.session.engine.settings.symbol.split(":")[0].replace("/", "")
            path = Path(user_data_dir("liqdesk")) / "sessions" / f"{sym}-{stamp}.liqs"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.session.start_recording(path, from_start=from_start)
            except (OSError, ValueError) as exc:
                self.actions_["record"].setChecked(False)
                QtWidgets.QMessageBox.warning(self, "Record", f"cannot record: {exc}")
                return
            self.status.showMessage(f"recording to {path}", 10000)
        elif not on:
            self.session.stop_recording()

    def _ask_path(self, title: str, suggested: str, filters: str) -> str | None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, title, suggested, filters)
        return path or None

    def export_panel_png(self, key: str | None, path) -> bool:
        widget = self if key is None else self.docks[key].widget()
        return widget.grab().save(str(path), "PNG")

    def _export_panel(self, key: str | None) -> None:
        path = self._ask_path("Export panel to PNG", f"liqdesk-{key or 'window'}.png", "PNG image (*.png)")
        if path:
            ok = self.export_panel_png(key, path)
            self.status.showMessage(f"saved {path}" if ok else f"could not write {path}", 8000)

    def _export_grid(self) -> None:
        path = self._ask_path("Export grid", "liqdesk-grid.csv", "CSV (*.csv);;Parquet (*.parquet)")
        if not path:
            return
        model = self.session.engine.model
        if not model.bin_width:
            self.status.showMessage("nothing to export yet", 5000)
            return
        table = grid_table(model, self.view)   # computed here, written off the UI thread

        def write():
            try:
                from .export import write_table
                n = write_table(path, table)
                self._session_message(f"wrote {n:,} cells to {path}")
            except OSError as exc:
                self._session_message(f"could not write {path}: {exc}")
        threading.Thread(target=write, name="liqdesk-export", daemon=True).start()

    def export_grid(self, path) -> int:
        """Write the displayed grid now (for scripts and tests)."""
        return write_grid(path, self.session.engine.model, self.view)

    def _new_window(self) -> ChartWindow | None:
        dlg = NewWindowDialog(self.session, self)
        if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        try:
            return self.open_window(dlg.venues() or None, symbol=dlg.symbol(), scenario=dlg.scenario())
        except (ValueError, OSError) as exc:
            QtWidgets.QMessageBox.warning(self, "New chart window", f"cannot open it: {exc}")
            return None

    def open_window(self, exchanges: tuple[str, ...] | None = None, symbol: str | None = None,
                    kind: str | None = None, scenario: str | None | bool = False, path: str | None = None,
                    show: bool = True) -> ChartWindow:
        """Another chart window showing ``symbol`` (default: this window's) on ``exchanges``
        (None = all of the source's), from the same kind of source or ``kind`` ("live", "sim"),
        and for the simulator the preset ``scenario`` (None: the default market; default: this
        window's), for a replay the session folder ``path`` (default: this window's). It shares a
        running session that covers the symbol, venues and scenario, else gets a session (engine,
        source, journal) of its own. ``show``: False leaves it hidden (a workspace places it first)."""
        settings = self.session.engine.settings
        symbol = symbol or settings.symbol
        key = self.session.key or ()
        kind = kind or self.session.kind
        own = session_scenario(self.session)
        if scenario is False:
            scenario = own if kind == self.session.kind else None
        spec = ChartSpec(kind, symbol, tuple(exchanges) if exchanges else None,
                         path=path or (key[3] if kind == "replay" and len(key) > 3 else None),
                         scenario=scenario if kind == "sim" else None)
        if self.hub is not None:
            session = self.hub.open(spec)
        elif kind == self.session.kind and symbol.upper() == settings.symbol.upper() and spec.scenario == own \
                and (kind != "replay" or spec.path == (key[3] if len(key) > 3 else None)):
            session = self.session
        else:
            raise ValueError("this window cannot open another market (no session hub)")
        venues = session.engine.settings.exchanges
        view = ViewState(exchanges=None if not exchanges or set(exchanges) >= set(venues)
                         else tuple(e for e in venues if e in exchanges))
        n = len(self.extra_windows) + 2
        win = ChartWindow(session, self.clock, self.store, name=f"chart{n}", view=view, restore=False, hub=self.hub)
        win.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        win.resize(1400, 850)
        win.workspaces.store = self.workspaces.store
        self.extra_windows.append(win)
        win.destroyed.connect(lambda *_: self._forget_window(win))
        if show:
            win.show()
        return win

    def _connect(self) -> ChartWindow | None:
        from .dialogs import ConnectDialog

        dlg = ConnectDialog(self.session, self.hub, self)
        if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        try:
            return self.open_window(dlg.venues() or None, symbol=dlg.symbol(), kind="live")
        except (ValueError, OSError) as exc:
            QtWidgets.QMessageBox.warning(self, "Connect", f"cannot connect: {exc}")
            return None

    def _forget_window(self, win) -> None:
        if win in self.extra_windows:
            self.extra_windows.remove(win)
        win.detach()

    def _save_named_layout(self) -> None:
        name, ok = QtWidgets.QInputDialog.getText(self, "Save layout", "Layout name:")
        if ok and name.strip():
            note = self.store.save_named(name.strip().replace("/", "-"), self)
            self.status.showMessage(note or f"layout '{name.strip()}' saved", 10000 if note else 5000)

    def _load_named_layout(self, name: str) -> None:
        if not self.store.load_named(name, self):
            self.status.showMessage(f"layout '{name}' could not be read", 8000)

    def _show_shortcuts(self) -> None:
        text = "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in SHORTCUTS) + "</table>"
        QtWidgets.QMessageBox.information(self, "Keyboard shortcuts", text)

    def _about(self) -> None:
        QtWidgets.QMessageBox.information(
            self, "About the estimate",
            "The heatmap is an <b>estimate</b>: exchanges publish no positions. When open interest rises, "
            "new positions are placed on both sides at the traded prices, spread over a leverage prior and put "
            "at each exchange's liquidation price; falling OI shrinks them; the mark price crossing a level "
            "removes it. Without open interest the estimate is volume-only (shown in the status bar and the "
            "stats panel). Bubbles are real, reported liquidations.")

    # ------------------------------------------------------------------ close
    def close_alone(self) -> bool:
        """Close this window only (Ctrl+W): the main window's other windows stay open. The last
        window closed quits, as any last window does."""
        self._alone = True
        return self.close()

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        try:
            report_note(self.save_layout())
        finally:
            self.detach()
            if self.name == "main" and not self._alone:
                for w in list(self.extra_windows):
                    w.close()
        super().closeEvent(ev)

    def detach(self) -> None:
        """Stop receiving anything from the session and the clock (the window is closing): a
        closed window must never be called again."""
        if self._closed:
            return
        self._closed = True
        if self.clock is not None and self in self.clock.windows:
            self.clock.windows.remove(self)
        self.session.unsubscribe("message", self._session_message)
        self.session.unsubscribe("reset", self._engine_reset)
        if self.hub is not None:
            self.hub.release(self.session)


__all__ = ["FPS", "LAYOUT_VERSION", "ChartWindow", "FrameClock", "LayoutStore", "StatusBar"]
