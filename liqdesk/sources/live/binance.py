"""Binance USDⓈ-M futures through ccxt.pro (``binanceusdm``), one linear perpetual.

What Binance publishes and how this adapter reads it:

- **Trades**: ``<sym>@trade`` on ``/public/ws`` (``watch_trades``; taker side from ``m``). Binance
  trade ids are consecutive per symbol, so a hole in them (a dropped connection, a stall, a
  message lost) is seen and filled from ``GET /fapi/v1/trades`` (the last 1,000 trades, weight 5,
  at most once a second, in a loop of its own); what is older than that is recorded as a gap
  ("trades lost").
  Duplicates (ccxt's cache after a reconnect, a repeated frame) are dropped by id.
- **Order book**: ``<sym>@depth@100ms`` diffs with ``U``/``u``/``pu`` plus the REST snapshot
  ``GET /fapi/v1/depth?limit=1000`` (weight 20), kept by ccxt. A ``pu`` that is not the last ``u``
  makes ccxt raise ``ChecksumError``; the watch loop counts a resync and the next watch
  re-subscribes and refetches the snapshot; the next book emitted after it is not rate-limited.
- **Mark price and funding**: ``<sym>@markPrice@1s`` on ``/market/ws`` (``markPriceUpdate``:
  ``p`` mark, ``r`` the funding rate in force). Every update is read (the raw messages are kept by
  the ccxt subclass below: ``watch_mark_price`` alone returns only the newest when two arrive
  together); funding is emitted when ``r`` changes and at least once a minute.
- **Open interest**: REST only (Binance has no stream): ``GET /fapi/v1/openInterest`` every
  :attr:`Adapter.oi_poll_s` = 5 s, weight 1, i.e. 12 of the 2,400 weight per minute an IP may use.
  Steady state that is all the adapter spends; a book resync costs 20 and a trade fill 5 (at most
  one a second, only after a loss), and ccxt's rate limiter (half of Binance's budget) spaces
  them. A value is emitted when its time or size changes; notional = size × the latest mark.
- **Liquidations**: ``<sym>@forceOrder``, **sampled** by Binance: only the latest liquidation per
  symbol per second is pushed. ``S`` is the side of the liquidation *order*: SELL means a long was
  liquidated (+1). Size = ``l`` (contracts) × contract size, price = ``ap``. ccxt returns only the
  first of several that arrive together; the rest are read from its cache with this adapter's own
  cursor, and identical records are dropped.
- **Leverage tiers** need an API key on Binance (``/fapi/v1/leverageBracket``): not fetched; the
  shipped tables are used.
- **Backfill** (warm start): 1-minute klines (``GET /fapi/v1/klines``, 1,000 a call, weight 5)
  become two coarse trades per closed candle at its typical price ``(h+l+c)/3``: a taker buy of the
  candle's taker-buy base volume at +20 s and a taker sell of the rest at +40 s; mark-price klines
  (``/fapi/v1/markPriceKlines``) give one mark per minute (the trade candle's close where they are
  missing); ``/futures/data/openInterestHist`` gives open interest every 5 minutes (Binance keeps
  30 days). 24 hours cost about 25 weight. Funding history is not backfilled (the mark stream
  brings the current rate at once).

A message that neither ccxt nor this adapter can read (broken JSON, a truncated frame, a
nonsensical field) is counted as ``malformed`` and skipped; the connection goes on (ccxt alone
would stop reading that socket until the watchdog noticed).
"""

from __future__ import annotations

import time
from collections import deque
from functools import cache

import numpy as np

from liqdesk.core.events import EventBatch, make_batch, records

from .adapter import Stream, VenueAdapter, candle_trades, guard_frames, retry_rest
from .contract import SAMPLED

CANDLE_MS = 60_000
KLINES_PER_CALL = 1000
OI_HIST_PER_CALL = 500
#: the newest trades Binance serves without an API key (GET /fapi/v1/trades)
RECENT_TRADES = 1000
MARKS_KEPT = 10_000


