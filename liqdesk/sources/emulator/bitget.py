"""Bitget USDT-M futures (API v2, and the one v3/UTA topic liqdesk needs), emulated: the REST
endpoints ccxt's ``bitget`` calls and the public websockets, in Bitget's own wire format.

REST (``{"code":"00000","msg":"success","requestTime":..,"data":..}``; errors are Bitget's
``{"code":"400xx","msg":..,"data":null}`` with HTTP 400, a rate limit ``{"code":"429",..}`` with
HTTP 429): ``/api/v2/public/time``; ``/api/v2/spot/public/coins`` (the base and quote coin, what
``fetchCurrencies`` reads); ``/api/v2/mix/market/contracts`` (the emulated symbol under
``productType=USDT-FUTURES``, an empty list under the other product types; ``pricePlace`` and
``priceEndStep`` give the simulator's price step, ``volumePlace``/``sizeMultiplier`` its lot);
``merge-depth``; ``ticker``/``tickers``; ``symbol-price``; ``fills`` (the newest 100) and
``fills-history`` (``startTime``/``endTime`` at most 7 days apart, ``idLessThan``, at most 1,000,
newest first, as Bitget pages it); ``open-interest``; ``candles``, ``history-candles`` and
``history-mark-candles`` (1-minute; ``kLineType`` MARKET, MARK or INDEX; oldest first; within
``[startTime, endTime]`` the newest ``limit``, as Bitget aligns on the end); ``current-fund-rate``,
``history-fund-rate`` (nothing settled in an emulated session), ``funding-time``; and
``query-position-lever``: liqdesk's shipped Bitget tier table (``liqdesk.core.tiers``) as Bitget
lists it (``startUnit``/``endUnit`` in USDT, ``keepMarginRate``, ``leverage``).

Websockets: ``/v2/ws/public`` takes ``{"op":"subscribe","args":[{"instType":"USDT-FUTURES",
"channel":..,"instId":..}]}`` and answers each arg with ``{"event":"subscribe","arg":{..}}`` (or
``{"event":"unsubscribe",..}``, or ``{"event":"error","code":30001,..}`` for a channel or instrument
that does not exist); a text ``ping`` is answered ``pong``. Channels: ``trade`` (a snapshot of the
last 50 trades on subscribe, then every trade, newest first, ``tradeId`` large and not consecutive
like Bitget's), ``ticker`` (on subscribe and at every change of mark, open interest or funding:
``markPrice``, ``indexPrice`` (the index is not simulated: it repeats the mark), ``fundingRate``,
``nextFundingTime``, ``holdingAmount`` = open interest in base coin, best bid/ask, 24 h stats),
``books`` (the full book as a ``snapshot`` on subscribe, then ``update`` diffs; each carries
``seq`` and ``checksum``, the signed CRC32 of ``bid1:size1:ask1:size1:bid2:..`` over the top 25
levels of the book after it, with the price and size strings as sent) and ``books1/5/15``
(snapshots of the top levels). ``/v3/ws/public`` (UTA) serves the ``liquidation`` topic
(``{"instType":"usdt-futures","topic":"liquidation"}``, every symbol of the product type):
once a second, for the second before, the largest liquidation of long positions and the largest
of short positions per symbol (Bitget's sampling), each ``{"symbol","side","price","amount","ts"}``
with ``side`` the liquidated POSITION (``buy`` = a long was liquidated) and ``amount`` in quote
coin (USDT). :attr:`Venue.sent_liquidations` records what was put on the wire (to at least one
subscriber).

Faults beyond the base class's per-message ones: ``gap`` withholds one ``books`` update (the next
update's checksum no longer matches the client's book); ``burst`` gathers every liquidation of the
next ticks (the complete feed, up to its count or for at most 3 s) and sends them in one frame.
"""

from __future__ import annotations

import json
import time
import zlib

import numpy as np
from aiohttp import web

from liqdesk.core.events import KINDS
from liqdesk.core.tiers import load_tiers

from .market import CANDLE_MS, TRADE_WIRE_DTYPE, VenueUpdate
from .venue import VenueEmulator, WsClient, now_ms

