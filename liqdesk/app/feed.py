"""Getting events from a source to the thread that ingests them without ever blocking it.

A :class:`FeedWorker` thread runs what may block or take long (reading session files, building a
simulator's history at full speed, later the exchanges' sockets) and puts immutable batches on a
bounded queue. :class:`QueueSource` is what the engine polls: it takes what is queued, merging
small batches up to :data:`MERGE_EVENTS`, and polls a non-blocking source inline when the session
runs one without a worker. Control items (``("reset", ...)``, ``("seek_done", token)``,
``("history_done", token)``, ``("error", text)``) travel in the same queue, so they are seen in
order with the events.
"""

from __future__ import annotations

import queue
import threading
import time

from liqdesk.core.events import EventBatch, concat_batches

#: Events the UI ingests from one merged batch at most (keeps one ingest well under a frame).
MERGE_EVENTS = 60_000


class FeedWorker(threading.Thread):
    """Polls ``source`` every ``poll_s`` and puts ``("batch", batch, created)`` items on ``out``.

    ``created`` is the wall time (``time.perf_counter``) the events were created or received:
    the source's own ``last_created`` when it has one, else the time its poll returned.
    Commands (callables taking the source and the worker) run in this thread between polls.
    With ``poll_source`` False the worker only runs commands (e.g. building a simulator's
    history, while the source itself is polled by the ingesting thread afterwards).
    """

    def __init__(self, source, out: queue.Queue, poll_s: float = 0.010, stamp: bool = True,
                 poll_source: bool = True):
        super().__init__(name=f"liqdesk-feed:{getattr(source, 'kind', 'source')}", daemon=True)
        self.source = source
        self.poll_source = poll_source
        self.stamp = stamp     # False for a replay: its events were created long ago
        self.out = out
        self.poll_s = poll_s
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.commands_ready = threading.Event()
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
            if not self.poll_source:
                try:
                    self.commands_ready.wait(self.poll_s * 10)
                finally:
                    self.commands_ready.clear()
                continue
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

    def command(self, fn) -> None:
        """Run ``fn(source, worker)`` in this thread, after the commands already queued."""
        self.commands.put(fn)
        self.commands_ready.set()

    def stop(self) -> None:
        self.stop_event.set()
        self.commands_ready.set()


class QueueSource:
    """The engine's source: batches taken off the worker's queue (never blocks)."""

    kind = "queue"
    playing = True

    def __init__(self, session, maxsize: int = 256):
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


class InlineWorker:
    """Stands in for the worker when the session runs unthreaded (tests, render)."""

    def __init__(self, out: queue.Queue):
        self.out = out
        self.stop_event = threading.Event()

    def put(self, item) -> bool:
        self.out.put(item)
        return True