@cache
def exchange_class():
    """ccxt.pro's binanceusdm with two additions: a reader guard on every websocket client (a
    message that raises while being decoded or handled is counted, not allowed to stop the
    client's receive loop) and a queue of every raw ``markPriceUpdate``."""
    import ccxt.pro

    class BinanceUsdm(ccxt.pro.binanceusdm):
        def __init__(self, config=None):
            super().__init__(config or {})
            self.mark_updates: deque = deque(maxlen=MARKS_KEPT)
            self.on_bad_message = None

        def client(self, url):
            return guard_frames(super().client(url), lambda exc: self.on_bad_message and self.on_bad_message(exc))

        def handle_mark_prices(self, client, message):
            for item in message if isinstance(message, list) else [message]:
                if isinstance(item, dict) and item.get("e") == "markPriceUpdate":
                    self.mark_updates.append(item)
            super().handle_mark_prices(client, message)

    return BinanceUsdm


class Adapter(VenueAdapter):
    name = "binance"
    ccxt_id = "binanceusdm"
    liquidations = SAMPLED
    ccxt_options = {"tradesLimit": 10_000, "liquidationsLimit": 1_000}
    #: open interest poll (s); Binance weight 1 per call
    oi_poll_s = 5.0
    #: silence (s) after which a connection is taken as dead: book diffs come every 100 ms and
    #: marks every second; trades may pause on a quiet market
    silence_s = 30.0
    trade_silence_s = 60.0
    #: at most one REST trade fill (weight 5) per this many seconds
    fill_every_s = 1.0

    def __init__(self, symbol: str = "BTC/USDT:USDT", emulator: str | None = None):
        super().__init__(symbol, emulator)
        self._last_tid: int | None = None
        self._last_trade_ms: int | None = None
        self._missing: list[list[int]] = []          # [first, last] trade ids not received
        #: the time (ms) of the trade just before the oldest id hole not filled yet: the trades a
        #: recording stopped now may lack are no older than this
        self._holes_since_ms: int | None = None
        self.trades_filled = 0
        self._filling = False
        self._mark: float | None = None
        self._mark_ms: int | None = None
        self._last_price: float | None = None
        self._funding: float | None = None
        self._funding_ms = 0
        self._oi_last: tuple | None = None

    # ------------------------------------------------------------------ exchange
    def exchange_class(self):
        return exchange_class()

    def streams(self) -> list[Stream]:
        return [Stream("trades", self._trades, self.trade_silence_s),
                Stream("book", self.watch_book, self.silence_s),
                Stream("mark", self._marks, self.silence_s),
                # a REST poll: ccxt's own request timeout applies, not the websocket watchdog (which
                # would drop every socket when the rate limiter holds a call back)
                Stream("open_interest", self._open_interest, None, poll_s=self.oi_poll_s),
                Stream("liquidations", self._liquidations, None),
                # the REST fill of trade-id holes runs apart from the trade stream, so a slow or
                # refused call (rate limit, 429) neither holds the stream nor trips its watchdog
                Stream("trade_fill", self._fill_once, None, poll_s=self.fill_every_s)]

    # ------------------------------------------------------------------ trades
    async def _trades(self) -> None:
        trades = await self.watch_new_trades()
        cs = self.contract_size
        rows = [(int(t["id"]), int(t["timestamp"]), 1 if t["side"] == "buy" else -1, float(t["price"]),
                 float(t["amount"]) * cs) for t in trades]
        self._track_ids([(r[0], r[1]) for r in rows])
        self.emit_trades(rows)
        if rows:
            self._last_price = rows[-1][3]

    async def _fill_once(self) -> None:
        if self._missing:
            await self._fill_trades()

    def _track_ids(self, trades: list[tuple[int, int]]) -> None:
        """Note the holes in Binance's consecutive trade ids (``trades``: (id, time ms))."""
        for tid, time_ms in sorted(trades):
            last = self._last_tid
            if last is None or tid == last + 1:
                self._last_tid, self._last_trade_ms = tid, time_ms
            elif tid > last + 1:
                self._missing.append([last + 1, tid - 1])
                if self._holes_since_ms is None and self._last_trade_ms is not None:
                    self._holes_since_ms = self._last_trade_ms
                self._last_tid, self._last_trade_ms = tid, time_ms
        if len(self._missing) > 1000:
            lost = self._missing[:-1000]
            self._missing = self._missing[-1000:]
            self._lost(sum(b - a + 1 for a, b in lost))

    async def _fill_trades(self) -> None:
        """Fetch the trades the stream missed from the last 1,000 Binance serves."""
        todo, self._missing = self._missing, []      # holes found meanwhile are kept apart
        self._filling = True
        try:
            raw = await self.exchange.fapiPublicGetTrades({"symbol": self.market["id"], "limit": RECENT_TRADES})
            got = self.exchange.parse_trades(raw, self.market)
        except BaseException:
            self._missing = _merge(todo + self._missing)
            raise
        finally:
            self._filling = False
        if not got:
            self._missing = _merge(todo + self._missing)
            return
        cs = self.contract_size
        by_id = {int(t["id"]): t for t in got}
        oldest, newest = min(by_id), max(by_id)
        rows, left, lost = [], [], 0
        for a, b in todo:
            if b < oldest:
                lost += b - a + 1
                continue
            if a < oldest:
                lost += oldest - a
                a = oldest
            for tid in range(a, b + 1):
                t = by_id.get(tid)
                if t is None:
                    if tid < newest:
                        lost += 1                    # not served although newer ones are
                    else:
                        left.append([tid, tid])
                    continue
                rows.append((tid, int(t["timestamp"]), 1 if t["side"] == "buy" else -1, float(t["price"]),
                             float(t["amount"]) * cs))
        self._missing = _merge(left + self._missing)
        if not self._missing:
            self._holes_since_ms = None
        if lost:
            self._lost(lost)
        self.trades_filled += len(rows)
        self.emit_trades(rows)

    @property
    def trades_pending(self) -> bool:
        """Trade-id holes not filled yet (or being filled)."""
        return bool(self._missing) or self._filling

    @property
    def open_holes_since_ms(self) -> list[int]:
        return super().open_holes_since_ms + (
            [self._holes_since_ms] if self.trades_pending and self._holes_since_ms is not None else [])

    def _lost(self, n: int) -> None:
        self._gap("trades", f"{n} trade{'s' if n != 1 else ''} lost (older than the {RECENT_TRADES} Binance serves)")

    # ------------------------------------------------------------------ book
    # ------------------------------------------------------------------ mark and funding
    async def _marks(self) -> None:
        await self.exchange.watch_mark_price(self.symbol)
        updates = self.exchange.mark_updates
        market_id = self.market["id"]
        while updates:
            m = updates.popleft()
            if m.get("s") != market_id:
                continue
            t, price = int(m["E"]), float(m["p"])
            if self._mark_ms is not None and t <= self._mark_ms:
                self.counts["duplicates"] += 1
                continue
            self._mark_ms, self._mark = t, price
            self.emit_mark(t, price)
            rate = m.get("r")
            if rate not in (None, ""):
                rate = float(rate)
                if rate != self._funding or t - self._funding_ms >= 60_000:
                    self._funding, self._funding_ms = rate, t
                    self.emit_funding(t, rate)

    # ------------------------------------------------------------------ open interest
    async def _open_interest(self) -> None:
        oi = await self.exchange.fetch_open_interest(self.symbol)
        t = int(oi.get("timestamp") or time.time() * 1000)
        size = float(oi["openInterestAmount"]) * self.contract_size
        if (t, size) == self._oi_last:
            return
        price = self._mark or self._last_price
        if price is None:
            fr = await self.exchange.fetch_funding_rate(self.symbol)
            price = float(fr["markPrice"])
        self._oi_last = (t, size)
        value = oi.get("openInterestValue")
        self.emit_open_interest(t, size, float(value) if value else size * price)

    # ------------------------------------------------------------------ liquidations
    async def _liquidations(self) -> None:
        await self.exchange.watch_liquidations(self.symbol)
        self.emit_liquidations(self.read_liquidations())

    def read_liquidations(self) -> list[tuple]:
        """The liquidations ccxt cached since the last read (its watch returns only the first of
        a burst), as (time, liquidated position side, price, size in base)."""
        new = self.new_liquidations()
        cs = self.contract_size
        rows = []
        for liq in new:
            if liq.get("symbol") != self.symbol:
                continue
            side = liq.get("side")
            if side not in ("buy", "sell") or liq.get("contracts") is None or liq.get("price") is None:
                self.counts["malformed"] += 1
                continue
            # Binance gives the liquidation ORDER's side: a SELL closes a long
            rows.append((int(liq["timestamp"]), 1 if side == "sell" else -1, float(liq["price"]),
                         float(liq["contracts"]) * float(liq.get("contractSize") or cs)))
        return rows

    # ------------------------------------------------------------------ backfill
    async def backfill(self, since_ms: int, until_ms: int) -> EventBatch | None:
        """Closed 1-minute candles as coarse trades, one mark per minute and the 5-minute open
        interest of ``[since_ms, until_ms)``."""
        mid = self.market["id"]
        klines = await self._klines(self.exchange.fapiPublicGetKlines, mid, since_ms, until_ms)
        try:
            mark_klines = await self._klines(self.exchange.fapiPublicGetMarkPriceKlines, mid, since_ms, until_ms)
        except Exception:  # noqa: BLE001 - the trade candles' closes stand in
            mark_klines = []
        oi = await self._oi_history(since_ms, until_ms)
        cs = self.contract_size
        arrays = {}
        if klines:
            k = np.array([[float(r[0]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[9])]
                          for r in klines], dtype=float)
            opens = np.array([float(r[1]) for r in klines], dtype=float)
            t0, high, low, close, vol, buy = k.T
            arrays["trades"] = candle_trades(self.gid, t0, opens, high, low, close, vol * cs, buy * cs)
            if not mark_klines:
                arrays["marks"] = records("marks", time_ms=(t0 + CANDLE_MS - 1).astype(np.int64), exchange=self.gid,
                                          price=close)
        if mark_klines:
            m = np.array([[float(r[0]), float(r[4])] for r in mark_klines], dtype=float)
            arrays["marks"] = records("marks", time_ms=(m[:, 0] + CANDLE_MS - 1).astype(np.int64), exchange=self.gid,
                                      price=m[:, 1])
        if oi:
            o = np.array(oi, dtype=float)
            arrays["open_interest"] = records("open_interest", time_ms=o[:, 0].astype(np.int64), exchange=self.gid,
                                              oi_base=o[:, 1] * cs, oi_notional=o[:, 2])
        if not arrays:
            return None
        return make_batch(**{k: a[np.argsort(a["time_ms"], kind="stable")] for k, a in arrays.items()})

    async def _klines(self, method, market_id: str, since_ms: int, until_ms: int) -> list:
        out, start = [], since_ms // CANDLE_MS * CANDLE_MS
        while start < until_ms:
            rows = await retry_rest(lambda s=start: method({"symbol": market_id, "interval": "1m", "startTime": s,
                                                        "endTime": until_ms - 1, "limit": KLINES_PER_CALL}))
            closed = [r for r in rows if int(r[0]) >= since_ms and int(r[0]) + CANDLE_MS <= until_ms]
            out += closed
            if len(rows) < KLINES_PER_CALL:
                break
            start = int(rows[-1][0]) + CANDLE_MS
        return out

    async def _oi_history(self, since_ms: int, until_ms: int) -> list[tuple]:
        out, start = [], since_ms
        while start < until_ms:
            rows = await retry_rest(lambda s=start: self.exchange.fetch_open_interest_history(
                self.symbol, "5m", s, OI_HIST_PER_CALL, {"until": until_ms - 1}))
            for r in rows:
                t = int(r["timestamp"])
                if since_ms <= t < until_ms and r.get("openInterestAmount") is not None:
                    value = r.get("openInterestValue")
                    out.append((t, float(r["openInterestAmount"]), float(value) if value is not None else 0.0))
            if len(rows) < OI_HIST_PER_CALL:
                break
            start = int(rows[-1]["timestamp"]) + 1
        return out



def _merge(ranges: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out