PRODUCT_TYPES = ("USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "SUSDT-FUTURES", "SCOIN-FUTURES", "SUSDC-FUTURES")
UTA_TYPES = ("usdt-futures", "coin-futures", "usdc-futures")
V2_CHANNELS = ("trade", "ticker", "books", "books1", "books5", "books15")
#: trades Bitget sends as the snapshot of a new ``trade`` subscription
TRADE_SNAPSHOT = 50
#: trades kept for ``fills``/``fills-history``
TRADES_KEPT = 500_000
CHECKSUM_LEVELS = 25
BURST_WAIT_S = 3.0
FUNDING_EVERY_MS = 8 * 3_600_000
#: Bitget's trade ids are large and not consecutive; the market's consecutive ids map onto them
TRADE_ID_BASE = 1_180_000_000_000_000_000
TRADE_ID_STEP = 4096
MAX_SPAN_MS = 7 * 86_400_000


def num(x: float) -> str:
    """A decimal string that reads back as the same float (Bitget sends numbers as strings)."""
    return np.format_float_positional(float(x), trim="-")


def wire_trade_id(market_id):
    """The Bitget ``tradeId`` of a market trade id (int or numpy array)."""
    return TRADE_ID_BASE + np.asarray(market_id, dtype=np.int64) * TRADE_ID_STEP if not np.isscalar(market_id) \
        else TRADE_ID_BASE + int(market_id) * TRADE_ID_STEP


def market_trade_id(trade_id):
    """The market trade id of a Bitget ``tradeId``."""
    return (np.asarray(trade_id, dtype=np.int64) - TRADE_ID_BASE) // TRADE_ID_STEP


def checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """Bitget's book checksum: signed CRC32 of ``bid1p:bid1q:ask1p:ask1q:bid2p:..`` over the top 25
    levels of each side (a side with fewer levels simply contributes fewer)."""
    parts = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c >= (1 << 31) else c


class Venue(VenueEmulator):
    name = "bitget"
    ccxt_id = "bitget"

    def setup(self) -> None:
        sim = self.market.simulator
        base, _, rest = self.market.symbol.partition("/")
        quote = rest.split(":")[0]
        self.base, self.quote = base, quote
        self.symbol_id = f"{base}{quote}"
        self.tick = float(sim.tick)
        self.lot = float(sim.lot)
        self.price_place = _decimals(self.tick)
        self.volume_place = _decimals(self.lot)
        self._trades: list[np.ndarray] = []                # TRADE_WIRE_DTYPE chunks, oldest first
        # the book as sent: price -> size string, kept apart from the market's (a withheld update
        # still changes the true book; the checksum is always over the true book)
        self.bids: dict[float, str] = {}
        self.asks: dict[float, str] = {}
        self.book_seq = 0
        self.book_ms = 0
        self.gaps_sent = 0
        self.mark: float | None = None
        self.oi: float | None = None
        self.funding_rate: float | None = None
        self.ticker_ms = 0
        self._stats: tuple[int, dict] | None = None
        self.sent_liquidations: list[np.ndarray] = []
        self._liq_pending: dict[tuple[int, int], tuple] = {}
        self._burst_left = 0
        self._burst_since = 0.0
        self._burst_rows: list[np.ndarray] = []
        self._conn_ids = 0
        mix = "/api/v2/mix/market/"
        for path, handler in (("/api/v2/public/time", self.server_time),
                              ("/api/v2/spot/public/coins", self.coins),
                              (mix + "contracts", self.contracts), (mix + "merge-depth", self.merge_depth),
                              (mix + "ticker", self.ticker), (mix + "tickers", self.tickers),
                              (mix + "symbol-price", self.symbol_price), (mix + "fills", self.fills),
                              (mix + "fills-history", self.fills_history), (mix + "open-interest", self.open_interest),
                              (mix + "candles", self.candles), (mix + "history-candles", self.history_candles),
                              (mix + "history-mark-candles", self.history_mark_candles),
                              (mix + "current-fund-rate", self.current_fund_rate),
                              (mix + "history-fund-rate", self.history_fund_rate),
                              (mix + "funding-time", self.funding_time),
                              (mix + "query-position-lever", self.position_tiers)):
            self.route("GET", path, handler)

    # ------------------------------------------------------------------ REST helpers
    def ok(self, data) -> web.Response:
        return self.json({"code": "00000", "msg": "success", "requestTime": now_ms(), "data": data})

    def error(self, code: str, msg: str, status: int = 400) -> web.Response:
        return self.json({"code": code, "msg": msg, "requestTime": now_ms(), "data": None}, status=status)

    async def handle_http(self, request: web.Request, path: str) -> web.StreamResponse:
        if not self.faults.active("refuse", self.name) and self.faults.active("http429", self.name):
            self.requests += 1
            return web.Response(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                                text=f'{{"code":"429","msg":"Too Many Requests","requestTime":{now_ms()},"data":null}}')
        return await super().handle_http(request, path)

    def _check(self, request: web.Request, symbol_required: bool = True) -> web.Response | None:
        """Bitget's checks of ``productType`` and ``symbol``; an error response or None."""
        product = request.query.get("productType")
        if not product:
            return self.error("40019", "Parameter productType cannot be empty")
        if product.upper() not in PRODUCT_TYPES:
            return self.error("40034", f"Parameter {product} does not exist")
        sym = request.query.get("symbol")
        if sym is None or sym == "":
            return self.error("40019", "Parameter symbol cannot be empty") if symbol_required else None
        if product.upper() != "USDT-FUTURES" or sym.upper() != self.symbol_id:
            return self.error("40034", f"Parameter {sym} does not exist")
        return None

    @staticmethod
    def _ints(request: web.Request, *names) -> tuple:
        out = []
        for n in names:
            value = request.query.get(n)
            if value is None or value == "":
                out.append(None)
                continue
            try:
                out.append(int(value))
            except ValueError:
                raise web.HTTPBadRequest(text=f'{{"code":"40020","msg":"Parameter {n} error","data":null}}',
                                         content_type="application/json") from None
        return tuple(out)

    # ------------------------------------------------------------------ REST
    async def server_time(self, request: web.Request) -> web.Response:
        return self.ok({"serverTime": str(now_ms())})

    async def coins(self, request: web.Request) -> web.Response:
        return self.ok([{"coinId": str(i + 1), "coin": c, "transfer": "true", "chains": [], "areaCoin": "no"}
                        for i, c in enumerate(dict.fromkeys((self.base, self.quote)))])

    def _contract(self) -> dict:
        return {
            "symbol": self.symbol_id, "baseCoin": self.base, "quoteCoin": self.quote,
            "buyLimitPriceRatio": "0.05", "sellLimitPriceRatio": "0.05", "feeRateUpRatio": "0.005",
            "makerFeeRate": "0.0002", "takerFeeRate": "0.0006", "openCostUpRatio": "0.01",
            "supportMarginCoins": [self.quote], "minTradeNum": num(self.lot),
            "priceEndStep": str(round(self.tick * 10 ** self.price_place)), "volumePlace": str(self.volume_place),
            "pricePlace": str(self.price_place), "sizeMultiplier": num(self.lot), "symbolType": "perpetual",
            "minTradeUSDT": "5", "maxSymbolOrderNum": "200", "maxProductOrderNum": "400", "maxPositionNum": "150",
            "symbolStatus": "normal", "offTime": "-1", "limitOpenTime": "-1", "deliveryTime": "",
            "deliveryStartTime": "", "deliveryPeriod": "", "launchTime": "1569398400000", "fundInterval": "8",
            "minLever": "1", "maxLever": "125", "posLimit": "0.05", "maintainTime": "",
            "maxMarketOrderQty": num(self.lot * round(1.2e7 / self._price() / self.lot)),
            "maxOrderQty": num(self.lot * round(1e8 / self._price() / self.lot)), "isRwa": "NO",
        }

    def _price(self) -> float:
        st = self.market.venues[self.name]
        return st.mark if st.mark == st.mark else float(self.market.params.start_price)

    async def contracts(self, request: web.Request) -> web.Response:
        product = request.query.get("productType")
        if not product:
            return self.error("40019", "Parameter productType cannot be empty")
        if product.upper() not in PRODUCT_TYPES:
            return self.error("40034", f"Parameter {product} does not exist")
        sym = request.query.get("symbol")
        rows = [self._contract()] if product.upper() == "USDT-FUTURES" else []
        if sym:
            rows = [r for r in rows if r["symbol"] == sym.upper()]
        return self.ok(rows)

    async def merge_depth(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        (limit,) = self._ints(request, "limit")
        limit = 100 if limit is None else min(max(1, limit), 1000)
        bids, asks = self._book_side(self.bids, True)[:limit], self._book_side(self.asks, False)[:limit]
        return self.ok({"asks": [[p, q] for p, q in asks], "bids": [[p, q] for p, q in bids],
                        "precision": "scale0", "scale": num(self.tick), "isMaxPrecision": "YES",
                        "ts": str(self.book_ms or now_ms())})

    def _ticker_fields(self, ws: bool) -> dict:
        st = self.market.venues[self.name]
        mark = self.mark if self.mark is not None else self._price()
        oi = self.oi if self.oi is not None else (st.oi_base if st.oi_base == st.oi_base else 0.0)
        rate = self._funding()
        last = self._last_price() or mark
        bids, asks = self._book_side(self.bids, True), self._book_side(self.asks, False)
        stats = self._day_stats()
        t = self.ticker_ms or self.market.now_ms
        out = {"symbol": self.symbol_id, "lastPr": num(last),
               "askPr": asks[0][0] if asks else num(last), "bidPr": bids[0][0] if bids else num(last),
               "bidSz": bids[0][1] if bids else "0", "askSz": asks[0][1] if asks else "0",
               "high24h": num(stats["high"]), "low24h": num(stats["low"]), "ts": str(t),
               "change24h": num(round(last / stats["open"] - 1, 5)) if stats["open"] else "0",
               "baseVolume": num(stats["volume"]), "quoteVolume": num(stats["quote"]),
               "usdtVolume": num(stats["quote"]), "openUtc": num(stats["open_utc"]),
               "changeUtc24h": num(round(last / stats["open_utc"] - 1, 5)) if stats["open_utc"] else "0",
               "indexPrice": num(mark), "fundingRate": num(rate), "holdingAmount": num(oi),
               "open24h": num(stats["open"]), "markPrice": num(mark),
               "nextFundingTime": str((t // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS)}
        if ws:
            # the websocket push has these fields (Bitget's Tickers-Channel documentation)
            del out["usdtVolume"], out["changeUtc24h"]
            out = {"instId": self.symbol_id, **out, "symbolType": 1, "deliveryPrice": "0"}
        else:
            out.update(deliveryStartTime=None, deliveryTime=None, deliveryStatus="")
        return out

    def _day_stats(self) -> dict:
        """24-hour open/high/low/volume from the 1-minute candles (recomputed once a minute)."""
        minute = self.market.now_ms // CANDLE_MS * CANDLE_MS
        if self._stats is not None and self._stats[0] == minute:
            return self._stats[1]
        st = self.market.venues[self.name]
        keys = [k for k in st.candles if k > minute - 86_400_000]
        price = self._price()
        if keys:
            keys.sort()
            c = [st.candles[k] for k in keys]
            day = minute // 86_400_000 * 86_400_000
            utc = [x for x in c if x[0] >= day]
            stats = {"open": c[0][1], "high": max(x[2] for x in c), "low": min(x[3] for x in c),
                     "volume": sum(x[5] for x in c), "quote": sum(x[7] for x in c),
                     "open_utc": utc[0][1] if utc else c[-1][4]}
        else:
            stats = {"open": price, "high": price, "low": price, "volume": 0.0, "quote": 0.0, "open_utc": price}
        self._stats = (minute, stats)
        return stats

    async def ticker(self, request: web.Request) -> web.Response:
        err = self._check(request)
        return err if err is not None else self.ok([self._ticker_fields(ws=False)])

    async def tickers(self, request: web.Request) -> web.Response:
        err = self._check(request, symbol_required=False)
        if err is not None:
            return err
        product = request.query["productType"].upper()
        return self.ok([self._ticker_fields(ws=False)] if product == "USDT-FUTURES" else [])

    async def symbol_price(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        mark = self.mark if self.mark is not None else self._price()
        last = self._last_price() or mark
        return self.ok([{"symbol": self.symbol_id, "price": num(last), "indexPrice": num(mark),
                         "markPrice": num(mark), "ts": str(self.ticker_ms or now_ms())}])

    def _trade_rows(self, rows: np.ndarray) -> list[dict]:
        """Bitget trade records, newest first."""
        ids = wire_trade_id(rows["id"]).tolist()
        return [{"tradeId": str(i), "price": num(p), "size": num(q), "side": "Buy" if s > 0 else "Sell",
                 "ts": str(t), "symbol": self.symbol_id}
                for i, t, s, p, q in zip(ids[::-1], rows["time_ms"][::-1].tolist(), rows["side"][::-1].tolist(),
                                         rows["price"][::-1].tolist(), rows["size"][::-1].tolist())]

    def _recent(self, n: int | None = None) -> np.ndarray:
        """The trades kept (the newest ``n``), oldest first."""
        if not self._trades:
            return np.empty(0, TRADE_WIRE_DTYPE)
        if len(self._trades) > 1:
            self._trades = [np.concatenate(self._trades)[-TRADES_KEPT:]]
        rows = self._trades[0]
        return rows if n is None else rows[-n:]

    def _last_price(self) -> float | None:
        return float(self._trades[-1]["price"][-1]) if self._trades else None

    async def fills(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        (limit,) = self._ints(request, "limit")
        limit = min(max(1, 100 if limit is None else limit), 100)
        return self.ok(self._trade_rows(self._recent(limit)))

    async def fills_history(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        limit, before, start, end = self._ints(request, "limit", "idLessThan", "startTime", "endTime")
        limit = min(max(1, 500 if limit is None else limit), 1000)
        t_now = self.market.now_ms
        if end is None:
            end = t_now if start is None else start + MAX_SPAN_MS
        if start is None:
            start = end - MAX_SPAN_MS
        if end - start > MAX_SPAN_MS or end < start:
            return self.error("40020", "Parameter startTime/endTime error: the span is at most 7 days")
        rows = self._recent()
        if len(rows):
            keep = (rows["time_ms"] >= start) & (rows["time_ms"] <= end)
            if before is not None:
                keep &= rows["id"] < int(market_trade_id(before))
            rows = rows[keep][-limit:]
        return self.ok(self._trade_rows(rows))

    async def open_interest(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        st = self.market.venues[self.name]
        oi = self.oi if self.oi is not None else (st.oi_base if st.oi_base == st.oi_base else 0.0)
        return self.ok({"openInterestList": [{"symbol": self.symbol_id, "size": num(oi)}],
                        "ts": str(int(st.oi_time_ms) or now_ms())})

    def _candle_args(self, request: web.Request, max_limit: int):
        err = self._check(request)
        if err is not None:
            return None, err
        if request.query.get("granularity") != "1m":
            return None, self.error("40034", f"Parameter {request.query.get('granularity')} does not exist")
        kind = (request.query.get("kLineType") or "MARKET").upper()
        if kind not in ("MARKET", "MARK", "INDEX"):
            return None, self.error("40034", f"Parameter {kind} does not exist")
        limit, start, end = self._ints(request, "limit", "startTime", "endTime")
        limit = min(max(1, 100 if limit is None else limit), max_limit)
        return (kind, limit, start, end), None

    def _candles(self, kind: str, limit: int, start: int | None, end: int | None) -> list[list[str]]:
        st = self.market.venues[self.name]
        source = st.candles if kind == "MARKET" else st.mark_candles
        keys = sorted(source)
        if start is not None:
            keys = [k for k in keys if k >= start // CANDLE_MS * CANDLE_MS]
        if end is not None:
            keys = [k for k in keys if k <= end]
        keys = keys[-limit:]
        out = []
        for k in keys:
            c = source[k]
            if kind == "MARKET":
                out.append([str(k), num(c[1]), num(c[2]), num(c[3]), num(c[4]), num(c[5]), num(c[7])])
            else:
                out.append([str(k), num(c[0]), num(c[1]), num(c[2]), num(c[3]), "0", "0"])
        return out

    async def candles(self, request: web.Request) -> web.Response:
        args, err = self._candle_args(request, 1000)
        return err if err is not None else self.ok(self._candles(*args))

    async def history_candles(self, request: web.Request) -> web.Response:
        args, err = self._candle_args(request, 200)
        return err if err is not None else self.ok(self._candles(*args))

    async def history_mark_candles(self, request: web.Request) -> web.Response:
        args, err = self._candle_args(request, 200)
        return err if err is not None else self.ok(self._candles("MARK", *args[1:]))

    def _funding(self) -> float:
        if self.funding_rate is None:
            # the history's last rate (the market has built its history by the first call)
            self.funding_rate = float(self.market.venues[self.name].funding_rate)
        return self.funding_rate

    async def current_fund_rate(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        t = self.market.now_ms
        return self.ok([{"symbol": self.symbol_id, "fundingRate": num(self._funding()), "fundingRateInterval": "8",
                         "nextUpdate": str((t // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS),
                         "minFundingRate": "-0.003", "maxFundingRate": "0.003"}])

    async def history_fund_rate(self, request: web.Request) -> web.Response:
        err = self._check(request)
        return err if err is not None else self.ok([])

    async def funding_time(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        t = self.market.now_ms
        return self.ok([{"symbol": self.symbol_id, "nextFundingTime": str((t // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS),
                         "ratePeriod": "8"}])

    async def position_tiers(self, request: web.Request) -> web.Response:
        err = self._check(request)
        if err is not None:
            return err
        table = load_tiers(self.name, self.market.symbol)
        return self.ok([{"symbol": self.symbol_id, "level": str(i + 1), "startUnit": num(f), "endUnit": num(c),
                         "leverage": num(lev), "keepMarginRate": num(m)}
                        for i, (f, c, lev, m) in enumerate(zip(table.floor.tolist(), table.cap.tolist(),
                                                               table.max_leverage.tolist(), table.mmr.tolist()))])

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, client: WsClient, request: web.Request) -> None:
        path = client.path.rstrip("/")
        if path not in ("/v2/ws/public", "/v3/ws/public"):
            await client.ws.close(code=1008, message=b"unknown websocket path")
            return
        self._conn_ids += 1
        client.state.update(uta=path.startswith("/v3"), conn_id=f"{self._conn_ids:010d}")

    async def on_message(self, client: WsClient, data) -> None:
        if data == "ping":
            client.put("pong")
            return
        if not isinstance(data, dict) or data.get("op") not in ("subscribe", "unsubscribe") \
                or not isinstance(data.get("args"), list):
            self.send(client, {"event": "error", "code": 30003 if isinstance(data, dict) else 30002,
                               "msg": "Invalid op" if isinstance(data, dict) else "illegal request"})
            return
        op = data["op"]
        for arg in data["args"]:
            topic, err = self._topic(client, arg)
            if err is not None:
                self.send(client, {"event": "error", "arg": arg, "code": 30001, "msg": err, "op": op})
                continue
            ack = {"event": op, "arg": arg}
            if client.state.get("uta"):
                ack["connId"] = client.state["conn_id"]
            if op == "unsubscribe":
                client.topics.discard(topic)
                self.send(client, ack)
                continue
            client.topics.add(topic)
            self.send(client, ack)
            self._on_subscribe(client, topic)

    def _topic(self, client: WsClient, arg) -> tuple[str | None, str | None]:
        """The topic key of a subscription argument, or an error message (Bitget's 30001)."""
        if not isinstance(arg, dict):
            return None, "args must be a list of objects"
        if client.state.get("uta"):
            inst, topic = str(arg.get("instType", "")), arg.get("topic")
            if inst not in UTA_TYPES or topic != "liquidation":
                return None, f"instType:{inst},topic:{topic} doesn't exist"
            return f"{inst}|liquidation", None
        inst, channel, inst_id = str(arg.get("instType", "")), arg.get("channel"), arg.get("instId")
        if inst.upper() not in PRODUCT_TYPES or channel not in V2_CHANNELS or inst.upper() != "USDT-FUTURES" \
                or inst_id != self.symbol_id:
            return None, f"instType:{inst},channel:{channel},instId:{inst_id} doesn't exist"
        return f"{inst.upper()}|{channel}|{inst_id}", None

    def _on_subscribe(self, client: WsClient, topic: str) -> None:
        """What Bitget sends at once on a new subscription: the snapshot of the channel."""
        channel = topic.split("|")[1]
        arg = self._arg(channel)
        if channel == "trade":
            rows = self._recent(TRADE_SNAPSHOT)
            if len(rows):
                self.send(client, self._frame("snapshot", arg, self._trades_json(rows)))
        elif channel == "ticker":
            if self.mark is not None:
                self.send(client, self._frame("snapshot", arg, [self._ticker_fields(ws=True)]))
        elif channel == "books":
            self.send(client, self._book_frame("snapshot", self._book_side(self.bids, True),
                                               self._book_side(self.asks, False)))
        elif channel.startswith("books"):
            self.send(client, self._depth_frame(channel))

    def _arg(self, channel: str) -> dict:
        return {"instType": "USDT-FUTURES", "channel": channel, "instId": self.symbol_id}

    @staticmethod
    def _frame(action: str, arg: dict, data) -> str:
        return json.dumps({"action": action, "arg": arg, "data": data, "ts": now_ms()}, separators=(",", ":"))

    def _trades_json(self, rows: np.ndarray) -> list[dict]:
        ids = wire_trade_id(rows["id"]).tolist()
        return [{"ts": str(t), "price": num(p), "size": num(q), "side": "buy" if s > 0 else "sell", "tradeId": str(i)}
                for i, t, s, p, q in zip(ids[::-1], rows["time_ms"][::-1].tolist(), rows["side"][::-1].tolist(),
                                         rows["price"][::-1].tolist(), rows["size"][::-1].tolist())]

    # ------------------------------------------------------------------ book
    @staticmethod
    def _book_side(side: dict, bids: bool) -> list[tuple[str, str]]:
        keys = sorted(side, reverse=bids)
        return [(num(p), side[p]) for p in keys]

    def _book_frame(self, action: str, bids: list, asks: list) -> str:
        top_b = self._book_side(self.bids, True)[:CHECKSUM_LEVELS]
        top_a = self._book_side(self.asks, False)[:CHECKSUM_LEVELS]
        return self._frame(action, self._arg("books"), [{
            "asks": [[p, q] for p, q in asks], "bids": [[p, q] for p, q in bids],
            "checksum": checksum(top_b, top_a), "seq": self.book_seq, "ts": str(self.book_ms or now_ms())}])

    def _depth_frame(self, channel: str) -> str:
        n = int(channel[5:])
        bids, asks = self._book_side(self.bids, True)[:n], self._book_side(self.asks, False)[:n]
        return self._frame("snapshot", self._arg(channel), [{
            "asks": [[p, q] for p, q in asks], "bids": [[p, q] for p, q in bids],
            "checksum": 0, "seq": self.book_seq, "ts": str(self.book_ms or now_ms())}])

    def _apply(self, levels: list, side: dict) -> list[tuple[str, str]]:
        out = []
        for p, q in levels:
            qs = num(q) if q > 0 else "0"
            if q > 0:
                side[p] = qs
            else:
                side.pop(p, None)
            out.append((num(p), qs))
        return out

    # ------------------------------------------------------------------ publishing
    def _send_topic(self, topic: str, texts: list[str]) -> None:
        if not texts:
            return
        for client in list(self.clients):
            if topic in client.topics:
                for text in texts:
                    self.send(client, text)

    def publish(self, update: VenueUpdate) -> None:
        sym_topic = f"USDT-FUTURES|{{}}|{self.symbol_id}"
        trades = update.trades
        if len(trades):
            self._trades.append(trades)
            self._send_topic(sym_topic.format("trade"),
                             [self._frame("update", self._arg("trade"), self._trades_json(trades))])
        if update.book:
            frames = []
            for bu in update.book:
                bids = self._apply(bu.bids, self.bids)
                asks = self._apply(bu.asks, self.asks)
                self.book_seq, self.book_ms = bu.last_id, bu.time_ms
                if self.faults.take("gap", self.name) is not None:
                    self.gaps_sent += 1
                    continue
                frames.append(self._book_frame("update", bids, asks))
            self._send_topic(sym_topic.format("books"), frames)
            for ch in ("books1", "books5", "books15"):
                if any(sym_topic.format(ch) in c.topics for c in self.clients):
                    self._send_topic(sym_topic.format(ch), [self._depth_frame(ch)])
        tickers = self._tickers(update)
        self._send_topic(sym_topic.format("ticker"), tickers)
        liq = self._liquidations(update)
        if len(liq) and any("usdt-futures|liquidation" in c.topics for c in self.clients):
            self.sent_liquidations.append(liq)
            data = [{"symbol": self.symbol_id, "side": "buy" if side > 0 else "sell", "price": num(p),
                     "amount": num(p * q), "ts": str(t)} for t, _, side, p, q, _ in liq.tolist()]
            text = json.dumps({"data": data, "arg": {"instType": "usdt-futures", "topic": "liquidation"},
                               "action": "update", "ts": now_ms()}, separators=(",", ":"))
            self._send_topic("usdt-futures|liquidation", [text])

    def _tickers(self, update: VenueUpdate) -> list[str]:
        """One ticker per moment the mark, the open interest or the funding rate changed."""
        events: dict[int, dict] = {}
        for t, _, p in update.marks.tolist():
            events.setdefault(int(t), {})["mark"] = p
        for t, _, b, _ in update.open_interest.tolist():
            events.setdefault(int(t), {})["oi"] = b
        for t, _, r in update.funding.tolist():
            events.setdefault(int(t), {})["rate"] = r
        if not events:
            return []
        self._funding()
        if self.oi is None:
            st = self.market.venues[self.name]
            self.oi = st.oi_base if st.oi_base == st.oi_base else None
        out = []
        arg = self._arg("ticker")
        for t in sorted(events):
            ev = events[t]
            self.mark = ev.get("mark", self.mark)
            self.oi = ev.get("oi", self.oi)
            self.funding_rate = ev.get("rate", self.funding_rate)
            self.ticker_ms = t
            if self.mark is None or self.oi is None:
                continue
            out.append(self._frame("snapshot", arg, [self._ticker_fields(ws=True)]))
        return out

    def _liquidations(self, update: VenueUpdate) -> np.ndarray:
        """What goes on the wire this tick: Bitget's sample of each closed second (the largest long
        and the largest short liquidation), or a burst of the complete feed."""
        # taken only while a client listens (a burst sent to nobody tests nothing)
        listened = any("usdt-futures|liquidation" in c.topics for c in self.clients)
        n = self.faults.take("burst", self.name) if listened else None
        if n is not None and not self._burst_left:
            self._burst_left, self._burst_since, self._burst_rows = max(2, int(n)), time.monotonic(), []
        rows = update.liquidations_all
        if self._burst_left:
            if len(rows):
                self._burst_rows.append(rows)
            have = sum(len(r) for r in self._burst_rows)
            if have >= self._burst_left or time.monotonic() - self._burst_since > BURST_WAIT_S:
                out = np.concatenate(self._burst_rows) if self._burst_rows else np.empty(0, KINDS["liquidations"])
                self._burst_left, self._burst_rows = 0, []
                return out
            rows = rows[:0]
        for row in rows.tolist():
            key = (int(row[0]) // 1000, int(row[2]))
            best = self._liq_pending.get(key)
            if best is None or row[4] > best[4]:
                self._liq_pending[key] = tuple(row)
        closed = self.market.now_ms // 1000
        due = sorted(k for k in self._liq_pending if k[0] < closed)
        if not due:
            return np.empty(0, KINDS["liquidations"])
        out = np.array([self._liq_pending.pop(k) for k in due], dtype=KINDS["liquidations"])
        return out[np.argsort(out["time_ms"], kind="stable")]

    def liquidations_on_wire(self) -> np.ndarray:
        """Every liquidation sent to a subscriber so far (before per-message faults), in order."""
        if not self.sent_liquidations:
            return np.empty(0, KINDS["liquidations"])
        return np.concatenate(self.sent_liquidations)


def _decimals(step: float) -> int:
    """Decimal places of a price or size step (2.5 -> 1, 0.001 -> 3, 1e-08 -> 8)."""
    text = np.format_float_positional(float(step), trim="-")
    return len(text.split(".")[1]) if "." in text else 0


__all__ = ["Venue", "checksum", "market_trade_id", "num", "wire_trade_id"]
