"""Bybit v5 linear (USDT perpetuals) through ccxt.pro's ``bybit`` (tested with ccxt 4.5.90).

One websocket (``/v5/public/linear``) carries every stream; ccxt loads only linear markets
(``options.fetchMarkets.types = ['linear']``: ``GET /v5/market/instruments-info?category=linear``,
plus its ``status=PreLaunch`` twin). What the adapter takes from Bybit:

- **trades**: ``publicTrade.{sym}`` via ``watch_trades``; the trade id is Bybit's ``i`` (a UUID),
  deduplicated across reconnects; ``S`` is the taker side. The ids are not consecutive, so a loss
  cannot be seen in them: it is inferred from the socket (:class:`~.adapter.TradeTape`): a new
  connection after the first, a silence of more than :attr:`Adapter.silence_hole_s` that then
  resumes (the book and the ticker push several times a second, so the socket is never quiet that
  long), or a frame that could not be read (unless what is left of it names another topic) opens a
  *suspected hole* after the last trade read. Once the trade stream has resumed after it (after
  5 s if it has not), ``GET /v5/market/recent-trade?category=linear&limit=1000`` (ccxt
  ``fetch_trades``: the last 1,000 trades, the only public trade history Bybit serves) is fetched,
  at most once a second, in a stream of its own (a 429 or a network error: backoff, the hole kept);
  the trades in the hole the stream did not bring are emitted. When the 1,000 no longer reach back
  to the last trade read before the hole, the span between them is recorded as a trade gap:
  **that loss is Bybit's own** (it serves nothing older).
- **order book**: ``orderbook.50.{sym}``, a snapshot on subscribe then deltas. ccxt applies the
  deltas without looking at their update id, so the ccxt class is subclassed and its book handler
  checks that each delta's ``u`` is the previous one + 1 (a repeated ``u`` is a duplicate and is
  dropped; a jump, or a delta before any snapshot on this connection, raises :class:`BookGap`). The
  resync unsubscribes the topic (``un_watch_order_book``, acknowledged by Bybit) and subscribes it
  again, which makes Bybit send a fresh snapshot; the other topics on the connection are untouched.
  If the unsubscription is not acknowledged within ``resync_timeout_s``, the connection is dropped
  and everything re-subscribes. The book's ``nonce`` is set to the last applied ``u``.
- **mark price, open interest, funding**: all from ``tickers.{sym}`` (``watch_ticker``). Bybit sends
  a full snapshot then deltas holding only the changed fields, which ccxt merges into ``info``; the
  subclass keeps each raw message so every change is emitted once, at the message's time:
  ``markPrice``, ``openInterest`` (base currency) with ``openInterestValue`` (USDT), ``fundingRate``.
  Open interest therefore comes from the stream, as often as Bybit changes it (its ticker pushes
  every 100 ms; the OI field moves every few seconds): no REST poll, no request weight.
- **liquidations**: ``allLiquidation.{sym}`` — **complete** (every liquidation, pushed every 500 ms).
  ``watch_liquidations`` returns only the first of a frame, so the adapter reads ccxt's liquidation
  cache with its own cursor (and the base class drops exact repeats). ``S`` is the side of the
  liquidated *position*: Bybit documents "When you receive a ``Buy`` update, this means that a long
  position has been liquidated", and ccxt passes it through lower-cased. Checked against real Bybit
  records (``shared/data/real/liquidations/multi-venue-eth-2026-04``): ``Sell`` rows carry a price
  above the mark, i.e. shorts' bankruptcy prices. So ``buy`` -> +1 (long), ``sell`` -> -1 (short).
  ``p`` is the bankruptcy price; ``v`` contracts (× contract size 1 on linear = base currency).
- **backfill** (warm start): ``GET /v5/market/kline`` 1-minute candles (closed ones only) as coarse
  trades at each candle's open, extremes and close (``adapter.candle_trades``: the candles drawn
  from them are Bybit's), half bought and half sold because Bybit gives no taker-buy split;
  marks from ``GET /v5/market/mark-price-kline`` (each minute's close at its last millisecond;
  trade candles' closes when that fails); open interest from ``GET /v5/market/open-interest``
  (``intervalTime=5min``, base currency; its notional at the mark of that minute). Pages of 1,000
  candles and 200 OI points; each page is retried on network errors and HTTP 429 with backoff.

Leverage tiers: Bybit publishes them (``GET /v5/market/risk-limit``, ccxt
``fetch_market_leverage_tiers``); a later tier refresh can use that, the streams do not need it.

Malformed or truncated frames (which ccxt's websocket client would let escape from its receive
callback, silently stopping the connection) are counted as ``malformed`` and skipped.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import deque

import numpy as np

from liqdesk.core.events import EventBatch, make_batch

from .adapter import BookGap, Stream, VenueAdapter, candle_trades, guard_frames
from .contract import COMPLETE, Backoff

BOOK_LEVELS = 50
CANDLE_MS = 60_000
OI_STEP_MS = 300_000
#: 1-minute candles per kline request (Bybit's maximum), OI points per open-interest request
KLINE_PAGE = 1000
OI_PAGE = 200

_CLASS = None


def exchange_class():
    """ccxt.pro's ``bybit`` with the hooks liqdesk needs (book continuity, raw ticker deltas, a
    websocket client that survives an unreadable frame). Built on first use (ccxt imports slowly)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import ccxt.pro

    class BybitLinear(ccxt.pro.bybit):
        def __init__(self, config=None):
            super().__init__(config or {})
            #: symbol -> [client, last applied u or None, resync pending]
            self.liqdesk_books: dict = {}
            #: market id -> raw ticker messages (ts, data) not yet read by the adapter
            self.liqdesk_tickers: dict = {}
            #: counter callback the adapter installs: count(key)
            self.liqdesk_count = lambda key: None
            #: the suspected trade holes of the socket (the adapter installs it)
            self.liqdesk_tape = None

        def client(self, url):
            # (the counter is read at call time: the adapter installs it after creation)
            client = guard_frames(super().client(url), self._unreadable)
            return self.liqdesk_tape.watch(self, client) if self.liqdesk_tape is not None else client

        def _unreadable(self, exc):
            self.liqdesk_count("malformed")
            if self.liqdesk_tape is not None:
                self.liqdesk_tape.unreadable()

        def handle_trades(self, client, message):
            super().handle_trades(client, message)
            if self.liqdesk_tape is not None:
                data = message.get("data") if isinstance(message, dict) else None
                self.liqdesk_tape.read([(t.get("i"), t.get("T")) for t in data or () if isinstance(t, dict)])

        def handle_order_book(self, client, message):
            data = message.get("data") if isinstance(message, dict) else None
            if not isinstance(data, dict):
                raise ValueError("orderbook message without data")
            u = int(data["u"])
            symbol = self.safe_symbol(data.get("s"), None, None, "contract")
            state = self.liqdesk_books.get(symbol)
            if message.get("type") == "snapshot":
                super().handle_order_book(client, message)
                self.liqdesk_books[symbol] = [client, u, False]
                self.orderbooks[symbol]["nonce"] = u
                return
            if state is None or state[0] is not client or state[1] is None:
                # a delta with no snapshot before it on this connection (the snapshot was lost)
                if state is None or state[0] is not client or not state[2]:
                    self.liqdesk_books[symbol] = [client, None, True]
                    client.reject(BookGap(f"delta u={u} before any snapshot"), "orderbook:" + symbol)
                return
            last = state[1]
            if u <= last:
                self.liqdesk_count("duplicates")
                return
            if u != last + 1:
                state[1], state[2] = None, True
                client.reject(BookGap(f"u jumped from {last} to {u}"), "orderbook:" + symbol)
                return
            super().handle_order_book(client, message)
            state[1] = u
            self.orderbooks[symbol]["nonce"] = u

        def handle_ticker(self, client, message):
            topic = message.get("topic", "") if isinstance(message, dict) else ""
            data = message.get("data")
            if topic.startswith("tickers.") and isinstance(data, dict):
                queue = self.liqdesk_tickers.get(topic[8:])
                if queue is None:
                    queue = self.liqdesk_tickers[topic[8:]] = deque(maxlen=100_000)
                queue.append((message.get("ts"), data))
            super().handle_ticker(client, message)

    _CLASS = BybitLinear
    return _CLASS


