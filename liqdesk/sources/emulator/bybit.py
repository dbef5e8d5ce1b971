"""Bybit v5 linear (USDT perpetuals), emulated in Bybit's own wire format, as ccxt.pro's ``bybit``
parses it (checked against Bybit's API documentation and a real v5 capture,
``shared/data/real/exchange-ws/BYBIT.v3.jsonl.zst``).

REST (``/bybit/v5/market/...``), answered ``{"retCode":0,"retMsg":"OK","result":…,"retExtInfo":{},"time":…}``:

- ``instruments-info?category=linear`` — only the emulated symbol, with Bybit's real tick size,
  quantity step and limits for the shipped symbols (a generic line otherwise); ``status=PreLaunch``
  and other categories answer an empty list (ccxt asks both when it loads linear markets);
- ``time``; ``tickers`` (mark, index, open interest, funding, 24 h statistics: ``fetch_ticker`` and
  ``fetch_funding_rate``); ``orderbook`` (the current book with the same ``u``/``seq`` as the
  websocket deltas);
- ``kline`` and ``mark-price-kline`` (1-minute candles, newest first, at most ``limit`` ≤ 1000
  between ``start`` and ``end``; Bybit gives no taker-buy volume);
- ``open-interest`` (``intervalTime`` 5min … 1d, newest first from ``endTime``, ``limit`` ≤ 200,
  ``nextPageCursor``);
- ``recent-trade`` (``limit`` ≤ 1000, default 500): the newest trades published (the market's
  ledger: a trade a client missed in a stall or a dropped connection is there), newest first,
  ``execId`` the same UUID as the websocket's ``i``;
- ``risk-limit`` — liqdesk's shipped Bybit table (:func:`liqdesk.core.tiers.load_tiers`) as Bybit
  publishes it (``riskLimitValue``, ``maintenanceMargin``, ``initialMargin``, ``maxLeverage``,
  ``mmDeduction``), for ``fetch_market_leverage_tiers``.

Websocket ``/bybit/v5/public/linear``: ``{"op":"subscribe","req_id":…,"args":[topics]}`` is
acknowledged ``{"success":true,"ret_msg":"","conn_id":…,"req_id":…,"op":"subscribe"}`` (likewise
``unsubscribe``; an unknown or already subscribed topic gets ``"success":false``);
``{"op":"ping"}`` is answered ``{"success":true,"ret_msg":"pong",…,"op":"ping"}`` as Bybit's public
linear stream does. Topics:

- ``publicTrade.{sym}``: the tick's trades, ``i`` a UUID-shaped trade id (:func:`trade_uuid` of the
  market's integer id), ``S`` the taker side;
- ``orderbook.50.{sym}``: a snapshot on subscribe, then one delta per change of the top 50 levels
  per side, ``u`` +1 per message (Bybit's update id) and ``seq`` a cross sequence; the ``gap``
  fault withholds one delta (its ``u`` is skipped and its changes are lost to the client, as a lost
  message would be);
- ``tickers.{sym}``: a full snapshot on subscribe, then deltas with only the changed fields
  (``markPrice``/``indexPrice`` every mark, ``openInterest``/``openInterestValue`` every OI
  update, ``fundingRate``/``nextFundingTime``, ``lastPrice`` and ``bid1``/``ask1``). The
  simulator has no index, so ``indexPrice`` is the mark;
- ``allLiquidation.{sym}``: **every** liquidation (``update.liquidations_all``), pushed every
  500 ms in one frame; ``S`` is the side of the liquidated *position* (``Buy`` = a long was
  liquidated), ``p`` the (bankruptcy) price, ``v`` the size. The ``burst`` fault adds ``ARG``
  liquidations (a cascade at the mark, recorded in the market's ledger as published) to one frame.

Prices and sizes are written as the shortest decimal that reads back to the same float, so the
ledger and what a client parses agree exactly.

Replay (``liqdesk emulate --replay``, :mod:`.replay`, a ``BYBIT.v3.jsonl.zst`` capture's linear
connection): the captured messages of the served symbol go out as captured to the subscribers of
their topic; a book subscription at any depth (``orderbook.{1,50,200,1000}.{sym}``) receives the
capture's book topic (``orderbook.200`` in the real capture: ccxt keys books by symbol, not depth).
A subscription made after the capture's own snapshot gets a snapshot built from the capture (its
snapshot plus the deltas since, ``u``/``seq`` of the last delta, so the next delta is ``u`` + 1),
likewise the ticker (the captured snapshot merged with the deltas since). REST: the instrument row
of the capture's own ``instruments-info`` answer, ``tickers`` the merged ticker, ``orderbook`` the
capture's book, ``kline`` candles of the captured trades, ``mark-price-kline`` and
``open-interest`` from the captured tickers. ``gap`` withholds a captured delta; ``burst`` does not
apply (no liquidation in the capture; nothing is invented).
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import OrderedDict

import numpy as np
from aiohttp import web

from liqdesk.core.events import EXCHANGE_ID, KINDS

from .market import CANDLE_MS, VenueUpdate
from .venue import VenueEmulator, WsClient

WS_PATH = "/v5/public/linear"
BOOK_LEVELS = 50
LIQUIDATION_PUSH_S = 0.5
#: update ids (``u``) of the published top-50 book kept for :attr:`Venue.book_views`
BOOK_VIEWS_KEPT = 8192
TRADES_PER_MESSAGE = 100
FUNDING_INTERVAL_MS = 8 * 3_600_000

#: Bybit's linear instruments as ``GET /v5/market/instruments-info?category=linear`` listed them
#: (the real capture above, 2026): priceScale, tickSize, minPrice, maxPrice, qtyStep (= minOrderQty),
#: maxOrderQty, maxMktOrderQty, maxLeverage, launchTime, upperFundingRate.
_INSTRUMENTS = {
    "BTC": ("2", "0.10", "0.10", "1999999.80", "0.001", "1500.000", "150.000", "100.00", "1584230400000", "0.005"),
    "ETH": ("2", "0.01", "0.01", "199999.98", "0.01", "10000.00", "2000.00", "100.00", "1615766400000", "0.005"),
    "SOL": ("3", "0.010", "0.010", "199999.980", "0.1", "96000.0", "12000.0", "100.00", "1634256000000", "0.005"),
    "XRP": ("4", "0.0001", "0.0001", "1999.9998", "0.1", "7500000.0", "1500000.0", "100.00", "1620898440000", "0.005"),
    "BNB": ("2", "0.10", "0.10", "1999999.80", "0.01", "940.00", "370.00", "50.00", "1624951080000", "0.01"),
    "DOGE": ("5", "0.00001", "0.00001", "199.99998", "1", "43678900", "5991100", "75.00", "1622630640000", "0.0058"),
    "HYPE": ("3", "0.001", "0.001", "19999.998", "0.01", "73500.00", "14700.00", "75.00", "1733316740000", "0.0063"),
    "ZEC": ("2", "0.01", "0.01", "199999.98", "0.01", "5500.00", "1100.00", "50.00", "1637712000000", "0.01"),
    "BCH": ("2", "0.10", "0.10", "1999999.80", "0.01", "6500.00", "1300.00", "50.00", "1514764800000", "0.01"),
    "SUI": ("5", "0.00010", "0.00010", "1999.99980", "10", "330000", "66000", "50.00", "1683029724000", "0.01"),
}
#: a symbol Bybit's table above does not have: a plausible small-cap line
_GENERIC = ("4", "0.0001", "0.0001", "1999.9998", "1", "1000000", "200000", "50.00", "1700000000000", "0.01")

_MASK = (1 << 128) - 1
_MULT = 0x9E3779B97F4A7C15F39CC0605CEDC835      # odd: n -> n * _MULT mod 2^128 is a bijection
_INTERVALS_MS = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000, "4h": 14_400_000,
                 "1d": 86_400_000}


def trade_uuid(trade_id: int) -> str:
    """Bybit's trade id ``i`` (a UUID string) for the market's integer trade id; one-to-one."""
    return str(uuid.UUID(int=(int(trade_id) * _MULT + 0x5BD1E995) & _MASK))


def market_id(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``BTCUSDT``."""
    base, _, rest = symbol.partition("/")
    return base + rest.partition(":")[0]


