"""OKX v5 USDT-margined perpetual swaps through ccxt.pro (tested with ccxt 4.5.90).

Everything rides on one public websocket (``/ws/v5/public``); REST is used only to load markets
(``GET /api/v5/public/instruments?instType=SWAP``, ccxt option ``fetchMarkets.types=['swap']``) and
for the warm start. Sizes on OKX are in contracts: every size here is multiplied by the market's
contract value (``ctVal``, ccxt's ``contractSize``), so liqdesk sees base currency.

- **Trades**: ``watch_trades`` (channel ``trades``), deduplicated by ``tradeId``. A loss is not
  told by the ids, so it is inferred from the socket (:class:`~.adapter.TradeTape`): a new
  connection after the first, a silence of more than :attr:`Adapter.silence_hole_s` that then
  resumes (books and mark prices are pushed several times a second: the socket is never quiet that
  long), or a frame that could not be read (unless what is left of it names another channel)
  opens a *suspected hole* after the last trade read. Once the trade stream has resumed after it
  (after 5 s if it has not), ``GET /api/v5/market/trades?limit=500`` is fetched and, when those do
  not reach back to the last trade read before the hole, ``GET /api/v5/market/history-trades``
  paged back by ``after=<tradeId>`` (100 a call, at most :attr:`Adapter.history_pages` calls a
  round; OKX keeps three months), at most one round a second, in a stream of its own (a 429 or a
  network error: backoff, the hole kept); the trades in the hole the stream did not bring are
  emitted. What the pages still do not reach is recorded as a trade gap (OKX itself loses nothing
  this young: such a gap means a hole longer than the pages allowed). Rate limits (20 requests per
  2 s each) are kept by ccxt's limiter.
- **Book**: ``watch_order_book`` (channel ``books``: snapshot, then updates chained by
  ``prevSeqId``/``seqId``). On a gap ccxt raises ``InvalidNonce``; the next watch unsubscribes
  (waiting for OKX's unsubscribe acknowledgement) and subscribes again, which brings a fresh
  snapshot. The first book after such a resync is emitted at once. ccxt ignores OKX's CRC32.
- **Mark price**: ``watch_mark_price`` (channel ``mark-price``, every 200 ms on a change, at least
  every 10 s): it is also the connection's liveness probe (watchdog ``silence_s``).
- **Open interest**: OKX's ``open-interest`` channel (pushed every 3 s when it changes), which
  ccxt does not wrap: :func:`okx_pro_class` subclasses ``ccxt.pro.okx`` with ``watch_open_interest``
  and a handler for the channel, so ccxt's connection, pings and market mapping are reused and no
  REST budget is spent. ``oiCcy`` is the base amount; the notional is ``oiUsd`` when OKX gives it,
  else ``oiCcy`` × the latest mark (an open-interest push before the first mark is skipped).
- **Funding**: ``watch_funding_rate`` (channel ``funding-rate``, every 30–90 s), stamped with the
  push's ``ts``.
- **Liquidations: sampled.** OKX's ``liquidation-orders`` channel (``instType`` SWAP, every
  contract) gives at most one liquidation per contract per second and says itself it is not the
  total. ccxt's ``watch_liquidations`` returns one per frame and parses only the first entry of
  each ``details`` list; this adapter reads ccxt's liquidation cache with its own cursor and takes
  every ``details`` entry of every cached item (of this contract). Side: OKX gives the *order*
  ``side`` (sell = a long was liquidated) and ``posSide`` (``long``/``short`` in hedge mode,
  ``net`` otherwise); it is normalized to the liquidated **position**: ``posSide`` when it names
  one, else the opposite of the order side. Price: the bankruptcy price ``bkPx``. The cache is
  also read after each mark, so a liquidation that arrives while no watch is pending is not held
  back until the next one.
- **Every push, not the latest**: ccxt keeps only the latest mark and funding rate, and a watch
  that is not pending when a push arrives (two in one read) never returns it. The subclass also
  queues every item of the ``mark-price``, ``open-interest`` and ``funding-rate`` channels; each
  stream awaits its ccxt watch (for the wake-up and ccxt's subscription) and then reads its queue.
- **Malformed frames**: ccxt's client parses JSON in a callback that stops its receive loop on a
  parse error; the subclass catches such a frame, counts it (``malformed``) and the connection
  goes on.

Watchdogs (one socket, so one probe suffices): mark ``silence_s``, book ``2 × silence_s``, open
interest ``4 × silence_s``; none on trades (a quiet contract may not trade for minutes), funding
and liquidations.

**Warm start** (:meth:`Adapter.backfill`), by REST within OKX's public limits (candles 40 requests
per 2 s, trading statistics 5 per 2 s; ccxt's rate limiter spaces them): 1-minute candles
(``/api/v5/market/candles``, or ``history-candles`` beyond 1,440 minutes; 300 a request) as two
coarse trades at the candle's open, extremes and close (``adapter.candle_trades``: the candles
drawn from them are OKX's) — OKX gives no taker-buy volume, so half bought and half sold; marks from 1-minute mark-price candles
(``/api/v5/market/mark-price-candles``, 100 a request; the trade candles' closes if that fails);
open interest every 5 minutes from ``/api/v5/rubik/stat/contracts/open-interest-history`` (what
ccxt's ``fetch_open_interest_history`` calls for a swap; 100 a request, OKX keeps 5-minute
buckets for two days). A 429 or a network error is retried with a backoff (at least 1 s).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import deque
from functools import cache

import numpy as np

from liqdesk.core.events import EventBatch, make_batch, records

from .adapter import Stream, VenueAdapter, candle_trades, guard_frames
from .contract import SAMPLED, Backoff

CANDLE_MS = 60_000
OI_BUCKET_MS = 300_000
#: pushed items kept per channel between two reads (mark, open interest, funding)
PUSH_QUEUE = 10_000
#: tries of one backfill request (429 / network errors) before the backfill gives up
REST_TRIES = 6


@cache
def okx_pro_class():
    """``ccxt.pro.okx`` with the ``open-interest`` channel and a guard against unreadable frames."""
    import ccxt.pro

    class OkxPro(ccxt.pro.okx):
        #: called with the exception when a frame cannot be read (set by the adapter)
        on_bad_message = None
        #: channel -> deque: every pushed item of these channels, in arrival order (set by the
        #: adapter). ccxt keeps only the latest ticker/funding rate, and a watch that was not
        #: pending when a push came misses it; the adapter reads these queues instead.
        liqdesk_pushes: dict | None = None

        async def watch_open_interest(self, symbol: str, params: dict | None = None):
            """The latest open interest of ``symbol`` from OKX's ``open-interest`` channel (a ccxt
            open-interest structure; ``info`` is OKX's item)."""
            await self.load_markets()
            market = self.market(symbol)
            message_hash = "open-interest:" + market["symbol"]
            request = {"op": "subscribe", "args": [self.extend({"channel": "open-interest", "instId": market["id"]},
                                                               params or {})]}
            url = self.get_url("open-interest", "public")
            return await self.watch(url, message_hash, request, message_hash)

        def handle_open_interest(self, client, message):
            for raw in self.safe_list(message, "data", []):
                market = self.safe_market(self.safe_string(raw, "instId"))
                interest = self.parse_open_interest(raw, market)
                client.resolve(interest, "open-interest:" + interest["symbol"])

        def handle_message(self, client, message):
            if isinstance(message, dict) and "event" not in message:
                arg = message.get("arg")
                queues = self.liqdesk_pushes
                if queues is not None and isinstance(arg, dict) and arg.get("channel") in queues:
                    data = message.get("data")
                    if isinstance(data, list):
                        queues[arg["channel"]].extend(data)
                if isinstance(arg, dict) and arg.get("channel") == "open-interest":
                    if self.handle_error_message(client, message):
                        self.handle_open_interest(client, message)
                    return
            return super().handle_message(client, message)

        #: the suspected trade holes of the socket (set by the adapter)
        liqdesk_tape = None

        def client(self, url):
            client = guard_frames(super().client(url), self._unreadable)
            return self.liqdesk_tape.watch(self, client) if self.liqdesk_tape is not None else client

        def _unreadable(self, exc):
            if self.liqdesk_tape is not None:
                self.liqdesk_tape.unreadable()
            if self.on_bad_message is not None:
                self.on_bad_message(exc)

        def handle_trades(self, client, message):
            super().handle_trades(client, message)
            if self.liqdesk_tape is not None:
                data = message.get("data") if isinstance(message, dict) else None
                self.liqdesk_tape.read([(t.get("tradeId"), t.get("ts")) for t in data or () if isinstance(t, dict)])

    return OkxPro


