"""Faults the emulator injects, from a spec like ``drop@20s,stall@40s:8s,gap@rate:0.01,http429@30s:2s``.

Each item is ``KIND@WHEN[:ARG]``:

- ``WHEN`` is a time after the emulator went live (``20s``, ``2m``; it fires once, on every venue,
  or on one venue with ``KIND.VENUE@...``) or ``rate:P`` (each opportunity with probability ``P``,
  from a seeded generator) or ``every:20s``;
- ``ARG`` is a duration for ``stall``, ``refuse`` and ``http429`` (how long; default 5 s), or a
  count for ``burst`` (liquidations in one frame; default 20).

Kinds: ``drop`` (close every websocket), ``stall`` (go silent: no data, no pong), ``gap`` (skip a
book update id), ``malformed`` (a message replaced by broken JSON), ``truncated`` (a message cut
short), ``dup`` (a message sent twice), ``http429`` (REST answers 429 with ``Retry-After``),
``burst`` (several liquidations in one frame), ``refuse`` (new connections refused).
Venue modules ask :meth:`FaultPlan.take` at each opportunity; what fired is counted in ``fired``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from liqdesk.core.timefmt import parse_duration

KINDS = ("drop", "stall", "gap", "malformed", "truncated", "dup", "http429", "burst", "refuse")
#: kinds that last a while (the ARG is their duration)
LASTING = ("stall", "refuse", "http429")


@dataclass
class Fault:
    kind: str
    venue: str | None = None
    at_s: float | None = None          # once, this long after going live
    every_s: float | None = None
    rate: float | None = None
    arg: float = 0.0                   # seconds for lasting kinds, a count for burst
    fired_at: dict = field(default_factory=dict)   # venue -> wall time it last fired


def parse_faults(spec: str | None) -> list[Fault]:
    """The faults of ``spec`` (empty or None: none). ValueError naming the bad item."""
    out = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            head, when = item.split("@", 1)
        except ValueError:
            raise ValueError(f"bad fault {item!r}: expected KIND@WHEN[:ARG], e.g. drop@30s") from None
        kind, _, venue = head.partition(".")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        fault = Fault(kind, venue or None)
        if when.startswith("rate:"):
            parts = when[5:].split(":")
            try:
                fault.rate = float(parts[0])
            except ValueError:
                raise ValueError(f"bad fault rate in {item!r}") from None
            if not 0 < fault.rate <= 1:
                raise ValueError(f"fault rate must be in (0, 1] in {item!r}")
            rest = parts[1:]
        elif when.startswith("every:"):
            parts = when[6:].split(":")
            fault.every_s = parse_duration(parts[0]) / 1000
            rest = parts[1:]
        else:
            parts = when.split(":")
            fault.at_s = parse_duration(parts[0]) / 1000
            rest = parts[1:]
        if rest:
            fault.arg = float(rest[0]) if kind == "burst" else parse_duration(rest[0]) / 1000
        else:
            fault.arg = 20 if kind == "burst" else (5.0 if kind in LASTING else 0.0)
        out.append(fault)
    return out


class FaultPlan:
    """The faults of one emulator run; thread-safe enough for one asyncio loop."""

    def __init__(self, spec: str | None = None, seed: int = 0):
        self.faults = parse_faults(spec)
        self.rng = random.Random(seed)
        self.t0: float | None = None
        self.fired: dict[str, int] = {k: 0 for k in KINDS}
        self.calmed = False

    def start(self, now: float | None = None) -> None:
        self.t0 = time.monotonic() if now is None else now

    def take(self, kind: str, venue: str, now: float | None = None) -> float | None:
        """If a ``kind`` fault fires now on ``venue``: its ARG (0.0 when it has none), else None.
        A lasting fault keeps answering while it lasts (see :meth:`active`)."""
        if self.t0 is None:
            return None
        now = time.monotonic() if now is None else now
        for f in self.faults:
            if f.kind != kind or (f.venue and f.venue != venue):
                continue
            due = False
            last = f.fired_at.get(venue)
            if f.rate is not None:
                due = not self.calmed and self.rng.random() < f.rate
            elif f.every_s is not None:
                due = now - self.t0 >= f.every_s and (last is None or now - last >= f.every_s)
            elif f.at_s is not None:
                due = last is None and now - self.t0 >= f.at_s
            if due:
                f.fired_at[venue] = now
                self.fired[kind] += 1
                return f.arg
        return None

    def calm(self) -> None:
        """Faults at a rate fire no more (scheduled ones still do, once due; one already lasting
        runs its course): a test's settling phase, where the client recovers from what it met
        instead of meeting new random faults."""
        self.calmed = True

    def active(self, kind: str, venue: str, now: float | None = None) -> bool:
        """Whether a lasting fault (stall, refuse, http429) is in force on ``venue`` now (starting
        it when it is due)."""
        now = time.monotonic() if now is None else now
        for f in self.faults:
            if f.kind == kind and (not f.venue or f.venue == venue):
                last = f.fired_at.get(venue)
                if last is not None and now - last < f.arg:
                    return True
        return self.take(kind, venue, now) is not None

    def describe(self) -> str:
        return ", ".join(f"{k} {n}" for k, n in self.fired.items() if n) or "none"