def _num(x: float) -> str:
    """The shortest positional decimal that reads back to the same float (``65114.3``, ``0.00001``)."""
    return np.format_float_positional(float(x), trim="-")


class Venue(VenueEmulator):
    name = "bybit"
    ccxt_id = "bybit"
    replays = True

    def setup(self) -> None:
        sym = self.market.symbol
        self.symbol_id = market_id(sym)
        self.base = sym.partition("/")[0]
        self.instrument = _INSTRUMENTS.get(self.base, _GENERIC)
        self.rng = random.Random(f"bybit-{self.market.params.seed}")
        self.gid = EXCHANGE_ID[self.name]
        # websocket topics this venue serves
        self.topic_trades = f"publicTrade.{self.symbol_id}"
        self.topic_book = f"orderbook.{BOOK_LEVELS}.{self.symbol_id}"
        self.topic_ticker = f"tickers.{self.symbol_id}"
        self.topic_liq = f"allLiquidation.{self.symbol_id}"
        self.topics = {self.topic_trades, self.topic_book, self.topic_ticker, self.topic_liq}
        self.book_topics = {self.topic_book}
        if self.replaying:
            # any book depth gets the capture's book topic; the capture's other topics are served too
            cap = self.market.capture(self.name)
            self.book_topics = {f"orderbook.{n}.{self.symbol_id}" for n in (1, 50, 200, 1000)}
            self.topics |= self.book_topics | {m.stream for m in cap.messages}
        # the published top-50 book, its update id (u, +1 per delta) and the cross sequence
        self.u = 15_000_000 + 1_000 * self.gid
        self.seq = 750_000_000_000
        self._view: tuple[dict, dict] | None = None
        #: u -> (bids high to low, asks low to high) as published: what a client's book is after u
        self.book_views: OrderedDict[int, tuple[tuple, tuple]] = OrderedDict()
        self.gaps_made = 0
        self._last_price: float | None = None
        self._tick_direction = "ZeroPlusTick"
        self._top: dict = {}
        self._pending_liq: list[dict] = []
        self._last_liq_push = time.monotonic()
        self.bursts_sent = 0
        self.rate_limited = 0
        for path, handler in (("/v5/market/time", self._time), ("/v5/market/instruments-info", self._instruments),
                              ("/v5/market/tickers", self._tickers), ("/v5/market/orderbook", self._orderbook),
                              ("/v5/market/kline", self._kline), ("/v5/market/mark-price-kline", self._mark_kline),
                              ("/v5/market/open-interest", self._open_interest),
                              ("/v5/market/recent-trade", self._recent_trade),
                              ("/v5/market/risk-limit", self._risk_limit)):
            self.route("GET", path, handler)

    # ------------------------------------------------------------------ REST
    async def handle_http(self, request: web.Request, path: str) -> web.StreamResponse:
        """The ``http429`` fault in Bybit's words: retCode 10006 "Too many visits!" (ccxt: RateLimitExceeded)."""
        if not self.faults.active("refuse", self.name) and self.faults.active("http429", self.name):
            self.requests += 1
            self.rate_limited += 1
            return web.Response(status=429, headers={"Retry-After": "1", "X-Bapi-Limit-Status": "0",
                                                     "X-Bapi-Limit-Reset-Timestamp": str(self.market.now_ms + 1000)},
                                text=json.dumps({"retCode": 10006, "retMsg": "Too many visits!", "result": {},
                                                 "retExtInfo": {}, "time": self.market.now_ms}),
                                content_type="application/json")
        return await super().handle_http(request, path)

    def _ok(self, result) -> web.Response:
        return self.json({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                          "time": self.market.now_ms})

    def _error(self, code: int, msg: str) -> web.Response:
        return self.json({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": self.market.now_ms})

    def _check(self, request: web.Request, symbol_required: bool = True) -> web.Response | None:
        q = request.query
        if q.get("category") != "linear":
            return self._error(10001, "params error: category only support linear in this emulator")
        sym = q.get("symbol")
        if sym is None and symbol_required:
            return self._error(10001, "params error: symbol is required")
        if sym is not None and sym != self.symbol_id:
            return self._error(10001, "params error: symbol invalid")
        return None

    async def _time(self, request: web.Request) -> web.Response:
        now = self.market.now_ms
        return self._ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})

    def instrument_info(self) -> dict:
        if self.replaying and self.market.capture(self.name).instrument is not None:
            return dict(self.market.capture(self.name).instrument)
        (scale, tick, min_price, max_price, step, max_qty, max_mkt, max_lev, launch, cap) = self.instrument
        return {
            "symbol": self.symbol_id, "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": self.base, "quoteCoin": "USDT", "launchTime": launch, "deliveryTime": "0",
            "deliveryFeeRate": "", "priceScale": scale,
            "leverageFilter": {"minLeverage": "1", "maxLeverage": max_lev, "leverageStep": "0.01"},
            "priceFilter": {"minPrice": min_price, "maxPrice": max_price, "tickSize": tick},
            "lotSizeFilter": {"maxOrderQty": max_qty, "minOrderQty": step, "qtyStep": step,
                              "postOnlyMaxOrderQty": max_qty, "maxMktOrderQty": max_mkt, "minNotionalValue": "5"},
            "unifiedMarginTrade": True, "fundingInterval": FUNDING_INTERVAL_MS // 60_000, "settleCoin": "USDT",
            "copyTrading": "both", "upperFundingRate": cap, "lowerFundingRate": "-" + cap, "isPreListing": False,
            "preListingInfo": None, "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "displayName": "", "symbolType": "", "forbidUplWithdrawal": False,
        }

    async def _instruments(self, request: web.Request) -> web.Response:
        q = request.query
        category = q.get("category", "")
        rows = []
        if (category == "linear" and q.get("status", "Trading") == "Trading"
                and q.get("symbol", self.symbol_id) == self.symbol_id and not q.get("cursor")):
            rows = [self.instrument_info()]
        return self._ok({"category": category, "list": rows, "nextPageCursor": ""})

    async def _tickers(self, request: web.Request) -> web.Response:
        bad = self._check(request, symbol_required=False)
        if bad is not None:
            return bad
        ticker = self.ticker_snapshot()
        return self._ok({"category": "linear", "list": [ticker] if ticker is not None else []})

    async def _orderbook(self, request: web.Request) -> web.Response:
        bad = self._check(request)
        if bad is not None:
            return bad
        limit = _int(request.query.get("limit"), 25, 1, 500)
        if self.replaying:
            book = self.market.capture(self.name).book
            b, a = book.levels(limit)
            return self._ok({"s": self.symbol_id, "b": b, "a": a, "ts": book.time_ms, "u": book.last_id or 0,
                             "seq": book.seq or 0, "cts": book.cts or book.time_ms})
        _, t, bids, asks = self.market.book_snapshot(self.name, limit)
        self._current_view()
        return self._ok({"s": self.symbol_id, "b": [[_num(p), _num(q)] for p, q in bids],
                         "a": [[_num(p), _num(q)] for p, q in asks], "ts": t, "u": self.u, "seq": self.seq, "cts": t})

    def _candle_window(self, table: dict, request: web.Request) -> list[int] | web.Response:
        bad = self._check(request)
        if bad is not None:
            return bad
        q = request.query
        if q.get("interval") != "1":
            return self._error(10001, "params error: this emulator serves interval 1 only")
        limit = _int(q.get("limit"), 200, 1, 1000)
        start, end = _int(q.get("start"), None), _int(q.get("end"), None)
        keys = sorted(table)
        if start is not None:
            keys = [k for k in keys if k >= start // CANDLE_MS * CANDLE_MS]
        if end is not None:
            keys = [k for k in keys if k <= end]
        return keys[-limit:][::-1]      # newest first, the newest `limit` of the window

    async def _kline(self, request: web.Request) -> web.Response:
        candles = self.market.venues[self.name].candles
        keys = self._candle_window(candles, request)
        if isinstance(keys, web.Response):
            return keys
        rows = [[str(k), _num(c[1]), _num(c[2]), _num(c[3]), _num(c[4]), _num(c[5]), _num(c[7])]
                for k in keys for c in (candles[k],)]
        return self._ok({"symbol": self.symbol_id, "category": "linear", "list": rows})

    async def _mark_kline(self, request: web.Request) -> web.Response:
        candles = self.market.venues[self.name].mark_candles
        keys = self._candle_window(candles, request)
        if isinstance(keys, web.Response):
            return keys
        rows = [[str(k), *(_num(x) for x in candles[k])] for k in keys]
        return self._ok({"symbol": self.symbol_id, "category": "linear", "list": rows})

    async def _recent_trade(self, request: web.Request) -> web.Response:
        """The newest ``limit`` (default 500, at most 1000) trades published, newest first, from the
        market's ledger (those a stall or a dropped connection kept from a client included)."""
        bad = self._check(request)
        if bad is not None:
            return bad
        limit = _int(request.query.get("limit"), 500, 1, 1000)
        rows = []
        for part in reversed(self.market.ledger[self.name]["trades"]):
            for tid, t, side, price, size in zip(part["id"][::-1].tolist(), part["time_ms"][::-1].tolist(),
                                                 part["side"][::-1].tolist(), part["price"][::-1].tolist(),
                                                 part["size"][::-1].tolist()):
                rows.append({"execId": tid if self.replaying else trade_uuid(tid), "symbol": self.symbol_id,
                             "price": _num(price), "size": _num(size), "side": "Buy" if side > 0 else "Sell",
                             "time": str(t), "isBlockTrade": False, "isRPITrade": False})
                if len(rows) >= limit:
                    break
            if len(rows) >= limit:
                break
        return self._ok({"category": "linear", "list": rows})

    async def _open_interest(self, request: web.Request) -> web.Response:
        bad = self._check(request)
        if bad is not None:
            return bad
        q = request.query
        step = _INTERVALS_MS.get(q.get("intervalTime", ""))
        if step is None:
            return self._error(10001, "params error: intervalTime invalid")
        limit = _int(q.get("limit"), 50, 1, 200)
        start, end = _int(q.get("startTime"), None), _int(q.get("endTime"), None)
        cursor = _int(q.get("cursor"), None)
        hist = self.market.venues[self.name].oi_history
        keys = [k for k in sorted(hist, reverse=True) if k % step == 0]
        if end is not None:
            keys = [k for k in keys if k <= end]
        if cursor is not None:
            keys = [k for k in keys if k < cursor]
        if start is not None:
            keys = [k for k in keys if k >= start]
        page, more = keys[:limit], len(keys) > limit
        rows = [{"openInterest": _num(hist[k][0]), "timestamp": str(k)} for k in page]
        return self._ok({"symbol": self.symbol_id, "category": "linear", "list": rows,
                         "nextPageCursor": str(page[-1]) if more else ""})

    async def _risk_limit(self, request: web.Request) -> web.Response:
        bad = self._check(request, symbol_required=False)
        if bad is not None:
            return bad
        from liqdesk.core.tiers import load_tiers

        table = load_tiers(self.name, self.market.symbol)
        rows = []
        for i, (cap, mmr, lev, cum) in enumerate(zip(table.cap, table.mmr, table.max_leverage, table.cum)):
            rows.append({"id": i + 1, "symbol": self.symbol_id, "riskLimitValue": _num(cap),
                         "maintenanceMargin": _num(mmr), "initialMargin": _num(round(1.0 / float(lev), 6)),
                         "isLowestRisk": 1 if i == 0 else 0, "maxLeverage": f"{float(lev):.2f}",
                         "mmDeduction": _num(round(float(cum), 6)) if i else ""})
        return self._ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    # ------------------------------------------------------------------ state
    def _current_view(self) -> tuple[dict, dict]:
        """The published top-50 book (initialized from the market's book the first time)."""
        if self._view is None:
            st = self.market.venues[self.name]
            self._view = (_top(st.bids, True), _top(st.asks, False))
            self._remember_view()
        return self._view

    def _remember_view(self) -> None:
        bids, asks = self._view
        self.book_views[self.u] = (tuple(sorted(bids.items(), key=lambda x: -x[0])), tuple(sorted(asks.items())))
        while len(self.book_views) > BOOK_VIEWS_KEPT:
            self.book_views.popitem(last=False)

    def ticker_snapshot(self) -> dict | None:
        if self.replaying:
            ticker = self.market.capture(self.name).ticker
            return dict(ticker) if ticker is not None else None
        st = self.market.venues[self.name]
        now = self.market.now_ms
        bids, asks = self._current_view()
        day = [st.candles[k] for k in sorted(st.candles) if k >= now - 86_400_000]
        hour = [c for c in day if c[0] >= now - 3_600_000]
        last = self._last_price if self._last_price is not None else (day[-1][4] if day else st.mark)
        best_bid = max(bids) if bids else None
        best_ask = min(asks) if asks else None

        def num_or_blank(x):
            return _num(x) if x is not None and math.isfinite(x) else ""

        return {
            "symbol": self.symbol_id, "tickDirection": self._tick_direction,
            "price24hPcnt": _num(round(last / day[0][1] - 1, 6)) if day and last else "0",
            "lastPrice": num_or_blank(last), "prevPrice24h": num_or_blank(day[0][1] if day else last),
            "highPrice24h": num_or_blank(max(c[2] for c in day) if day else last),
            "lowPrice24h": num_or_blank(min(c[3] for c in day) if day else last),
            "prevPrice1h": num_or_blank(hour[0][1] if hour else last),
            "markPrice": num_or_blank(st.mark), "indexPrice": num_or_blank(st.mark),
            "openInterest": num_or_blank(st.oi_base), "openInterestValue": num_or_blank(st.oi_notional),
            "turnover24h": _num(sum(c[7] for c in day)), "volume24h": _num(sum(c[5] for c in day)),
            "fundingIntervalHour": str(FUNDING_INTERVAL_MS // 3_600_000), "fundingCap": self.instrument[9],
            "nextFundingTime": str(_next_funding(now)), "fundingRate": _num(st.funding_rate),
            "bid1Price": num_or_blank(best_bid), "bid1Size": num_or_blank(bids.get(best_bid)),
            "ask1Price": num_or_blank(best_ask), "ask1Size": num_or_blank(asks.get(best_ask)),
            "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
        }

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, client: WsClient, request: web.Request) -> None:
        client.state["conn_id"] = f"{uuid.UUID(int=self.rng.getrandbits(128)).hex[:20]}-{self.rng.randrange(36 ** 5):x}"

    def _reply(self, client: WsClient, op: str, req_id, success: bool = True, msg: str = "") -> None:
        self.send(client, {"success": success, "ret_msg": msg, "conn_id": client.state.get("conn_id", ""),
                           "req_id": "" if req_id is None else str(req_id), "op": op})

    async def on_message(self, client: WsClient, data) -> None:
        if not isinstance(data, dict):
            self._reply(client, "", None, False, "error:request not in json format")
            return
        op, req_id, args = data.get("op"), data.get("req_id"), data.get("args")
        if op == "ping":
            self._reply(client, "ping", req_id, True, "pong")
            return
        if op not in ("subscribe", "unsubscribe"):
            self._reply(client, str(op), req_id, False, f"error:handler not found,op:{op}")
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            self._reply(client, op, req_id, False, "error:args invalid")
            return
        if client.path != WS_PATH:
            self._reply(client, op, req_id, False, f"error:handler not found,topic:{args[0]}")
            return
        if op == "unsubscribe":
            missing = [a for a in args if a not in client.topics]
            client.topics.difference_update(args)
            self._reply(client, op, req_id, not missing, f"error:not subscribed,topic:{missing[0]}" if missing else "")
            return
        bad = [a for a in args if a not in self.topics]
        again = [a for a in args if a in client.topics]
        new = [a for a in args if a in self.topics and a not in client.topics]
        if bad:
            self._reply(client, op, req_id, False, f"error:handler not found,topic:{bad[0]}")
        elif again:
            self._reply(client, op, req_id, False, f"error:already subscribed,topic:{again[0]}")
        else:
            self._reply(client, op, req_id)
        for topic in new:
            client.topics.add(topic)
            if self.replaying:
                self._replay_subscribed(client, topic)
            elif topic == self.topic_book:
                self.send(client, self._book_snapshot_message())
            elif topic == self.topic_ticker:
                self.send(client, {"topic": topic, "type": "snapshot", "data": self.ticker_snapshot(), "cs": self.seq,
                                   "ts": self.market.now_ms})

    def _book_snapshot_message(self) -> dict:
        bids, asks = self._current_view()
        t = self.market.venues[self.name].book_time_ms or self.market.now_ms
        return {"topic": self.topic_book, "type": "snapshot", "ts": t,
                "data": {"s": self.symbol_id,
                         "b": [[_num(p), _num(q)] for p, q in sorted(bids.items(), key=lambda x: -x[0])],
                         "a": [[_num(p), _num(q)] for p, q in sorted(asks.items())],
                         "u": self.u, "seq": self.seq},
                "cts": t}

    def _broadcast(self, topic: str, payload: dict) -> None:
        clients = self.subscribers(topic)
        if clients:
            text = json.dumps(payload, separators=(",", ":"))
            for client in clients:
                self.send(client, text)

    # ------------------------------------------------------------------ publishing
    def publish(self, update: VenueUpdate) -> None:
        self._publish_trades(update.trades)
        top_changed = self._publish_book(update)
        self._publish_ticker(update, top_changed)
        for row in update.liquidations_all:
            self._pending_liq.append({"T": int(row["time_ms"]), "s": self.symbol_id,
                                      "S": "Buy" if row["side"] > 0 else "Sell",
                                      "v": _num(row["size"]), "p": _num(row["price"])})

    def _publish_trades(self, trades: np.ndarray) -> None:
        if not len(trades):
            return
        rows = []
        for tid, t, side, price, size in zip(trades["id"].tolist(), trades["time_ms"].tolist(),
                                             trades["side"].tolist(), trades["price"].tolist(),
                                             trades["size"].tolist()):
            if self._last_price is not None and price != self._last_price:
                self._tick_direction = "PlusTick" if price > self._last_price else "MinusTick"
            elif self._tick_direction in ("PlusTick", "MinusTick"):
                self._tick_direction = "Zero" + self._tick_direction
            self._last_price = price
            self.seq += 1
            rows.append({"T": t, "s": self.symbol_id, "S": "Buy" if side > 0 else "Sell", "v": _num(size),
                         "p": _num(price), "L": self._tick_direction, "i": trade_uuid(tid), "BT": False,
                         "RPI": False, "seq": self.seq})
        if not self.subscribers(self.topic_trades):
            return
        for i in range(0, len(rows), TRADES_PER_MESSAGE):
            chunk = rows[i:i + TRADES_PER_MESSAGE]
            self._broadcast(self.topic_trades, {"topic": self.topic_trades, "type": "snapshot",
                                                "ts": chunk[-1]["T"], "data": chunk})

    def _publish_book(self, update: VenueUpdate) -> bool:
        """One delta for the tick's net change of the top 50 levels; True when the top of book moved."""
        if not update.book:
            return False
        old_bids, old_asks = self._current_view()
        st = self.market.venues[self.name]
        bids, asks = _top(st.bids, True), _top(st.asks, False)
        d_bids = _changes(old_bids, bids, True)
        d_asks = _changes(old_asks, asks, False)
        if not d_bids and not d_asks:
            return False
        moved = _best(old_bids, old_asks) != _best(bids, asks)
        self._view = (bids, asks)
        self.u += 1
        self.seq += len(d_bids) + len(d_asks)
        self._remember_view()
        if self.faults.take("gap", self.name) is not None:
            self.gaps_made += 1       # this delta is lost on its way: u skips, its changes never arrive
            return moved
        t = update.book[-1].time_ms
        self._broadcast(self.topic_book, {"topic": self.topic_book, "type": "delta", "ts": t,
                                          "data": {"s": self.symbol_id,
                                                   "b": [[_num(p), _num(q)] for p, q in d_bids],
                                                   "a": [[_num(p), _num(q)] for p, q in d_asks],
                                                   "u": self.u, "seq": self.seq},
                                          "cts": t})
        return moved

    def _publish_ticker(self, update: VenueUpdate, top_changed: bool) -> None:
        """Ticker deltas: one per distinct time of the tick's marks, open interest and funding, with
        only those fields; a move of the last price or of the top of book rides on the last one."""
        deltas: dict[int, dict] = {}
        for t, p in zip(update.marks["time_ms"].tolist(), update.marks["price"].tolist()):
            deltas.setdefault(t, {})["markPrice"] = _num(p)
            deltas[t]["indexPrice"] = _num(p)
        for t, b, n in zip(update.open_interest["time_ms"].tolist(), update.open_interest["oi_base"].tolist(),
                           update.open_interest["oi_notional"].tolist()):
            deltas.setdefault(t, {})["openInterest"] = _num(b)
            deltas[t]["openInterestValue"] = _num(n)
        for t, r in zip(update.funding["time_ms"].tolist(), update.funding["rate"].tolist()):
            deltas.setdefault(t, {})["fundingRate"] = _num(r)
            deltas[t]["nextFundingTime"] = str(_next_funding(t))
        extra = {}
        if len(update.trades):
            extra["lastPrice"] = _num(self._last_price)
            extra["tickDirection"] = self._tick_direction
        if top_changed:
            bids, asks = self._current_view()
            if bids:
                b = max(bids)
                extra["bid1Price"], extra["bid1Size"] = _num(b), _num(bids[b])
            if asks:
                a = min(asks)
                extra["ask1Price"], extra["ask1Size"] = _num(a), _num(asks[a])
        if extra:
            times = [t for arr in (update.trades, update.marks) if len(arr) for t in (int(arr["time_ms"][-1]),)]
            times += [b.time_ms for b in update.book[-1:]]
            t = max([*deltas, *times]) if (deltas or times) else self.market.now_ms
            deltas.setdefault(t, {}).update(extra)
        if not deltas or not self.subscribers(self.topic_ticker):
            return
        for t in sorted(deltas):
            self._broadcast(self.topic_ticker, {"topic": self.topic_ticker, "type": "delta",
                                                "data": {"symbol": self.symbol_id, **deltas[t]},
                                                "cs": self.seq, "ts": t})

    # ------------------------------------------------------------------ replay
    def replay_topics(self, msg) -> set[str]:
        return self.book_topics if msg.kind == "book" else {msg.stream}

    def _replay_subscribed(self, client: WsClient, topic: str) -> None:
        """What Bybit sends on a subscription, built from the capture as published so far (nothing
        before the capture's own snapshot has gone out: that one is on its way)."""
        cap = self.market.capture(self.name)
        if topic in self.book_topics and cap.book.synced:
            book = cap.book
            b, a = book.levels()
            self.send(client, {"topic": cap.book_stream or self.topic_book, "type": "snapshot", "ts": book.time_ms,
                               "data": {"s": self.symbol_id, "b": b, "a": a, "u": book.last_id, "seq": book.seq},
                               "cts": book.cts or book.time_ms})
        elif topic == self.topic_ticker and cap.ticker is not None:
            cs, ts = cap.ticker_meta
            self.send(client, {"topic": topic, "type": "snapshot", "data": dict(cap.ticker), "cs": cs, "ts": ts})

    def tick_faults(self) -> list:
        todo = super().tick_faults()
        if self.replaying:
            return todo         # no liquidation cadence to keep, no cascade to invent
        now = time.monotonic()
        if now - self._last_liq_push >= LIQUIDATION_PUSH_S:
            self._last_liq_push = now
            self._push_liquidations()
        return todo

    def _push_liquidations(self) -> None:
        """Every 500 ms: every liquidation since the last push, in one frame (Bybit's cadence)."""
        # taken only while a client listens (a burst sent to nobody, a client still subscribing on
        # a loaded machine, tests nothing)
        burst = self.faults.take("burst", self.name) if self.subscribers(self.topic_liq) else None
        if burst is not None:
            self._pending_liq.extend(self._cascade(max(2, int(burst))))
        if not self._pending_liq:
            return
        rows, self._pending_liq = self._pending_liq, []
        self._broadcast(self.topic_liq, {"topic": self.topic_liq, "type": "snapshot", "ts": self.market.now_ms,
                                         "data": rows})

    def _cascade(self, n: int) -> list[dict]:
        """The ``burst`` fault: ``n`` liquidations of one side at once, just through the mark, each a
        distinct size; recorded in the market's ledger as published."""
        st = self.market.venues[self.name]
        mark = st.mark if math.isfinite(st.mark) else (self._last_price or 1.0)
        step = float(self.instrument[4])
        side = self.rng.choice((1, -1))
        t = self.market.now_ms
        out, arr = [], np.zeros(n, KINDS["liquidations"])
        sizes = set()
        for i in range(n):
            size = round(step * max(1, int(self.rng.lognormvariate(3.0, 1.2))), 10)
            while size in sizes:
                size = round(size + step, 10)
            sizes.add(size)
            price = float(_num(round(mark * (1 - side * (0.0002 + 0.0001 * i)), 8)))
            arr[i] = (t, self.gid, side, price, size, price * size)
            out.append({"T": t, "s": self.symbol_id, "S": "Buy" if side > 0 else "Sell", "v": _num(size),
                        "p": _num(price)})
        self.market.ledger[self.name]["liquidations_all"].append(arr)
        self.bursts_sent += 1
        return out


def _top(levels: dict, bids: bool) -> dict:
    keys = sorted(levels, reverse=bids)[:BOOK_LEVELS]
    return {p: levels[p] for p in keys}


def _best(bids: dict, asks: dict) -> tuple:
    b = max(bids) if bids else None
    a = min(asks) if asks else None
    return b, bids.get(b), a, asks.get(a)


def _changes(old: dict, new: dict, bids: bool) -> list:
    out = [(p, q) for p, q in new.items() if old.get(p) != q]
    out += [(p, 0.0) for p in old if p not in new]
    return sorted(out, key=lambda x: -x[0]) if bids else sorted(out)


def _next_funding(t_ms: int) -> int:
    return (int(t_ms) // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def _int(text, default, lo=None, hi=None):
    try:
        value = int(text)
    except (TypeError, ValueError):
        return default
    if lo is not None:
        value = max(lo, value)
    if hi is not None:
        value = min(hi, value)
    return value


__all__ = ["Venue", "market_id", "trade_uuid"]
