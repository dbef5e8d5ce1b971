"""The chart sessions of one running liqdesk, shared by the windows that show the same market.

Each chart window shows one :class:`~liqdesk.app.session.Session` (one engine, one source, one
journal). Windows asking for the same source and symbol share a session when it covers the
venues they want (a window on fewer venues filters the shared one); anything else gets a session
of its own. A session stops, and its journal is freed, when its last window lets go of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .session import Session


@dataclass(frozen=True)
class ChartSpec:
    """What a chart window asks for: ``kind`` ("sim", "replay", "live"), the ``symbol`` (ccxt
    unified, e.g. "ETH/USDT:USDT"), the ``venues`` (None = the source's default), for a
    replay, the session ``path``, and for the simulator, the ``scenario`` preset (None = the
    default market)."""

    kind: str
    symbol: str | None = None
    venues: tuple[str, ...] | None = None
    path: str | None = None
    scenario: str | None = None


def covers(session: Session, spec: ChartSpec) -> bool:
    """Whether ``session`` can show what ``spec`` asks for."""
    key = session.key or (session.kind, session.engine.settings.symbol, session.engine.settings.exchanges)
    kind, symbol, venues = key[0], key[1], tuple(key[2])
    if spec.kind != kind:
        return False
    if spec.kind == "replay":
        return spec.path is not None and len(key) > 3 and key[3] == spec.path
    if spec.kind == "sim" and (key[3] if len(key) > 3 else None) != spec.scenario:
        return False     # another market regime or trader population
    if spec.symbol is not None and _same_symbol(spec.symbol, symbol) is False:
        return False
    return spec.venues is None or set(spec.venues) <= set(venues)


def session_scenario(session: Session) -> str | None:
    """The simulator preset a session runs (None: the default market, or not a simulator)."""
    key = session.key or ()
    return key[3] if session.kind == "sim" and len(key) > 3 else None


def _same_symbol(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()


class SessionHub:
    """Opens, shares and stops chart sessions. ``factory(spec)`` builds a new session (the
    composition root, :mod:`liqdesk.main`, supplies it)."""

    def __init__(self, factory: Callable[[ChartSpec], Session]):
        self.factory = factory
        self._users: dict[int, int] = {}
        self._sessions: list[Session] = []

    @property
    def sessions(self) -> list[Session]:
        return list(self._sessions)

    def adopt(self, session: Session) -> Session:
        """Take over a session built elsewhere (the first window's), with one user."""
        if session not in self._sessions:
            self._sessions.append(session)
            self._users[id(session)] = 0
        self._users[id(session)] += 1
        return session

    def open(self, spec: ChartSpec) -> Session:
        """A session for ``spec``: a running one that covers it, else a new one (started)."""
        for session in self._sessions:
            if not session.stopped and covers(session, spec):
                self._users[id(session)] += 1
                return session
        session = self.factory(spec)
        session.start()
        return self.adopt(session)

    def release(self, session: Session) -> None:
        """One window stopped showing ``session``; the last one stops it."""
        if session not in self._sessions:
            return
        self._users[id(session)] -= 1
        if self._users[id(session)] <= 0:
            self._sessions.remove(session)
            del self._users[id(session)]
            session.stop()

    def users(self, session: Session) -> int:
        return self._users.get(id(session), 0)

    def stop_all(self) -> None:
        for session in list(self._sessions):
            session.stop()
        self._sessions.clear()
        self._users.clear()
