"""Window geometry and dock layouts (per window and named) in a JSON file that can only hold data
(:mod:`.layout_file`), versioned: a layout an older or newer liqdesk wrote, or a damaged one, is
refused and the default layout used, with a one-line reason. A dock layout is checked before Qt
reads it (:mod:`.dock_state`): Qt's own reader crashes on some damaged ones.

Not QSettings: its INI reader unpickles a ``PySide::PyObjectWrapper`` ``@Variant`` as soon as the
file is parsed, so a crafted ``liqdesk.conf`` ran code when liqdesk opened. The old file's layouts
are migrated once, read as text.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from liqdesk.app.config_files import set_aside

from . import layout_file
from .dock_state import dock_state_problem
from .layout_file import Entry, LayoutFileError, Layouts

LAYOUT_VERSION = 3


class LayoutStore:
    """Window geometry and dock state, plus named layouts, in ``path`` (the user's
    ``layouts.json`` by default). Each call reads the file afresh and each save rewrites it
    atomically, so two liqdesk processes lose nothing of each other's but a simultaneous save.

    ``legacy`` is an old QSettings INI file to migrate from when ``path`` does not exist yet
    (by default the user's ``liqdesk.conf`` for the default ``path``, none for another)."""

    def __init__(self, path: str | os.PathLike | None = None, legacy: str | os.PathLike | None = None):
        self.is_default = path is None
        self.path = Path(path) if path is not None else layout_file.default_path()
        if legacy is not None:
            self.legacy: Path | None = Path(legacy)
        else:
            self.legacy = layout_file.legacy_path() if path is None else None
        self._migration_checked = False
        #: what the one-time migration from the old settings file did (None: nothing to do)
        self.migration_note: str | None = None

    # ------------------------------------------------------------------ file
    def _read(self) -> Layouts:
        if not self._migration_checked:
            self._migration_checked = True
            self.migration_note = layout_file.migrate_legacy(self.path, self.legacy)
        return layout_file.read(self.path)

    def _update(self, section: str, name: str, entry: Entry | None) -> str | None:
        """Set (or with None remove) one entry and rewrite the file. Returns None, or a one-line
        note: the file could not be written, or an unreadable one was set aside first."""
        note = None
        try:
            layouts = self._read()
        except LayoutFileError as exc:
            try:
                aside = set_aside(self.path)
            except OSError as err:
                return f"the layout was not saved: {exc} and cannot be moved aside ({err.strerror or err})"
            layouts = Layouts()
            note = f"{exc}; it was kept as {aside.name}"
        entries = layouts.section(section)
        if entry is None:
            if name not in entries:
                return note
            del entries[name]
        else:
            entries[name] = entry
        try:
            layout_file.write(self.path, layouts)
        except OSError as exc:
            return f"the layout was not saved to {self.path} ({exc.strerror or exc})"
        return note

    @staticmethod
    def _entry(window: QtWidgets.QMainWindow) -> Entry:
        return Entry(geometry=bytes(window.saveGeometry().data()),
                     state=bytes(window.saveState(LAYOUT_VERSION).data()))

    # ------------------------------------------------------------------ per window
    def save(self, name: str, window: QtWidgets.QMainWindow) -> str | None:
        """Remember ``window``'s layout as window ``name``'s. Returns None or a one-line note."""
        return self._update("windows", name, self._entry(window))

    def restore(self, name: str, window: QtWidgets.QMainWindow) -> str | None:
        """Restore a saved layout. Returns None when restored or nothing was saved, else the
        reason it could not be used (the caller then keeps the default layout)."""
        try:
            entry = self._read().windows.get(name)
        except LayoutFileError as exc:
            return str(exc)
        if entry is None:
            return None
        if entry.problem is not None:
            return f"the saved layout is unreadable ({entry.problem})"
        if entry.state is not None:
            problem = _state_problem(entry.state, window)
            if problem is not None:
                return f"the saved dock layout is unreadable ({problem})"
            if not window.restoreState(QtCore.QByteArray(entry.state), LAYOUT_VERSION):
                return "the saved dock layout is unreadable"
        if entry.geometry is not None:
            # Qt refuses a position saved on another screen setup (a monitor unplugged, another
            # display server): the window then keeps its default place and size, docks as saved
            window.restoreGeometry(QtCore.QByteArray(entry.geometry))
        return None

    def forget(self, name: str) -> str | None:
        return self._update("windows", name, None)

    # ------------------------------------------------------------------ named
    def save_named(self, layout: str, window: QtWidgets.QMainWindow) -> str | None:
        """Save ``window``'s layout under ``layout``. Returns None or a one-line note."""
        if not layout_file.valid_name(layout):
            return f"a layout name has 1 to {layout_file.MAX_NAME_CHARS} printable characters"
        return self._update("layouts", layout, self._entry(window))

    def named(self) -> list[str]:
        try:
            return sorted(self._read().layouts)
        except LayoutFileError:
            return []

    def load_named(self, layout: str, window: QtWidgets.QMainWindow) -> bool:
        try:
            entry = self._read().layouts.get(layout)
        except LayoutFileError:
            return False
        if entry is None or entry.problem is not None or entry.state is None \
                or _state_problem(entry.state, window) is not None:
            return False
        if entry.geometry is not None:
            window.restoreGeometry(QtCore.QByteArray(entry.geometry))
        return window.restoreState(QtCore.QByteArray(entry.state), LAYOUT_VERSION)


def _state_problem(state: bytes, window: QtWidgets.QMainWindow) -> str | None:
    """Why Qt must not be given ``state`` for ``window`` (its parser crashes on some damaged
    states, see :mod:`.dock_state`), or None."""
    docks = [dock.objectName() for dock in window.findChildren(QtWidgets.QDockWidget)]
    return dock_state_problem(state, LAYOUT_VERSION, docks)


def report_note(note: str | None) -> None:
    """A save's note on stderr (when the window closes there is no status bar left to show it)."""
    if note:
        print(f"liqdesk: {note}", file=sys.stderr)
