"""Progress of a long command: one updating line on stderr, only when stderr is a terminal.

    with Progress("evaluate") as progress:
        progress(0.42, events_done)       # fraction of the work, and how many events so far

prints ``evaluate  42.0 %  1.3 M events/s  0:07`` in place (``\\r``), at most every 0.2 s, and
erases it at the end, so a command's own output (``--json``, a summary) stays clean. Nothing is
printed when stderr is not a terminal (a pipe, a file, a test's capture), unless forced with
``LIQDESK_PROGRESS=1`` (``0`` silences it on a terminal too) or ``enabled=``.

:class:`TrackedReader` turns the reads of a session into such calls: the share of the session's
span read so far and the events returned, over one or several passes, for work (export, evaluate)
whose code reads the session itself.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable

#: "1" shows the progress line even when stderr is not a terminal; "0" never shows it
ENV = "LIQDESK_PROGRESS"

#: the clock of every Progress made without one (a test can replace it)
monotonic = time.monotonic


def wanted(stream) -> bool:
    """Whether to show progress on ``stream``: :data:`ENV` when set, else whether it is a terminal."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in ("1", "yes", "on", "always"):
        return True
    if forced in ("0", "no", "off", "never"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _rate(per_s: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_s >= scale:
            return f"{per_s / scale:.1f} {prefix} {unit}/s"
    return f"{per_s:.0f} {unit}/s"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A one-line progress report: percent, rate, elapsed time. Call it with ``(fraction,
    count)``: ``fraction`` of the work done (0..1), ``count`` of ``unit`` done so far (None when
    unknown: no rate shown, unless ``total`` gives it as ``fraction * total``, shown with ``~``)."""

    def __init__(self, label: str, *, stream=None, enabled: bool | None = None, unit: str = "events",
                 total: float | None = None, interval_s: float = 0.2, delay_s: float = 0.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.label, self.unit, self.total = label, unit, total
        self.interval, self.delay = interval_s, delay_s
        self.clock = clock if clock is not None else monotonic
        self.t0 = self.clock()
        self.last = -float("inf")
        self.width = 0  # of the line on screen, to erase it

    def __call__(self, fraction: float, count: float | None = None) -> None:
        if not self.enabled:
            return
        now = self.clock()
        elapsed = now - self.t0
        if elapsed < self.delay or now - self.last < self.interval:
            return
        self.last = now
        self.show(self.line(fraction, count, elapsed))

    def line(self, fraction: float, count: float | None, elapsed: float) -> str:
        fraction = min(1.0, max(0.0, fraction))
        parts = [self.label, f"{100 * fraction:5.1f} %"]
        approx = ""
        if count is None and self.total is not None:
            count, approx = fraction * self.total, "~"
        if count is not None and elapsed > 0:
            parts.append(approx + _rate(count / elapsed, self.unit))
        parts.append(_clock(elapsed))
        return "  ".join(parts)

    def show(self, text: str) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        text = text[: max(10, columns - 1)]  # a wrapped line could not be rewritten in place
        pad = " " * max(0, self.width - len(text))
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        """Erase the line (nothing to do when none was shown)."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TrackedReader:
    """A :class:`~liqdesk.store.SessionReader` that reports its time-bounded reads to a
    :class:`Progress`: how far into the session's span the work has read, out of ``passes``
    passes over it (a read that starts before the previous one ended begins the next pass), and
    the events read. Everything else is the reader's."""

    def __init__(self, reader, progress: Progress, passes: int = 1) -> None:
        self._reader = reader
        self._progress = progress
        self._passes = max(1, passes)
        self._pass = 0
        self._end: int | None = None
        self._events = 0

    def __getattr__(self, name: str):
        return getattr(self._reader, name)

    def _advance(self, start: int, end: int, events: int) -> None:
        if self._end is not None and start < self._end:
            self._pass = min(self._pass + 1, self._passes - 1)
        self._end = end
        self._events += events
        first, last = self._reader.start_ms, self._reader.end_ms
        within = (min(end, last + 1) - first) / max(1, last + 1 - first)
        self._progress((self._pass + within) / self._passes, self._events)

    def read(self, start_ms: int | None = None, end_ms: int | None = None, kinds=None):
        batch = self._reader.read(start_ms, end_ms, kinds=kinds)
        if start_ms is not None and end_ms is not None and self._reader.start_ms is not None:
            self._advance(start_ms, end_ms, len(batch))
        return batch

    def iter_batches(self, chunk_ms: int, start_ms: int | None = None, end_ms: int | None = None):
        start = self._reader.start_ms if start_ms is None else start_ms
        for batch in self._reader.iter_batches(chunk_ms, start_ms, end_ms):
            span = batch.time_span()
            if span is not None and start is not None:
                self._advance(start, span[1] + 1, len(batch))
                start = span[1] + 1
            yield batch
