"""One exchange on ccxt.pro: the single watch loop every stream runs (backoff, watchdog, resync,
the catch order ccxt needs), the buffers records go to, deduplication, and the conversion to
numpy batches. An exchange module (``binance.py``, ``bybit.py``, ...) subclasses
:class:`VenueAdapter` and only says which streams it has and how to read one message of each
(``once`` coroutines that await one ccxt ``watch_*``/``fetch_*`` call and ``emit_*`` records).

Records, in the units of :mod:`liqdesk.core.events`:

- ``emit_trades([(id, time_ms, side, price, size)])``: ``side`` the taker side (+1 buy); a trade id
  seen before (a reconnect replays ccxt's cache) is dropped and counted.
- ``emit_book(time_ms, bids, asks)``: the top of the book ccxt maintains, as a snapshot, at most
  every ``book_every_s`` (the ladder needs no more; the journal stays small).
- ``emit_mark(time_ms, price)``, ``emit_open_interest(time_ms, oi_base, oi_notional)``,
  ``emit_funding(time_ms, rate)``.
- ``emit_liquidations([(time_ms, side, price, size)])``: ``side`` of the liquidated *position*
  (+1 long), sizes in base currency (contracts × contract value already applied); duplicates by
  (time, side, price, size) dropped.

Trade refill, for exchanges whose trade ids are not consecutive (Bybit, OKX): a
:class:`TradeTape` on the public socket opens a suspected hole on a new connection, a silence or an
unreadable frame; a ``trade_refill`` stream (:meth:`VenueAdapter.refill_once`) fetches the
exchange's newest trades by REST (:meth:`VenueAdapter.fetch_refill`), emits the missed ones and
records as a trade gap what the exchange no longer serves.

Everything here runs on the I/O thread's asyncio loop.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, EventBatch, make_batch

from .contract import SAMPLED, AdapterStatus, Backoff, LiveState, StreamStatus
from .urls import point_at

#: Trade ids remembered for deduplication, per exchange.
DEDUPE_IDS = 200_000


class CacheCursor:
    """Reads what ccxt appended to one of its caches (``exchange.trades[symbol]``, liquidations)
    since the last read, each item once. ccxt's ``watch_*`` resolves only a watch that is pending
    when a message arrives: one that arrives while none is (the adapter is busy emitting the
    previous batch) is cached and returned with the next message, so the last one before a quiet
    spell waits for the next, and the last of a replayed capture never comes. Reading the cache
    after each wake-up, and before awaiting the next one, gets all of them. The cursor is the
    newest item read (by identity); if ccxt evicted it, the whole cache is read again (callers
    dedupe)."""

    def __init__(self):
        self.last = None

    def read(self, cache) -> list:
        if not cache:
            return []
        new = []
        for item in reversed(cache):
            if item is self.last:
                break
            new.append(item)
        if new:
            self.last = new[0]
            new.reverse()
        return new


class BookGap(Exception):
    """An adapter found a gap in a book's update ids that ccxt did not (Bybit): resync."""


@dataclass
class Stream:
    """One stream of an exchange: ``once()`` awaits one message (or one poll) and emits it.
    ``silence_s``: with no message for this long the connection is taken as dead (None: no
    watchdog, e.g. liquidations); ``poll_s``: for a REST poll, the pause between calls."""

    name: str
    once: Callable[[], Awaitable[None]]
    silence_s: float | None = 30.0
    poll_s: float | None = None


