"""Binance USDⓈ-M futures, emulated: the REST endpoints ccxt's ``binanceusdm`` calls and the
market-data websocket, in Binance's own wire format.

REST (under ``/fapi/v1`` unless said): ``exchangeInfo`` (the emulated symbol only; price step and
lot are the simulator's, the rest as Binance lists BTCUSDT), ``time``, ``depth`` (snapshot whose
``lastUpdateId`` is the ``u`` of the last diff sent, so ccxt's rule "the first diff kept has
``U <= lastUpdateId <= u`` or ``pu == lastUpdateId``" holds), ``trades`` (the last 1,000),
``aggTrades`` (one aggregate per fill: ``a = f = l`` = trade id), ``openInterest``, ``premiumIndex``,
``klines`` and ``markPriceKlines`` (1-minute; ``klines`` carries taker-buy base volume),
``fundingRate`` (none settled in an emulated session: an empty list), and
``/futures/data/openInterestHist`` (5-minute buckets or coarser multiples). ``leverageBracket``
needs an API key on Binance: it answers ``-2014`` as Binance does without one. Errors use
Binance's ``{"code": -11xx, "msg": ...}`` with HTTP 400.

Websocket (since Binance's 2026 split; the legacy ``/ws`` and ``/stream`` URLs are retired):
``/public/ws[/...]`` and ``/public/stream?streams=...`` carry the high-frequency streams
(``<sym>@depth[@100ms|@250ms|@500ms|@0ms]``, ``<sym>@trade``), ``/market/ws`` and ``/market/stream``
the rest (``<sym>@aggTrade``, ``<sym>@markPrice[@1s]``, ``!markPrice@arr[@1s]``, ``<sym>@forceOrder``,
``!forceOrder@arr``). ``ws`` mode sends raw payloads, ``stream`` mode wraps them as
``{"stream": NAME, "data": PAYLOAD}``. Requests ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS``
are answered ``{"result": null|[...], "id": N}``; a stream of the other category, a bad request or
more than 200 streams are answered ``{"error": {"code": 2, "msg": ...}, "id": N}``. The server
pings every 180 s, as Binance does (ccxt answers; the base class answers the client's pings).

What is published: every trade (``trade`` and ``aggTrade``), every book diff with ``U``/``u``/``pu``,
the mark price every second with the funding rate ``r`` in force then (the index price is not
simulated: ``i`` and ``P`` repeat the mark), and ``forceOrder`` **sampled** as Binance does it (the
latest liquidation per symbol per second: ``update.liquidations_sampled``). ``S`` is the side of
the liquidation *order* (SELL: a long was liquidated); ``q = l = z`` is the size, ``p = ap`` the
price.

Faults beyond the base class's per-message ones: ``gap`` withholds one depth diff (its update ids
are skipped; ccxt sees ``pu`` != its last ``u`` on the next diff); ``burst`` gathers every
liquidation of the next ticks (the complete feed, up to its count or for at most 3 s) and sends
them back to back, several ``forceOrder`` events in one read (it fires once a client listens to a
liquidation stream). :attr:`Venue.sent_liquidations`
records what was put on the wire.

Replay (``liqdesk emulate --replay``, :mod:`.replay`): each captured message goes, as captured, to
the clients subscribed to a stream of its family (``btcusdt@depth@0ms`` in the capture feeds a
``btcusdt@depth@100ms`` subscription: the diffs are the capture's, whatever speed was asked):
``ws`` connections get the captured ``data`` text, combined ones
``{"stream": <the subscribed name>, "data": <it>}``. ``depth`` answers the capture's book as
published so far (its REST snapshot plus the diffs since, ``lastUpdateId`` = the last diff's
``u``), ``trades``/``aggTrades`` the last 1,000 captured trades, ``klines`` candles of the
captured trades; ``exchangeInfo`` lists the captured symbol with the price step and lot its
numbers use. A capture without ``markPrice`` has no mark or funding: ``premiumIndex`` then says
the capture's first trade price and a zero rate (stand-ins), ``openInterest`` answers -1121 as
before the first poll in simulator mode. ``gap`` withholds a captured depth diff; ``burst`` does
not apply (the captures have no liquidations to gather).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from urllib.parse import parse_qs

import numpy as np
from aiohttp import web

from liqdesk.core.events import KINDS

from .market import CANDLE_MS, TRADE_WIRE_DTYPE, VenueUpdate
from .venue import VenueEmulator, WsClient, now_ms

#: streams served on each websocket category, by family (see :func:`stream_family`)
PUBLIC_FAMILIES = {"trade", "depth", "bookTicker"}
MARKET_FAMILIES = {"aggTrade", "markPrice", "markPrice@1s", "forceOrder", "!markPrice@arr", "!markPrice@arr@1s",
                   "!forceOrder@arr", "kline", "ticker", "miniTicker"}
DEPTH_SPEEDS = ("depth", "depth@100ms", "depth@250ms", "depth@500ms", "depth@0ms")
MAX_STREAMS = 200
PING_EVERY_S = 180.0
RECENT_TRADES = 1_000
BURST_WAIT_S = 3.0
FUNDING_EVERY_MS = 8 * 3_600_000
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
OI_PERIODS = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000,
              "4h": 14_400_000, "6h": 21_600_000, "12h": 43_200_000, "1d": 86_400_000}


def num(x: float) -> str:
    """A decimal string that reads back as the same float (Binance sends numbers as strings)."""
    return np.format_float_positional(float(x), trim="-")


def stream_family(name: str, symbol_id: str) -> str | None:
    """``btcusdt@depth@100ms`` -> ``depth``; ``!forceOrder@arr`` -> itself; another symbol or an
    unknown stream -> None."""
    if name.startswith("!"):
        return name if name in MARKET_FAMILIES else None
    sym, _, rest = name.partition("@")
    if sym != symbol_id.lower():
        return None
    if rest in DEPTH_SPEEDS:
        return "depth"
    if rest.startswith("kline_"):
        return "kline"
    if rest in ("trade", "aggTrade", "markPrice", "markPrice@1s", "forceOrder", "bookTicker", "ticker", "miniTicker"):
        return rest
    return None


def stream_category(family: str) -> str:
    return "public" if family in PUBLIC_FAMILIES else "market"


class Venue(VenueEmulator):
    name = "binance"
    ccxt_id = "binanceusdm"
    replays = True

    def setup(self) -> None:
        base, _, rest = self.market.symbol.partition("/")
        quote = rest.split(":")[0]
        self.base, self.quote = base, quote
        self.symbol_id = f"{base}{quote}"
        # the price step and lot: the simulator's, or those the capture's numbers use
        src = self.market.capture(self.name) if self.replaying else self.market.simulator
        self.tick = float(src.tick)
        self.lot = float(src.lot)
        self.recent: deque = deque(maxlen=RECENT_TRADES)    # TRADE_WIRE_DTYPE rows, newest last
        self.funding_rate: float | None = None     # in force as of the last mark sent
        self.gaps_sent = 0
        self.sent_liquidations: list[np.ndarray] = []
        self._burst_left = 0
        self._burst_since = 0.0
        self._burst_rows: list[np.ndarray] = []
        self._last_ping = time.monotonic()
        for path, handler in (("/fapi/v1/exchangeInfo", self.exchange_info), ("/fapi/v1/time", self.server_time),
                              ("/fapi/v1/ping", self.ping), ("/fapi/v1/depth", self.depth),
                              ("/fapi/v1/trades", self.trades), ("/fapi/v1/aggTrades", self.agg_trades),
                              ("/fapi/v1/openInterest", self.open_interest),
                              ("/fapi/v1/premiumIndex", self.premium_index), ("/fapi/v1/klines", self.klines),
                              ("/fapi/v1/markPriceKlines", self.mark_klines),
                              ("/fapi/v1/fundingRate", self.funding_history),
                              ("/futures/data/openInterestHist", self.open_interest_hist),
                              ("/fapi/v1/leverageBracket", self.needs_key),
                              ("/fapi/v2/leverageBracket", self.needs_key)):
            self.route("GET", path, handler)

    # ------------------------------------------------------------------ REST helpers
    def error(self, code: int, msg: str, status: int = 400) -> web.Response:
        return self.json({"code": code, "msg": msg}, status=status)

    def _symbol(self, request: web.Request, required: bool = True) -> tuple[bool, web.Response | None]:
        sym = request.query.get("symbol")
        if sym is None:
            if required:
                return False, self.error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return True, None
        if sym != self.symbol_id:
            return False, self.error(-1121, "Invalid symbol.")
        return True, None

    @staticmethod
    def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
        value = request.query.get(name)
        if value is None or value == "":
            return default
        return int(value)

    def _ints(self, request: web.Request, *names) -> tuple:
        try:
            return tuple(self._int(request, n) for n in names)
        except ValueError:
            raise web.HTTPBadRequest(text='{"code":-1100,"msg":"Illegal characters found in a parameter."}',
                                     content_type="application/json") from None

    # ------------------------------------------------------------------ REST
    async def exchange_info(self, request: web.Request) -> web.Response:
        st = self.market.venues[self.name]
        price = st.mark if st.mark == st.mark else float(self.market.params.start_price)
        price_decimals = max(0, -int(np.floor(np.log10(self.tick) + 1e-9)))
        qty_decimals = max(0, -int(np.floor(np.log10(self.lot) + 1e-9)))
        symbol = {
            "symbol": self.symbol_id, "pair": self.symbol_id, "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
            "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
            "baseAsset": self.base, "quoteAsset": self.quote, "marginAsset": self.quote,
            "pricePrecision": price_decimals, "quantityPrecision": qty_decimals,
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
            "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": num(self.tick * round(price * 0.01 / self.tick)),
                 "maxPrice": num(self.tick * round(price * 20 / self.tick)), "tickSize": num(self.tick)},
                {"filterType": "LOT_SIZE", "stepSize": num(self.lot), "minQty": num(self.lot),
                 "maxQty": num(self.lot * round(1e8 / price / self.lot))},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": num(self.lot), "minQty": num(self.lot),
                 "maxQty": num(self.lot * round(1.2e7 / price / self.lot))},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }
        return self.json({
            "timezone": "UTC", "serverTime": now_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}],
            "exchangeFilters": [],
            "assets": [{"asset": self.quote, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [symbol],
        })

    async def server_time(self, request: web.Request) -> web.Response:
        return self.json({"serverTime": now_ms()})

    async def ping(self, request: web.Request) -> web.Response:
        return self.json({})

    async def needs_key(self, request: web.Request) -> web.Response:
        return self.error(-2014, "API-key format invalid.", status=401)

    async def depth(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        (limit,) = self._ints(request, "limit")
        limit = 500 if limit is None else limit
        if limit not in DEPTH_LIMITS:
            return self.error(-1130, "Data sent for parameter 'limit' is not valid.")
        last_id, book_ms, bids, asks = self.market.book_snapshot(self.name, limit)
        return self.json({"lastUpdateId": last_id, "E": now_ms(), "T": book_ms or now_ms(),
                          "bids": [[num(p), num(q)] for p, q in bids], "asks": [[num(p), num(q)] for p, q in asks]})

    def _recent(self) -> np.ndarray:
        return np.array(list(self.recent), dtype=TRADE_WIRE_DTYPE) if self.recent else np.empty(0, TRADE_WIRE_DTYPE)

    async def trades(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        (limit,) = self._ints(request, "limit")
        limit = min(max(1, 500 if limit is None else limit), 1000)
        rows = self._recent()[-limit:]
        return self.json([{"id": int(r["id"]), "price": num(r["price"]), "qty": num(r["size"]),
                           "quoteQty": num(r["price"] * r["size"]), "time": int(r["time_ms"]),
                           "isBuyerMaker": bool(r["side"] < 0)} for r in rows])

    async def agg_trades(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        limit, from_id, start, end = self._ints(request, "limit", "fromId", "startTime", "endTime")
        limit = min(max(1, 500 if limit is None else limit), 1000)
        rows = self._recent()
        if from_id is not None:
            rows = rows[rows["id"] >= from_id][:limit]
        elif start is not None or end is not None:
            if start is not None:
                rows = rows[rows["time_ms"] >= start]
            if end is not None:
                rows = rows[rows["time_ms"] <= end]
            rows = rows[:limit]
        else:
            rows = rows[-limit:]
        return self.json([{"a": int(r["id"]), "p": num(r["price"]), "q": num(r["size"]), "f": int(r["id"]),
                           "l": int(r["id"]), "T": int(r["time_ms"]), "m": bool(r["side"] < 0)} for r in rows])

    async def open_interest(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        st = self.market.venues[self.name]
        if st.oi_base != st.oi_base:
            return self.error(-1121, "Invalid symbol.")
        return self.json({"openInterest": num(st.oi_base), "symbol": self.symbol_id,
                          "time": int(st.oi_time_ms) or now_ms()})

    def _premium(self) -> dict:
        st = self.market.venues[self.name]
        t = self.market.now_ms
        mark = st.mark if st.mark == st.mark else float(self.market.params.start_price)
        return {"symbol": self.symbol_id, "markPrice": num(mark), "indexPrice": num(mark),
                "estimatedSettlePrice": num(mark), "lastFundingRate": num(self._funding()),
                "interestRate": "0.00010000", "nextFundingTime": (t // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS,
                "time": t}

    async def premium_index(self, request: web.Request) -> web.Response:
        if "symbol" not in request.query:
            return self.json([self._premium()])
        ok, err = self._symbol(request)
        return self.json(self._premium()) if ok else err

    async def funding_history(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request, required=False)
        return self.json([]) if ok else err

    def _kline_args(self, request: web.Request):
        if request.query.get("interval") != "1m":
            return None, self.error(-1120, "Invalid interval.")
        limit, start, end = self._ints(request, "limit", "startTime", "endTime")
        limit = min(max(1, 500 if limit is None else limit), 1500)
        return (limit, start, end), None

    async def klines(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        args, err = self._kline_args(request)
        if err is not None:
            return err
        limit, start, end = args
        out = []
        for t, o, h, lo, c, v, buy, q, n in self.market.candles(self.name, start, limit, end):
            vwap = q / v if v > 0 else c
            out.append([t, num(o), num(h), num(lo), num(c), num(v), t + CANDLE_MS - 1, num(q), int(n), num(buy),
                        num(buy * vwap), "0"])
        return self.json(out)

    async def mark_klines(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        args, err = self._kline_args(request)
        if err is not None:
            return err
        limit, start, end = args
        st = self.market.venues[self.name]
        keys = sorted(st.mark_candles)
        if start is not None:
            keys = [k for k in keys if k >= start // CANDLE_MS * CANDLE_MS]
        if end is not None:
            keys = [k for k in keys if k <= end]
        keys = keys[:limit] if start is not None else keys[-limit:]
        return self.json([[k, *(num(x) for x in st.mark_candles[k]), "0", k + CANDLE_MS - 1, "0", 60, "0", "0", "0"]
                          for k in keys])

    async def open_interest_hist(self, request: web.Request) -> web.Response:
        ok, err = self._symbol(request)
        if not ok:
            return err
        period = OI_PERIODS.get(request.query.get("period", ""))
        if period is None:
            return self.error(-1120, "Invalid period.")
        limit, start, end = self._ints(request, "limit", "startTime", "endTime")
        limit = min(max(1, 30 if limit is None else limit), 500)
        rows = self.market.oi_history(self.name, start, 10**9, end)
        rows = [r for r in rows if r[0] % period == 0]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return self.json([{"symbol": self.symbol_id, "sumOpenInterest": num(b), "sumOpenInterestValue": num(v),
                           "CMCCirculatingSupply": "0", "timestamp": int(t)} for t, b, v in rows])

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, client: WsClient, request: web.Request) -> None:
        parts = [p for p in client.path.split("/") if p]
        category = parts[0] if parts and parts[0] in ("public", "market") else None
        mode = parts[1] if len(parts) > 1 else None
        if category is None or mode not in ("ws", "stream"):
            # the legacy /ws and /stream URLs were retired in April 2026; private needs a listenKey
            await client.ws.close(code=1008, message=b"unknown or retired websocket path")
            return
        client.state.update(category=category, combined=(mode == "stream"))
        names = []
        if mode == "ws" and len(parts) > 2:
            names = ["/".join(parts[2:])]
        streams = parse_qs(request.query_string).get("streams")
        if streams:
            names += streams[0].split("/")
        for name in names:
            fam = stream_family(name, self.symbol_id)
            if fam is None or stream_category(fam) == category:
                client.topics.add(name)

    async def on_message(self, client: WsClient, data) -> None:
        if not isinstance(data, dict):
            self.send(client, {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}, "id": None})
            return
        rid = data.get("id")
        if not (rid is None or (isinstance(rid, int) and not isinstance(rid, bool) and rid >= 0)
                or (isinstance(rid, str) and rid.isalnum() and len(rid) <= 36)):
            self.send(client, {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
                               "id": None})
            return
        method = data.get("method")
        params = data.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            self.send(client, {"result": sorted(client.topics), "id": rid})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            self.send(client, {"error": {"code": 2, "msg": f"Invalid request: unknown variant {method!r}, expected one "
                                                           "of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS"}, "id": rid})
            return
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            self.send(client, {"error": {"code": 2, "msg": "Invalid request: params must be an array of strings"},
                               "id": rid})
            return
        if method == "UNSUBSCRIBE":
            client.topics.difference_update(params)
            self.send(client, {"result": None, "id": rid})
            return
        category = client.state.get("category")
        for name in params:
            fam = stream_family(name, self.symbol_id)
            if fam is not None and stream_category(fam) != category:
                self.send(client, {"error": {"code": 2, "msg": f"Invalid request: stream {name} is not served on "
                                                               f"/{category}; use /{stream_category(fam)}"},
                                   "id": rid})
                return
        if len(client.topics | set(params)) > MAX_STREAMS:
            self.send(client, {"error": {"code": 2, "msg": f"Invalid request: more than {MAX_STREAMS} streams"},
                               "id": rid})
            return
        client.topics.update(params)
        self.send(client, {"result": None, "id": rid})

    def _fanout(self, families: dict[str, list[str]]) -> None:
        """Send each family's payloads (JSON strings) to every client subscribed to one of its streams."""
        for client in list(self.clients):
            if not client.topics:
                continue
            combined = client.state.get("combined", False)
            for name in list(client.topics):
                fam = stream_family(name, self.symbol_id)
                payloads = families.get(fam) if fam else None
                if not payloads:
                    continue
                for text in payloads:
                    self.send(client, f'{{"stream":"{name}","data":{text}}}' if combined else text)

    # ------------------------------------------------------------------ publishing
    def publish(self, update: VenueUpdate) -> None:
        sym = self.symbol_id
        fam: dict[str, list[str]] = {}
        trades = update.trades
        if len(trades):
            self.recent.extend(trades.tolist())
            tr, ag = [], []
            for tid, t, side, p, q in trades.tolist():
                m = "true" if side < 0 else "false"
                ps, qs = num(p), num(q)
                tr.append(f'{{"e":"trade","E":{t},"T":{t},"s":"{sym}","t":{tid},"p":"{ps}","q":"{qs}",'
                          f'"X":"MARKET","m":{m}}}')
                ag.append(f'{{"e":"aggTrade","E":{t},"a":{tid},"s":"{sym}","p":"{ps}","q":"{qs}","f":{tid},'
                          f'"l":{tid},"T":{t},"m":{m}}}')
            fam["trade"], fam["aggTrade"] = tr, ag
        if update.book:
            depth = []
            for bu in update.book:
                if self.faults.take("gap", self.name) is not None:
                    self.gaps_sent += 1
                    continue
                bids = ",".join(f'["{num(p)}","{num(q)}"]' for p, q in bu.bids)
                asks = ",".join(f'["{num(p)}","{num(q)}"]' for p, q in bu.asks)
                depth.append(f'{{"e":"depthUpdate","E":{bu.time_ms},"T":{bu.time_ms},"s":"{sym}","U":{bu.first_id},'
                             f'"u":{bu.last_id},"pu":{bu.prev_last_id},"b":[{bids}],"a":[{asks}]}}')
            fam["depth"] = depth
        if len(update.marks):
            fam.update(self._marks(update))
        liq = self._liquidations(update)
        if len(liq):
            self.sent_liquidations.append(liq)
            fam["forceOrder"] = fam["!forceOrder@arr"] = [
                f'{{"e":"forceOrder","E":{t},"o":{{"s":"{sym}","S":"{"SELL" if side > 0 else "BUY"}","o":"LIMIT",'
                f'"f":"IOC","q":"{num(q)}","p":"{num(p)}","ap":"{num(p)}","X":"FILLED","l":"{num(q)}",'
                f'"z":"{num(q)}","T":{t}}}}}'
                for t, _, side, p, q, _ in liq.tolist()]
        if fam:
            self._fanout(fam)
        self._maybe_ping()

    # ------------------------------------------------------------------ replay
    def publish_raw(self, update) -> None:
        """Captured messages, as captured, to the clients subscribed to a stream of their family."""
        targets = []
        for client in list(self.clients):
            by_family: dict[str, list[str]] = {}
            for name in client.topics:
                fam = stream_family(name, self.symbol_id)
                if fam is not None:
                    by_family.setdefault(fam, []).append(name)
            if by_family:
                targets.append((client, client.state.get("combined", False), by_family))
        for msg in update.messages:
            if msg.kind == "trades" and msg.parsed:
                self.recent.extend(msg.parsed)
            if msg.kind == "book" and self.faults.take("gap", self.name) is not None:
                self.gaps_sent += 1
                self.replay_gaps += 1
                continue
            fam = stream_family(msg.stream, self.symbol_id)
            if fam is None:
                continue
            for client, combined, by_family in targets:
                for name in by_family.get(fam, ()):
                    self.send(client, f'{{"stream":"{name}","data":{msg.text}}}' if combined else msg.text)
        self._maybe_ping()

    def _funding(self) -> float:
        if self.funding_rate is None:
            # the history's last rate (the market has built its history by the first call)
            self.funding_rate = float(self.market.venues[self.name].funding_rate)
        return self.funding_rate

    def _marks(self, update: VenueUpdate) -> dict[str, list[str]]:
        """markPriceUpdate per mark, with the funding rate in force at its time."""
        sym = self.symbol_id
        self._funding()
        funding = update.funding
        f_t = funding["time_ms"].tolist() if len(funding) else []
        f_r = funding["rate"].tolist() if len(funding) else []
        j = 0
        every, slow = [], []
        for t, _, p in update.marks.tolist():
            while j < len(f_t) and f_t[j] <= t:
                self.funding_rate = f_r[j]
                j += 1
            ps = num(p)
            text = (f'{{"e":"markPriceUpdate","E":{t},"s":"{sym}","p":"{ps}","ap":"{ps}","i":"{ps}","P":"{ps}",'
                    f'"r":"{num(self.funding_rate)}","T":{(t // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS}}}')
            every.append(text)
            if (t // 1000) % 3 == 0:
                slow.append(text)
        if j < len(f_r):
            self.funding_rate = f_r[-1]
        # without @1s the streams update every 3 s
        return {"markPrice@1s": every, "markPrice": slow, "!markPrice@arr@1s": [f"[{x}]" for x in every],
                "!markPrice@arr": [f"[{x}]" for x in slow]}

    def _liquidations(self, update: VenueUpdate) -> np.ndarray:
        """What goes on the wire this tick: the sampled feed, or a burst of the complete one."""
        # taken only while a client listens to a liquidation stream (as the OKX venue does): a
        # burst sent to nobody (a client still connecting on a loaded machine) tests nothing
        n = self.faults.take("burst", self.name) if self._liquidations_listened() else None
        if n is not None and not self._burst_left:
            self._burst_left, self._burst_since, self._burst_rows = max(2, int(n)), time.monotonic(), []
        if not self._burst_left:
            return update.liquidations_sampled
        if len(update.liquidations_all):
            self._burst_rows.append(update.liquidations_all)
        have = sum(len(r) for r in self._burst_rows)
        if have >= self._burst_left or time.monotonic() - self._burst_since > BURST_WAIT_S:
            rows = np.concatenate(self._burst_rows) if self._burst_rows else np.empty(0, KINDS["liquidations"])
            self._burst_left, self._burst_rows = 0, []
            return rows
        return np.empty(0, KINDS["liquidations"])

    def _liquidations_listened(self) -> bool:
        """Whether a client is subscribed to ``forceOrder`` or ``!forceOrder@arr``."""
        return any(stream_family(name, self.symbol_id) in ("forceOrder", "!forceOrder@arr")
                   for client in self.clients if not client.ws.closed for name in client.topics)

    def _maybe_ping(self) -> None:
        now = time.monotonic()
        if now - self._last_ping < PING_EVERY_S:
            return
        self._last_ping = now
        if self.faults.active("stall", self.name):
            return
        for client in list(self.clients):
            if not client.ws.closed:
                asyncio.ensure_future(_ping(client))

    def liquidations_on_wire(self) -> np.ndarray:
        """Every liquidation sent so far (before per-message faults), in order."""
        if not self.sent_liquidations:
            return np.empty(0, KINDS["liquidations"])
        return np.concatenate(self.sent_liquidations)


async def _ping(client: WsClient) -> None:
    try:
        await client.ws.ping()
    except (ConnectionResetError, RuntimeError):
        return


__all__ = ["Venue", "num", "stream_family"]
