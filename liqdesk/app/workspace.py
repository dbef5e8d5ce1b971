"""Named workspaces: every open chart window, as plain data (no Qt).

A workspace is a list of :class:`ChartLayout`, one per chart window: what it shows (source kind,
symbol, venues, simulator scenario or replayed session), its filters and colour scale, the model's
time window, bin size and decay, whether it follows the live edge (else the time and price range
in view), its geometry in screen pixels and the screen it was on, and its dock layout (Qt's
``saveState`` bytes, opaque here and checked by :mod:`liqdesk.ui.dock_state` before Qt reads them).

:func:`layout_from_json` checks every field's type and range and raises
:class:`WorkspaceError` with a one-line reason naming the field; :func:`layout_to_json` is its
inverse. :func:`place_rect` puts a saved window rectangle on the screens that exist now.
The file that holds workspaces is :mod:`liqdesk.app.workspace_store`.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field

from liqdesk.app.chart_settings import BIN_PCTS, DECAYS_S, WINDOWS_MS
from liqdesk.app.view_state import CANDLE_INTERVALS_MS
from liqdesk.core.events import EXCHANGES

KINDS = ("sim", "replay", "live")
SCALES = ("percentile", "linear", "log")       # liqdesk.ui.scaling.MODES (no Qt import here)
WINDOW_STATES = ("normal", "maximized", "fullscreen")
#: far beyond any desk: a workspace with more windows than this is not one liqdesk wrote
MAX_WINDOWS = 32
MAX_TEXT_CHARS = 200
MAX_PATH_CHARS = 4096
MAX_TIERS = 64
#: px: QWIDGETSIZE_MAX (2**24 - 1) bounds any coordinate or size Qt uses
MAX_COORD = 1 << 24
#: a dock layout is a few KB (base64 text)
MAX_DOCKS_CHARS = 256 * 1024
#: the smallest part of a window (px) that must lie on a screen for it to count as visible there
MIN_VISIBLE_PX = 64


class WorkspaceError(ValueError):
    """A workspace (or one of its windows) cannot be used; the message is one line."""


@dataclass(frozen=True)
class Rect:
    """A rectangle in screen pixels (virtual desktop coordinates): top-left corner and size."""

    x: int
    y: int
    width: int
    height: int

    def intersection_area(self, other: Rect) -> int:
        w = min(self.x + self.width, other.x + other.width) - max(self.x, other.x)
        h = min(self.y + self.height, other.y + other.height) - max(self.y, other.y)
        return w * h if w > 0 and h > 0 else 0


@dataclass(frozen=True)
class Screen:
    """A monitor as the desktop reports it: its ``name`` (e.g. "DP-1"), whole ``geometry`` and
    ``available`` area (without panels and docks), in virtual desktop pixels."""

    name: str
    geometry: Rect
    available: Rect


@dataclass(frozen=True)
class ChartLayout:
    """One chart window of a workspace. Times in seconds since the epoch (UTC), prices in the
    quote currency, bin size in % of price, geometry in screen pixels."""

    kind: str = "sim"
    symbol: str = "BTC/USDT:USDT"
    venues: tuple[str, ...] | None = None           # the session's venues (None: the source's default)
    scenario: str | None = None                     # simulator preset
    path: str | None = None                         # replayed session folder
    exchanges: tuple[str, ...] | None = None        # venues shown (filter; None: all of the session's)
    tiers: tuple[float, ...] | None = None          # leverage tiers shown (None: all)
    ages: tuple[str, ...] | None = None             # position-age buckets shown (None: all)
    long: bool = True
    short: bool = True
    scale: str = "percentile"
    candle_ms: int = 0
    window: str = "4h"
    bin_pct: float = 0.05
    decay: str = "off"
    follow: bool = True
    time_range_s: tuple[float, float] | None = None     # in view when not following
    price_range: tuple[float, float] | None = None
    geometry: Rect | None = None                    # the window's normal (not maximized) client area
    window_state: str = "normal"
    screen: str | None = None                       # the screen's name
    screen_geometry: Rect | None = None             # that screen's geometry when saved
    docks: bytes | None = None                      # QMainWindow.saveState bytes


@dataclass(frozen=True)
class Workspace:
    """Chart windows in the order they were opened (the first is the main window)."""

    windows: tuple[ChartLayout, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------- reading
def _text(value: object, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise WorkspaceError(f"its {what} is not text of 1 to {limit} printable characters")
    return value


def _choice(value: object, what: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise WorkspaceError(f"its {what} is {_show(value)}, not one of {', '.join(map(str, choices))}")
    return value


def _member(value, what: str, choices):
    if value not in choices:
        raise WorkspaceError(f"its {what} is {value:g}, not one of {', '.join(f'{c:g}' for c in choices)}")
    return value


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text[:40]


def _bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        raise WorkspaceError(f"its {what} is {_show(value)}, not true or false")
    return value


def _number(value: object, what: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise WorkspaceError(f"its {what} is {_show(value)}, not a finite number")
    return float(value)


def _int(value: object, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise WorkspaceError(f"its {what} is {_show(value)}, not a whole number from {low} to {high}")
    return value


def _venues(value: object, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not 0 < len(value) <= len(EXCHANGES):
        raise WorkspaceError(f"its {what} is not a list of 1 to {len(EXCHANGES)} exchanges")
    for name in value:
        _choice(name, what[:-1] if what.endswith("s") else what, EXCHANGES)
    if len(set(value)) != len(value):
        raise WorkspaceError(f"its {what} name an exchange twice")
    return tuple(value)


def _pair(value: object, what: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise WorkspaceError(f"its {what} is not a list of two numbers")
    a, b = (_number(v, what) for v in value)
    if not a < b:
        raise WorkspaceError(f"its {what} is empty (from {a:g} to {b:g})")
    return a, b


def _rect(value: object, what: str, minimum: int = 0) -> Rect | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise WorkspaceError(f"its {what} is a {type(value).__name__}, not an object")
    return Rect(*(_int(value.get(k), f"{what} {k}", low, MAX_COORD)
                  for k, low in (("x", -MAX_COORD), ("y", -MAX_COORD), ("width", minimum), ("height", minimum))))


def _get(doc: dict, key: str, kind: type, what: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, kind):
        raise WorkspaceError(f"its {what} is a {type(value).__name__}, not an object")
    return value


def layout_from_json(doc: object) -> ChartLayout:
    """One window's layout from its JSON object; raises :class:`WorkspaceError` naming the field."""
    if not isinstance(doc, dict):
        raise WorkspaceError(f"a window is a {type(doc).__name__}, not an object")
    src = _get(doc, "source", dict, "source")
    view = _get(doc, "view", dict, "view")
    chart = _get(doc, "chart", dict, "chart")
    win = _get(doc, "window", dict, "window")
    kind = _choice(src.get("kind"), "source kind", KINDS)
    scenario = src.get("scenario")
    path = src.get("path")
    if kind == "replay":
        path = _text(path, "replayed session path", MAX_PATH_CHARS)
    elif path is not None:
        raise WorkspaceError(f"its source path is for a replay, not a {kind} chart")
    if scenario is not None:
        if kind != "sim":
            raise WorkspaceError(f"its scenario is for the simulator, not a {kind} chart")
        from liqdesk.sim.scenarios import SCENARIO_NAMES

        scenario = _choice(scenario, "scenario", SCENARIO_NAMES)
    tiers = view.get("tiers")
    if tiers is not None:
        if not isinstance(tiers, list) or len(tiers) > MAX_TIERS:
            raise WorkspaceError(f"its view tiers are not a list of up to {MAX_TIERS} leverages")
        tiers = tuple(_number(t, "view tier") for t in tiers)
    ages = view.get("ages")
    if ages is not None:
        from liqdesk.core.position_age import BUCKET_KEYS

        if not isinstance(ages, list) or len(ages) > len(BUCKET_KEYS):
            raise WorkspaceError(f"its view ages are not a list of up to {len(BUCKET_KEYS)} buckets")
        ages = tuple(k for k in BUCKET_KEYS if k in {_choice(a, "age bucket", BUCKET_KEYS) for a in ages})
    time_range = _pair(doc.get("time_range_s"), "time range")
    price_range = _pair(doc.get("price_range"), "price range")
    docks = doc.get("docks")
    if docks is not None:
        if not isinstance(docks, str) or len(docks) > MAX_DOCKS_CHARS:
            raise WorkspaceError(f"its dock layout is not base64 text of up to {MAX_DOCKS_CHARS:,} characters")
        try:
            docks = base64.b64decode(docks, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WorkspaceError(f"its dock layout is not base64 ({exc})") from None
    screen = win.get("screen")
    return ChartLayout(
        kind=kind,
        symbol=_text(src.get("symbol"), "symbol"),
        venues=_venues(src.get("venues"), "source venues"),
        scenario=scenario,
        path=path,
        exchanges=_venues(view.get("exchanges"), "view exchanges"),
        tiers=tiers,
        ages=ages,
        long=_bool(view.get("long", True), "view long"),
        short=_bool(view.get("short", True), "view short"),
        scale=_choice(view.get("scale", "percentile"), "colour scale", SCALES),
        candle_ms=_member(_int(view.get("candle_ms", 0), "candle interval", 0, max(CANDLE_INTERVALS_MS)),
                          "candle interval (ms)", (0, *CANDLE_INTERVALS_MS)),
        window=_choice(chart.get("window", "4h"), "time window", tuple(WINDOWS_MS)),
        bin_pct=_member(_number(chart.get("bin_pct", 0.05), "bin size"), "bin size (%)", BIN_PCTS),
        decay=_choice(chart.get("decay", "off"), "decay", tuple(DECAYS_S)),
        follow=_bool(doc.get("follow", True), "follow"),
        time_range_s=time_range,
        price_range=price_range,
        geometry=_rect(win.get("geometry"), "window geometry", minimum=1),
        window_state=_choice(win.get("state", "normal"), "window state", WINDOW_STATES),
        screen=None if screen is None else _text(screen, "screen name"),
        screen_geometry=_rect(win.get("screen_geometry"), "screen geometry", minimum=1),
        docks=docks,
    )


def workspace_from_json(doc: object) -> Workspace:
    """A workspace from its JSON object ``{"windows": [...]}``; raises :class:`WorkspaceError`."""
    if not isinstance(doc, dict):
        raise WorkspaceError(f"it is a {type(doc).__name__}, not an object")
    windows = doc.get("windows")
    if not isinstance(windows, list) or not 0 < len(windows) <= MAX_WINDOWS:
        raise WorkspaceError(f"its windows are not a list of 1 to {MAX_WINDOWS} chart windows")
    out = []
    for i, item in enumerate(windows, 1):
        try:
            out.append(layout_from_json(item))
        except WorkspaceError as exc:
            raise WorkspaceError(f"window {i}: {exc}") from None
    return Workspace(tuple(out))


# ---------------------------------------------------------------------------------- writing
def _rect_json(rect: Rect | None) -> dict | None:
    return None if rect is None else {"x": rect.x, "y": rect.y, "width": rect.width, "height": rect.height}


def layout_to_json(layout: ChartLayout) -> dict:
    """The JSON object :func:`layout_from_json` reads back as ``layout``."""
    def listed(value):
        return None if value is None else list(value)

    return {
        "source": {"kind": layout.kind, "symbol": layout.symbol, "venues": listed(layout.venues),
                   "scenario": layout.scenario, "path": layout.path},
        "view": {"exchanges": listed(layout.exchanges), "tiers": listed(layout.tiers), "ages": listed(layout.ages),
                 "long": layout.long,
                 "short": layout.short, "scale": layout.scale, "candle_ms": layout.candle_ms},
        "chart": {"window": layout.window, "bin_pct": layout.bin_pct, "decay": layout.decay},
        "follow": layout.follow,
        "time_range_s": listed(layout.time_range_s),
        "price_range": listed(layout.price_range),
        "window": {"geometry": _rect_json(layout.geometry), "state": layout.window_state,
                   "screen": layout.screen, "screen_geometry": _rect_json(layout.screen_geometry)},
        "docks": None if layout.docks is None else base64.b64encode(layout.docks).decode("ascii"),
    }


def workspace_to_json(workspace: Workspace) -> dict:
    return {"windows": [layout_to_json(w) for w in workspace.windows]}


# ---------------------------------------------------------------------------------- placing
def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def place_rect(rect: Rect, screens: list[Screen], saved_screen: str | None = None,
               saved_screen_geometry: Rect | None = None, frame: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Rect:
    """Where a window saved at ``rect`` (its client area) goes on ``screens`` (the first is the
    primary), wholly inside one screen's available area with its frame (``frame``: left, top,
    right and bottom margins in px, the title bar included) so that it can be seen and moved.

    The screen: the one showing most of ``rect`` (when at least :data:`MIN_VISIBLE_PX` square of
    it), else the one named ``saved_screen``, else the primary. A window whose screen is gone keeps
    its place relative to that screen's corner (``saved_screen_geometry``) on the primary. A window
    larger than the screen is shrunk to fit."""
    if not screens:
        return rect
    left, top, right, bottom = frame
    best = max(screens, key=lambda s: rect.intersection_area(s.available))
    if rect.intersection_area(best.available) >= MIN_VISIBLE_PX * MIN_VISIBLE_PX:
        target, x, y = best, rect.x, rect.y
    else:
        named = [s for s in screens if saved_screen is not None and s.name == saved_screen]
        target = named[0] if named else screens[0]
        origin = saved_screen_geometry if saved_screen_geometry is not None else None
        if origin is not None and not named:
            x = target.geometry.x + rect.x - origin.x
            y = target.geometry.y + rect.y - origin.y
        else:
            x, y = rect.x, rect.y
    area = target.available
    inner_w = max(1, area.width - left - right)
    inner_h = max(1, area.height - top - bottom)
    width, height = min(rect.width, inner_w), min(rect.height, inner_h)
    x = _clamp(x, area.x + left, area.x + left + inner_w - width)
    y = _clamp(y, area.y + top, area.y + top + inner_h - height)
    return Rect(x, y, width, height)
