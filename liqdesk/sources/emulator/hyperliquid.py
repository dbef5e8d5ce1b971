"""Hyperliquid perpetuals, emulated: the ``POST /info`` requests ccxt's ``hyperliquid`` makes and the
public websocket ``/ws``, in Hyperliquid's own wire format.

Hyperliquid's perpetuals settle in USDC: liqdesk's ``X/USDT:USDT`` is served as the coin ``X``
(ccxt: ``X/USDC:USDC``), the same simulated market.

REST: every read is ``POST /info`` with a JSON body whose ``type`` names it. Served:

- ``meta``: the universe (the emulated coin only, asset index 0) with Hyperliquid's real
  ``szDecimals`` and ``marginTableId`` for the coins listed in :data:`COINS` (BTC 5 and 56, ETH 4
  and 55, SOL 2 and 54, ...; another coin gets ``szDecimals`` from its price), ``maxLeverage`` the
  first tier's, and ``marginTables`` built from liqdesk's shipped Hyperliquid tier table
  (``lowerBound`` of each band and its max leverage, as Hyperliquid publishes them; the shipped
  table is itself a copy of them: BTC 40x, 20x from 150M), ``collateralToken`` 0 (USDC);
- ``metaAndAssetCtxs``: ``[meta, [ctx]]``, the ctx the ``activeAssetCtx`` stream sends (below);
- ``spotMeta`` / ``spotMetaAndAssetCtxs``: USDC only, no spot pairs (ccxt loads them with the
  currencies); ``perpDexs``: ``[null]`` (no builder-deployed dexes);
- ``l2Book``: the top 20 levels a side (all Hyperliquid serves), ``{"coin","time","levels"}``,
  each level ``{"px","sz","n"}``;
- ``candleSnapshot`` (``req``: coin, interval, startTime, endTime): 1-minute candles from the
  simulated trades (coarser intervals aggregated from them), ``{"t","T","s","i","o","c","h","l",
  "v","n"}``, base volume only: Hyperliquid gives no taker split. Only the newest
  :data:`CANDLES_KEPT` candles of an interval are kept, and one answer holds at most
  :data:`CANDLES_PER_ANSWER` (the oldest from ``startTime``);
- ``recentTrades``: the last :data:`RECENT_TRADES` trades (not in Hyperliquid's documentation, but
  served by it and used by clients); ``allMids``; ``exchangeStatus``.

Anything else (a user's state, funding history, ...) is not emulated: 422 with Hyperliquid's
"Failed to deserialize the JSON body into the target type" text, as for a body it cannot read.

Websocket ``/ws``: ``{"method":"subscribe","subscription":{"type":...,"coin":...}}`` is
acknowledged ``{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":...}}``
(``unsubscribe`` likewise); subscribing twice answers ``{"channel":"error","data":"Already
subscribed: ..."}``; ``{"method":"ping"}`` answers ``{"channel":"pong"}``; a connection that sends
nothing for :data:`IDLE_CLOSE_S` is closed, as Hyperliquid does. Channels:

- ``trades``: ``[{"coin","side","px","sz","hash","time","tid","users"}]``, every simulated trade
  (side ``B`` a taker buy, ``A`` a taker sell; ``tid`` the market's trade id; ``hash`` and the two
  ``users`` addresses are made up, deterministic per trade), the trades of a block (:data:`BLOCK_MS`
  of market time) in one frame;
- ``l2Book``: a full snapshot of the top 20 levels (there are no update ids), pushed whether it
  changed or not, as Hyperliquid pushes it every block at least 0.5 s apart: one at each book
  change and each mark time (every simulated second), of the book as it stood then. The book is
  sent at once on subscribing;
- ``activeAssetCtx``: ``{"coin","ctx":{"funding","openInterest","prevDayPx","dayNtlVlm",
  "premium","oraclePx","markPx","midPx","impactPxs","dayBaseVlm"}}`` with every simulated mark, the
  open interest (base coin) and funding rate in force at its time; sent at once on subscribing.
  The simulator has no index, so ``oraclePx`` repeats the mark and ``premium`` is 0; the funding
  rate is the simulator's, as it is. The message carries no time, like Hyperliquid's.

A tick's messages go out in time order, as Hyperliquid sends each block's.

There is **no public liquidation stream** on Hyperliquid: liquidations are not published.

Sizes and prices are sent as the simulator has them (its sizes are finer than ``szDecimals``):
rounding them would make what was sent differ from the market's ledger.

Faults beyond the base class's per-message ones: ``gap`` withholds one ``l2Book`` snapshot (there
is nothing to resync: the next snapshot is whole); ``burst`` holds the trades of the next ticks
back (up to its count, at most :data:`BURST_WAIT_S`) and sends them in one frame, as a block full of
a cascade's fills arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections import deque

import numpy as np
from aiohttp import web

from liqdesk.core.tiers import load_tiers

from .market import TRADE_WIRE_DTYPE, VenueUpdate
from .venue import VenueEmulator, WsClient

#: Hyperliquid's own universe entries (mainnet ``meta``): szDecimals, marginTableId (the max leverage
#: is the first tier's of the table served, the shipped one: 40, 25, 20, 20, 10, 10 for these)
COINS = {"BTC": (5, 56), "ETH": (4, 55), "SOL": (2, 54), "XRP": (0, 53), "DOGE": (0, 52), "BNB": (3, 51)}
#: levels a side in ``l2Book`` (REST and websocket)
BOOK_LEVELS = 20
RECENT_TRADES = 10
CANDLES_KEPT = 5000
CANDLES_PER_ANSWER = 5000
IDLE_CLOSE_S = 60.0
BURST_WAIT_S = 3.0
#: trades of one block (ms of market time) go in one frame
BLOCK_MS = 100
DAY_MS = 86_400_000
#: candle intervals served (ms); "1M" is not emulated
INTERVALS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
             "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": DAY_MS,
             "3d": 3 * DAY_MS, "1w": 7 * DAY_MS}
CHANNELS = ("trades", "l2Book", "activeAssetCtx")
_MASK256 = (1 << 256) - 1
BAD_BODY = "Failed to deserialize the JSON body into the target type"


def num(x: float) -> str:
    """Hyperliquid's decimal strings: positional, a trailing ``.0`` on whole numbers."""
    return np.format_float_positional(float(x), trim="0")