class Adapter(VenueAdapter):
    name = "bybit"
    ccxt_id = "bybit"
    liquidations = COMPLETE
    ccxt_options = {"fetchMarkets": {"types": ["linear"]}}
    #: the book and ticker streams push several times a second on any listed market: this much
    #: silence means the connection is dead. Trades may pause on a quiet market: a longer watchdog.
    silence_s = 15.0
    trades_silence_s = 60.0
    #: how long a resync waits for Bybit to acknowledge the unsubscription
    resync_timeout_s = 5.0
    #: give up a backfill page after this long of retries
    backfill_retry_s = 60.0
    #: trades one recent-trade call asks for (Bybit serves at most the last 1,000)
    recent_trades = 1000

    def __init__(self, symbol: str = "BTC/USDT:USDT", emulator: str | None = None):
        super().__init__(symbol, emulator)
        self._last = {"mark": None, "oi": None, "funding": None}
        self._mark_now: float | None = None

    # ------------------------------------------------------------------ exchange
    def exchange_class(self):
        return exchange_class()

    def create_exchange(self):
        ex = super().create_exchange()
        ex.liqdesk_count = self._count
        ex.liqdesk_tape = self.new_tape(_holds_trades)
        return ex

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def streams(self) -> list[Stream]:
        return [
            Stream("trades", self._trades_once, silence_s=self.trades_silence_s),
            Stream("book", self._book_once, silence_s=self.silence_s),
            Stream("ticker", self._ticker_once, silence_s=self.silence_s),
            Stream("liquidations", self._liquidations_once, silence_s=None),
            # the REST refill of suspected trade holes runs apart from the trade stream, so a slow
            # or refused call (rate limit, 429) neither holds the stream nor trips its watchdog
            Stream("trade_refill", self.refill_once, silence_s=None),
        ]

    # ------------------------------------------------------------------ streams
    async def _trades_once(self) -> None:
        self.emit_trades(self.trade_rows(await self.watch_new_trades()))

    async def fetch_refill(self, since_ms: int, since_ids: set) -> list[tuple]:
        """The last :attr:`recent_trades` trades (``/v5/market/recent-trade``; Bybit keeps no older
        public trade history)."""
        return self.trade_rows(await self.exchange.fetch_trades(self.symbol, None, self.recent_trades))

    async def _book_once(self) -> None:
        book = await self.exchange.watch_order_book(self.symbol)
        cs = self.contract_size
        bids, asks = book["bids"], book["asks"]
        if cs != 1.0:
            bids = [(p, q * cs) for p, q, *_ in bids]
            asks = [(p, q * cs) for p, q, *_ in asks]
        t = book.get("timestamp")
        if t is not None:
            self.emit_book(int(t), bids, asks)

    async def on_book_gap(self, exc: BaseException) -> None:
        """Resync: unsubscribe the book topic; the next watch subscribes again and Bybit answers with a
        fresh snapshot. Without an acknowledgement, drop the connection (everything re-subscribes)."""
        state = self.exchange.liqdesk_books.get(self.symbol)
        if state is not None:
            state[1], state[2] = None, True
        try:
            await asyncio.wait_for(self.exchange.un_watch_order_book(self.symbol, {"limit": BOOK_LEVELS}),
                                   self.resync_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - no acknowledgement: start over on a new connection
            await self._reconnect()
        if state is not None:
            state[2] = False      # from here a delta before the new snapshot is a gap again

    async def _ticker_once(self) -> None:
        if not self._drain_tickers():
            await self.exchange.watch_ticker(self.symbol)
            self._drain_tickers()

    def _drain_tickers(self) -> int:
        """Emit the changes of every raw ticker message received since the last call."""
        queue = self.exchange.liqdesk_tickers.get(self.market["id"]) if self.market else None
        if not queue:
            return 0
        n = 0
        while queue:
            ts, data = queue.popleft()
            n += 1
            try:
                ts = int(ts)
            except (TypeError, ValueError):
                self.counts["malformed"] += 1
                continue
            mark = _number(data.get("markPrice"))
            if mark is not None and mark > 0:
                self._mark_now = mark
                if self._last["mark"] != (ts, mark):
                    self._last["mark"] = (ts, mark)
                    self.emit_mark(ts, mark)
            oi = _number(data.get("openInterest"))
            if oi is not None and oi >= 0:
                value = _number(data.get("openInterestValue"))
                if value is None and self._mark_now:
                    value = oi * self._mark_now
                if value is not None and self._last["oi"] != (ts, oi, value):
                    self._last["oi"] = (ts, oi, value)
                    self.emit_open_interest(ts, oi, value)
            rate = _number(data.get("fundingRate"))
            if rate is not None and self._last["funding"] != (ts, rate):
                self._last["funding"] = (ts, rate)
                self.emit_funding(ts, rate)
        return n

    async def _liquidations_once(self) -> None:
        if not self._drain_liquidations():
            await self.exchange.watch_liquidations(self.symbol)
            self._drain_liquidations()

    def _drain_liquidations(self) -> int:
        """Every liquidation ccxt cached since the last call (its watch returns only a frame's first)."""
        new = self.new_liquidations()
        if not new:
            return 0
        cs = self.contract_size
        rows = []
        for liq in new:
            if liq.get("symbol") != self.symbol:
                continue
            side, ts, price, contracts = liq.get("side"), liq.get("timestamp"), liq.get("price"), liq.get("contracts")
            if side not in ("buy", "sell") or ts is None or not price or not contracts:
                self.counts["malformed"] += 1
                continue
            # Bybit's S is the position side: Buy = a long was liquidated
            rows.append((int(ts), 1 if side == "buy" else -1, float(price), float(contracts) * cs))
        self.emit_liquidations(rows)
        return len(new)

    # ------------------------------------------------------------------ backfill
    async def backfill(self, since_ms: int, until_ms: int) -> EventBatch | None:
        """Closed 1-minute candles of ``[since_ms, until_ms]`` as coarse trades, marks from the
        mark-price candles, and 5-minute open interest (see the module docstring)."""
        if self.market is None or until_ms <= since_ms:
            return None
        candles = await self._candles(since_ms, until_ms, {})
        try:
            marks = await self._candles(since_ms, until_ms, {"price": "mark"})
        except Exception:  # noqa: BLE001 - marks fall back to the trade candles' closes
            marks = []
        oi = await self._open_interest_history(since_ms, until_ms)
        cs = self.contract_size
        g = self.gid
        arrays = {}
        c = np.array([row[:6] for row in candles if None not in row[:6]], float).reshape(-1, 6)
        c = c[(c[:, 0] + CANDLE_MS <= until_ms) & (c[:, 5] > 0)]
        if len(c):   # Bybit gives no taker-buy volume: half and half
            arrays["trades"] = candle_trades(g, c[:, 0], c[:, 1], c[:, 2], c[:, 3], c[:, 4], c[:, 5] * cs)
        m = np.array([row[:5] for row in marks if None not in row[:5]], float).reshape(-1, 5)
        if not len(m) and len(c):
            m = c[:, :5]
        m = m[m[:, 0] + CANDLE_MS <= until_ms]
        if len(m):
            arrays["marks"] = _records("marks", time_ms=(m[:, 0] + CANDLE_MS - 1).astype(np.int64), exchange=g,
                                       price=m[:, 4])
        if oi and len(m):
            t_oi = np.array([x[0] for x in oi], np.int64)
            base = np.array([x[1] for x in oi], float)
            idx = np.clip(np.searchsorted(m[:, 0], t_oi, side="right") - 1, 0, len(m) - 1)
            arrays["open_interest"] = _records("open_interest", time_ms=t_oi, exchange=g, oi_base=base,
                                               oi_notional=base * m[idx, 4])
        if not arrays:
            return None
        arrays = {k: self._valid(k, a) for k, a in arrays.items()}
        return make_batch(**arrays)

    async def _candles(self, since_ms: int, until_ms: int, params: dict) -> list:
        out = {}
        t = -(-since_ms // CANDLE_MS) * CANDLE_MS
        while t <= until_ms:
            end = min(until_ms, t + KLINE_PAGE * CANDLE_MS - 1)
            rows = await self._rest(self.exchange.fetch_ohlcv, self.symbol, "1m", t, KLINE_PAGE,
                                    {**params, "until": end})
            for row in rows:
                if row and row[0] is not None and since_ms <= row[0] <= end:
                    out[int(row[0])] = row
            t = end + 1
        return [out[k] for k in sorted(out)]

    async def _open_interest_history(self, since_ms: int, until_ms: int) -> list[tuple[int, float]]:
        out = {}
        t = since_ms
        while t <= until_ms:
            end = min(until_ms, t + OI_PAGE * OI_STEP_MS - 1)
            rows = await self._rest(self.exchange.fetch_open_interest_history, self.symbol, "5m", t, OI_PAGE,
                                    {"until": end})
            for row in rows:
                ts, amount = row.get("timestamp"), row.get("openInterestAmount")
                if ts is not None and amount is not None and since_ms <= ts <= end and math.isfinite(amount):
                    out[int(ts)] = float(amount)
            t = end + 1
        return sorted(out.items())

    async def _rest(self, fn, *args):
        """One REST call, retried with backoff on network errors (HTTP 429 included)."""
        import ccxt

        backoff = Backoff(0.5, 8.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.backfill_retry_s
        while True:
            try:
                return await fn(*args)
            except ccxt.NetworkError:
                if loop.time() >= deadline or self._stopping:
                    raise
                await asyncio.sleep(backoff.next())


_TOPIC = re.compile(r'"topic"\s*:\s*"([\w.]+)"')


def _holds_trades(data) -> bool | None:
    """Whether an unreadable frame was a trade message (None: what is left does not say)."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data[:200]).decode("utf-8", "replace")
    m = _TOPIC.search(data[:200]) if isinstance(data, str) else None
    return m.group(1).startswith("publicTrade.") if m else None


def _number(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _records(kind: str, **cols) -> np.ndarray:
    from liqdesk.core.events import records

    return records(kind, **cols)
