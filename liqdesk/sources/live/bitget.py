"""Bitget USDT-M futures (API v2) through ccxt.pro (``bitget``), one linear perpetual.

What Bitget publishes and how this adapter reads it:

- **Markets**: only ``GET /api/v2/mix/market/contracts?productType=USDT-FUTURES`` is called (ccxt
  would also load spot, margin and five other futures product types, and the coin list); the
  subclass below keeps ccxt's parsing and skips the rest.
- **Trades**: channel ``trade`` on ``/v2/ws/public`` (``watch_trades``; ``side`` is the taker's).
  Bitget's trade ids are not consecutive, so a loss cannot be seen in them: it is inferred from the
  socket (a dropped or silent connection, a frame that could not be read, or a book diff on the same
  socket failing its checksum: messages were lost after the diff before it), and the span from the
  last trade before it to the newest trade after it is fetched from
  ``GET /api/v2/mix/market/fills-history`` (1,000 a call, 10 calls/s allowed, paged with
  ``idLessThan``; Bitget keeps 90 days) in a loop of its own, at most once a second. The snapshot
  of the last trades Bitget sends on a new subscription overlaps; duplicates are dropped by id.
- **Order book**: channel ``books`` (a full snapshot, then diffs), kept by ccxt, which checks each
  diff's ``checksum`` (signed CRC32 of the top 25 levels, interleaved ``bid:size:ask:size``) and on
  a mismatch unsubscribes; the subclass delivers that as a ``ChecksumError`` to the pending watch
  (ccxt itself would raise ``UnsubscribeError``), starts one resync at a time, and starts from an
  empty book on every snapshot (ccxt would merge a re-subscription's snapshot into the stale book).
  The watch loop counts the resync and the next watch subscribes again; the first book after it is
  emitted at once.
- **Mark price, open interest, funding**: channel ``ticker`` (pushed on change, 300-400 ms on
  Bitget): ``markPrice``; ``holdingAmount``, the open interest in base coin (Bitget's websocket
  documentation: "Open interest"; its REST ticker: "current holding positions (base coin)") — so
  no REST poll is needed; ``fundingRate``, the rate in force. Every ticker is read (the subclass
  queues the raw pushes: ``watch_ticker`` alone returns only the newest of several). A mark is
  emitted per ticker time, open interest when it changes (and at least once a minute, notional =
  size × mark), funding when it changes (and at least once a minute).
- **Liquidations**: Bitget's UTA ``liquidation`` topic on ``/v3/ws/public``
  (``{"instType":"usdt-futures","topic":"liquidation"}``, every symbol of the product type), which
  ccxt does not wrap: the subclass subscribes through ccxt's own client (its pings, reconnects and
  market mapping) and parses the pushes into ``exchange.liquidations``. It is **sampled**: once a
  second, the largest liquidation of long positions and the largest of short positions per symbol
  in the second before. ``side`` is the liquidated POSITION (``buy``: a long was liquidated, +1;
  ``sell``: a short, -1); ``amount`` is in quote coin (USDT), so size = amount / price. The
  adapter reads ccxt's cache with its own cursor; identical records are dropped.
- **Leverage tiers**: public, ``GET /api/v2/mix/market/query-position-lever`` (ccxt
  ``fetch_market_leverage_tiers``, bounds in USDT), refreshed by :mod:`.tiers`.
- **Backfill** (warm start): 1-minute candles (``GET /api/v2/mix/market/candles``, 1,000 a call,
  20 calls/s; 24 hours is 2 calls) become coarse trades that rebuild each closed candle (its open,
  extremes and close, :func:`~.adapter.candle_trades`), taker buys and sells half and half (Bitget's
  candles carry no taker-buy volume); mark-price candles (the same endpoint, ``kLineType=MARK``)
  give one mark per minute (the trade candle's close where they are missing). Bitget publishes no
  open-interest history (ccxt: ``fetchOpenInterestHistory`` False): **no OI backfill**; the ticker
  brings the current value at once.

A message that neither ccxt nor this adapter can read (broken JSON, a truncated frame, a
nonsensical field) is counted as ``malformed`` and skipped; the connection goes on (ccxt alone
would stop reading that socket until the watchdog noticed), and the trades around it are refetched.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import cache

import numpy as np

from liqdesk.core.events import EventBatch, make_batch, records

from .adapter import Stream, VenueAdapter, candle_trades, guard_frames, retry_rest
from .contract import SAMPLED

CANDLE_MS = 60_000
CANDLES_PER_CALL = 1000
FILLS_PER_CALL = 1000
#: Bitget serves fills-history for at most 7 days per call and keeps 90 days
FILL_SPAN_MS = 7 * 86_400_000
TICKERS_KEPT = 10_000
KEEPALIVE_MS = 60_000
#: how long a book resync waits for Bitget's acknowledgement of its unsubscribe
UNSUBSCRIBE_ACK_S = 1.0


@cache
def exchange_class():
    """ccxt.pro's bitget with what liqdesk needs added: USDT-M markets only, a reader guard on
    every websocket client, a queue of every raw ticker push, Bitget's public liquidation topic,
    and a book resync that reaches the watcher as a ``ChecksumError``."""
    import ccxt.pro
    from ccxt.async_support.base.ws.cache import ArrayCache
    from ccxt.base.errors import ChecksumError
    from ccxt.base.precise import Precise

    class Bitget(ccxt.pro.bitget):
        def __init__(self, config=None):
            super().__init__(config or {})
            self.ticker_updates: deque = deque(maxlen=TICKERS_KEPT)
            self.on_bad_message = None
            #: called with the newest trade time (ms) known good before a book diff failed its
            #: checksum: the connection lost messages after it, trades among them
            self.on_book_loss = None
            self.book_resyncs = 0
            self._resyncing: set = set()
            self._trade_ms: int | None = None          # newest trade time read on the wire
            self._trade_ms_at_book: list = [None, None]  # at the book diff before last, at the last

        def describe(self):
            # the coin list (GET /api/v2/spot/public/coins, ~1 MB) is of no use for market data
            return self.deep_extend(super().describe(), {"has": {"fetchCurrencies": False}})

        # -------------------------------------------------------------- markets
        async def fetch_default_markets(self, params):
            """ccxt's parsing of ``/api/v2/mix/market/contracts``, for USDT-FUTURES only (ccxt asks
            for six product types; the others answer empty here without a request)."""
            name = "publicMixGetV2MixMarketContracts"
            real = getattr(self, name)

            async def usdt_only(request=None, *args, **kwargs):
                if str((request or {}).get("productType", "")).upper() != "USDT-FUTURES":
                    return {"code": "00000", "msg": "success", "data": []}
                return await real(request, *args, **kwargs)

            setattr(self, name, usdt_only)
            try:
                return await super().fetch_default_markets(params)
            finally:
                setattr(self, name, real)

        # -------------------------------------------------------------- reading guard
        def client(self, url):
            return guard_frames(super().client(url), lambda exc: self.on_bad_message and self.on_bad_message(exc))

        def handle_message(self, client, message):
            if isinstance(message, dict) and "data" in message:
                arg = message.get("arg")
                if isinstance(arg, dict) and arg.get("topic") == "liquidation":
                    self.handle_liquidation(client, message)
                    return
            super().handle_message(client, message)

        # -------------------------------------------------------------- ticker
        def handle_ticker(self, client, message):
            for item in message.get("data") or []:
                if isinstance(item, dict):
                    self.ticker_updates.append(item)
            super().handle_ticker(client, message)

        # -------------------------------------------------------------- trades
        def handle_trades(self, client, message):
            super().handle_trades(client, message)
            times = [self.safe_integer(t, "ts") for t in message.get("data") or [] if isinstance(t, dict)]
            times = [t for t in times if t is not None]
            if times:
                self._trade_ms = max(times) if self._trade_ms is None else max(self._trade_ms, *times)

        # -------------------------------------------------------------- book
        def handle_order_book(self, client, message):
            arg = message.get("arg") if isinstance(message, dict) else None
            if isinstance(arg, dict) and arg.get("channel") == "books":
                # the newest trade read before this diff and before the one before it (same socket,
                # in order: if this diff fails its checksum, what was lost came after the latter)
                self._trade_ms_at_book = [self._trade_ms_at_book[1], self._trade_ms]
                if message.get("action") == "snapshot":
                    # a (re-)subscription's snapshot replaces the book; ccxt would apply it as diffs
                    market = self.safe_market(arg.get("instId"), None, None, "contract")
                    self.orderbooks.pop(market["symbol"], None)
            super().handle_order_book(client, message)

        async def handle_check_sum_error(self, client, symbol, messageHash):
            if symbol in self._resyncing:
                return               # one resync at a time; later diffs fail against the same book
            self._resyncing.add(symbol)
            self.book_resyncs += 1
            if self.on_book_loss is not None:
                self.on_book_loss(self._trade_ms_at_book[0])
            try:
                await asyncio.wait_for(self.un_watch_order_book(symbol), UNSUBSCRIBE_ACK_S)
            except TimeoutError:
                # the acknowledgement was lost: forget the book and the subscription as it would
                # have, so the next watch subscribes again (and gets a new snapshot)
                self._forget_book(client, symbol)
            except Exception:  # noqa: BLE001, S110 - the connection went; the next watch re-dials
                pass
            finally:
                self._resyncing.discard(symbol)

        def _forget_book(self, client, symbol):
            pending = "orderbook:" + symbol
            if pending in client.futures:
                client.reject(ChecksumError(self.id + " " + self.orderbook_checksum_message(symbol)), pending)
            self.orderbooks.pop(symbol, None)
            for sub in (pending, "unsubscribe:orderbook:" + symbol):
                client.subscriptions.pop(sub, None)
            client.futures.pop("unsubscribe:orderbook:" + symbol, None)

        def handle_order_book_un_subscription(self, client, message):
            arg = self.safe_dict(message, "arg", {})
            market = self.safe_market(self.safe_string_2(arg, "instId", "symbol"), None, None, "contract")
            symbol = market["symbol"]
            pending = "orderbook:" + symbol
            if symbol in self._resyncing and pending in client.futures:
                client.reject(ChecksumError(self.id + " " + self.orderbook_checksum_message(symbol)), pending)
            super().handle_order_book_un_subscription(client, message)

        # -------------------------------------------------------------- liquidations
        async def watch_liquidations(self, symbol, since=None, limit=None, params={}):  # noqa: B006 - ccxt's signature
            """Bitget's public liquidation topic (UTA websocket), every symbol of the product type;
            resolves with the liquidations of ``symbol`` in each push."""
            await self.load_markets()
            market = self.market(symbol)
            inst = {"USDT": "usdt-futures", "USDC": "usdc-futures"}.get(market["settle"], "coin-futures")
            url = self.urls["api"]["ws"]["utaPublic"]
            request = {"op": "subscribe", "args": [{"instType": inst, "topic": "liquidation"}]}
            return await self.watch(url, "liquidations::" + market["symbol"], request, "liquidation:" + inst)

        def handle_liquidation(self, client, message):
            if self.liquidations is None:
                self.liquidations = ArrayCache(self.safe_integer(self.options, "liquidationsLimit", 1000))
            by_symbol: dict = {}
            for item in message.get("data") or []:
                market = self.safe_market(self.safe_string(item, "symbol"), None, None, "contract")
                liq = self.parse_ws_liquidation(item, market)
                self.liquidations.append(liq)
                by_symbol.setdefault(liq["symbol"], []).append(liq)
            for symbol, liqs in by_symbol.items():
                client.resolve(liqs, "liquidations::" + symbol)

        def parse_ws_liquidation(self, item, market=None):
            # side: the liquidated position (buy = long); ccxt's unified side is the liquidation
            # order's (sell closes a long), as for Binance and OKX; amount: quote coin
            price = self.safe_string(item, "price")
            amount = self.safe_string(item, "amount")
            base = Precise.string_div(amount, price) if amount is not None and price else None
            contracts = Precise.string_div(base, self.safe_string(market, "contractSize", "1")) if base else None
            position = self.safe_string_lower(item, "side")
            ts = self.safe_integer(item, "ts")
            return self.safe_liquidation({
                "info": item, "symbol": self.safe_symbol(None, market), "contracts": contracts,
                "contractSize": self.safe_number(market, "contractSize"), "price": price,
                "side": {"buy": "sell", "sell": "buy"}.get(position), "baseValue": base, "quoteValue": amount,
                "timestamp": ts, "datetime": self.iso8601(ts)}, market)

    return Bitget


class Adapter(VenueAdapter):
    name = "bitget"
    ccxt_id = "bitget"
    liquidations = SAMPLED
    ccxt_options = {"defaultType": "swap", "defaultSubType": "linear", "fetchMarkets": {"types": ["swap"]},
                    "tradesLimit": 10_000,
                    # the liquidation topic carries every USDT-M symbol
                    "liquidationsLimit": 10_000}
    #: silence (s) after which a connection is taken as dead: book diffs and tickers come several
    #: times a second on a live market; trades may pause on a quiet one
    silence_s = 30.0
    trade_silence_s = 60.0
    #: at most one REST trade fill per this many seconds
    fill_every_s = 1.0

    def __init__(self, symbol: str = "BTC/USDT:USDT", emulator: str | None = None):
        super().__init__(symbol, emulator)
        self._last_trade_ms: int | None = None
        self._hole_from: int | None = None           # a loss began after this trade time
        self._holes: list[list[int]] = []            # [from_ms, to_ms] to fetch
        self._filling = False
        self.trades_filled = 0
        self.fill_calls = 0
        self._mark: float | None = None
        self._mark_ms: int | None = None
        self._oi: tuple | None = None                # (time, size)
        self._funding: tuple | None = None           # (time, rate)

    # ------------------------------------------------------------------ exchange
    def exchange_class(self):
        return exchange_class()

    def create_exchange(self):
        ex = super().create_exchange()
        ex.on_book_loss = self._book_loss
        return ex

    def count_malformed(self, exc: BaseException | None = None) -> None:
        super().count_malformed(exc)
        # it may have carried trades: refetch the span around it
        self._open_hole()

    def _book_loss(self, trade_ms: int | None) -> None:
        # a book diff failed its checksum: the shared socket lost messages after ``trade_ms``
        if trade_ms is not None:
            self._hole_from = trade_ms if self._hole_from is None else min(self._hole_from, trade_ms)

    def streams(self) -> list[Stream]:
        return [Stream("trades", self._trades, self.trade_silence_s),
                Stream("book", self.watch_book, self.silence_s),
                Stream("ticker", self._ticker, self.silence_s),
                Stream("liquidations", self._liquidations, None),
                # the REST fill of lost trades runs apart from the trade stream, so a slow or
                # refused call (rate limit, 429) neither holds the stream nor trips its watchdog
                Stream("trade_fill", self._fill_once, None, poll_s=self.fill_every_s)]

    # ------------------------------------------------------------------ trades
    def _open_hole(self) -> None:
        if self._hole_from is None and self._last_trade_ms is not None:
            self._hole_from = self._last_trade_ms

    async def _trades(self) -> None:
        try:
            trades = await self.watch_new_trades()
        except BaseException:
            # a dropped, refused or silent connection: what was published meanwhile is fetched
            # once the stream is back
            self._open_hole()
            raise
        cs = self.contract_size
        rows = [(int(t["id"]), int(t["timestamp"]), 1 if t["side"] == "buy" else -1, float(t["price"]),
                 float(t["amount"]) * cs) for t in trades]
        if not rows:
            return
        newest = max(r[1] for r in rows)
        if self._hole_from is not None:
            self._holes.append([self._hole_from, newest])
            self._hole_from = None
        self._last_trade_ms = newest if self._last_trade_ms is None else max(self._last_trade_ms, newest)
        self.emit_trades(rows)

    async def _fill_once(self) -> None:
        if self._holes:
            await self._fill_trades()

    async def _fill_trades(self) -> None:
        """Fetch the trades of the spans the stream lost from ``fills-history``. A network error or
        a rate limit keeps the spans for the next round; a refusal loses the span (a gap)."""
        import ccxt

        todo, self._holes = _merge(self._holes), []
        self._filling = True
        try:
            while todo:
                a, b = todo[0]
                if b - a > FILL_SPAN_MS:
                    self._gap("trades", f"trades between {a} and {b - FILL_SPAN_MS} lost (longer than 7 days)")
                    a = todo[0][0] = b - FILL_SPAN_MS
                try:
                    await self._fill_span(a, b)
                except ccxt.NetworkError:
                    raise
                except ccxt.BaseError as exc:
                    self._gap("trades", f"trades between {a} and {b} lost (fills-history refused: {exc})"[:200])
                todo.pop(0)
        except BaseException:
            self._holes = _merge(todo + self._holes)
            raise
        finally:
            self._filling = False

    async def _fill_span(self, a: int, b: int) -> None:
        mid, cs = self.market["id"], self.contract_size
        before = None
        while True:
            req = {"symbol": mid, "productType": "USDT-FUTURES", "startTime": a, "endTime": b,
                   "limit": FILLS_PER_CALL}
            if before is not None:
                req["idLessThan"] = before
            self.fill_calls += 1
            raw = await self.exchange.publicMixGetV2MixMarketFillsHistory(req)
            data = raw.get("data") or []
            rows = [(int(t["tradeId"]), int(t["ts"]), 1 if str(t["side"]).lower() == "buy" else -1, float(t["price"]),
                     float(t["size"]) * cs) for t in data]
            rows.sort(key=lambda r: (r[1], r[0]))
            before_n = self.counts["duplicates"]
            self.emit_trades(rows)
            self.trades_filled += len(rows) - (self.counts["duplicates"] - before_n)
            if len(data) < FILLS_PER_CALL:
                return
            before = min(int(t["tradeId"]) for t in data)

    @property
    def trades_pending(self) -> bool:
        """Trade spans not refetched yet (or being refetched)."""
        return bool(self._holes) or self._filling or self._hole_from is not None

    # ------------------------------------------------------------------ book
    # ------------------------------------------------------------------ mark, open interest, funding
    async def _ticker(self) -> None:
        await self.exchange.watch_ticker(self.symbol)
        updates = self.exchange.ticker_updates
        market_id = self.market["id"]
        cs = self.contract_size
        while updates:
            tk = updates.popleft()
            if tk.get("instId", tk.get("symbol")) != market_id:
                continue
            try:
                t = int(tk["ts"])
                mark = float(tk["markPrice"])
            except (KeyError, TypeError, ValueError):
                self.counts["malformed"] += 1
                continue
            if self._mark_ms is not None and t <= self._mark_ms:
                self.counts["duplicates"] += 1
                continue
            self._mark_ms, self._mark = t, mark
            self.emit_mark(t, mark)
            oi = _number(tk.get("holdingAmount"))
            if oi is not None and (self._oi is None or oi != self._oi[1] or t - self._oi[0] >= KEEPALIVE_MS):
                size = oi * cs
                self._oi = (t, oi)
                self.emit_open_interest(t, size, size * mark)
            rate = _number(tk.get("fundingRate"))
            if rate is not None and (self._funding is None or rate != self._funding[1]
                                     or t - self._funding[0] >= KEEPALIVE_MS):
                self._funding = (t, rate)
                self.emit_funding(t, rate)

    # ------------------------------------------------------------------ liquidations
    async def _liquidations(self) -> None:
        await self.exchange.watch_liquidations(self.symbol)
        self.emit_liquidations(self.read_liquidations())

    def read_liquidations(self) -> list[tuple]:
        """The liquidations ccxt cached since the last read, as (time, liquidated position side,
        price, size in base)."""
        new = self.new_liquidations()
        rows = []
        for liq in new:
            if liq.get("symbol") != self.symbol:
                continue
            info = liq.get("info") or {}
            side = str(info.get("side", "")).lower()
            price, amount = _number(info.get("price")), _number(info.get("amount"))
            if side not in ("buy", "sell") or not price or not amount or liq.get("timestamp") is None:
                self.counts["malformed"] += 1
                continue
            # Bitget gives the liquidated POSITION's side (buy: a long) and the amount in USDT
            rows.append((int(liq["timestamp"]), 1 if side == "buy" else -1, price, amount / price))
        return rows

    # ------------------------------------------------------------------ backfill
    async def backfill(self, since_ms: int, until_ms: int) -> EventBatch | None:
        """Closed 1-minute candles of ``[since_ms, until_ms)`` as coarse trades, and one mark per
        minute. No open-interest history: Bitget publishes none."""
        candles = await self._candles("MARKET", since_ms, until_ms)
        try:
            marks = await self._candles("MARK", since_ms, until_ms)
        except Exception:  # noqa: BLE001 - the trade candles' closes stand in
            marks = []
        cs = self.contract_size
        arrays = {}
        if candles:
            k = np.array([[float(x) for x in r[:6]] for r in candles], dtype=float)
            t0, opens, high, low, close, vol = k.T
            # Bitget's candles carry no taker-buy volume: half and half
            arrays["trades"] = candle_trades(self.gid, t0, opens, high, low, close, vol * cs)
            if not marks:
                arrays["marks"] = records("marks", time_ms=(t0 + CANDLE_MS - 1).astype(np.int64), exchange=self.gid,
                                          price=close)
        if marks:
            m = np.array([[float(r[0]), float(r[4])] for r in marks], dtype=float)
            arrays["marks"] = records("marks", time_ms=(m[:, 0] + CANDLE_MS - 1).astype(np.int64), exchange=self.gid,
                                      price=m[:, 1])
        if not arrays:
            return None
        return make_batch(**{k: a[np.argsort(a["time_ms"], kind="stable")] for k, a in arrays.items()})

    async def _candles(self, kind: str, since_ms: int, until_ms: int) -> list:
        """Closed 1-minute candles (``kLineType`` MARKET or MARK), oldest first, in windows of
        1,000 minutes (Bitget returns the newest ``limit`` of a window)."""
        out, start = {}, since_ms // CANDLE_MS * CANDLE_MS
        mid = self.market["id"]
        while start < until_ms:
            end = min(start + CANDLES_PER_CALL * CANDLE_MS, until_ms) - 1
            raw = await retry_rest(lambda s=start, e=end: self.exchange.publicMixGetV2MixMarketCandles({
                "symbol": mid, "productType": "USDT-FUTURES", "granularity": "1m", "kLineType": kind,
                "startTime": s, "endTime": e, "limit": CANDLES_PER_CALL}))
            for r in raw.get("data") or []:
                t = int(r[0])
                if t >= since_ms and t + CANDLE_MS <= until_ms:
                    out[t] = r
            start = end + 1
        return [out[t] for t in sorted(out)]


def _number(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None



def _merge(ranges: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out
