"""A running chart session: one engine fed by one source, its journal, replay controls, model
rebuilds when settings change, the opening history, recording, and the figures the status bar
shows. No Qt: the window, the headless recorder and the tests drive the same object.

- **The journal** (:mod:`liqdesk.app.journal`) keeps every event the session ingested (retention
  7 days by default, in memory then on disk). A settings change (time window, bin size, decay,
  prior) rebuilds the model from it in a background thread (:mod:`liqdesk.app.rebuild`) while
  the source keeps running; the new model is swapped in when complete. A replay's journal is its
  session file: a settings change there replays the file up to the current time.
- **The opening history** of the simulator is built at full speed off the UI thread
  (:meth:`Session.build_history`): the worker thread simulates, the frame timer ingests what is
  ready (so the chart fills in front of the user), then the market runs in real time at once.
- **Threads.** A replay's polls run in a :class:`~liqdesk.app.feed.FeedWorker` thread; the
  simulator and live feeds are non-blocking by contract and are polled by the frame timer (a
  second Python thread would only add GIL hand-offs to every frame; measured 8x slower frames).
- **Listeners** (:meth:`Session.subscribe`): ``"message"`` (one line for the user, any thread)
  and ``"reset"`` (the engine's model was replaced or reset). A closed window unsubscribes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from liqdesk.app.engine import Engine
from liqdesk.core.events import EventBatch
from liqdesk.core.levels import ModelSettings

from .feed import FeedWorker, InlineWorker, QueueSource
from .journal import Journal
from .rebuild import ModelRebuild

#: Session time per chunk of a seek (small enough that one chunk ingests within a frame budget).
SEEK_CHUNK_MS = 60_000
#: Market time per batch while building the simulator's history.
HISTORY_CHUNK_MS = 60_000
#: Frame budget (s) for ingesting while a seek or the history build is running.
BUSY_BUDGET_S = 0.025


@dataclass
class SeekState:
    """A replay seek (or a replay's settings rebuild) in progress."""

    target_ms: int
    start_ms: int
    done_ms: int
    label: str = "seeking"

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, (self.done_ms - self.start_ms) / max(1, self.target_ms - self.start_ms)))


@dataclass
class HistoryBuild:
    """The simulator's opening history being built (market time ``start_ms`` to ``until_ms``)."""

    start_ms: int
    until_ms: int
    token: int
    done_ms: int = 0
    then_speed: float = 1.0
    label: str = "history"

    @property
    def span_label(self) -> str:
        h = (self.until_ms - self.start_ms) / 3_600_000
        return f"{h:g} h" if h >= 1 else f"{(self.until_ms - self.start_ms) / 60_000:g} min"

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, (self.done_ms - self.start_ms) / max(1, self.until_ms - self.start_ms)))


