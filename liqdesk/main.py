"""The composition root: builds a source, an engine and a session from command-line choices and
hands them to the window (``liqdesk``) or to the headless renderer (``liqdesk render``).

Nothing else wires layers together: ``core`` knows no sources, sources know no Qt, the UI gets a
ready :class:`~liqdesk.app.session.Session`. Qt is imported only inside the functions that need it.
"""

from __future__ import annotations

import math
from pathlib import Path

from liqdesk.errors import UserError

DEFAULT_WINDOW = "4h"
DEFAULT_BIN_PCT = 0.05


def _exchanges(text) -> tuple[str, ...] | None:
    from liqdesk.core.events import EXCHANGES

    if not text:
        return None
    names = tuple(dict.fromkeys(x.strip().lower() for part in text for x in str(part).split(",") if x.strip()))
    unknown = [n for n in names if n not in EXCHANGES]
    if unknown:
        raise UserError(f"unknown exchange(s) {', '.join(unknown)}; expected some of {', '.join(EXCHANGES)}")
    return names


def window_for_span(span_ms: int) -> str:
    """The smallest standard time window that holds ``span_ms`` (at most 30 d)."""
    from liqdesk.app.chart_settings import WINDOWS_MS

    for name, ms in WINDOWS_MS.items():
        if span_ms <= ms:
            return name
    return "30d"


def replay_settings(reader, exchanges=None, window: str | None = None, bin_pct: float | None = None,
                    prior: dict | None = None):
    """Model settings for replaying ``reader``: its exchanges and symbol, a window that holds the
    session (1h … 30d over 1,440 columns), the default bin size and ``prior`` (leverages, weights)."""
    from liqdesk.app.analysis import session_exchanges, settings_for
    from liqdesk.app.chart_settings import settings_for_window

    have = session_exchanges(reader)
    if exchanges:
        missing = [e for e in exchanges if e not in have]
        if missing:
            raise UserError(f"exchange(s) {', '.join(missing)} not in the session; it has {', '.join(have)}")
    base = settings_for(reader, exchanges=tuple(exchanges) if exchanges else None, **(prior or {}))
    span = int(reader.end_ms - reader.start_ms) + 1
    settings = settings_for_window(base, window or window_for_span(span),
                                   None if base.bin_width else (bin_pct or DEFAULT_BIN_PCT))
    return settings


def open_reader(path):
    from liqdesk.store import SessionReader

    p = Path(path)
    if not p.exists():
        raise UserError(f"no session at {p}")
    reader = SessionReader(p)
    if reader.start_ms is None:
        raise UserError(f"session {p} holds no events")
    return reader


def replay_session(path, speed: float = 1.0, exchanges=None, prior: dict | None = None, strict: bool = False):
    """A window session replaying a recorded or imported session. What the reader left out is
    said on stderr and in the session's messages (the status bar), found later while replaying
    too; ``strict`` reads every page first and refuses a session with anything left out (a
    one-line ``UserError``)."""
    from liqdesk.app.engine import Engine
    from liqdesk.app.session import Session
    from liqdesk.commands import Omissions
    from liqdesk.sources.replay import ReplaySource

    reader = open_reader(path)
    omissions = Omissions(reader, strict)
    if strict:  # the replay cannot stop with an error once it runs: every page is read first
        reader.verify(full=True)
    omissions.check()
    settings = replay_settings(reader, exchanges, prior=prior)
    source = ReplaySource(reader, speed=speed)
    engine = Engine(settings, order_book_grid=True)
    from liqdesk.app.analysis import liquidation_feeds

    engine.liquidation_feeds = liquidation_feeds(reader)
    session = Session(engine, source, "replay", label=f"replay {Path(path).name}",
                      key=("replay", settings.symbol, settings.exchanges, str(path)))
    omissions.say()
    for note in reader.recovery:
        session.message(f"left out of {Path(path).name}: {note}")
    return session


#: Market history the simulator builds before the window goes live: twice the hour the heatmap
#: opens on, built in a few seconds (``--history`` asks for more).
SIM_HISTORY_MS = 2 * 3_600_000


