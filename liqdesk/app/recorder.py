"""Recording a chart session to a session file, from now on or from the start of its journal.

A :class:`Recorder` owns a :class:`~liqdesk.store.SessionWriter` and one thread: it first writes
the journal's history (when recording from the start), then every batch the session ingests,
in order. The thread that ingests only puts batches on a queue, so recording never stalls a frame;
the writer hands data to the operating system at least twice a second, so a crash loses at most
about the last second. Closing turns the logs into Parquet (a few seconds for a long session),
also off the ingesting thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

from liqdesk.core.events import EventBatch

from .journal import JournalView

_STOP = object()


class Recorder:
    """Writes ``history`` (a journal snapshot, or None to start from now) then each batch given
    to :meth:`put` to a new session at ``path``. ``on_message`` gets one-line reports (from the
    recorder's thread)."""

    def __init__(self, path, symbol: str, meta: dict | None = None, history: JournalView | None = None,
                 on_message: Callable[[str], None] | None = None):
        from liqdesk.store import SessionWriter

        self.path = Path(path)
        self.writer = SessionWriter(self.path, symbol, meta=meta)
        self.on_message = on_message or (lambda text: None)
        self.history_events = len(history) if history is not None else 0
        self.written_history = 0
        self.error: str | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._history = history
        self._thread = threading.Thread(target=self._run, name="liqdesk-recorder", daemon=False)
        self._thread.start()

    @property
    def active(self) -> bool:
        return self.error is None and self._thread.is_alive()

    @property
    def history_fraction(self) -> float:
        """How much of the history has been written (1.0 when recording from now)."""
        return 1.0 if not self.history_events else min(1.0, self.written_history / self.history_events)

    def put(self, batch: EventBatch) -> None:
        """Record ``batch`` after everything before it (called by the ingesting thread)."""
        if self.error is None:
            self._queue.put(batch)

    def _run(self) -> None:
        try:
            if self._history is not None:
                for batch in self._history.iter_batches(merge_ms=300_000):
                    self.writer.write(batch)
                    self.written_history += len(batch)
                self._history = None
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                self.writer.write(item)
        except Exception as exc:  # disk full, permissions: say so; what was written is kept
            self.error = f"{type(exc).__name__}: {exc}"
            self.on_message(f"recording stopped: {self.error}; what was written is kept in {self.path}")
        self._close()

    def _close(self) -> None:
        try:
            self.writer.close()
            if self.error is None:
                self.on_message(f"recording saved: {self.path}")
        except Exception as exc:
            self.on_message(f"recording could not be closed ({exc}); it is kept as logs and recoverable")

    def stop(self) -> threading.Thread:
        """Finish writing what is queued, then close the session (in the recorder's thread,
        which the returned thread is; join it to wait)."""
        self._queue.put(_STOP)
        return self._thread