class Session:
    """One engine fed by one source. ``kind`` is ``"sim"``, ``"replay"`` or ``"live"``.

    ``journal``: where every ingested event is kept (default: a new in-memory :class:`Journal`
    for a sim or live session; a replay has its file and keeps none).
    """

    def __init__(self, engine: Engine, source, kind: str, label: str = "", threaded: bool | None = None,
                 journal: Journal | None = None, key: tuple | None = None):
        self.engine = engine
        self.source = source
        self.kind = kind
        self.label = label or kind
        self.key = key
        self.threaded = (kind == "replay") if threaded is None else threaded
        self.inbox = QueueSource(self, 256)
        engine.source = self.inbox
        engine.sinks.append(self._ingested)
        self.journal = journal if journal is not None else (None if kind == "replay" else Journal())
        if self.journal is not None and self.journal.on_message is None:
            self.journal.on_message = self.message
        self.worker: FeedWorker | None = None
        self.seek: SeekState | None = None
        self.history: HistoryBuild | None = None
        self.rebuild: ModelRebuild | None = None
        self.messages: deque[str] = deque(maxlen=50)
        self.recorder = None
        self.latencies_ms: deque[float] = deque(maxlen=2000)
        self.frame_times: deque[float] = deque(maxlen=240)
        self._pending_created: float | None = None
        self._token = 0
        self._polled = False
        self._listeners: dict[str, list[Callable]] = {"message": [], "reset": []}
        self.stopped = False
        self._tiers_version = 0

    # ------------------------------------------------------------------ listeners
    def subscribe(self, event: str, fn: Callable) -> None:
        """Call ``fn`` on ``event``: ``"message"`` (``fn(text)``, from any thread) or ``"reset"``."""
        self._listeners[event].append(fn)

    def unsubscribe(self, event: str, fn: Callable) -> None:
        if fn in self._listeners[event]:
            self._listeners[event].remove(fn)

    def message(self, text: str) -> None:
        self.messages.append(text)
        for fn in list(self._listeners["message"]):
            fn(text)

    def _reset_happened(self) -> None:
        for fn in list(self._listeners["reset"]):
            fn()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the feed thread (a replay's, or the one building the simulator's history; a live
        source starts its own I/O thread). The window calls this once it has painted, so the
        work does not slow its first frame."""
        if self.kind == "live" and hasattr(self.source, "start"):
            self.source.start()
        if self.worker is None and self.threaded:
            self.worker = FeedWorker(self.source, self.inbox.queue, stamp=not self.is_replay)
        if self.worker is not None and not self.worker.is_alive() and not self.worker.stop_event.is_set():
            self.worker.start()

    def stop(self) -> None:
        """Stop the feed, any rebuild, the recording (saved) and forget the journal."""
        self.stopped = True
        self._stop_worker()
        if self.kind == "live" and hasattr(self.source, "stop"):
            self.source.stop()
        if self.rebuild is not None:
            self.rebuild.cancel()
            self.rebuild = None
        self.stop_recording()
        if self.journal is not None:
            self.journal.close()

    def _stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            if self.worker.is_alive():
                self.worker.join(timeout=2.0)
            self.worker = None

    def _command(self, fn) -> None:
        """Run ``fn(source, worker)`` in the feed thread (or here when unthreaded)."""
        if self.worker is not None:
            self.worker.command(fn)
        else:
            fn(self.source, InlineWorker(self.inbox.queue))

    # ------------------------------------------------------------------ frame side
    def pump(self, budget_s: float = 0.008) -> int:
        """Take queued events into the engine within ``budget_s`` (more while seeking or building
        history), and finish a rebuild whose thread is done."""
        self._polled = False
        if self.seek is not None or self.history is not None:
            budget_s = max(budget_s, BUSY_BUDGET_S)
        t0 = time.perf_counter()
        try:
            taken = self.engine.pump(time.monotonic(), budget_s)
        except ValueError as exc:  # a malformed batch: say so and go on
            self.message(f"bad events skipped: {exc}")
            taken = 0
        if self.rebuild is not None and self.rebuild.done:
            self._finish_rebuild(max(0.002, budget_s - (time.perf_counter() - t0)))
        new_notes = getattr(self.source, "new_notes", None)
        if new_notes is not None:  # a replay found a damaged part of its file: say it was left out
            for note in new_notes():
                self.message(f"left out of the replay: {note}")
        tiers_version = getattr(self.source, "tiers_version", 0)
        if tiers_version != self._tiers_version:
            # the exchanges' own tier tables arrived: the levels are recomputed with them
            self._tiers_version = tiers_version
            self.apply_settings(self.engine.settings, force=True)
        span = getattr(self.source, "backfill_span", None)
        if span != self.engine.backfill_span:
            self.engine.backfill_span = span
            self.engine.version += 1
        return taken

    def _poll_inline(self):
        """Unthreaded: poll the source now (it never blocks); a queue item or None."""
        if (self.threaded or self.seek is not None or self.history is not None or self.source is None
                or self._polled):
            return None
        self._polled = True   # once per frame: a real-time source always has a little more
        batch = self.source.poll(time.monotonic())
        if batch is None or not len(batch):
            return None
        if self.is_replay:
            return ("batch", batch, None)
        created = getattr(self.source, "last_created", None)
        return ("batch", batch, created if created is not None else time.perf_counter())

    def _taken(self, batch: EventBatch, created: list[float]) -> None:
        """A batch taken off the queue, about to be ingested."""
        if created:
            c = min(created)
            self._pending_created = c if self._pending_created is None else min(self._pending_created, c)
        span = batch.time_span()
        if span and self.seek is not None:
            self.seek.done_ms = max(self.seek.done_ms, span[1])
        if span and self.history is not None:
            self.history.done_ms = max(self.history.done_ms, span[1])

    def _ingested(self, batch: EventBatch) -> None:
        """Engine sink: a batch the engine took in. Journal it, record it, keep it for a rebuild."""
        if self.journal is not None:
            self.journal.append(batch)
        if self.rebuild is not None:
            self.rebuild.tail.append(batch)
        if self.recorder is not None:
            self.recorder.put(batch)

    def _control(self, item: tuple) -> None:
        kind = item[0]
        if kind == "reset":
            _, settings, token, target, start = item
            if token != self._token:
                return
            self.engine.reset(settings)
            self._pending_created = None
            self.seek = SeekState(target, start, start, self.seek.label if self.seek else "seeking") \
                if target is not None else None
            self._reset_happened()
        elif kind == "seek_done":
            if item[1] == self._token:
                self.seek = None
                self.engine.version += 1
        elif kind == "history_done":
            self._history_done(item[1])
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

    def busy(self) -> tuple[str, float] | None:
        """(what, fraction done) of the long work in progress, for a progress bar; None if idle."""
        for job in (self.seek, self.history, self.rebuild):
            if job is not None:
                return job.label, float(job.fraction)
        source_busy = getattr(self.source, "busy", None)
        return source_busy() if callable(source_busy) else None

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
    def apply_settings(self, settings: ModelSettings, force: bool = False) -> None:
        """New model settings (window, bin size, decay, prior): the model is rebuilt from the
        whole history — the session file for a replay, the journal otherwise — in the background
        while the source keeps running. ``force``: rebuild even with the same settings (new tier
        tables)."""
        if settings == self.engine.settings and self.rebuild is None and not force:
            return
        if self.rebuild is not None and self.rebuild.settings == settings:
            return
        if self.is_replay:
            at = self.engine.now_ms
            at = int(at) + 1 if at is not None else int(getattr(self.source, "start_ms", 0))
            self.seek_to(at, settings, label="rebuilding")
            return
        if self.rebuild is not None:
            self.rebuild.cancel()
        if self.journal is None or not self.journal.events:
            self.rebuild = None
            if force:
                from liqdesk.core.levels import LevelModel

                self.engine.replace_model(LevelModel(settings))
            else:
                self.engine.reset(settings)
            self._reset_happened()
            return
        self.rebuild = ModelRebuild(self.journal.snapshot(), settings, self.engine.order_book_grid).start()

    def _finish_rebuild(self, budget_s: float) -> None:
        """Feed the rebuilt model what arrived meanwhile (within ``budget_s``), then swap it in."""
        job = self.rebuild
        if job.model is None:
            self.rebuild = None
            if job.error:
                self.message(f"could not rebuild the model ({job.error}); the previous settings stay")
            return
        deadline = time.perf_counter() + budget_s
        while job.tail and time.perf_counter() < deadline:
            job.feed(job.tail.pop(0))
        if job.tail:
            return
        self.rebuild = None
        self.engine.replace_model(job.model, job.liquidity)
        self.message(f"model rebuilt from {job.view.events:,} events of history in {job.elapsed_s:.1f} s")
        self._reset_happened()

    # ------------------------------------------------------------------ simulator history
    def build_history(self, span_ms: int, then_speed: float = 1.0) -> None:
        """Simulator: build ``span_ms`` of market history at full speed in a worker thread (the
        frame timer ingests it as it comes, so the chart fills up), then run the market in real
        time (times ``then_speed``) from where the history ends. The thread runs from
        :meth:`start`."""
        src = self.source
        if not span_ms or not hasattr(src, "fast_forward"):
            return
        self._token += 1
        token = self._token
        start = int(src.sim_time_ms)
        self.history = HistoryBuild(start, start + int(span_ms), token, start, float(then_speed))
        self.worker = FeedWorker(src, self.inbox.queue, poll_source=False)

        def cmd(src, w):
            for batch in src.fast_forward(start + int(span_ms), HISTORY_CHUNK_MS):
                if w.stop_event.is_set():
                    return
                w.put(("batch", batch, None))
            w.put(("history_done", token))
        self.worker.command(cmd)

    def _history_done(self, token: int) -> None:
        job = self.history
        if job is None or token != job.token:
            return
        self._stop_worker()
        self.history = None
        src = self.source
        if hasattr(src, "set_speed"):
            src.set_speed(job.then_speed)
        src.go_live(time.monotonic())
        self.engine.version += 1

    # ------------------------------------------------------------------ recording
    def start_recording(self, path, from_start: bool = False) -> None:
        """Save what the session ingests to a new session at ``path`` from now on, or with
        ``from_start`` everything its journal holds first (the whole retained history)."""
        from .recorder import Recorder

        if self.recorder is not None:
            return
        history = self.journal.snapshot() if from_start and self.journal is not None else None
        self.recorder = Recorder(path, self.engine.settings.symbol, history=history, on_message=self.message,
                                 meta={"source": self.kind, "recorded_by": "liqdesk window",
                                       "from_start": bool(history is not None)})
        what = f" with {len(history):,} events of history" if history is not None else ""
        self.message(f"recording to {path}{what}")

    def stop_recording(self):
        """Stop recording; the session is closed in the recorder's thread (returned; join it to
        wait), which reports "recording saved" when done."""
        recorder, self.recorder = self.recorder, None
        return recorder.stop() if recorder is not None else None

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    @property
    def record_path(self):
        return self.recorder.path if self.recorder is not None else None

    # ------------------------------------------------------------------ status
    def source_state(self) -> str:
        """One line: what the source is doing."""
        from liqdesk.core.timefmt import format_time

        src = self.source
        if self.history is not None:
            return f"{self.label}: building {self.history.span_label} of history {self.history.fraction:.0%}"
        state_fn = getattr(src, "state", None)
        if isinstance(state_fn, str):
            err = getattr(src, "error", None)
            extra = f" ({err})" if err else ""
            lag = getattr(src, "lag_ms", 0) or 0
            speed = getattr(src, "speed", 1.0)
            sp = f" {speed:g}x" if speed != 1.0 else ""
            t = getattr(src, "clock_ms", None) or getattr(src, "sim_time_ms", None)
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


__all__ = ["Session", "SeekState", "HistoryBuild"]