def journal_for(symbol: str, retention_ms: int | None = None):
    """A chart session's journal: 7 days (or ``retention_ms``) of events, in memory up to 512 MB,
    then in the user's cache folder (removed when the session ends)."""
    from platformdirs import user_cache_dir

    from liqdesk.app.journal import DEFAULT_RETENTION_MS, Journal

    return Journal(retention_ms or DEFAULT_RETENTION_MS, spill_dir=Path(user_cache_dir("liqdesk")) / "journal",
                   symbol=symbol)


def sim_session(symbol: str | None = None, exchanges=None, speed: float = 1.0,
                history_ms: int = SIM_HISTORY_MS, prior: dict | None = None, now_ms: int | None = None,
                retention_ms: int | None = None, scenario: str | None = None):
    """A window session on the built-in simulator in real time (the default): ``history_ms`` of
    market history is built at full speed first, ending about now, so the chart opens populated
    and its clock reads the time of day. ``scenario`` names a preset (:mod:`liqdesk.sim.scenarios`);
    a crash is placed half an hour before the window opens (or a quarter into a shorter history),
    so the opening chart shows it and its aftermath."""
    import time

    from liqdesk.app.chart_settings import settings_for_window
    from liqdesk.app.engine import Engine
    from liqdesk.app.session import Session
    from liqdesk.core.levels import ModelSettings

    try:
        from liqdesk.sim import SimParams
        from liqdesk.sources.sim import SimSource
    except ImportError as exc:
        raise UserError(f"the simulator is not available in this build ({exc}); open a recorded session "
                        "with --replay SESSION") from None
    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    kw = {"start_ms": (now_ms - int(history_ms)) // 1000 * 1000}
    if symbol:
        kw["symbol"] = symbol
    if exchanges:
        kw["venues"] = tuple(exchanges)
    if scenario:
        kw["scenario"] = scenario
    try:
        if scenario and SimParams(**kw).crash_depth > 0:
            hours = history_ms / 3_600_000
            kw["crash_at_hours"] = hours - 0.5 if hours >= 1.0 else hours / 4
        params = SimParams(**kw)
        source = SimSource(params, speed=speed, max_catch_up_ms=15_000)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    # the simulator's public feed is throttled like Binance's forceOrder: the latest per second
    feeds = dict.fromkeys(params.venues, "sampled")
    base = ModelSettings(exchanges=params.venues, symbol=params.symbol, liquidation_feeds=tuple(feeds),
                         **(prior or {}))
    settings = settings_for_window(base, DEFAULT_WINDOW, DEFAULT_BIN_PCT)
    engine = Engine(settings, order_book_grid=True)
    engine.liquidation_feeds = feeds
    session = Session(engine, source, "sim", label=f"sim: {params.scenario}" if params.scenario else "sim",
                      key=("sim", params.symbol, params.venues, params.scenario),
                      journal=journal_for(params.symbol, retention_ms))
    session.build_history(history_ms, then_speed=speed)
    return session


def live_source(exchanges=None, symbol: str | None = None, emulator: str | None = None,
                backfill_ms: int | None = None, in_process: bool = True):
    """A live source (not started) on ``exchanges`` (default binance, bybit, okx) for ``symbol``:
    in this process (the headless recorder), or with ``in_process=False`` in a child process so
    that parsing never holds the window's interpreter lock."""
    from liqdesk.sources.live.source import DEFAULT_EXCHANGES, LiveSource
    from liqdesk.sources.live.worker import ProcessLiveSource

    cls = LiveSource if in_process else ProcessLiveSource
    try:
        return cls(tuple(exchanges or DEFAULT_EXCHANGES), symbol or "BTC/USDT:USDT", emulator=emulator,
                   backfill_ms=24 * 3_600_000 if backfill_ms is None else backfill_ms)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def live_session(exchanges=None, symbol: str | None = None, emulator: str | None = None,
                 backfill_ms: int | None = None, prior: dict | None = None, retention_ms: int | None = None):
    """A window session on the live market (a warm start fills the chart by REST first)."""
    from liqdesk.app.chart_settings import settings_for_window
    from liqdesk.app.engine import Engine
    from liqdesk.app.session import Session
    from liqdesk.core.levels import ModelSettings

    source = live_source(exchanges, symbol, emulator, backfill_ms, in_process=False)
    feeds = tuple(n for n, kind in source.liquidation_feeds.items() if kind != "absent")
    base = ModelSettings(exchanges=source.exchanges, symbol=source.symbol, liquidation_feeds=feeds, **(prior or {}))
    settings = settings_for_window(base, DEFAULT_WINDOW, DEFAULT_BIN_PCT)
    label = "live" + (" (emulator)" if emulator else "")
    engine = Engine(settings, order_book_grid=True)
    engine.liquidation_feeds = dict(source.liquidation_feeds)
    return Session(engine, source, "live", label=label, key=("live", source.symbol, source.exchanges),
                   journal=journal_for(source.symbol, retention_ms))


def session_for(spec, args=None):
    """A new session for a chart window's :class:`~liqdesk.app.hub.ChartSpec`, with the command
    line's speed, prior, history and retention."""
    speed = float(getattr(args, "speed", None) or 1.0)
    prior = getattr(args, "prior", None)
    if spec.kind == "replay":
        return replay_session(spec.path, speed=speed, exchanges=spec.venues, prior=prior,
                              strict=bool(getattr(args, "strict", False)))
    if spec.kind == "sim":
        return sim_session(spec.symbol, spec.venues, speed if math.isfinite(speed) else 1.0, prior=prior,
                           history_ms=getattr(args, "history", None) or SIM_HISTORY_MS,
                           retention_ms=getattr(args, "retention", None), scenario=spec.scenario)
    if spec.kind == "live":
        return live_session(spec.venues, spec.symbol, getattr(args, "emulator", None),
                            getattr(args, "backfill", None), prior, getattr(args, "retention", None))
    raise UserError(f"no {spec.kind} source in this build")


def build_session(args):
    exchanges = _exchanges(getattr(args, "exchanges", None))
    speed = float(getattr(args, "speed", None) or 1.0)
    if not speed > 0:
        raise UserError("--speed must be > 0")
    prior = getattr(args, "prior", None)
    if getattr(args, "scenario", None) and (getattr(args, "live", False) or getattr(args, "replay", None)):
        raise UserError("--scenario picks a simulator preset; it does not apply to --live or --replay")
    if getattr(args, "live", False):
        from liqdesk.app.hub import ChartSpec

        return session_for(ChartSpec("live", getattr(args, "symbol", None), exchanges), args)
    if getattr(args, "replay", None):
        return replay_session(args.replay, speed=speed if math.isfinite(speed) else math.inf, exchanges=exchanges,
                              prior=prior, strict=bool(getattr(args, "strict", False)))
    from liqdesk.app.hub import ChartSpec

    return session_for(ChartSpec("sim", getattr(args, "symbol", None), exchanges,
                                 scenario=getattr(args, "scenario", None)), args)


#: the window options that choose what the first chart shows: any of them given, the last
#: workspace is not reopened (and ``--workspace`` refuses them)
CHART_OPTIONS = ("replay", "symbol", "exchanges", "scenario", "live")


def _chart_options(args) -> list[str]:
    return ["--" + name for name in CHART_OPTIONS if getattr(args, name, None)]


def startup_workspace(args):
    """The workspace to open the window on, by precedence: ``--workspace NAME`` (refused beside an
    option that picks a chart, or when no workspace has that name); none with ``--no-workspace``,
    a chart option (``--symbol``, ``--replay`` ...) or ``--screenshot``; else the last workspace
    saved or opened. Returns (workspace or None, its name, a one-line note or None): a workspace
    that cannot be read gives the note and None (the default window), never an error."""
    from liqdesk.app.workspace import WorkspaceError
    from liqdesk.app.workspace_store import WorkspaceFileError, WorkspaceStore

    name = getattr(args, "workspace", None)
    chosen = _chart_options(args)
    store = WorkspaceStore()
    if name is not None:
        if chosen:
            raise UserError(f"--workspace opens the workspace's own charts; leave out {', '.join(chosen)}")
        if getattr(args, "no_workspace", False):
            raise UserError("--workspace and --no-workspace contradict each other")
        try:
            saved = store.read().workspaces
        except WorkspaceFileError as exc:
            return None, name, f"{' '.join(str(exc).split())}: the default window is used"
        if name not in saved:
            known = ", ".join(sorted(map(str, saved))[:10]) or "none saved yet: File → Workspaces → Save as…"
            raise UserError(f"no workspace named {name!r} ({known})")
    elif chosen or getattr(args, "no_workspace", False) or getattr(args, "screenshot", None):
        return None, None, None
    else:
        name = store.last()
        if name is None:
            return None, None, None
    try:
        return store.load(name), name, None
    except (WorkspaceError, WorkspaceFileError) as exc:
        return None, name, f"{' '.join(str(exc).split())}: the default window is used"


def workspace_session(workspace, args):
    """A session for the first of ``workspace``'s windows that can be opened: (session, index of
    that window, notes on the windows before it that could not be), or (None, -1, notes)."""
    from liqdesk.app.hub import ChartSpec

    notes = []
    for i, layout in enumerate(workspace.windows):
        spec = ChartSpec(layout.kind, layout.symbol, layout.venues, path=layout.path, scenario=layout.scenario)
        try:
            return session_for(spec, args), i, notes
        except (UserError, ValueError, OSError) as exc:
            notes.append(f"window {i + 1} ({layout.symbol}) was not opened: {' '.join(str(exc).split())}")
    return None, -1, notes


def run_window(args) -> int:
    """``liqdesk [--replay SESSION] [--workspace NAME] [--screenshot FILE --quit-after S] ...``"""
    screenshot = getattr(args, "screenshot", None)
    quit_after = getattr(args, "quit_after", None)
    if screenshot and quit_after is None:
        raise UserError("--screenshot needs --quit-after SECONDS")
    if quit_after is not None and not quit_after > 0:
        raise UserError("--quit-after must be > 0 seconds")
    if screenshot:
        out = Path(screenshot)
        if out.suffix.lower() != ".png":
            raise UserError(f"--screenshot must end in .png, not {out.name!r}")
        out.parent.mkdir(parents=True, exist_ok=True)
    workspace, name, note = startup_workspace(args)
    notes = [note] if note else []
    session, layouts, first = None, (), 0
    if workspace is not None:
        session, first, skipped = workspace_session(workspace, args)
        notes += skipped
        if session is None:
            notes.append(f"no window of workspace {name!r} could be opened: the default window is used")
        else:
            layouts = workspace.windows[first:]
    if session is None:
        session = build_session(args)
    from liqdesk.ui.app import ensure_platform

    ensure_platform(headless=bool(screenshot))
    from liqdesk.app.hub import SessionHub
    from liqdesk.ui.app import run_window as _run

    hub = SessionHub(lambda spec: session_for(spec, args))
    return _run(session, screenshot=screenshot, quit_after=quit_after, hub=hub,
                workspace=(name, layouts, first + 1) if layouts else None, notes=notes)


def render_session(path, out, at_ms: int | None = None, width: int = 1600, height: int = 900,
                   progress=None, omissions=None, view: str = "heatmap", delta_period: str = "4h",
                   ages=None) -> dict:
    """Replay ``path`` up to ``at_ms`` (default: its end) and draw the heatmap panel (``view``:
    see :data:`liqdesk.ui.render.VIEWS`) to ``out``.
    ``omissions(reader)`` makes the :class:`~liqdesk.commands.Omissions` that refuses (strict) a
    reader that left something out: checked once opened and again before drawing; the caller
    says what was left out once the picture is written."""
    from liqdesk.app.engine import Engine
    from liqdesk.core.timefmt import format_time

    reader = open_reader(path)
    said = omissions(reader) if omissions else None
    if said:
        said.check()
    start, end = int(reader.start_ms), int(reader.end_ms) + 1
    if at_ms is not None:
        if at_ms <= start:
            raise UserError(f"--at {format_time(at_ms)} is before the session starts ({format_time(start)})")
        end = min(end, int(at_ms))
    settings = replay_settings(reader, window=window_for_span(end - start))
    engine = Engine(settings, order_book_grid=view == "liquidity")
    for batch in reader.iter_batches(3_600_000, start, end):
        engine.ingest(batch)
        if progress:
            progress((batch.time_span()[1] - start) / max(1, end - start))
    if at_ms is None:
        engine.model.flush()
    if said:
        said.check()
    from liqdesk.ui.app import ensure_platform

    ensure_platform(headless=True)
    from liqdesk.ui.render import render_engine

    try:
        ok = render_engine(engine, out, width, height, view=view, delta_period=delta_period, ages=ages)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not ok:
        raise UserError(f"could not write {out}")
    return {"time_ms": engine.now_ms, "events": engine.stats.events}