def _wallets(n: int = 2_000) -> list[str]:
    return ["0x" + hashlib.sha256(f"liqdesk-emulated-wallet-{i}".encode()).hexdigest()[:40] for i in range(n)]


class Venue(VenueEmulator):
    name = "hyperliquid"
    ccxt_id = "hyperliquid"

    def setup(self) -> None:
        base = self.market.symbol.partition("/")[0]
        self.coin = base
        self.recent: deque = deque(maxlen=RECENT_TRADES)     # TRADE_WIRE_DTYPE rows, newest last
        self.wallets = _wallets()
        self.gaps_sent = 0
        self.bursts_sent = 0
        self.largest_trades_frame = 0
        self._burst_left = 0
        self._burst_since = 0.0
        self._burst_rows: list[np.ndarray] = []
        self._oi = math.nan                 # open interest and funding in force as of the last ctx sent
        self._funding: float | None = None
        self._mark = math.nan
        self._day_cache: tuple | None = None
        self._replica: tuple[dict, dict] | None = None      # the book as published: bids, asks
        self._replica_id = 0
        self.route("POST", "/info", self.info)

    # ------------------------------------------------------------------ market description
    def _universe_entry(self) -> dict:
        sz, lev, table_id = self._coin_spec()
        return {"szDecimals": sz, "name": self.coin, "maxLeverage": lev, "marginTableId": table_id}

    def _coin_spec(self) -> tuple[int, int, int]:
        """(szDecimals, maxLeverage, marginTableId) of the emulated coin."""
        lev = int(load_tiers(self.name, self.market.symbol).max_leverage[0])
        if self.coin in COINS:
            sz, table_id = COINS[self.coin]
            return sz, lev, table_id
        price = self._price()
        sz = int(min(5, max(0, round(math.log10(price))))) if price > 0 else 0
        return sz, lev, lev

    def _margin_table(self) -> list:
        table = load_tiers(self.name, self.market.symbol)
        tiers = [{"lowerBound": num(f), "maxLeverage": int(lv)} for f, lv in zip(table.floor, table.max_leverage)]
        top = int(table.max_leverage[0])
        desc = f"tiered {top}x" if len(tiers) > 1 else ""
        return [self._coin_spec()[2], {"description": desc, "marginTiers": tiers}]

    def meta(self) -> dict:
        return {"universe": [self._universe_entry()], "marginTables": [self._margin_table()], "collateralToken": 0}

    def _price(self) -> float:
        st = self.market.venues[self.name]
        return st.mark if st.mark == st.mark else float(self.market.params.start_price)

    def _day(self) -> tuple[float, float, float]:
        """(price 24 h ago, notional and base volume of the last 24 h) from the candles."""
        st = self.market.venues[self.name]
        if not st.candles:
            p = self._price()
            return p, 0.0, 0.0
        newest = max(st.candles)
        key = (newest, len(st.candles), st.candles[newest][5])
        if self._day_cache is not None and self._day_cache[0] == key:
            return self._day_cache[1]
        since = newest - DAY_MS
        rows = [c for t, c in st.candles.items() if t > since]
        old = [t for t in st.candles if t <= since]
        prev = st.candles[max(old)][4] if old else min(rows, key=lambda c: c[0])[1]
        out = (float(prev), float(sum(c[7] for c in rows)), float(sum(c[5] for c in rows)))
        self._day_cache = (key, out)
        return out

    def ctx(self, mark: float | None = None, oi: float | None = None, funding: float | None = None) -> dict:
        """The coin's asset context (``activeAssetCtx`` and ``metaAndAssetCtxs``)."""
        st = self.market.venues[self.name]
        mark = self._price() if mark is None else mark
        oi = (st.oi_base if st.oi_base == st.oi_base else 0.0) if oi is None else oi
        funding = self._current_funding() if funding is None else funding
        prev, ntl, base = self._day()
        bids = max(st.bids) if st.bids else None
        asks = min(st.asks) if st.asks else None
        mid = (bids + asks) / 2 if bids is not None and asks is not None else None
        return {"funding": num(funding), "openInterest": num(oi), "prevDayPx": num(prev), "dayNtlVlm": num(ntl),
                "premium": "0.0", "oraclePx": num(mark), "markPx": num(mark),
                "midPx": num(mid) if mid is not None else None,
                "impactPxs": [num(bids), num(asks)] if mid is not None else None, "dayBaseVlm": num(base)}

    def _current_funding(self) -> float:
        if self._funding is None:
            # the history's last rate (the market has built its history by the first call)
            self._funding = float(self.market.venues[self.name].funding_rate)
        return self._funding

    def book(self, time_ms: int | None = None) -> dict:
        """The top of the book as it stands, stamped ``time_ms`` (default: the market's time now)."""
        _, t, bids, asks = self.market.book_snapshot(self.name, BOOK_LEVELS)
        t = max(int(t), int(self.market.now_ms if time_ms is None else time_ms))
        return {"coin": self.coin, "time": t,
                "levels": [[self._level(p, q) for p, q in bids], [self._level(p, q) for p, q in asks]]}

    def _level(self, p: float, q: float) -> dict:
        return {"px": num(p), "sz": num(q), "n": 1 + int(abs(hash(p)) % 5)}

    # ------------------------------------------------------------------ REST
    async def info(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        kind = body.get("type") if isinstance(body, dict) else None
        handler = {"meta": self._meta, "metaAndAssetCtxs": self._meta_and_ctxs, "spotMeta": self._spot_meta,
                   "spotMetaAndAssetCtxs": self._spot_meta_and_ctxs, "perpDexs": self._perp_dexs,
                   "l2Book": self._l2_book, "candleSnapshot": self._candles, "recentTrades": self._recent_trades,
                   "allMids": self._all_mids, "exchangeStatus": self._status}.get(kind)
        if handler is None:
            return web.Response(status=422, text=f"{BAD_BODY}: unknown variant `{kind}`", content_type="text/plain")
        try:
            return self.json(handler(body))
        except (KeyError, TypeError, ValueError) as exc:
            return web.Response(status=422, text=f"{BAD_BODY}: {exc}", content_type="text/plain")

    def _dex_ok(self, body: dict) -> bool:
        return body.get("dex") in (None, "")

    def _meta(self, body: dict):
        return self.meta() if self._dex_ok(body) else None

    def _meta_and_ctxs(self, body: dict):
        return [self.meta(), [self.ctx()]] if self._dex_ok(body) else None

    @staticmethod
    def _spot_tokens() -> dict:
        usdc = {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
                "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054", "isCanonical": True, "evmContract": None,
                "fullName": None}
        return {"tokens": [usdc], "universe": []}

    def _spot_meta(self, body: dict):
        return self._spot_tokens()

    def _spot_meta_and_ctxs(self, body: dict):
        return [self._spot_tokens(), []]

    def _perp_dexs(self, body: dict):
        return [None]

    def _l2_book(self, body: dict):
        if body.get("coin") != self.coin:
            return None
        return self.book()

    def _candles(self, body: dict):
        req = body["req"]
        if req.get("coin") != self.coin:
            return []
        width = INTERVALS.get(req.get("interval"))
        if width is None:
            raise ValueError(f"unknown candle interval {req.get('interval')!r}")
        start = int(req.get("startTime") or 0)
        end = req.get("endTime")
        end = int(end) if end is not None else self.market.now_ms
        st = self.market.venues[self.name]
        minutes = sorted(st.candles)
        buckets: dict[int, list] = {}
        for t in minutes:
            c = st.candles[t]
            b = t // width * width
            agg = buckets.get(b)
            if agg is None:
                buckets[b] = [b, c[1], c[2], c[3], c[4], c[5], c[8]]
            else:
                agg[2], agg[3], agg[4] = max(agg[2], c[2]), min(agg[3], c[3]), c[4]
                agg[5] += c[5]
                agg[6] += c[8]
        keys = sorted(buckets)[-CANDLES_KEPT:]
        keys = [k for k in keys if start <= k <= end][:CANDLES_PER_ANSWER]
        iv = req["interval"]
        return [{"t": k, "T": k + width - 1, "s": self.coin, "i": iv, "o": num(buckets[k][1]), "c": num(buckets[k][4]),
                 "h": num(buckets[k][2]), "l": num(buckets[k][3]), "v": num(buckets[k][5]), "n": int(buckets[k][6])}
                for k in keys]

    def _recent_trades(self, body: dict):
        if body.get("coin") != self.coin:
            return []
        return [self._trade(*row) for row in list(self.recent)]

    def _all_mids(self, body: dict):
        st = self.market.venues[self.name]
        if st.bids and st.asks:
            return {self.coin: num((max(st.bids) + min(st.asks)) / 2)}
        return {self.coin: num(self._price())}

    def _status(self, body: dict):
        return {"specialStatuses": None, "time": int(time.time() * 1000)}

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, client: WsClient, request: web.Request) -> None:
        client.state["last_in"] = time.monotonic()
        if client.path.rstrip("/") != "/ws":
            await client.ws.close(code=1008, message=b"not found")

    async def on_message(self, client: WsClient, data) -> None:
        client.state["last_in"] = time.monotonic()
        if not isinstance(data, dict):
            text = data if isinstance(data, str) else json.dumps(data)
            self.send(client, {"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})
            return
        method = data.get("method")
        if method == "ping":
            self.send(client, {"channel": "pong"})
            return
        if method not in ("subscribe", "unsubscribe"):
            self.send(client, {"channel": "error",
                               "data": f"Error parsing JSON into valid websocket request: {json.dumps(data)}"})
            return
        sub = data.get("subscription")
        kind = sub.get("type") if isinstance(sub, dict) else None
        if kind not in CHANNELS:
            self.send(client, {"channel": "error", "data": f"Invalid subscription {json.dumps(sub)} "
                                                           f"(the emulator serves {', '.join(CHANNELS)})"})
            return
        if sub.get("coin") != self.coin:
            self.send(client, {"channel": "error", "data": f"Invalid subscription {json.dumps(sub)}"})
            return
        if kind == "l2Book":
            if sub.get("nSigFigs") is not None or sub.get("mantissa") is not None:
                self.send(client, {"channel": "error", "data": f"Invalid subscription {json.dumps(sub)} "
                                                               "(the emulator serves full-precision books only)"})
                return
            sub = {"type": "l2Book", "coin": self.coin, "nSigFigs": None, "mantissa": None}
        else:
            sub = {"type": kind, "coin": self.coin}
        if method == "subscribe":
            if kind in client.topics:
                self.send(client, {"channel": "error", "data": f"Already subscribed: {json.dumps(sub)}"})
                return
            client.topics.add(kind)
            self.send(client, {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}})
            if kind == "l2Book":
                self.send(client, {"channel": "l2Book", "data": self.book()})
            elif kind == "activeAssetCtx":
                self.send(client, {"channel": "activeAssetCtx",
                                   "data": {"coin": self.coin, "ctx": self.ctx(self._mark_now(), self._oi_now())}})
            return
        if kind not in client.topics:
            self.send(client, {"channel": "error", "data": f"Already unsubscribed: {json.dumps(sub)}"})
            return
        client.topics.discard(kind)
        self.send(client, {"channel": "subscriptionResponse", "data": {"method": "unsubscribe", "subscription": sub}})

    def _mark_now(self) -> float:
        return self._mark if self._mark == self._mark else self._price()

    def _oi_now(self) -> float:
        if self._oi == self._oi:
            return self._oi
        st = self.market.venues[self.name]
        return st.oi_base if st.oi_base == st.oi_base else 0.0

    # ------------------------------------------------------------------ publishing
    def _trade(self, tid: int, t: int, side: int, p: float, q: float) -> dict:
        w = self.wallets
        buyer = w[(tid * 2654435761) % len(w)]
        seller = w[(tid * 40503 + 7) % len(w)]
        if seller == buyer:
            seller = w[(tid * 40503 + 8) % len(w)]
        return {"coin": self.coin, "side": "B" if side > 0 else "A", "px": num(p), "sz": num(q),
                "hash": f"0x{(tid * 0x9E3779B97F4A7C15F39CC0605CEDC834) & _MASK256:064x}", "time": int(t),
                "tid": int(tid), "users": [buyer, seller]}

    def publish(self, update: VenueUpdate) -> None:
        """The tick's messages in time order (trades a block at a time, the book, a context per
        mark), as Hyperliquid sends each block's."""
        self._close_idle()
        frames: list[tuple[int, int, str, str]] = []          # (time, order at equal times, channel, text)
        if len(update.trades):
            self.recent.extend(update.trades.tolist())       # the exchange's tape, whatever is delivered
        trades, burst = self._trades_out(update)
        if len(trades):
            self.largest_trades_frame = max(self.largest_trades_frame, len(trades))
            blocks = np.zeros(len(trades), np.int64) if burst else trades["time_ms"] // BLOCK_MS
            rows = trades.tolist()
            for b in np.unique(blocks):
                part = [rows[i] for i in np.nonzero(blocks == b)[0]]
                body = ",".join(json.dumps(self._trade(*row), separators=(",", ":")) for row in part)
                frames.append((part[0][1], 0, "trades", f'{{"channel":"trades","data":[{body}]}}'))
        for t, snap in self._book_frames(update):
            if self.faults.take("gap", self.name) is not None:
                self.gaps_sent += 1
            else:
                frames.append((t, 1, "l2Book", json.dumps({"channel": "l2Book", "data": snap}, separators=(",", ":"))))
        if len(update.marks):
            frames += [(t, 2, "activeAssetCtx", text) for t, text in self._contexts(update)]
        elif len(update.open_interest):
            self._oi = float(update.open_interest["oi_base"][-1])
        if len(update.funding) and not len(update.marks):
            self._funding = float(update.funding["rate"][-1])
        frames.sort(key=lambda f: (f[0], f[1]))
        for client in list(self.clients):
            if client.topics:
                for _, _, channel, text in frames:
                    if channel in client.topics:
                        self.send(client, text)

    def _book_frames(self, update: VenueUpdate) -> list[tuple[int, dict]]:
        """Hyperliquid pushes the book every block (at least 0.5 s apart), changed or not: a
        snapshot at each of the tick's book-change and mark times, of the book as it stood then
        (the venue's own copy of the book, kept from the diffs)."""
        times = sorted({bu.time_ms for bu in update.book} | set(update.marks["time_ms"].tolist()))
        if not times:
            return []
        if self._replica is None:
            # the first tick (before any client can be connected): the book as it stands
            last_id, _, bids, asks = self.market.book_snapshot(self.name, 10**9)
            self._replica, self._replica_id = (dict(bids), dict(asks)), last_id
            return [(times[-1], self.book(times[-1]))]
        bids, asks = self._replica
        diffs = [bu for bu in update.book if bu.last_id > self._replica_id]
        out, i = [], 0
        for t in times:
            while i < len(diffs) and diffs[i].time_ms <= t:
                for side, levels in ((bids, diffs[i].bids), (asks, diffs[i].asks)):
                    for p, q in levels:
                        if q > 0:
                            side[p] = q
                        else:
                            side.pop(p, None)
                self._replica_id = diffs[i].last_id
                i += 1
            top_b = sorted(bids.items(), key=lambda x: -x[0])[:BOOK_LEVELS]
            top_a = sorted(asks.items())[:BOOK_LEVELS]
            out.append((t, {"coin": self.coin, "time": int(t),
                            "levels": [[self._level(p, q) for p, q in top_b], [self._level(p, q) for p, q in top_a]]}))
        return out

    def _contexts(self, update: VenueUpdate) -> list[tuple[int, str]]:
        """An activeAssetCtx per mark, with the open interest and funding in force at its time."""
        self._current_funding()
        oi, funding = update.open_interest, update.funding
        oi_t, oi_v = (oi["time_ms"].tolist(), oi["oi_base"].tolist()) if len(oi) else ([], [])
        f_t, f_r = (funding["time_ms"].tolist(), funding["rate"].tolist()) if len(funding) else ([], [])
        i = j = 0
        out = []
        for t, _, p in update.marks.tolist():
            while i < len(oi_t) and oi_t[i] <= t:
                self._oi = oi_v[i]
                i += 1
            while j < len(f_t) and f_t[j] <= t:
                self._funding = f_r[j]
                j += 1
            self._mark = p
            ctx = self.ctx(p, self._oi_now(), self._funding)
            out.append((int(t), json.dumps({"channel": "activeAssetCtx", "data": {"coin": self.coin, "ctx": ctx}},
                                           separators=(",", ":"))))
        if i < len(oi_v):
            self._oi = oi_v[-1]
        if j < len(f_r):
            self._funding = f_r[-1]
        return out

    def _trades_out(self, update: VenueUpdate) -> tuple[np.ndarray, bool]:
        """The trades that go on the wire this tick (and whether they are a burst): all of them, or
        a burst held back and let go in one frame."""
        n = self.faults.take("burst", self.name)
        if n is not None and not self._burst_left:
            self._burst_left, self._burst_since, self._burst_rows = max(2, int(n)), time.monotonic(), []
        if not self._burst_left:
            return update.trades, False
        if len(update.trades):
            self._burst_rows.append(update.trades)
        have = sum(len(r) for r in self._burst_rows)
        if have >= self._burst_left or time.monotonic() - self._burst_since > BURST_WAIT_S:
            rows = np.concatenate(self._burst_rows) if self._burst_rows else np.empty(0, TRADE_WIRE_DTYPE)
            self._burst_left, self._burst_rows = 0, []
            self.bursts_sent += 1
            return rows, True
        return np.empty(0, TRADE_WIRE_DTYPE), False

    def _close_idle(self) -> None:
        now = time.monotonic()
        for client in list(self.clients):
            if now - client.state.get("last_in", now) > IDLE_CLOSE_S and not client.ws.closed:
                client.state["last_in"] = now
                asyncio.ensure_future(client.ws.close(code=1000, message=b"idle"))


__all__ = ["COINS", "Venue", "num"]
