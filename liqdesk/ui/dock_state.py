"""Checking a saved dock layout (``QMainWindow.saveState``'s bytes) before Qt reads it.

Qt trusts that blob: ``QDockAreaLayout::restoreState`` indexes its four dock areas with a position
read from the data without a bounds check, so one flipped byte in a saved layout crashed liqdesk
(a segmentation fault) at every start. The layouts file is the user's to edit and may come from
elsewhere, so :func:`dock_state_problem` parses the blob by the grammar ``QMainWindow::saveState``
writes (Qt 6, ``qmainwindowlayout.cpp``, ``qdockarealayout.cpp``, ``qtoolbararealayout.cpp``)
and refuses anything Qt would not write for liqdesk's windows: an unknown marker or dock name,
a position outside the four areas, deep nesting, numbers far outside any screen, trailing bytes.
No Qt here: plain bytes in, a one-line reason (or None) out.
"""

from __future__ import annotations

import struct

VERSION_MARKER = 0xFF
DOCK_STATE_MARKER = 0xFD
FLOATING_TABS_MARKER = 0xF9          # only written with GroupedDragging, which liqdesk does not use
TOOLBAR_MARKERS = (0xFE, 0xFC)       # ToolBarStateMarker, ToolBarStateMarkerEx
SEQUENCE_MARKER = 0xFC
TAB_MARKER = 0xFA
WIDGET_MARKER = 0xFB
DOCK_AREAS = 4                       # left, right, top, bottom
ORIENTATIONS = (1, 2)                # Qt::Horizontal, Qt::Vertical
CORNER_AREAS = (1, 2, 4, 8)          # Qt::DockWidgetArea values
#: limits far beyond any layout liqdesk writes (it has five docks and two toolbars)
MAX_DEPTH = 8
MAX_ITEMS = 64
MAX_NAME_BYTES = 512
MAX_COORD = 1 << 24                  # px: QWIDGETSIZE_MAX (2**24 - 1) is the largest size Qt writes
MAX_LIMIT = 1 << 28                  # px: a group's maximum size sums its docks' (QWIDGETSIZE_MAX each)


class StateError(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.items = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise StateError("it ends too early")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uchar(self) -> int:
        return self.take(1)[0]

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def uint32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def coord(self, what: str, low: int = -MAX_COORD, high: int = MAX_COORD) -> int:
        value = self.int32()
        if not low <= value <= high:
            raise StateError(f"its {what} {value} is out of range")
        return value

    def count(self, what: str, low: int = 0, high: int = MAX_ITEMS) -> int:
        value = self.int32()
        if not low <= value <= high:
            raise StateError(f"its {what} count {value} is out of range")
        self.items += value
        if self.items > MAX_ITEMS:
            raise StateError("it holds too many items")
        return value

    def string(self) -> str:
        size = self.uint32()
        if size == 0xFFFFFFFF:                       # a null QString
            return ""
        if size > MAX_NAME_BYTES or size % 2:
            raise StateError("it holds a malformed name")
        try:
            return self.take(size).decode("utf-16-be")
        except UnicodeDecodeError:
            raise StateError("it holds a malformed name") from None


def _dock_area_info(r: _Reader, docks: frozenset[str], seen: set[str], depth: int) -> None:
    """One ``QDockAreaLayoutInfo``: a sequence or tab group of docks and nested groups."""
    if depth > MAX_DEPTH:
        raise StateError("its docks are nested too deeply")
    marker = r.uchar()
    if marker not in (SEQUENCE_MARKER, TAB_MARKER):
        raise StateError(f"it has an unknown dock group marker {marker:#x}")
    if marker == TAB_MARKER:
        r.int32()                                    # the current tab (Qt checks its range)
    if r.uchar() not in ORIENTATIONS:
        raise StateError("it has an unknown orientation")
    for _ in range(r.count("dock", low=1)):
        item = r.uchar()
        if item == WIDGET_MARKER:
            name = r.string()
            if name not in docks:
                raise StateError(f"it names a dock this window does not have ({name[:40]!r})")
            if name in seen:
                raise StateError(f"it names the dock {name!r} twice")
            seen.add(name)
            r.uchar()                                # flags: visible, floating
            # floating: x, y, width, height; docked: position, size, minimum, maximum
            r.coord("x or position")
            r.coord("y or size")
            r.coord("width or minimum", high=MAX_LIMIT)
            r.coord("height or maximum", high=MAX_LIMIT)
        elif item == SEQUENCE_MARKER:
            r.coord("position")
            r.coord("size")
            r.coord("minimum", high=MAX_LIMIT)
            r.coord("maximum", high=MAX_LIMIT)
            _dock_area_info(r, docks, seen, depth + 1)
        else:
            raise StateError(f"it has an unknown dock item marker {item:#x}")


def _dock_areas(r: _Reader, docks: frozenset[str]) -> None:
    seen: set[str] = set()
    areas: set[int] = set()
    for _ in range(r.count("dock area", high=DOCK_AREAS)):
        area = r.int32()
        if not 0 <= area < DOCK_AREAS or area in areas:
            raise StateError(f"it places docks in an area {area} that does not exist")
        areas.add(area)
        r.coord("area width", low=-1)
        r.coord("area height", low=-1)
        _dock_area_info(r, docks, seen, 1)
    r.coord("central width", low=-1)
    r.coord("central height", low=-1)
    for _ in range(4):
        if r.int32() not in CORNER_AREAS:
            raise StateError("it gives a corner to an area that does not exist")


def _toolbars(r: _Reader, extended: bool) -> None:
    for _ in range(r.count("toolbar line", high=16)):
        area = r.int32()
        if not 0 <= area < DOCK_AREAS:
            raise StateError(f"it places a toolbar in an area {area} that does not exist")
        for _ in range(r.count("toolbar", high=16)):
            r.string()                               # a toolbar Qt does not find is skipped
            r.uchar()                                # shown
            r.coord("toolbar position")
            r.coord("toolbar size", low=-1)
            r.uint32()                               # packed floating geometry (16-bit fields)
            if extended:
                r.uint32()


def dock_state_problem(data: bytes, version: int, docks) -> str | None:
    """Why ``data`` is not a dock layout ``QMainWindow.saveState(version)`` writes for a window
    whose docks are named ``docks``, or None when Qt may be given it."""
    r = _Reader(bytes(data))
    try:
        if r.int32() != VERSION_MARKER:
            raise StateError("it is not a Qt window state")
        saved = r.int32()
        if saved != version:
            raise StateError(f"it is layout version {saved}, this liqdesk uses version {version}")
        sections: list[int] = []
        while r.pos < len(r.data):
            marker = r.uchar()
            if marker == DOCK_STATE_MARKER and not sections:
                _dock_areas(r, frozenset(docks))
            elif marker in TOOLBAR_MARKERS and TOOLBAR_MARKERS[0] not in sections:
                _toolbars(r, extended=marker == TOOLBAR_MARKERS[1])
                marker = TOOLBAR_MARKERS[0]
            else:
                raise StateError(f"it has an unexpected section marker {marker:#x}")
            sections.append(marker)
    except StateError as exc:
        return str(exc)
    return None
