"""The built-in market simulator as a live source (the default source of ``liqdesk``).

Contract (what every consumer of a source may rely on):

- **Non-blocking.** :meth:`SimSource.poll` simulates from where it stopped up to
  ``start + (now − first poll) × speed`` and returns at once; one poll simulates at most
  ``max_catch_up_ms`` of market time (a few tens of milliseconds of CPU), so a stalled caller
  catches up over the next polls instead of freezing (``lag_ms`` says how far behind it is).
- **Immutable batches.** Each non-empty poll returns a validated :class:`EventBatch` whose arrays
  are read-only; events come in time order across polls (the simulator's seconds are atomic).
- **Never raises on a normal poll.** Wall time running backwards is taken as no time passing.
  If the simulator reaches an impossible state, the poll returns None, ``state`` becomes
  ``"error"`` and ``error`` holds the one-line reason; later polls return None.
- No threads, no asyncio: the caller's timer drives it. ``None`` means nothing new.
- **History at full speed.** :meth:`SimSource.fast_forward` yields the events of a span of market
  time as fast as the machine simulates them (any thread; the window builds its opening history
  this way, off the UI thread), and :meth:`SimSource.go_live` then runs the market at ``speed``
  from where the simulator is: the first poll after it is already at 1x.
- ``state``: ``"idle"`` (not polled yet), ``"running"``, ``"finished"`` (the episode's ``hours``
  are done), ``"error"``. The truth (every liquidation, the true level map, every position) is
  available through :attr:`simulator`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from liqdesk.core.events import EventBatch, concat_batches, slice_batch
from liqdesk.sim import SimParams, SimulationError, Simulator
from liqdesk.sim.market import STEP_MS


class SimSource:
    """Poll-driven real-time (or ``speed`` times faster) view of a :class:`Simulator`."""

    name = "sim"

    def __init__(self, params: SimParams | None = None, speed: float = 1.0, max_catch_up_ms: int = 60_000):
        self.simulator = Simulator(params or SimParams())
        self.speed = self._check_speed(speed)
        if not (isinstance(max_catch_up_ms, int) and max_catch_up_ms >= 1000):
            raise ValueError(f"max_catch_up_ms must be an integer >= 1000, not {max_catch_up_ms!r}")
        self.max_catch_up_ms = max_catch_up_ms
        self._wall0: float | None = None
        self._sim0 = self.simulator.now
        self._last_wall: float | None = None
        self._target = self.simulator.now
        # events already simulated (the simulator steps whole seconds) but still ahead of the
        # clock: released as the wall clock reaches their times, so the view moves sub-second
        self._held = EventBatch(checked=True)
        self.state = "idle"
        self.error: str | None = None

    @staticmethod
    def _check_speed(speed) -> float:
        try:
            value = float(speed)
        except (TypeError, ValueError):
            raise ValueError(f"speed must be a number, not {speed!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"speed must be a finite number > 0, not {speed!r}")
        return value

    @property
    def params(self) -> SimParams:
        return self.simulator.params

    @property
    def sim_time_ms(self) -> int:
        """End of the last simulated second (ms since the epoch)."""
        return self.simulator.now

    @property
    def clock_ms(self) -> int:
        """Where the wall clock has brought the view: every event up to this time is released."""
        return self._target

    @property
    def lag_ms(self) -> int:
        """How far the simulation is behind where the wall clock says it should be."""
        return max(0, self._target - self.simulator.now)

    def set_speed(self, speed: float, now_wall_s: float | None = None) -> None:
        """Change the speed from now on (re-anchors the clock at the last poll or ``now_wall_s``).

        The clock is re-anchored on what the market has really reached (the simulator's own
        time, when it is behind the wall-clock target, e.g. after running fast): a market asked
        for 1x runs at 1x from the next poll instead of racing to catch up a target it never met.
        """
        speed = self._check_speed(speed)
        wall = now_wall_s if now_wall_s is not None else self._last_wall
        if self._wall0 is not None and wall is not None:
            self._target = min(self._target, self.simulator.now)
            self._sim0 = self._target
            self._wall0 = self._last_wall = wall
        self.speed = speed

    def fast_forward(self, until_ms: int, chunk_ms: int = 60_000) -> Iterator[EventBatch]:
        """Simulate up to market time ``until_ms`` as fast as possible, yielding the events in
        batches of ``chunk_ms`` of market time (events held for the clock come first). For a
        source that is not live yet (before :meth:`go_live`); safe to run in another thread."""
        if self._wall0 is not None:
            raise RuntimeError("fast_forward is for building history before the market goes live")
        sim = self.simulator
        if len(self._held):
            held, self._held = self._held, EventBatch(checked=True)
            yield held
        try:
            while sim.now < until_ms and not sim.finished:
                batch = sim.step(min(sim.now + chunk_ms, until_ms))
                self._target = sim.now
                if len(batch):
                    yield batch
        except SimulationError as exc:
            self.state = "error"
            self.error = str(exc)
            return
        if sim.finished:
            self.state = "finished"

    def go_live(self, now_wall_s: float) -> None:
        """Run in real time (times ``speed``) from the simulator's current time, as of the wall
        time ``now_wall_s`` (``time.monotonic()``)."""
        self._sim0 = self._target = self.simulator.now
        self._wall0 = self._last_wall = float(now_wall_s)
        if self.state == "idle":
            self.state = "running"

    def poll(self, now_wall_s: float) -> EventBatch | None:
        """Events simulated since the last poll, up to where ``now_wall_s`` says; None if none."""
        if self.state in ("error", "finished"):
            return None
        try:
            now = float(now_wall_s)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(now):
            return None
        if self._wall0 is None:
            self._wall0 = self._last_wall = now
            self.state = "running"
            return None
        if now > self._last_wall:
            self._last_wall = now
        target = self._sim0 + int((self._last_wall - self._wall0) * self.speed * 1000.0)
        self._target = max(self._target, target)
        sim = self.simulator
        until = min((self._target // STEP_MS + 1) * STEP_MS, sim.now + self.max_catch_up_ms)
        try:
            if sim.now < until and not sim.finished:
                new = sim.step(until)
                if len(new):
                    self._held = concat_batches([self._held, new]) if len(self._held) else new
        except SimulationError as exc:
            self.state = "error"
            self.error = str(exc)
            return None
        batch = slice_batch(self._held, None, self._target + 1)
        self._held = slice_batch(self._held, self._target + 1, None)
        if sim.finished and not len(self._held):
            self.state = "finished"
        return batch if len(batch) else None