class VenueAdapter:
    """Base of one exchange's adapter. ``symbol``: ccxt unified linear perpetual, e.g.
    ``BTC/USDT:USDT``; ``emulator``: base URL of a server that speaks the exchange's protocol."""

    name = ""
    ccxt_id = ""
    #: what the exchange's public liquidation feed gives (contract.COMPLETE / SAMPLED / ABSENT)
    liquidations = SAMPLED
    #: extra ccxt options (e.g. market types to load)
    ccxt_options: dict = {}
    book_every_s = 1.0
    book_depth = 25
    #: trade refill from REST (exchanges with a :class:`TradeTape`): a socket silent this long (s)
    #: may have lost trades; at most one refill per ``refill_every_s``; a hole the trade stream has
    #: not resumed after is refilled (again) after ``hole_wait_s``
    silence_hole_s = 1.5
    refill_every_s = 1.0
    hole_wait_s = 5.0

    def __init__(self, symbol: str = "BTC/USDT:USDT", emulator: str | None = None):
        self.symbol = symbol
        self.emulator = emulator
        self.gid = EXCHANGE_ID[self.name]
        self.exchange = None
        self.market: dict | None = None
        self._lock = threading.Lock()
        self._rows: dict[str, list] = {k: [] for k in ("trades", "book", "marks", "open_interest", "funding",
                                                       "liquidations")}
        self._seen_ids: set = set()
        self._seen_order: deque = deque()
        self._seen_liq: set = set()
        self._seen_liq_order: deque = deque()
        self._last_book_emit = 0.0
        self._force_book = False
        self.streams_status: dict[str, StreamStatus] = {}
        self.counts = {"duplicates": 0, "gaps": 0, "resyncs": 0, "malformed": 0, "stalls": 0, "late": 0, "reordered": 0,
                       "reconnects": 0, "liquidations_deduped": 0}
        self.gaps: list[tuple[str, int, int, str]] = []      # (kind, start_ms, end_ms, reason)
        self.events = 0
        self._rate: deque = deque(maxlen=64)                # (monotonic s, events)
        self.newest_ms: int | None = None
        self.state = LiveState.IDLE
        self.error: str | None = None
        self._stopping = False
        self._tasks: list[asyncio.Task] = []
        self.backoff = Backoff()
        self._trade_cursor = CacheCursor()
        self._liq_cursor = CacheCursor()
        #: suspected trade holes of the public socket (set by exchanges that refill them by REST)
        self.tape: TradeTape | None = None
        self._hole_flag = asyncio.Event()
        self._last_refill = 0.0
        self._refilling = False
        self._refill_started = False
        self.trades_refilled = 0
        self.holes_refilled = 0
        self._in_flight: list[dict] = []          # holes taken for the refill under way

    # ------------------------------------------------------------------ for subclasses
    def market_symbol(self) -> str:
        """The ccxt symbol of this exchange's market for ``self.symbol`` (Hyperliquid: USDC)."""
        return self.symbol

    def streams(self) -> list[Stream]:
        """The exchange's streams (subclasses)."""
        return []

    async def backfill(self, since_ms: int, until_ms: int) -> EventBatch | None:
        """History for a warm start (subclasses: candles as coarse trades, OI history)."""
        return None

    async def watch_new_trades(self, symbol: str | None = None) -> list[dict]:
        """Every trade ccxt received for ``symbol`` (default: the adapter's) since the last call,
        each once, as ccxt parsed them; awaits ``watch_trades`` only when none is cached yet
        (see :class:`CacheCursor`)."""
        symbol = symbol or self.symbol
        new = self._trade_cursor.read((self.exchange.trades or {}).get(symbol))
        if new:
            return new
        await self.exchange.watch_trades(symbol)
        return self._trade_cursor.read((self.exchange.trades or {}).get(symbol))

    def trade_rows(self, trades: list[dict]) -> list[tuple]:
        """ccxt's parsed trades as ``emit_trades`` rows (id, time ms, taker side, price, size in base
        currency); one without an id, time, side, price or size is counted malformed and skipped."""
        cs = self.contract_size
        rows = []
        for t in trades:
            side = 1 if t.get("side") == "buy" else -1 if t.get("side") == "sell" else 0
            if not side or t.get("id") is None or t.get("timestamp") is None or not t.get("price") or not t.get("amount"):
                self.counts["malformed"] += 1
                continue
            rows.append((t["id"], int(t["timestamp"]), side, float(t["price"]), float(t["amount"]) * cs))
        return rows

    def new_liquidations(self) -> list[dict]:
        """Every liquidation ccxt cached since the last call, oldest first, each once (its
        ``watch_liquidations`` returns only the first of a frame's burst)."""
        return self._liq_cursor.read(getattr(self.exchange, "liquidations", None))

    # ------------------------------------------------------------------ trade refill
    def new_tape(self, trade_frame=None) -> TradeTape:
        """A :class:`TradeTape` for this adapter's public socket (its holes wake :meth:`refill_once`)."""
        self.tape = TradeTape(self.silence_hole_s, trade_frame)
        self.tape.on_hole = self._hole_flag.set
        return self.tape

    async def fetch_refill(self, since_ms: int, since_ids: set) -> list[tuple]:
        """Subclasses: the exchange's newest trades as (id, time_ms, side, price, size), reaching
        back to a trade of ``since_ids`` or older than ``since_ms`` if the exchange serves that far."""
        return []

    def refill_reach(self, n: int) -> str:
        """Why the ``n`` trades a refill fetched did not reach back to a hole (a trade gap's reason)."""
        return f"the exchange serves only its last {n} by REST"

    @property
    def trades_pending(self) -> bool:
        """A suspected trade hole not refilled yet (or being refilled)."""
        return self._refilling or (self.tape is not None and bool(self.tape.holes))

    @property
    def open_holes_since_ms(self) -> list[int]:
        """Where each suspected trade hole not refilled yet (or being refilled) starts (ms): what a
        recording stopped now may lack besides its recorded gaps."""
        holes = list(self._in_flight) + (list(self.tape.holes) if self.tape is not None else [])
        return [int(h["since_ms"]) for h in holes]

    async def refill_once(self) -> None:
        """One round of the ``trade_refill`` stream: once the trade stream has resumed after a
        suspected hole (or ``hole_wait_s`` after it opened if it has not), fetch the exchange's
        newest trades, at most once per ``refill_every_s``, and :meth:`resolve_holes`. A failed
        call (network, 429) keeps the holes; the watch loop backs off."""
        tape = self.tape
        now = time.monotonic()
        if not self._refill_started:
            # the first round returns at once: the stream is live (the adapter's state is the
            # streams'), not waiting behind the warm start's REST calls for its first refill
            self._refill_started = True
            return
        if tape is None or not any(h["first_after"] is not None or now - h["opened"] >= self.hole_wait_s
                                   for h in tape.holes):
            self._hole_flag.clear()
            try:
                await asyncio.wait_for(self._hole_flag.wait(), 0.25)
            except TimeoutError:
                pass
            return
        wait = self._last_refill + self.refill_every_s - now
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_refill = time.monotonic()
        holes = tape.take()
        self._refilling = True
        self._in_flight = holes
        try:
            rows = await self.fetch_refill(min(h["since_ms"] for h in holes), {h["since_id"] for h in holes})
        except BaseException:
            tape.holes = holes + tape.holes            # refilled on a later round
            raise
        finally:
            self._refilling = False
            self._in_flight = []
        self.resolve_holes(holes, rows)

    def resolve_holes(self, holes: list[dict], rows: list[tuple]) -> None:
        """Emit the trades of ``rows`` (the exchange's newest, any order) that fall in a hole and the
        stream did not bring (neither emitted nor waiting in ccxt's cache); record as a gap, per hole,
        the span the rows no longer reach back to (the exchange's own loss); re-open from the newest
        row a hole the stream has not resumed after."""
        tape = self.tape
        cached = {t.get("id") for t in (self.exchange.trades or {}).get(self.market_symbol()) or ()}
        ids = {r[0] for r in rows}
        oldest = min((r[1] for r in rows), default=None)
        newest = max(rows, key=lambda r: r[1]) if rows else None
        missed = []
        for r in rows:
            if r[0] in self._seen_ids or r[0] in cached:
                continue
            if any(h["since_ms"] <= r[1] and (h["first_after"] is None or r[1] <= h["first_after"]) for h in holes):
                missed.append(r)
        missed.sort(key=lambda r: r[1])
        self.trades_refilled += len(missed)
        self.holes_refilled += len(holes)
        self.emit_trades(missed)
        for hole in holes:
            if hole["since_id"] not in ids and (oldest is None or oldest >= hole["since_ms"]):
                ends = [t for t in (oldest, hole["first_after"]) if t is not None]
                end = max(min(ends) if ends else hole["since_ms"], hole["since_ms"])
                self.counts["gaps"] += 1
                self.gaps.append(("trades", int(hole["since_ms"]), int(end),
                                  f"trades lost after {hole['reason']} ({self.refill_reach(len(rows))})"))
            if hole["first_after"] is None:
                # the stream has not resumed: trades may still be going by unseen
                if newest is not None and newest[1] >= hole["since_ms"]:
                    hole["since_id"], hole["since_ms"] = newest[0], newest[1]
                hole["opened"] = time.monotonic()
                later = [h for h in tape.holes if h["first_after"] is None]
                if later:                              # opened meanwhile: this one starts earlier
                    later[0].update(since_id=hole["since_id"], since_ms=hole["since_ms"])
                else:
                    tape.holes.insert(0, hole)

    # ------------------------------------------------------------------ exchange
    def exchange_class(self):
        """The ccxt.pro class (subclasses: their own subclass of it, with the handlers ccxt lacks)."""
        import ccxt.pro

        return getattr(ccxt.pro, self.ccxt_id)

    def create_exchange(self):
        """The ccxt client: rate-limited, its unreadable frames counted (``on_bad_message``, called
        by :func:`guard_frames`), every URL pointed at the emulator when there is one."""
        ex = self.exchange_class()({"enableRateLimit": True, "options": dict(self.ccxt_options)})
        ex.on_bad_message = self.count_malformed
        if self.emulator:
            point_at(ex, self.emulator)
        return ex

    def count_malformed(self, exc: BaseException | None = None) -> None:
        """A frame neither ccxt nor the adapter could read (it is skipped, the connection goes on)."""
        self.counts["malformed"] += 1

    @property
    def contract_size(self) -> float:
        """Base currency per contract (1 where the exchange counts in base currency)."""
        size = (self.market or {}).get("contractSize")
        return float(size) if size else 1.0

    async def watch_book(self) -> None:
        """One order-book stream message: the top of the book ccxt keeps (sizes in base currency),
        emitted at most every ``book_every_s``, at once after a resync."""
        ob = await self.exchange.watch_order_book(self.market_symbol())
        cs, depth = self.contract_size, self.book_depth
        bids = [(p, q * cs) for p, q, *_ in list(ob["bids"])[:depth]]
        asks = [(p, q * cs) for p, q, *_ in list(ob["asks"])[:depth]]
        t = ob.get("timestamp") or int(time.time() * 1000)
        force, self._force_book = self._force_book, False
        self.emit_book(int(t), bids, asks, force=force)

    async def start(self) -> None:
        """Connect (load markets, with backoff) and run every stream until :meth:`stop`."""
        self.exchange = self.create_exchange()
        self.state = LiveState.CONNECTING
        while not self._stopping:
            try:
                await self.exchange.load_markets()
                symbol = self.market_symbol()
                if symbol not in self.exchange.markets:
                    self.state, self.error = LiveState.ERROR, f"{self.name} lists no market {symbol}"
                    return
                self.market = self.exchange.market(symbol)
                break
            except Exception as exc:  # noqa: BLE001 - reported, retried
                self._set_error(exc)
                await asyncio.sleep(self.backoff.next())
        self.backoff.reset()
        for stream in self.streams():
            self.streams_status[stream.name] = StreamStatus()
            self._tasks.append(asyncio.ensure_future(self._loop(stream)))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self.exchange is not None:
            try:
                await self.exchange.close()
            except Exception:  # noqa: BLE001, S110 - closing a dead connection
                pass
        self.state = LiveState.STOPPED

    async def _loop(self, stream: Stream) -> None:
        """The one loop of every stream: read, emit, and keep the connection alive."""
        import ccxt

        st = self.streams_status[stream.name]
        backoff = Backoff()
        while not self._stopping:
            try:
                if stream.silence_s:
                    await asyncio.wait_for(stream.once(), stream.silence_s)
                else:
                    await stream.once()
                st.messages += 1
                st.last_msg = time.monotonic()
                if st.state != LiveState.LIVE:
                    st.state, st.since, st.error, st.next_retry_s = LiveState.LIVE, time.monotonic(), None, None
                backoff.reset()
                if stream.poll_s:
                    await asyncio.sleep(stream.poll_s)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._stopping or task is None or task.cancelling():
                    raise
                # not this loop being cancelled: a ccxt future cancelled under it (a client closed
                # by another stream's watchdog); re-dial like after a dropped connection
                await self._backoff(st, backoff, ccxt.NetworkError("connection closed under the watch"))
            except TimeoutError:
                # silence: a half-open socket or a stalled server; drop the connections, re-dial
                st.state = LiveState.STALE
                self.counts["stalls"] += 1
                await self._reconnect()
            except (ccxt.ChecksumError, ccxt.InvalidNonce, BookGap) as exc:
                # a book gap: resync at once (ccxt refetches the snapshot on the next watch)
                self.counts["resyncs"] += 1
                self._gap("book", f"{type(exc).__name__}: {_short(exc)}")
                await self.on_book_gap(exc)
            except ccxt.ExchangeClosedByUser:
                return
            except ccxt.NetworkError as exc:
                await self._backoff(st, backoff, exc)
            except ccxt.BaseError as exc:
                await self._backoff(st, backoff, exc, LiveState.ERROR)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                # a message our parser or ccxt's could not read: counted, the stream goes on
                self.counts["malformed"] += 1
                st.error = _short(exc)
                await asyncio.sleep(min(1.0, backoff.next()))

    async def on_book_gap(self, exc: BaseException) -> None:
        """What a resync needs beyond ccxt's own. By default ccxt has dropped its book and
        re-subscribes on the next watch: show the new book at once."""
        self._force_book = True

    async def _reconnect(self) -> None:
        self.counts["reconnects"] += 1
        # forget the clients first (the next watch dials a new one at once, and a client another
        # stream opens meanwhile is not dropped with them); closing one to a stalled server can
        # wait for its close frame up to aiohttp's 10 s, so the closes finish in the background
        clients = dict(self.exchange.clients or {})
        for url, client in clients.items():
            if self.exchange.clients.get(url) is client:
                del self.exchange.clients[url]
        if clients:
            await asyncio.wait([asyncio.ensure_future(_close(c)) for c in clients.values()], timeout=1.0)

    async def _backoff(self, st: StreamStatus, backoff: Backoff, exc: BaseException,
                       state: LiveState = LiveState.BACKOFF) -> None:
        delay = backoff.next()
        st.state, st.error, st.retries = state, _short(exc), st.retries + 1
        st.next_retry_s = delay
        st.since = time.monotonic()
        await asyncio.sleep(delay)
        st.next_retry_s = None

    def _set_error(self, exc: BaseException) -> None:
        self.state, self.error = LiveState.BACKOFF, _short(exc)

    def _gap(self, kind: str, reason: str) -> None:
        t = self.newest_ms or int(time.time() * 1000)
        self.counts["gaps"] += 1
        self.gaps.append((kind, t, t, reason))

    # ------------------------------------------------------------------ records
    def emit_trades(self, rows: list[tuple]) -> None:
        keep = []
        for row in rows:
            tid = row[0]
            if tid in self._seen_ids:
                self.counts["duplicates"] += 1
                continue
            self._seen_ids.add(tid)
            self._seen_order.append(tid)
            keep.append(row[1:])
        while len(self._seen_order) > DEDUPE_IDS:
            self._seen_ids.discard(self._seen_order.popleft())
        if keep:
            with self._lock:
                self._rows["trades"].extend(keep)

    def emit_book(self, time_ms: int, bids, asks, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_book_emit < self.book_every_s:
            return
        self._last_book_emit = now
        rows = [(time_ms, 1, float(p), float(q)) for p, q, *_ in list(bids)[: self.book_depth]]
        rows += [(time_ms, -1, float(p), float(q)) for p, q, *_ in list(asks)[: self.book_depth]]
        if rows:
            with self._lock:
                self._rows["book"].extend(rows)

    def emit_mark(self, time_ms: int, price: float) -> None:
        if price and math.isfinite(price) and price > 0:
            with self._lock:
                self._rows["marks"].append((time_ms, float(price)))

    def emit_open_interest(self, time_ms: int, oi_base: float, oi_notional: float) -> None:
        with self._lock:
            self._rows["open_interest"].append((time_ms, float(oi_base), float(oi_notional)))

    def emit_funding(self, time_ms: int, rate: float) -> None:
        if rate is not None and math.isfinite(rate):
            with self._lock:
                self._rows["funding"].append((time_ms, float(rate)))

    def emit_liquidations(self, rows: list[tuple]) -> None:
        keep = []
        for row in rows:
            key = tuple(row)
            if key in self._seen_liq:
                self.counts["liquidations_deduped"] += 1
                continue
            self._seen_liq.add(key)
            self._seen_liq_order.append(key)
            keep.append(row)
        while len(self._seen_liq_order) > 20_000:
            self._seen_liq.discard(self._seen_liq_order.popleft())
        if keep:
            with self._lock:
                self._rows["liquidations"].extend(keep)

    def take_batch(self) -> EventBatch | None:
        """What was emitted since the last call, as one validated batch (None when nothing).
        Rows that fail validation (a venue sent nonsense) are dropped and counted."""
        with self._lock:
            rows, self._rows = self._rows, {k: [] for k in self._rows}
        arrays = {}
        g = self.gid
        if rows["trades"]:
            t, side, price, size = zip(*rows["trades"])
            arrays["trades"] = _records("trades", time_ms=t, exchange=g, side=side, price=price, size=size)
        if rows["book"]:
            t, side, price, size = zip(*rows["book"])
            arrays["book"] = _records("book", time_ms=t, exchange=g, side=side, snapshot=True, price=price, size=size)
        if rows["marks"]:
            t, price = zip(*rows["marks"])
            arrays["marks"] = _records("marks", time_ms=t, exchange=g, price=price)
        if rows["open_interest"]:
            t, base, notional = zip(*rows["open_interest"])
            arrays["open_interest"] = _records("open_interest", time_ms=t, exchange=g, oi_base=base, oi_notional=notional)
        if rows["funding"]:
            t, rate = zip(*rows["funding"])
            arrays["funding"] = _records("funding", time_ms=t, exchange=g, rate=rate)
        if rows["liquidations"]:
            t, side, price, size = zip(*rows["liquidations"])
            p, q = np.asarray(price, float), np.asarray(size, float)
            arrays["liquidations"] = _records("liquidations", time_ms=t, exchange=g, side=side, price=p, size=q,
                                              notional=p * q)
        if not arrays:
            return None
        arrays = {k: self._valid(k, a) for k, a in arrays.items()}
        n = sum(len(a) for a in arrays.values())
        if not n:
            return None
        batch = make_batch(**arrays)
        self.events += n
        self._rate.append((time.monotonic(), n))
        span = batch.time_span()
        if span:
            self.newest_ms = span[1] if self.newest_ms is None else max(self.newest_ms, span[1])
        return batch

    def _valid(self, kind: str, arr: np.ndarray) -> np.ndarray:
        from liqdesk.core.events import validate_array

        arr = arr[np.argsort(arr["time_ms"], kind="stable")]
        try:
            return validate_array(kind, arr)
        except ValueError:
            ok = np.ones(len(arr), bool)
            for name in arr.dtype.names:
                col = arr[name]
                if col.dtype.kind == "f":
                    ok &= np.isfinite(col)
                    if name in ("price", "size", "notional"):
                        ok &= col > 0
            self.counts["malformed"] += int((~ok).sum())
            return validate_array(kind, arr[ok])

    # ------------------------------------------------------------------ status
    def status(self) -> AdapterStatus:
        now = time.monotonic()
        streams = dict(self.streams_status)
        states = [s.state for name, s in streams.items() if name != "liquidations"]
        if self.state in (LiveState.ERROR, LiveState.STOPPED, LiveState.BACKFILL) or not states:
            state = self.state
        elif any(s == LiveState.ERROR for s in states):
            state = LiveState.ERROR
        elif any(s in (LiveState.BACKOFF, LiveState.CONNECTING, LiveState.IDLE) for s in states):
            state = next(s for s in (LiveState.BACKOFF, LiveState.CONNECTING, LiveState.IDLE) if s in states)
        elif any(s == LiveState.STALE for s in states):
            state = LiveState.STALE
        else:
            state = LiveState.LIVE
        retry = [s.next_retry_s for s in streams.values() if s.next_retry_s is not None]
        errors = [s.error for s in streams.values() if s.error]
        recent = [n for t, n in self._rate if now - t <= 5.0]
        lag = (time.time() * 1000 - self.newest_ms) if self.newest_ms is not None else None
        return AdapterStatus(self.name, state, self.liquidations, sum(recent) / 5.0, lag,
                             sum(s.retries for s in streams.values()), min(retry) if retry else None,
                             self.error or (errors[0] if errors else None), streams, dict(self.counts))


async def _close(client) -> None:
    try:
        await client.close()
    except Exception:  # noqa: BLE001, S110 - the client is being dropped anyway
        pass


def guard_frames(client, report: Callable[[BaseException], None]):
    """Make ccxt's websocket ``client`` survive a frame it cannot read: a message that raises while
    being decoded or handled, or a JSON frame cut short, is passed to ``report`` (the adapter
    counts it as ``malformed``) instead of escaping ccxt's receive callback, which silently stops
    reading the connection (or being ignored without a word).
    Idempotent; returns the client (for ``client()`` overrides in ccxt subclasses)."""
    if getattr(client, "_liqdesk_guarded", False):
        return client
    read = client.handle_text_or_binary_message

    def guarded(data, read=read):
        # a JSON frame cut short: ccxt would pass it on as plain text, which some exchanges' handlers
        # ignore without a word; count it here (plain-text frames such as "pong" go through)
        if isinstance(data, str) and data[:1] in ("{", "[") and data.rstrip()[-1:] not in ("}", "]"):
            report(ValueError("a JSON frame cut short"))
            return
        try:
            read(data)
        except Exception as exc:  # noqa: BLE001 - one unreadable frame must not stop the socket
            report(exc)

    client.handle_text_or_binary_message = guarded
    client._liqdesk_guarded = True
    return client


class TradeTape:
    """Suspected trade holes on one exchange's public socket, for exchanges whose trade ids are not
    consecutive (a loss cannot be seen in them): a **new connection** after the first, a **silence**
    longer than ``silence_hole_s`` on the socket that then resumes (every frame counts: book diffs
    and tickers are its heartbeat), or a **frame that could not be read** (unless what is left of it
    names another channel) opens a hole after the last trade read (``last``: (id, time ms)). The
    first trade read after it closes it (``first_after``); the adapter then refills it by REST
    (:meth:`VenueAdapter.refill_once`). A suspicion while a hole is still open, no trade read
    since, adds nothing.

    The exchange's ccxt subclass passes every websocket client it makes through :meth:`watch` (with
    :func:`guard_frames` reporting to :meth:`unreadable`) and every trade frame's (id, time) to
    :meth:`read`; ``trade_frame(data) -> bool | None`` says whether an unreadable frame held trades
    (None: cannot tell, taken as yes)."""

    def __init__(self, silence_hole_s: float = 1.5, trade_frame: Callable[[object], bool | None] | None = None):
        self.silence_hole_s = silence_hole_s
        self.trade_frame = trade_frame
        self.last: tuple | None = None             # (id, time ms) of the newest trade read
        self.holes: list[dict] = []
        self.on_hole: Callable[[], None] | None = None
        self.suspicions = 0
        self._clients: dict = {}                    # url -> the connection whose frames were read last
        self._frame_at: dict = {}                   # url -> when (monotonic s)
        self._frame = None

    def watch(self, exchange, client):
        """Wrap ``client``'s reader: each frame of the exchange's current connection tells new
        connections and silences. Idempotent; returns the client."""
        if getattr(client, "_liqdesk_tape", False):
            return client
        read = client.handle_text_or_binary_message

        def watched(data, read=read, client=client):
            now = time.monotonic()
            # a dropped connection may still deliver what it had (its close can take seconds):
            # only the current one's frames tell connections and silences
            # (per URL: an exchange may use more than one socket)
            url = client.url
            if (exchange.clients or {}).get(url) is client:
                last_client, last_at = self._clients.get(url), self._frame_at.get(url)
                if last_client is not None and client is not last_client:
                    self.suspect("a new connection")
                elif last_at is not None and now - last_at > self.silence_hole_s:
                    self.suspect(f"no message for {now - last_at:.1f} s")
                self._clients[url], self._frame_at[url] = client, now
            self._frame = data
            read(data)

        client.handle_text_or_binary_message = watched
        client._liqdesk_tape = True
        return client

    def unreadable(self) -> None:
        """The frame being read could not be: it may have held trades."""
        if self.trade_frame is None or self.trade_frame(self._frame) is not False:
            self.suspect("an unreadable message")

    def suspect(self, reason: str) -> None:
        """Trades may have been lost after the last one read: open a hole (unless one is open)."""
        if self.last is None or any(h["first_after"] is None for h in self.holes):
            return
        tid, t = self.last
        self.suspicions += 1
        self.holes.append({"since_id": tid, "since_ms": int(t), "first_after": None, "reason": reason,
                           "opened": time.monotonic()})
        if self.on_hole is not None:
            self.on_hole()

    def read(self, rows) -> None:
        """(id, time ms) of the trades of one frame, as read from the socket."""
        rows = [(i, int(t)) for i, t in rows if i is not None and t is not None]
        if not rows:
            return
        newest = max(rows, key=lambda r: r[1])
        if self.last is None or newest[1] >= self.last[1]:
            self.last = newest
        resumed = [h for h in self.holes if h["first_after"] is None]
        for h in resumed:
            h["first_after"] = min(t for _, t in rows)
        if resumed and self.on_hole is not None:
            self.on_hole()

    def take(self) -> list[dict]:
        holes, self.holes = self.holes, []
        return holes


def candle_trades(gid: int, open_ms, o, h, low, c, volume, buy_volume=None, candle_ms: int = 60_000) -> np.ndarray:
    """Coarse trades that rebuild 1-minute candles (a warm start's history): per candle the open,
    the two extremes in the order the candle's direction suggests (low then high for a rising
    candle) and the close, at 1 s, 20 s, 40 s and 59 s into the minute, each a quarter of the
    volume, split into taker buys and sells by ``buy_volume`` (half and half when the exchange
    gives no taker split). Candles drawn from these trades have the exchange's OHLC and volume.
    Arrays in; a TRADE_DTYPE array out (time order, zero sizes left out)."""
    from liqdesk.core.events import records

    t0 = np.asarray(open_ms, dtype=np.int64)
    o, h, low, c, v = (np.asarray(x, dtype=float) for x in (o, h, low, c, volume))
    buy = np.clip(np.asarray(buy_volume, dtype=float), 0.0, v) if buy_volume is not None else v / 2.0
    rising = c >= o
    first = np.where(rising, low, h)
    second = np.where(rising, h, low)
    offsets = (1_000, candle_ms // 3, 2 * candle_ms // 3, candle_ms - 1_000)
    prices = (o, first, second, c)
    t = np.concatenate([t0 + off for off in offsets for _ in (0, 1)])
    price = np.concatenate([p for p in prices for _ in (0, 1)])
    side = np.concatenate([np.full(len(t0), s, np.int8) for _ in prices for s in (1, -1)])
    size = np.concatenate([part / 4.0 for _ in prices for part in (buy, v - buy)])
    keep = (size > 0) & (price > 0)
    order = np.argsort(t[keep], kind="stable")
    return records("trades", time_ms=t[keep][order], exchange=gid, side=side[keep][order],
                   price=price[keep][order], size=size[keep][order])


def _records(kind: str, **cols) -> np.ndarray:
    from liqdesk.core.events import records

    return records(kind, **{k: (np.asarray(v) if not np.isscalar(v) else v) for k, v in cols.items()})


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 140 else text[:137] + "…"


async def retry_rest(call, tries: int = 4, first_s: float = 0.5):
    """A REST call with a few retries on network errors and rate limits (backfill only)."""
    import ccxt

    delay = first_s
    for attempt in range(tries):
        try:
            return await call()
        except ccxt.NetworkError:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    return None
