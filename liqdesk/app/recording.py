"""The headless recorder: a live source polled into a session file until a duration passes or it is
told to stop (SIGTERM, Ctrl+C), with a status line every ``log_every_s`` for a service log.

It writes through the same :class:`~liqdesk.app.recorder.Recorder` as the window's Record button,
so a SIGKILL loses at most about the last second. At the end it stores in the session what the
feed itself knows: per exchange the duplicates dropped, book resyncs, malformed and late
messages, reconnects, whether its liquidation feed is complete or sampled, and every gap with its
reason (``liqdesk info`` shows them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .recorder import Recorder


def record_live(source, path, duration_ms: int | None = None, log: Callable[[str], None] = print,
                stop: threading.Event | None = None, log_every_s: float = 10.0, poll_s: float = 0.1) -> dict:
    """Record ``source`` (a :class:`~liqdesk.sources.live.source.LiveSource`, not started) into a
    new session at ``path``. Returns a summary (events written, per exchange counts)."""
    stop = stop or threading.Event()
    meta = {"source": "live", "recorded_by": "liqdesk record", "exchanges": list(source.exchanges),
            "liquidation_feeds": dict(source.liquidation_feeds)}
    messages: list[str] = []
    recorder = Recorder(path, source.symbol, meta=meta, on_message=messages.append)
    source.start()
    t0 = time.monotonic()
    last_log = t0
    events = 0
    try:
        while not stop.is_set():
            batch = source.poll()
            if batch is not None and len(batch):
                recorder.put(batch)
                events += len(batch)
            now = time.monotonic()
            if duration_ms is not None and (now - t0) * 1000 >= duration_ms:
                break
            if now - last_log >= log_every_s:
                last_log = now
                log(f"recording {source.symbol} to {path}: {events:,} events · {source.state()}")
            if recorder.error:
                break
            stop.wait(poll_s)
    finally:
        source.stop()
        batch = source.poll()
        if batch is not None and len(batch):
            recorder.put(batch)
            events += len(batch)
        summary = _feed_summary(source)
        writer = recorder.writer
        for name, info in summary.items():
            for kind, start, end, reason in info.pop("gap_list"):
                try:
                    writer.add_gap(name, kind, int(start), int(end), reason)
                except (ValueError, RuntimeError):
                    pass
        try:
            writer.update_meta(live=summary)
        except (ValueError, RuntimeError):
            pass
        recorder.stop().join()
    for text in messages:
        log(text)
    return {"events": events, "exchanges": summary, "error": recorder.error}


def _feed_summary(source) -> dict:
    out = {}
    for adapter in source.adapters.values():
        status = adapter.status()
        out[adapter.name] = {
            "liquidations": adapter.liquidations,
            "events": adapter.events,
            "state": status.state.value,
            "error": status.error,
            **{k: int(v) for k, v in adapter.counts.items()},
            "gap_list": list(adapter.gaps),
            "backfill": source.backfill_notes.get(adapter.name),
            "tiers": source.tier_notes.get(adapter.name, "shipped table"),
        }
    return out
