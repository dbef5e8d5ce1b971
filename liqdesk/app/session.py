"""A running chart session: the engine, its source polled off the UI thread, replay controls,
model rebuilds on settings changes, recording, and the figures the status bar shows.

The UI thread never waits on I/O or on the source: a :class:`FeedWorker` thread polls the source
(reading session files, running the simulator, later the exchanges) and puts immutable batches
on a bounded queue. The frame timer calls :meth:`Engine.pump`, whose source here is the queue
(:class:`QueueSource`): it takes what is there, merging small batches, within a time budget.
Replay commands (play, pause, speed, step, seek) are sent to the worker, which runs them between
polls; a seek is a reset marker followed by the session's events up to the target, which the
UI ingests a few chunks per frame while a progress bar shows how far it got.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from liqdesk.app.engine import Engine
from liqdesk.core.events import EventBatch, concat_batches
from liqdesk.core.levels import ModelSettings

#: Events the UI ingests from one merged batch at most (keeps one ingest well under a frame).
MERGE_EVENTS = 60_000
#: Session time per chunk of a seek (small enough that one chunk ingests within a frame budget).
SEEK_CHUNK_MS = 60_000

# ---------------------------------------------------------------------------------- worker
class FeedWorker(threading.Thread):
    """Polls ``source`` every ``poll_s`` and puts ``("batch", batch, created)`` items on ``out``.

    ``created`` is the wall time (``time.perf_counter``) the events were created or received:
    the source's own ``last_created`` when it has one, else the time its poll returned.
    Commands (callables taking the source and the worker) run in this thread between polls.
    """

    def __init__(self, source, out: queue.Queue, poll_s: float = 0.010, stamp: bool = True):
        super().__init__(name=f"liqdesk-feed:{getattr(source, 'kind', 'source')}", daemon=True)
        self.source = source
        self.stamp = stamp     # False for a replay: its events were created long ago
        self.out = out
        self.poll_s = poll_s
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.error: str | None = None

    def put(self, item) -> bool:
        """Blocking put that gives up when the worker is stopped."""
        while not self.stop_event.is_set():
            try:
                self.out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                while True:
                    cmd = self.commands.get_nowait()
                    cmd(self.source, self)
            except queue.Empty:
                pass
            except Exception as exc:  # a bad command must not kill the feed
                self.error = f"{type(exc).__name__}: {exc}"
                self.put(("error", self.error))
            try:
                batch = self.source.poll(time.monotonic())
            except Exception as exc:  # a source error is reported, the feed goes on
                self.error = f"{type(exc).__name__}: {exc}"
                self.put(("error", self.error))
                batch = None
                self.stop_event.wait(0.5)
            if batch is not None and len(batch):
                created = getattr(self.source, "last_created", None) if self.stamp else None
                if self.stamp and created is None:
                    created = time.perf_counter()
                self.put(("batch", batch, created))
            else:
                self.stop_event.wait(self.poll_s)

    def stop(self) -> None:
        self.stop_event.set()


class QueueSource:
    """The engine's source: batches taken off the worker's queue (never blocks)."""

    kind = "queue"
    playing = True

    def __init__(self, session: Session, maxsize: int = 256):
        self.session = session
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._held: tuple | None = None

    def _next(self, queued_only: bool = False):
        if self._held is not None:
            item, self._held = self._held, None
            return item
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None if queued_only else self.session._poll_inline()

    def poll(self, now_wall_s: float) -> EventBatch | None:
        item = self._next()
        if item is None:
            return None
        if item[0] != "batch":
            self.session._control(item)
            return None
        batches, created = [item[1]], [item[2]]
        n = len(item[1])
        while n < MERGE_EVENTS:
            nxt = self._next(queued_only=True)
            if nxt is None:
                break
            if nxt[0] != "batch":
                self._held = nxt
                break
            batches.append(nxt[1])
            created.append(nxt[2])
            n += len(nxt[1])
        batch = batches[0] if len(batches) == 1 else concat_batches(batches)
        self.session._taken(batch, [c for c in created if c is not None])
        return batch

    def clear(self) -> None:
        self._held = None
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return


# ---------------------------------------------------------------------------------- session
@dataclass
class WarmUp:
    start_ms: int
    until_ms: int

    @property
    def label(self) -> str:
        h = (self.until_ms - self.start_ms) / 3_600_000
        return f"{h:g} h" if h >= 1 else f"{(self.until_ms - self.start_ms) / 60_000:g} min"

    def fraction(self, source) -> float:
        now = int(getattr(source, "sim_time_ms", self.start_ms))
        return min(1.0, max(0.0, (now - self.start_ms) / max(1, self.until_ms - self.start_ms)))


@dataclass
class SeekState:
    target_ms: int
    start_ms: int
    done_ms: int
    label: str = "seeking"

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, (self.done_ms - self.start_ms) / max(1, self.target_ms - self.start_ms)))


class Session:
    """One engine fed by one source. ``kind`` is ``"sim"``, ``"replay"`` or ``"live"``.

    ``restart_source``: for the simulator, a callable returning a fresh source (used when the
    model settings change and the model restarts).
    """

    def __init__(self, engine: Engine, source, kind: str, label: str = "",
                 restart_source: Callable[[], object] | None = None, threaded: bool | None = None):
        self.engine = engine
        self.source = source
        self.kind = kind
        self.label = label or kind
        self.restart_source = restart_source
        # A replay reads files: its polls run in a feed thread. The simulator and live feeds are
        # non-blocking by contract and are polled right here by the frame timer: a second
        # Python thread would only add GIL hand-offs to every frame (measured: 8x slower frames).
        self.threaded = (kind == "replay") if threaded is None else threaded
        self.inbox = QueueSource(self, 256 if self.threaded else 0)
        engine.source = self.inbox
        self.worker: FeedWorker | None = None
        self.seek: SeekState | None = None
        self.messages: deque[str] = deque(maxlen=50)
        self.recorder = None
        self.record_path = None
        self.latencies_ms: deque[float] = deque(maxlen=2000)
        self.frame_times: deque[float] = deque(maxlen=240)
        self._pending_created: float | None = None
        self._token = 0
        self._polled = False
        self.warm: WarmUp | None = None
        self.warm_ms = 0
        self.live_speed = 1.0
        self.on_message: Callable[[str], None] | None = None
        self.listeners: list[Callable[[str], None]] = []
        self.on_reset: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.worker is None and self.threaded:
            self.worker = FeedWorker(self.source, self.inbox.queue, stamp=not self.is_replay)
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker.join(timeout=2.0)
            self.worker = None
        self.stop_recording()

    def _command(self, fn) -> None:
        """Run ``fn(source, worker)`` in the feed thread (or here when unthreaded)."""
        if self.worker is not None:
            self.worker.commands.put(fn)
        else:
            fn(self.source, _InlineWorker(self.inbox.queue))

    # ------------------------------------------------------------------ frame side
    def pump(self, budget_s: float = 0.008) -> int:
        """Take queued events into the engine within ``budget_s`` (more while seeking)."""
        self._polled = False
        if self.warm is not None:
            self._check_warm()
        if self.seek is not None or self.warm is not None:
            budget_s = max(budget_s, 0.025)
        try:
            return self.engine.pump(time.monotonic(), budget_s)
        except ValueError as exc:  # a malformed batch: say so and go on
            self.message(f"bad events skipped: {exc}")
            return 0

    def _poll_inline(self):
        """Unthreaded: poll the source now (it never blocks); a queue item or None."""
        if self.threaded or self.seek is not None or self.source is None or self._polled:
            return None
        # once per frame (a real-time source always has a little more), as often as the budget
        # allows while the simulator warms up
        self._polled = self.warm is None
        batch = self.source.poll(time.monotonic())
        if batch is None or not len(batch):
            return None
        if self.is_replay:
            return ("batch", batch, None)
        created = getattr(self.source, "last_created", None)
        return ("batch", batch, created if created is not None else time.perf_counter())

    def _taken(self, batch: EventBatch, created: list[float]) -> None:
        if created:
            c = min(created)
            self._pending_created = c if self._pending_created is None else min(self._pending_created, c)
        if self.seek is not None:
            span = batch.time_span()
            if span:
                self.seek.done_ms = max(self.seek.done_ms, span[1])
        if self.recorder is not None:
            try:
                self.recorder.write(batch)
            except Exception as exc:
                self.message(f"recording stopped: {exc}")
                self.recorder = None

    def _control(self, item: tuple) -> None:
        kind = item[0]
        if kind == "reset":
            _, settings, token, target, start = item
            if token != self._token:
                return
            self.engine.reset(settings)
            self._pending_created = None
            self.seek = SeekState(target, start, start) if target is not None else None
            if self.on_reset:
                self.on_reset()
        elif kind == "seek_done":
            if item[1] == self._token:
                self.seek = None
                self.engine.version += 1
        elif kind == "error":
            self.message(f"source error: {item[1]}")

    def frame_shown(self, t: float) -> None:
        """Called when a frame has been painted (perf_counter time)."""
        self.frame_times.append(t)
        if self._pending_created is not None:
            lat = (t - self._pending_created) * 1000.0
            self.latencies_ms.append(lat)
            self.engine.stats.last_latency_ms = lat
            self._pending_created = None

    def fps(self) -> float:
        if len(self.frame_times) < 2:
            return 0.0
        now = time.perf_counter()
        recent = [t for t in self.frame_times if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def latency_ms(self) -> float:
        """Median latency over the last ~second of frames."""
        if not self.latencies_ms:
            return float("nan")
        return float(np.median(list(self.latencies_ms)[-30:]))

    def message(self, text: str) -> None:
        self.messages.append(text)
        for fn in ([self.on_message] if self.on_message else []) + list(self.listeners):
            fn(text)

    # ------------------------------------------------------------------ replay controls
    @property
    def is_replay(self) -> bool:
        return self.kind == "replay"

    def play(self) -> None:
        self._command(lambda src, w: src.play())

    def pause(self) -> None:
        self._command(lambda src, w: src.pause())

    @property
    def playing(self) -> bool:
        return bool(getattr(self.source, "playing", True))

    def toggle_play(self) -> None:
        (self.pause if self.playing else self.play)()

    def set_speed(self, speed: float) -> None:
        self._command(lambda src, w: src.set_speed(speed))

    def step(self) -> None:
        """Replay: the events of the next column, paused."""
        column_ms = self.engine.settings.column_ms

        def cmd(src, w):
            batch = src.step(column_ms)
            if len(batch):
                w.put(("batch", batch, None))
        self._command(cmd)

    def seek_to(self, time_ms: int, settings: ModelSettings | None = None, label: str = "seeking") -> None:
        """Replay: rebuild the engine from the session start up to ``time_ms`` (with ``settings``
        when given), in chunks, without blocking the UI."""
        self._token += 1
        token = self._token
        self.inbox.clear()
        start = int(getattr(self.source, "start_ms", 0))
        target = int(time_ms)
        self.seek = SeekState(target, start, start, label)

        def cmd(src, w):
            w.put(("reset", settings, token, target, start))
            for batch in src.seek(target, chunk_ms=SEEK_CHUNK_MS):
                if w.stop_event.is_set() or token != self._token:
                    return
                if len(batch):
                    w.put(("batch", batch, None))
            w.put(("seek_done", token))
        self._command(cmd)

    @property
    def cursor_ms(self) -> int | None:
        return getattr(self.source, "cursor_ms", None)

    # ------------------------------------------------------------------ settings
    def apply_settings(self, settings: ModelSettings) -> None:
        """New model settings (window, bin size, decay): the whole window is rebuilt — from the
        session for a replay, by restarting the model for the simulator or a live feed."""
        if settings == self.engine.settings:
            return
        if self.is_replay:
            at = self.engine.now_ms
            at = int(at) + 1 if at is not None else int(getattr(self.source, "start_ms", 0))
            self.seek_to(at, settings, label="rebuilding")
        else:
            self.engine.reset(settings)
            if self.restart_source is not None:
                # the simulator cannot rewind: start it again (same seed, same market) and fill
                # the window's history at high speed, as at start-up
                self.source = self.restart_source()
                if self.warm is not None or self.warm_ms:
                    self.warm_up(self.warm_ms, self.live_speed)
                self.message("model and simulator restarted with the new settings")
            else:
                self.message("model restarted with the new settings (history before now is not kept)")
            if self.on_reset:
                self.on_reset()

    # ------------------------------------------------------------------ simulator warm-up
    def warm_up(self, span_ms: int, then_speed: float = 1.0, speed: float = 1000.0) -> None:
        """Simulator: run ``span_ms`` of market time as fast as frames allow (so the window opens
        on an hour of history instead of an empty chart), then continue at ``then_speed``."""
        src = self.source
        if not span_ms or not hasattr(src, "set_speed") or not hasattr(src, "sim_time_ms"):
            return
        self.warm_ms, self.live_speed = int(span_ms), float(then_speed)
        src.set_speed(speed)
        start = int(src.sim_time_ms)
        self.warm = WarmUp(start, start + int(span_ms))

    def _check_warm(self) -> None:
        w = self.warm
        if w is None:
            return
        src = self.source
        if int(src.sim_time_ms) >= w.until_ms or getattr(src, "state", "") in ("error", "finished"):
            src.set_speed(self.live_speed, time.monotonic())
            self.warm = None
            self.engine.version += 1

    # ------------------------------------------------------------------ recording
    def start_recording(self, path) -> None:
        from liqdesk.store import SessionWriter

        if self.recorder is not None:
            return
        self.recorder = SessionWriter(path, self.engine.settings.symbol,
                                      meta={"source": self.kind, "recorded_by": "liqdesk window"})
        self.record_path = path
        self.message(f"recording to {path}")

    def stop_recording(self) -> threading.Thread | None:
        """Close the recording in a background thread (turning logs into Parquet takes time)."""
        writer, self.recorder = self.recorder, None
        if writer is None:
            return None
        path = self.record_path

        def close():
            try:
                writer.close()
                self.message(f"recording saved: {path}")
            except Exception as exc:
                self.message(f"recording could not be closed ({exc}); it is kept as logs and recoverable")
        t = threading.Thread(target=close, name="liqdesk-record-close", daemon=False)
        t.start()
        return t

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    # ------------------------------------------------------------------ status
    def source_state(self) -> str:
        """One line: what the source is doing."""
        from liqdesk.app.timefmt import format_time

        src = self.source
        if self.warm is not None:
            return f"{self.label}: building {self.warm.label} of history {self.warm.fraction(src):.0%}"
        state_fn = getattr(src, "state", None)
        if isinstance(state_fn, str):
            err = getattr(src, "error", None)
            extra = f" ({err})" if err else ""
            lag = getattr(src, "lag_ms", 0) or 0
            speed = getattr(src, "speed", 1.0)
            sp = f" {speed:g}x" if speed != 1.0 else ""
            t = getattr(src, "sim_time_ms", None)
            at = f" · {format_time(t)}" if t is not None else ""
            behind = f" · {lag / 1000:.0f} s behind" if lag > 2000 else ""
            return f"{self.label}: {state_fn}{sp}{extra}{at}{behind}"
        if callable(state_fn):
            try:
                text = state_fn()
                if isinstance(text, dict):
                    text = " · ".join(f"{k} {v}" for k, v in text.items())
                if text:
                    return f"{self.label}: {text}"
            except Exception:  # noqa: S110 - the status line must never fail
                pass
        if self.is_replay:
            if self.seek is not None:
                return f"replay: {self.seek.label} {self.seek.fraction:.0%}"
            speed = getattr(src, "speed", 1.0)
            sp = "max" if math.isinf(speed) else f"{speed:g}x"
            st = "finished" if getattr(src, "finished", False) else ("playing" if self.playing else "paused")
            return f"replay: {st} {sp} · {format_time(self.engine.now_ms)}"
        if self.worker is not None and self.worker.error:
            return f"{self.label}: error ({self.worker.error})"
        return f"{self.label}: running"


class _InlineWorker:
    """Stands in for the worker when the session runs unthreaded (tests, render)."""

    def __init__(self, out: queue.Queue):
        self.out = out
        self.stop_event = threading.Event()

    def put(self, item) -> bool:
        self.out.put(item)
        return True


__all__ = ["Session", "FeedWorker", "QueueSource"]
