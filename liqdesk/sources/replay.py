"""Replay of a recorded session: play, pause, speed (0.25x to as fast as possible), seek, step.

Contract (as every source): :meth:`ReplaySource.poll` never blocks on the network and returns an
immutable :class:`~liqdesk.core.events.EventBatch` (or None when there is nothing new). Batches are
cut on session time, so a consumer that feeds them to the level model gets bit-for-bit the state
of one pass over the same events, at any speed. A seek returns the events from the session start
in large chunks (:meth:`ReplaySource.seek`); the consumer resets its state and feeds them, which
again equals one pass up to the seek time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from liqdesk.core.events import EventBatch
from liqdesk.store import SessionReader

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0, 600.0, math.inf)
#: Most session time one poll returns when playing as fast as possible: the model ingests
#: 5-minute batches ~30 % faster than 1-minute ones (per-batch work amortized, arrays still in
#: cache), and a 5-minute batch of a busy session is still a few ms of work.
MAX_CHUNK_MS = 300_000


class ReplaySource:
    """Plays ``reader``'s session. Times are session times in ms since the epoch; wall times in s."""

    kind = "replay"

    def __init__(self, reader: SessionReader, speed: float = 1.0):
        if reader.start_ms is None:
            raise ValueError(f"session {reader.path} holds no events")
        self.reader = reader
        # every read goes forward in time (a seek plays again from the start): the reader keeps
        # only the row group it is in, not 256 K rows of each kind it will not read again
        reader.read_in_time_order()
        self.start_ms, self.end_ms = int(reader.start_ms), int(reader.end_ms) + 1
        self.cursor_ms = self.start_ms          # events before the cursor have been emitted
        self.speed = 1.0
        self.set_speed(speed)
        self.playing = False
        self._wall: float | None = None
        self._notes_said = len(reader.recovery)

    @property
    def finished(self) -> bool:
        return self.cursor_ms >= self.end_ms

    def set_speed(self, speed: float) -> None:
        """Replay speed: a multiple of real time, ``math.inf`` for as fast as possible."""
        if not (speed > 0):
            raise ValueError(f"replay speed must be > 0, not {speed}")
        self.speed = float(speed)

    def play(self) -> None:
        self.playing = True
        self._wall = None

    def pause(self) -> None:
        self.playing = False

    def poll(self, now_wall_s: float) -> EventBatch | None:
        """Events from the cursor up to where the clock says, while playing."""
        if not self.playing or self.finished:
            self._wall = now_wall_s
            return None
        if self._wall is None:
            self._wall = now_wall_s
            return None
        if math.isinf(self.speed):
            advance = MAX_CHUNK_MS
        else:
            advance = int((now_wall_s - self._wall) * 1000 * self.speed)
            if advance <= 0:
                return None
            advance = min(advance, MAX_CHUNK_MS)
        self._wall = now_wall_s
        return self._emit(self.cursor_ms + advance)

    def step(self, column_ms: int) -> EventBatch:
        """The events of the next ``column_ms`` of session time (pauses playback)."""
        self.pause()
        return self._emit(self.cursor_ms + column_ms)

    def _emit(self, until_ms: int) -> EventBatch:
        until_ms = min(until_ms, self.end_ms)
        batch = self.reader.read(self.cursor_ms, until_ms)
        self.cursor_ms = until_ms
        if self.finished:
            self.playing = False
        return batch

    def new_notes(self) -> list:
        """What the reader left out since the last call (a damaged row group is found when the
        replay reaches it): :class:`~liqdesk.store.RecoveryNote` objects, each returned once."""
        if len(self.reader.recovery) == self._notes_said:
            return []
        notes = list(self.reader.recovery)[self._notes_said:]
        self._notes_said += len(notes)
        return notes

    def seek(self, time_ms: int, chunk_ms: int = 3_600_000) -> Iterator[EventBatch]:
        """Move to ``time_ms``; yields every event from the session start up to it, in chunks,
        for a consumer that has reset its state."""
        target = max(self.start_ms, min(int(time_ms), self.end_ms))
        self.cursor_ms = self.start_ms
        self._wall = None
        while self.cursor_ms < target:
            yield self._emit(min(self.cursor_ms + chunk_ms, target))
