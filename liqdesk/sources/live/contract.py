"""The written contract of a live exchange feed, and the pieces every adapter shares.

A live source (:class:`~.source.LiveSource`) runs one adapter per exchange on an asyncio loop in
its own I/O thread. It promises what every liqdesk source promises:

- **Non-blocking.** ``poll(now)`` returns at once: the batches the adapters have made since the
  last poll (parsed and converted to numpy in the I/O thread), merged, or None.
- **Immutable batches.** Each is a validated :class:`~liqdesk.core.events.EventBatch`.
- **Reconnects itself.** Each stream of each exchange has its own loop: a jittered backoff
  (0.5 s doubling to 30 s, reset by a good message), a watchdog that takes ``silence_s`` without a
  message as a dead connection (not on liquidation streams, which are quiet for minutes), book
  errors (ccxt ``ChecksumError``/``InvalidNonce``, or a gap an adapter found) answered by a resync
  at once, network errors by a backoff. A dead exchange never stops the others.
- **Link status is data**: :meth:`status` per exchange (:class:`AdapterStatus`), for the status bar.
- **No secrets**: public endpoints only; no API key is ever asked for, read or written.

Times are ms since the epoch (the exchange's event time where it gives one); wall times are
``time.monotonic()`` seconds.
"""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, field


class LiveState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    BACKFILL = "backfilling"
    LIVE = "live"
    STALE = "stale"
    BACKOFF = "reconnecting"
    ERROR = "error"
    STOPPED = "stopped"


#: What an exchange's public liquidation feed gives: every liquidation, a sample (the latest per
#: symbol per second, or the largest), or nothing.
COMPLETE, SAMPLED, ABSENT = "complete", "sampled", "absent"


@dataclass
class StreamStatus:
    """One stream of one exchange (trades, book, mark, open interest, liquidations, ...)."""

    state: LiveState = LiveState.IDLE
    since: float = field(default_factory=time.monotonic)
    messages: int = 0
    last_msg: float | None = None
    retries: int = 0
    next_retry_s: float | None = None
    error: str | None = None


@dataclass
class AdapterStatus:
    """One exchange, for the status bar: its overall state (the worst of its streams that matter),
    message rate, lag of its newest event behind the wall clock, and the counts the session's
    ``info`` reports (duplicates dropped, book gaps/resyncs, malformed messages, late events)."""

    exchange: str
    state: LiveState
    liquidations: str
    rate_per_s: float = 0.0
    lag_ms: float | None = None
    retries: int = 0
    next_retry_s: float | None = None
    error: str | None = None
    streams: dict = field(default_factory=dict)        # name -> StreamStatus
    counts: dict = field(default_factory=dict)         # duplicates, gaps, resyncs, malformed, late

    def line(self) -> str:
        """``binance live 312/s`` · ``okx reconnecting in 4 s`` · ``bybit error (…)``."""
        if self.state == LiveState.BACKOFF and self.next_retry_s is not None:
            return f"{self.exchange} reconnecting in {self.next_retry_s:.0f} s"
        if self.state == LiveState.ERROR and self.error:
            return f"{self.exchange} error ({self.error})"
        if self.state == LiveState.LIVE:
            return f"{self.exchange} live {self.rate_per_s:,.0f}/s"
        return f"{self.exchange} {self.state.value}"


class Backoff:
    """Jittered exponential backoff: ``first_s`` doubling to ``max_s``, ±``jitter`` (a fraction);
    :meth:`reset` after a good message."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0, jitter: float = 0.25, rng: random.Random | None = None):
        self.first_s, self.max_s, self.jitter = first_s, max_s, jitter
        self.rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        base = min(self.max_s, self.first_s * (2 ** self.attempt))
        self.attempt += 1
        return max(0.0, base * (1 + self.rng.uniform(-self.jitter, self.jitter)))

    def reset(self) -> None:
        self.attempt = 0