def liquidated_side(detail: dict) -> int | None:
    """+1 when a long was liquidated, -1 a short, from one OKX ``details`` entry: ``posSide`` when it
    names the position (hedge mode), else the opposite of the liquidation order's ``side``."""
    pos, side = detail.get("posSide"), detail.get("side")
    if pos == "long":
        return 1
    if pos == "short":
        return -1
    if side == "sell":
        return 1
    if side == "buy":
        return -1
    return None


class Adapter(VenueAdapter):
    name = "okx"
    ccxt_id = "okx"
    liquidations = SAMPLED
    ccxt_options = {"fetchMarkets": {"types": ["swap"]}}
    #: the watchdog of the mark stream (the others are multiples of it)
    silence_s = 30.0
    #: trades one /market/trades call asks for (OKX: at most 500), history-trades calls per refill
    recent_trades = 500
    history_pages = 20

    def __init__(self, symbol: str = "BTC/USDT:USDT", emulator: str | None = None):
        super().__init__(symbol, emulator)
        self._last_mark: float | None = None
        self._force_book = True                       # the first book shows at once

    # ------------------------------------------------------------------ exchange
    def exchange_class(self):
        return okx_pro_class()

    def create_exchange(self):
        ex = super().create_exchange()
        ex.liqdesk_pushes = {ch: deque(maxlen=PUSH_QUEUE) for ch in ("mark-price", "open-interest", "funding-rate")}
        ex.liqdesk_tape = self.new_tape(_holds_trades)
        return ex

    def streams(self) -> list[Stream]:
        s = self.silence_s
        return [
            Stream("trades", self._trades, silence_s=None),
            Stream("book", self._book, silence_s=2 * s),
            Stream("mark", self._mark, silence_s=s),
            Stream("open_interest", self._open_interest, silence_s=4 * s),
            Stream("funding", self._funding, silence_s=None),
            Stream("liquidations", self._liquidations, silence_s=None),
            # the REST refill of suspected trade holes runs apart from the trade stream, so a slow
            # or refused call (rate limit, 429) neither holds the stream nor trips a watchdog
            Stream("trade_refill", self.refill_once, silence_s=None),
        ]

    def _drop_settled_future(self, message_hash: str) -> None:
        """ccxt 4.5.90 keeps a future it rejected from a stored rejection (a book gap found while no
        watch was pending) in ``client.futures``; every later watch would get that same settled
        future back and raise the old ``InvalidNonce`` forever. Drop it so the watch waits anew."""
        for client in list((self.exchange.clients or {}).values()):
            future = client.futures.get(message_hash)
            if future is not None and future.done():
                del client.futures[message_hash]

    # ------------------------------------------------------------------ streams
    async def _trades(self) -> None:
        self.emit_trades(self.trade_rows(await self.watch_new_trades()))

    async def fetch_refill(self, since_ms: int, since_ids: set) -> list[tuple]:
        """The newest :attr:`recent_trades` trades, then history-trades pages older than the oldest
        of them until a trade of ``since_ids`` or older than ``since_ms`` is among them (at most
        :attr:`history_pages` calls)."""
        rows = self.trade_rows(await self.exchange.fetch_trades(self.symbol, None, self.recent_trades))
        for _ in range(self.history_pages):
            if not rows or any(r[0] in since_ids or r[1] < since_ms for r in rows):
                break
            oldest = min(rows, key=lambda r: int(r[0]))[0]
            page = self.trade_rows(await self.exchange.fetch_trades(
                self.symbol, None, 100, {"method": "publicGetMarketHistoryTrades", "type": "1", "after": oldest}))
            if not page:
                break
            rows += page
        return rows

    def refill_reach(self, n: int) -> str:
        return (f"{n} trades fetched: the last {self.recent_trades} and at most {self.history_pages} pages "
                f"of history-trades")

    async def _book(self) -> None:
        self._drop_settled_future("books:" + self.market["symbol"])
        await self.watch_book()

    def _pushed(self, channel: str) -> list[dict]:
        """The items pushed on ``channel`` for this contract since the last call."""
        queue = self.exchange.liqdesk_pushes[channel]
        items = []
        inst = self.market["id"]
        while queue:
            item = queue.popleft()
            if isinstance(item, dict) and item.get("instId") == inst:
                items.append(item)
            elif not isinstance(item, dict):
                self.counts["malformed"] += 1
        return items

    async def _mark(self) -> None:
        await self.exchange.watch_mark_price(self.symbol)
        for item in self._pushed("mark-price"):
            t, px = _num(item.get("ts")), _num(item.get("markPx"))
            if t is None or not px or px <= 0:
                self.counts["malformed"] += 1
                continue
            self._last_mark = px
            self.emit_mark(int(t), px)
        self._drain_liquidations()

    async def _open_interest(self) -> None:
        await self.exchange.watch_open_interest(self.symbol)
        for item in self._pushed("open-interest"):
            t = _num(item.get("ts"))
            base = _num(item.get("oiCcy"))
            if base is None:
                contracts = _num(item.get("oi"))
                base = contracts * self.contract_size if contracts is not None else None
            if base is None or base < 0 or not t:
                self.counts["malformed"] += 1
                continue
            usd = _num(item.get("oiUsd"))
            if usd is None:
                if self._last_mark is None:
                    continue
                usd = base * self._last_mark
            self.emit_open_interest(int(t), base, usd)

    async def _funding(self) -> None:
        await self.exchange.watch_funding_rate(self.symbol)
        for item in self._pushed("funding-rate"):
            t, rate = _num(item.get("ts")), _num(item.get("fundingRate"))
            if t is None or rate is None:
                self.counts["malformed"] += 1
                continue
            self.emit_funding(int(t), rate)

    async def _liquidations(self) -> None:
        await self.exchange.watch_liquidations(self.symbol)
        self._drain_liquidations()

    def _drain_liquidations(self) -> None:
        """Every liquidation ccxt cached since the last call (own cursor: the newest item seen),
        each ``details`` entry of each item, sides normalized, sizes in base currency."""
        new = self.new_liquidations()
        if not new:
            return
        inst, cs = self.market["id"], self.contract_size
        rows = []
        for item in new:
            info = item.get("info") or {}
            if info.get("instId") != inst:
                continue
            for d in info.get("details") or ():
                side = liquidated_side(d)
                t, px, sz = _num(d.get("ts")), _num(d.get("bkPx")), _num(d.get("sz"))
                if side is None or t is None or not px or not sz or px <= 0 or sz <= 0:
                    self.counts["malformed"] += 1
                    continue
                rows.append((int(t), side, px, sz * cs))
        if rows:
            self.emit_liquidations(rows)

    # ------------------------------------------------------------------ warm start
    async def _rest(self, fn, *args, **kwargs):
        """One REST call, retried on 429 and network errors (at least 1 s apart)."""
        import ccxt

        backoff = Backoff(first_s=1.0, max_s=8.0, jitter=0.2)
        for attempt in range(REST_TRIES):
            try:
                return await fn(*args, **kwargs)
            except ccxt.NetworkError:
                if attempt == REST_TRIES - 1:
                    raise
                await asyncio.sleep(max(1.0, backoff.next()))
        return None

    async def _candles(self, since_ms: int, until_ms: int, price: str | None = None) -> dict[int, list]:
        """The 1-minute candles that lie wholly inside [since_ms, until_ms], by open time."""
        limit = 100 if price else 300
        params = {"price": price} if price else {}
        out: dict[int, list] = {}
        first = -(-since_ms // CANDLE_MS) * CANDLE_MS
        cursor = first
        while cursor + CANDLE_MS <= until_ms:
            rows = await self._rest(self.exchange.fetch_ohlcv, self.symbol, "1m", cursor, limit, dict(params))
            for r in rows or ():
                t = int(r[0])
                if first <= t and t + CANDLE_MS <= until_ms:
                    out[t] = r
            cursor += limit * CANDLE_MS
        return out

    async def _oi_history(self, since_ms: int, until_ms: int) -> list[tuple[int, float, float]]:
        out = {}
        cursor = since_ms
        while cursor <= until_ms:
            rows = await self._rest(self.exchange.fetch_open_interest_history, self.symbol, "5m", cursor, 100)
            for r in rows or ():
                t = r.get("timestamp")
                base = r.get("baseVolume")
                if base is None and r.get("openInterestAmount") is not None:
                    base = float(r["openInterestAmount"]) * self.contract_size
                usd = r.get("openInterestValue")
                if t is None or base is None or usd is None or not since_ms <= t <= until_ms:
                    continue
                out[int(t)] = (float(base), float(usd))
            cursor += 100 * OI_BUCKET_MS
        return [(t, *out[t]) for t in sorted(out)]

    async def backfill(self, since_ms: int, until_ms: int) -> EventBatch | None:
        """The span's 1-minute candles as coarse trades (open, extremes, close; half bought, half
        sold), 1-minute mark-price closes, and 5-minute open interest."""
        candles = await self._candles(since_ms, until_ms)
        try:
            marks = await self._candles(since_ms, until_ms, price="mark")
        except Exception:  # noqa: BLE001 - marks then come from the trade candles
            marks = {}
        try:
            oi = await self._oi_history(since_ms, until_ms)
        except Exception:  # noqa: BLE001 - no open-interest history is not a failed warm start
            oi = []
        kinds = {}
        keys = [t for t in sorted(candles) if candles[t][5] and candles[t][5] > 0]
        if keys:
            c = np.array([candles[t][:6] for t in keys], dtype=float)
            # OKX gives no taker-buy volume: half and half
            kinds["trades"] = candle_trades(self.gid, c[:, 0], c[:, 1], c[:, 2], c[:, 3], c[:, 4], c[:, 5])
        mark_rows = [(t + CANDLE_MS - 1, float(r[4])) for t, r in sorted(marks.items()) if r[4]] or \
                    [(t + CANDLE_MS - 1, float(candles[t][4])) for t in sorted(candles) if candles[t][4]]
        if mark_rows:
            mt, mp = zip(*mark_rows)
            kinds["marks"] = records("marks", time_ms=np.array(mt, np.int64), exchange=self.gid, price=np.array(mp))
        if oi:
            ot, ob, on = zip(*oi)
            kinds["open_interest"] = records("open_interest", time_ms=np.array(ot, np.int64), exchange=self.gid,
                                             oi_base=np.array(ob), oi_notional=np.array(on))
        if not kinds:
            return None
        return make_batch(**kinds)


_CHANNEL = re.compile(r'"channel"\s*:\s*"([\w-]+)"')


def _holds_trades(data) -> bool | None:
    """Whether an unreadable frame was a trade message (None: what is left does not say)."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data[:200]).decode("utf-8", "replace")
    m = _CHANNEL.search(data[:200]) if isinstance(data, str) else None
    return m.group(1) == "trades" if m else None


def _num(value) -> float | None:
    """A finite float from OKX's string (or ccxt's number), else None."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
