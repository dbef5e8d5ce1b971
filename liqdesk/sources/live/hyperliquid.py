"""Hyperliquid perpetuals through ccxt.pro (``hyperliquid``), one perpetual.

Hyperliquid's perpetuals settle in USDC: liqdesk's ``X/USDT:USDT`` is read from Hyperliquid's
``X/USDC:USDC`` (:meth:`Adapter.market_symbol`), the same coin. Markets are loaded from
``POST /info`` (``metaAndAssetCtxs``; spot markets are not loaded). Everything live comes over one
public websocket (``/ws``); nothing is polled by REST in steady state.

- **Trades**: channel ``trades`` (``watch_trades``; ``side`` B is a taker buy, A a taker sell;
  sizes are base coin, contract size 1). Trade ids (``tid``) are unique across all coins but not
  consecutive, so a hole cannot be seen in them. Instead the reader watches the connection itself:
  a new connection, a silence of more than :attr:`Adapter.silence_hole_s` (Hyperliquid pushes the
  book at least every 0.5 s, so the socket is never quiet that long) or an unreadable message
  (unless what is left of it names another channel) opens a *suspected hole* after the last trade
  read. It is checked against ``recentTrades`` (the last 10 trades, the only public trade history
  Hyperliquid serves; weight 20) as soon as the trade stream resumes after it (every 5 s while it
  has not), at most once a second, in a loop of its own: the missed trades it still holds are
  emitted, and when it no longer reaches back to the last trade read before the hole, the span
  between them is recorded as a gap ("trades possibly lost"). Duplicates (a reconnect, a repeated
  frame) are dropped by id.
- **Order book**: channel ``l2Book``, a full snapshot of the top 20 levels a side each message
  (no update ids): ccxt replaces its book with each one, so there is nothing to resync; a lost
  snapshot is made good by the next. Emitted at most every :attr:`book_every_s`.
- **Mark price, open interest and funding**: channel ``activeAssetCtx`` (``watch_ticker``):
  ``markPx``, ``openInterest`` (base coin; notional = OI × mark) and ``funding`` (Hyperliquid's
  hourly rate), pushed as blocks go by. Every message is read (the ccxt subclass below keeps them:
  ``watch_ticker`` alone returns only the newest when two arrive together). The message carries no
  time: it is stamped with the exchange's clock as last seen on the same socket (the newest
  ``l2Book``/trade time plus the time since it arrived, at most 1 s). After a new connection or a
  silence that clock is stale: a context is then stamped from the next time seen, and one that came
  more than 0.25 s before it is dropped (counted ``unstamped``). A mark is emitted when it changes,
  an unchanged one again after 0.9 s (unchanged contexts repeat; a repeated frame is absorbed so);
  the open interest and funding when they change and at least once a minute.
- **Liquidations**: Hyperliquid has **no public liquidation stream** (``liquidations = ABSENT``);
  its liquidations are orders like any other in the public trade stream. (Its positions are public,
  with their liquidation prices, per address: not read here.)
- **Leverage tiers** come with ``meta`` (``marginTables``); liqdesk ships them
  (``resources/tiers/hyperliquid.json``): nothing is fetched.
- **Backfill** (warm start): ``candleSnapshot`` 1-minute candles (``fetch_ohlcv``; Hyperliquid keeps
  the newest 5,000 candles and returns at most as many per call: paged) become coarse trades
  (:func:`~.adapter.candle_trades`; Hyperliquid gives no taker split, so half and half), and each
  candle's close a mark (ccxt has no mark-price candles for Hyperliquid). **No open-interest
  history**: Hyperliquid publishes none (ccxt ``fetchOpenInterestHistory`` is False); open interest
  starts with the stream. Funding history (``fundingHistory``, hourly) is not backfilled: the stream
  brings the rate in force at once. 24 hours cost one call (weight about 44 of the 1,200 a minute).

A message that neither ccxt nor this adapter can read (broken JSON, a truncated frame, a
nonsensical field) is counted as ``malformed`` and skipped; the connection goes on (ccxt alone
would stop reading that socket until the watchdog noticed).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from functools import cache

import numpy as np

from liqdesk.core.events import EventBatch, make_batch, records

from .adapter import Stream, VenueAdapter, candle_trades, guard_frames, retry_rest
from .contract import ABSENT

CANDLE_MS = 60_000
#: candles one candleSnapshot answer holds at most (and all Hyperliquid keeps of an interval)
CANDLES_PER_CALL = 5000
CONTEXTS_KEPT = 10_000
#: a context that arrives before any exchange time was seen waits this long for one (then the
#: local clock stamps it)
CLOCK_WAIT_S = 5.0
#: ... and is dropped (counted ``unstamped``) when the first exchange time came this much later
UNSTAMPED_MAX_S = 0.25
#: a context is stamped at most this long (s) after the newest exchange time seen
MAX_EXTRAPOLATE_S = 1.0
#: an unchanged mark is emitted again after this long (ms of exchange time)
MARK_REPEAT_MS = 900


@cache
def exchange_class():
    """ccxt.pro's hyperliquid with three additions, all in the socket's reader (message order):

    - the frame guard every adapter puts on its websocket clients (:func:`~.adapter.guard_frames`):
      a message that raises while being decoded or handled, or is cut short, is counted, not allowed
      to stop the client's receive loop;
    - the suspected-hole tracker: the last trade read (``tape_last``), and the ``holes`` opened by
      a new connection, a silence or an unreadable message, each with the first trade time after
      it (a suspicion while a hole is still open, no trade read since, adds nothing);
    - every ``activeAssetCtx`` kept with its stamp on the exchange's clock (the newest ``l2Book``
      or trade time seen, plus the time since it arrived)."""
    import ccxt.pro

    class Hyperliquid(ccxt.pro.hyperliquid):
        def __init__(self, config=None):
            super().__init__(config or {})
            self.contexts: deque = deque(maxlen=CONTEXTS_KEPT)     # (stamp ms | None, received s, data)
            self.on_bad_message = None
            self.on_hole = None
            self.silence_hole_s = 1.5
            self.clock_ms: int | None = None
            self.clock_at = 0.0
            self.tape_last: tuple[int, int] | None = None            # (tid, time) of the newest trade read
            self.holes: list[dict] = []
            self._frame_client = None
            self._frame_at: float | None = None
            self._frame = None                                       # the frame being read

        def client(self, url):
            client = guard_frames(super().client(url), self._unreadable)
            if not getattr(client, "_liqdesk_watched", False):
                read = client.handle_text_or_binary_message

                def watched(data, read=read, client=client):
                    now = time.monotonic()
                    # a dropped connection may still deliver what it had (its close can take
                    # seconds): only the current one's frames tell connections and silences
                    if self.clients.get(client.url) is client:
                        if self._frame_client is not None and client is not self._frame_client:
                            self.suspect("a new connection")
                            self.clock_ms = None        # the exchange's clock as last seen is stale
                        elif self._frame_at is not None and now - self._frame_at > self.silence_hole_s:
                            self.suspect(f"no message for {now - self._frame_at:.1f} s")
                            self.clock_ms = None
                        self._frame_client, self._frame_at = client, now
                    self._frame = data
                    read(data)

                client.handle_text_or_binary_message = watched
                client._liqdesk_watched = True
            return client

        def _unreadable(self, exc: BaseException) -> None:
            # a frame that still names another channel held no trades
            if _channel(self._frame) in (None, "trades"):
                self.suspect("an unreadable message")
            if self.on_bad_message is not None:
                self.on_bad_message(exc)

        def suspect(self, reason: str) -> None:
            """Trades may have been lost after the last one read: open a hole (unless one is open)."""
            if self.tape_last is None or any(h["first_after"] is None for h in self.holes):
                return
            tid, t = self.tape_last
            self.holes.append({"since_tid": tid, "since_ms": t, "first_after": None, "reason": reason,
                               "opened": time.monotonic()})
            if self.on_hole is not None:
                self.on_hole()

        def take_holes(self) -> list[dict]:
            holes, self.holes = self.holes, []
            return holes

        def _see(self, t) -> None:
            if isinstance(t, int) and (self.clock_ms is None or t >= self.clock_ms):
                self.clock_ms, self.clock_at = t, time.monotonic()

        def handle_trades(self, client, message):
            super().handle_trades(client, message)
            rows = [(d["tid"], d["time"]) for d in message.get("data") or ()
                    if isinstance(d, dict) and isinstance(d.get("tid"), int) and isinstance(d.get("time"), int)]
            if rows:
                newest = max(rows, key=lambda r: (r[1], r[0]))
                if self.tape_last is None or newest[1] >= self.tape_last[1]:
                    self.tape_last = newest
                first = min(t for _, t in rows)
                resumed = [h for h in self.holes if h["first_after"] is None]
                for h in resumed:
                    h["first_after"] = first
                self._see(newest[1])
                if resumed and self.on_hole is not None:
                    self.on_hole()

        def handle_order_book(self, client, message):
            super().handle_order_book(client, message)
            self._see((message.get("data") or {}).get("time"))

        def handle_active_asset_ctx(self, client, message):
            result = super().handle_active_asset_ctx(client, message)     # raises on a broken one
            now = time.monotonic()
            stamp = None
            if self.clock_ms is not None:
                stamp = self.clock_ms + int(min(now - self.clock_at, MAX_EXTRAPOLATE_S) * 1000)
            data = message.get("data")
            if isinstance(data, dict):
                self.contexts.append((stamp, now, data))
            return result

    return Hyperliquid


class Adapter(VenueAdapter):
    name = "hyperliquid"
    ccxt_id = "hyperliquid"
    liquidations = ABSENT
    ccxt_options = {"fetchMarkets": {"types": ["swap"]}, "tradesLimit": 10_000}
    book_depth = 20
    #: silence (s) after which a connection is taken as dead: the book comes every 0.5 s
    silence_s = 30.0
    trade_silence_s = 60.0
    #: a socket silent this long (s) may have lost trades: checked against recentTrades
    silence_hole_s = 1.5
    #: at most one recentTrades check (weight 20) per this many seconds
    check_every_s = 1.0
    #: a hole the trade stream has not resumed after is checked (again) after this many seconds
    hole_wait_s = 5.0

    def __init__(self, symbol: str = "BTC/USDT:USDT", emulator: str | None = None):
        super().__init__(symbol, emulator)
        self.trades_recovered = 0
        self.holes_checked = 0
        self._checking = False
        self._hole_flag = asyncio.Event()
        self._last_check = 0.0
        self._mark_ms: int | None = None
        self._mark: float | None = None
        self._oi: float | None = None
        self._oi_ms = 0
        self._funding: float | None = None
        self._funding_ms = 0

    # ------------------------------------------------------------------ exchange
    def market_symbol(self) -> str:
        """Hyperliquid lists ``X/USDC:USDC`` for liqdesk's ``X/USDT:USDT`` (the same coin)."""
        return f"{self.symbol.split('/')[0]}/USDC:USDC"

    def exchange_class(self):
        return exchange_class()

    def create_exchange(self):
        ex = super().create_exchange()
        ex.on_hole = self._hole_flag.set
        ex.silence_hole_s = self.silence_hole_s
        return ex

    @property
    def coin(self) -> str:
        return str(self.market["baseName"])

    def streams(self) -> list[Stream]:
        return [Stream("trades", self._trades, self.trade_silence_s),
                Stream("book", self.watch_book, self.silence_s),
                Stream("mark", self._contexts, self.silence_s),
                # recentTrades checks of suspected holes run apart from the trade stream, so a slow or
                # refused call (rate limit, 429) neither holds the stream nor trips its watchdog
                Stream("trade_check", self._check_once, None)]

    # ------------------------------------------------------------------ trades
    async def _trades(self) -> None:
        trades = await self.exchange.watch_trades(self.market_symbol())
        rows = []
        for t in trades:
            try:
                rows.append((int(t["id"]), int(t["timestamp"]), 1 if t["side"] == "buy" else -1, float(t["price"]),
                             float(t["amount"])))
            except (KeyError, TypeError, ValueError):
                self.counts["malformed"] += 1      # one nonsensical trade; the others of the frame stand
        self.emit_trades(rows)

    @property
    def trades_pending(self) -> bool:
        """A suspected hole not checked yet (or being checked)."""
        return self._checking or (self.exchange is not None and bool(self.exchange.holes))

    async def _check_once(self) -> None:
        """Check the suspected holes once the trade stream has resumed after them (at once for a
        broken frame on a busy stream), or after :attr:`hole_wait_s` if it has not; at most one
        call per :attr:`check_every_s`."""
        ex = self.exchange
        now = time.monotonic()
        if not any(h["first_after"] is not None or now - h["opened"] >= self.hole_wait_s for h in ex.holes):
            self._hole_flag.clear()
            try:
                await asyncio.wait_for(self._hole_flag.wait(), 0.25)
            except TimeoutError:
                pass
            return
        wait = self._last_check + self.check_every_s - now
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_check = time.monotonic()
        await self._check_holes()

    async def _check_holes(self) -> None:
        """Fetch the last trades Hyperliquid serves; emit the missed ones; record, per hole, what
        they no longer reach back to. A hole the stream has not resumed after stays open, from the
        newest trade served."""
        ex = self.exchange
        holes = ex.take_holes()
        self._checking = True
        try:
            raw = await ex.publicPostInfo({"type": "recentTrades", "coin": self.coin})
        except BaseException:
            ex.holes = holes + ex.holes            # checked again on the next round
            raise
        finally:
            self._checking = False
        self.holes_checked += len(holes)
        rows = []
        for item in raw if isinstance(raw, list) else ():
            try:
                if item.get("coin") != self.coin:
                    continue
                rows.append((int(item["tid"]), int(item["time"]), 1 if item["side"] == "B" else -1, float(item["px"]),
                             float(item["sz"])))
            except (AttributeError, KeyError, TypeError, ValueError):
                self.counts["malformed"] += 1
        # what the stream already brought is not a duplicate of the stream: left out before emit_trades
        missed = [r for r in rows if r[0] not in self._seen_ids]
        self.trades_recovered += len(missed)
        self.emit_trades(missed)
        oldest = min((r[1] for r in rows), default=None)
        newest = max(rows, key=lambda r: (r[1], r[0])) if rows else None
        for hole in holes:
            # recentTrades is the newest part of the tape: holding the last trade read before the
            # hole (or anything older) it holds everything after it
            if not any(r[0] == hole["since_tid"] or r[1] < hole["since_ms"] for r in rows):
                ends = [t for t in (oldest, hole["first_after"]) if t is not None]
                end = min(ends) if ends else (ex.clock_ms or hole["since_ms"])
                self.counts["gaps"] += 1
                self.gaps.append(("trades", int(hole["since_ms"]), int(max(end, hole["since_ms"])),
                                  f"trades possibly lost after {hole['reason']} (recentTrades serves only the last "
                                  f"{len(rows)})"))
            if hole["first_after"] is None:
                # the stream has not resumed: trades may still be going by unseen
                if newest is not None and newest[1] >= hole["since_ms"]:
                    hole["since_tid"], hole["since_ms"] = newest[0], newest[1]
                hole["opened"] = time.monotonic()
                later = [h for h in ex.holes if h["first_after"] is None]
                if later:                          # opened meanwhile: this one starts earlier
                    later[0].update(since_tid=hole["since_tid"], since_ms=hole["since_ms"])
                else:
                    ex.holes.insert(0, hole)

    # ------------------------------------------------------------------ book
    # ------------------------------------------------------------------ mark, open interest, funding
    async def _contexts(self) -> None:
        ex = self.exchange
        await ex.watch_ticker(self.market_symbol())
        pending = ex.contexts
        while pending:
            stamp, received, data = pending.popleft()
            if stamp is None:
                if ex.clock_ms is not None:
                    # received before the first exchange time on this connection: that time, less
                    # how long before it the context came; too long before, its time is unknown
                    ahead = max(0.0, ex.clock_at - received)
                    if ahead > UNSTAMPED_MAX_S:
                        self.counts["unstamped"] = self.counts.get("unstamped", 0) + 1
                        continue
                    stamp = ex.clock_ms - int(ahead * 1000)
                elif time.monotonic() - received > CLOCK_WAIT_S:
                    stamp = int(time.time() * 1000)
                else:
                    pending.appendleft((stamp, received, data))
                    break
            try:
                self._context(stamp, data)
            except (AttributeError, KeyError, TypeError, ValueError):
                self.counts["malformed"] += 1

    def _context(self, stamp: int, data: dict) -> None:
        if data.get("coin") != self.coin:
            return
        ctx = data["ctx"]
        mark, oi, rate = float(ctx["markPx"]), float(ctx["openInterest"]), float(ctx["funding"])
        if not (math.isfinite(mark) and mark > 0 and math.isfinite(oi) and oi >= 0 and math.isfinite(rate)):
            raise ValueError(f"asset context out of range: {ctx}")
        t = stamp if self._mark_ms is None else max(stamp, self._mark_ms)
        if mark != self._mark or self._mark_ms is None or t - self._mark_ms >= MARK_REPEAT_MS:
            self._mark, self._mark_ms = mark, t
            self.emit_mark(t, mark)
        if oi != self._oi or t - self._oi_ms >= 60_000:
            self._oi, self._oi_ms = oi, t
            self.emit_open_interest(t, oi, oi * mark)
        if rate != self._funding or t - self._funding_ms >= 60_000:
            self._funding, self._funding_ms = rate, t
            self.emit_funding(t, rate)

    # ------------------------------------------------------------------ backfill
    async def backfill(self, since_ms: int, until_ms: int) -> EventBatch | None:
        """Closed 1-minute candles of ``[since_ms, until_ms)`` as coarse trades (half taker buys,
        half taker sells) and their closes as marks. Hyperliquid has no open-interest history."""
        candles = await self._candles(since_ms, until_ms)
        if not candles:
            return None
        k = np.array(candles, dtype=float)
        t0, o, h, low, c, v = k.T
        t0 = t0.astype(np.int64)
        trades = candle_trades(self.gid, t0, o, h, low, c, v)
        marks = records("marks", time_ms=t0 + CANDLE_MS - 1, exchange=self.gid, price=c)
        return make_batch(trades=trades, marks=marks)

    async def _candles(self, since_ms: int, until_ms: int) -> list[list]:
        out: dict[int, list] = {}
        start = since_ms // CANDLE_MS * CANDLE_MS
        while start < until_ms:
            rows = await retry_rest(lambda s=start: self.exchange.fetch_ohlcv(
                self.market_symbol(), "1m", s, None, {"until": until_ms - 1}))
            for r in rows:
                if len(r) >= 6 and None not in r[:6] and since_ms <= r[0] and r[0] + CANDLE_MS <= until_ms:
                    out[int(r[0])] = [float(x) for x in r[:6]]
            if len(rows) < CANDLES_PER_CALL:
                break
            start = int(rows[-1][0]) + CANDLE_MS
        return [out[t] for t in sorted(out)]


_CHANNEL = re.compile(r'"channel"\s*:\s*"(\w+)"')


def _channel(data) -> str | None:
    """The channel an (unreadable) message names near its start, if any."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data[:200]).decode("utf-8", "replace")
    m = _CHANNEL.search(data[:200]) if isinstance(data, str) else None
    return m.group(1) if m else None

