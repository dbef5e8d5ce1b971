"""OKX v5 (USDT-margined perpetual swaps) in its own wire format, for ccxt.pro's ``okx`` class.

REST (all ``GET``, answered ``{"code":"0","msg":"","data":[...]}`` like OKX):

- ``/api/v5/public/instruments?instType=SWAP``: the emulated market as one ``SWAP`` instrument
  (``BTC-USDT-SWAP``, ...), with OKX's contract value ``ctVal``, ``tickSz``, ``lotSz``, ``minSz``,
  ``lever`` (values of ccxt's static OKX market fixture, ``ts/src/test/static/markets/okx.json``,
  commit 3802e1a; SOL and BCH contract values as in ``resources/tiers/okx.json``; any other base:
  ``ctVal`` 1, approximate). Other ``instType`` lists are empty. ccxt (``fetchMarkets.types=['swap']``)
  calls nothing else to load markets; ``/api/v5/public/time`` is served as well.
- ``/api/v5/market/books`` and ``books-full``: the current book, sizes in contracts.
- ``/api/v5/market/trades`` (the newest ``limit`` ≤ 500 trades, default 100) and
  ``/api/v5/market/history-trades`` (``type`` 1 = paged by ``tradeId``, 2 = by ``ts``; ``after``:
  older than, ``before``: newer than, exclusive; ``limit`` ≤ 100): newest first, from the market's
  ledger of published trades (a trade a client missed in a stall or a dropped connection is
  there), ``sz`` in contracts, ``tradeId`` as on the websocket.
- ``/api/v5/market/candles`` and ``history-candles`` (``bar=1m``; ``after``/``before`` exclusive,
  newest first, at most 300): ``[ts, o, h, l, c, vol (contracts), volCcy (base), volCcyQuote, confirm]``;
  ``mark-price-candles`` and ``history-mark-price-candles`` (at most 100): ``[ts, o, h, l, c, confirm]``.
- ``/api/v5/public/open-interest``: ``oi`` (contracts), ``oiCcy`` (base), ``oiUsd``.
- ``/api/v5/rubik/stat/contracts/open-interest-history`` (``period`` 5m/1H/1D, ``begin``/``end``
  exclusive, at most 100, newest first): ``[ts, oi (contracts), oiCcy, oiUsd]`` — the endpoint
  ccxt 4.5.90's ``fetch_open_interest_history`` calls for a swap.
- ``/api/v5/public/funding-rate``; ``/api/v5/public/position-tiers`` (``instFamily``): liqdesk's
  shipped OKX table (:func:`liqdesk.core.tiers.load_tiers`) turned back into contracts with ``ctVal``.

Websocket ``/ws/v5/public`` (``/ws/v5/business`` accepted too): ``{"op":"subscribe"|"unsubscribe",
"args":[{"channel":..,"instId":..}]}`` answered per argument by ``{"event":"subscribe"|"unsubscribe",
"arg":{..},"connId":..}`` (the unsubscribe acknowledgement is what ccxt's order-book resync waits
for), an unknown channel or instrument by ``{"event":"error","code":"60018",...}``; the text ``ping``
by ``pong``. Channels:

- ``trades``: one message per trade (``tradeId``, ``px``, ``sz`` in contracts, taker ``side``, ``ts``);
- ``books``: on subscribe a ``snapshot`` (``prevSeqId`` -1), then ``update`` diffs whose
  ``prevSeqId`` is the previous message's ``seqId`` (the market's update ids), each with OKX's CRC32
  ``checksum`` of the top 25 levels (signed 32 bits of ``bid:size:ask:size:...``);
- ``mark-price``, ``funding-rate`` (OKX's fields, 8-hour settlement), ``open-interest``
  (``oi``, ``oiCcy``): pushed as the market publishes them, the current value on subscribe;
- ``liquidation-orders`` (``instType`` SWAP): the **sampled** feed (at most one liquidation per
  second, like OKX), ``details`` with ``bkPx``, ``sz`` in contracts, the *order* ``side``
  (sell = a long was liquidated) and ``posSide`` (``long``/``short`` in hedge mode, ``net``).

Faults: ``http429`` answers OKX's ``{"msg":"Too Many Requests","code":"50011"}``; ``gap`` skips one book update (the next ``prevSeqId`` then points at a ``seqId`` the client
never saw); ``burst`` sends the next N liquidations of the complete feed (default 20) in one frame,
one ``details`` entry each — as OKX batches several liquidations of one contract — where ccxt
parses only the first. Liquidations that fall in the same tick are batched that way too. The
per-message faults are the base class's. :attr:`Venue.published_liquidations` records every
liquidation sent to a subscriber (time, liquidated side +1 long, price, size in base).

Replay (``liqdesk emulate --replay``, :mod:`.replay`, an ``OKX.v3.jsonl.zst`` capture): the served
instrument is the capture's perpetual swap, listed with the row of the capture's own
``instruments?instType=SWAP`` answer (the real capture's only swap is the inverse ``UNI-USD-SWAP``,
``ctVal`` 10 USD); its captured messages go out as captured to the subscribers of their
``channel:instId`` (the capture's channels, ``tickers`` included, are accepted). A ``books``
subscription made after the capture's own snapshot gets one built from it (snapshot plus the
updates since, with the captured level strings, OKX's checksum of them, and ``seqId`` when the
capture has seq ids: the 2022 capture has none, so a lost update cannot be noticed by a client).
Channels the capture does not have (``mark-price``, ``funding-rate``, ``open-interest``,
liquidations) are acknowledged and stay silent. REST: ``books`` the capture's book, ``candles``
from the captured trades (contracts = quote volume / ``ctVal`` for an inverse swap),
``open-interest`` and ``funding-rate`` empty unless the capture carried them. ``gap`` withholds a
captured book update; ``burst`` does not apply.
"""

from __future__ import annotations

import json
import math
import secrets
import time
import zlib

import numpy as np
from aiohttp import web

from liqdesk.core.tiers import base_asset, load_tiers

from .market import CANDLE_MS, OI_HISTORY_MS, VenueUpdate
from .venue import VenueEmulator, WsClient, now_ms

#: base -> instrument fields that differ per contract (OKX ``GET /api/v5/public/instruments``):
#: (ctVal, tickSz, lotSz, minSz, lever, maxMktSz). BTC, ETH, XRP, DOGE: ccxt's static OKX market
#: fixture (commit 3802e1a); SOL, BCH: ctVal as sourced in resources/tiers/okx.json, steps by analogy.
INSTRUMENTS: dict[str, tuple[str, str, str, str, str, str]] = {
    "BTC": ("0.01", "0.1", "0.1", "0.1", "100", "12000"),
    "ETH": ("0.1", "0.01", "0.1", "0.1", "100", "20000"),
    "SOL": ("1", "0.01", "0.1", "0.1", "50", "20000"),
    "XRP": ("100", "0.0001", "0.1", "0.1", "50", "15000"),
    "DOGE": ("1000", "0.00001", "0.1", "0.1", "50", "12000"),
    "BCH": ("0.1", "0.01", "0.1", "0.1", "50", "10000"),
}
#: any other base: one contract is one unit of the base (approximate)
GENERIC_INSTRUMENT = ("1", "0.0001", "0.1", "0.1", "50", "10000")
LIST_TIME = "1611916828000"
FUNDING_EVERY_MS = 8 * 3_600_000
#: liquidations of a ``burst`` are flushed when this many wall seconds passed without reaching N
BURST_WAIT_S = 2.0
CHANNELS = ("trades", "books", "mark-price", "funding-rate", "open-interest", "liquidation-orders")


def fmt(x: float) -> str:
    """A number as OKX writes it: positional, no exponent, no trailing zeros."""
    return np.format_float_positional(float(x), trim="-")


def okx_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's order-book checksum: CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25
    levels (a side that runs out is left out), as a signed 32-bit integer."""
    parts = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _int(value, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class Venue(VenueEmulator):
    name = "okx"
    ccxt_id = "okx"
    replays = True

    def setup(self) -> None:
        symbol = self.market.symbol
        self.base = base_asset(symbol)
        quote = symbol.split("/")[1].split(":")[0] if "/" in symbol else "USDT"
        self.family = f"{self.base}-{quote}"
        self.inst_id = f"{self.family}-SWAP"
        spec = INSTRUMENTS.get(self.base, GENERIC_INSTRUMENT)
        self.ct_val_text, self.tick_sz, self.lot_sz, self.min_sz, self.lever, self.max_mkt_sz = spec
        self.ct_val = float(self.ct_val_text)
        self.channels = CHANNELS
        self.captured_instrument: dict | None = None
        self.inverse = False
        if self.replaying:
            cap = self.market.capture(self.name)
            self.inst_id = cap.market_id
            self.family = self.inst_id.rsplit("-", 1)[0]
            self.channels = CHANNELS + tuple(sorted({m.family for m in cap.messages} - set(CHANNELS)))
            row = cap.instrument
            if row is not None:
                self.captured_instrument = dict(row)
                self.ct_val_text = str(row.get("ctVal") or self.ct_val_text)
                self.ct_val = float(self.ct_val_text)
                self.inverse = row.get("ctType") == "inverse"
        self.published_liquidations: list[tuple[int, int, float, float]] = []
        self._burst_left = 0
        self._burst_rows: list = []
        self._burst_since = 0.0
        self._last_mark: tuple[int, float] | None = None
        self._book: tuple[dict, dict] | None = None
        self._book_id: int | None = None
        p = "/api/v5"
        for path, handler in (
            ("/public/instruments", self.rest_instruments), ("/public/time", self.rest_time),
            ("/market/books", self.rest_books), ("/market/books-full", self.rest_books),
            ("/market/candles", self.rest_candles), ("/market/history-candles", self.rest_candles),
            ("/market/mark-price-candles", self.rest_mark_candles),
            ("/market/history-mark-price-candles", self.rest_mark_candles),
            ("/public/open-interest", self.rest_open_interest),
            ("/market/trades", self.rest_trades), ("/market/history-trades", self.rest_history_trades),
            ("/rubik/stat/contracts/open-interest-history", self.rest_oi_history),
            ("/public/funding-rate", self.rest_funding), ("/public/position-tiers", self.rest_tiers),
        ):
            self.route("GET", p + path, handler)

    # ------------------------------------------------------------------ units
    def contracts(self, size_base: float) -> str:
        """Base-currency size -> contracts, as OKX writes them (12 significant digits: the
        simulator's sizes round-trip through ``× ctVal``)."""
        return fmt(float(f"{float(size_base) / self.ct_val:.12g}"))

    @staticmethod
    def ok(data: list) -> web.Response:
        return VenueEmulator.json({"code": "0", "msg": "", "data": data})

    @staticmethod
    def error(code: str, msg: str) -> web.Response:
        return VenueEmulator.json({"code": code, "msg": msg, "data": []})

    def _wrong_inst(self, request: web.Request, key: str = "instId") -> web.Response | None:
        value = request.query.get(key)
        expected = self.family if key in ("instFamily", "uly") else self.inst_id
        if value != expected:
            return self.error("51001", f"Instrument ID, Instrument ID code, or Spread ID doesn't exist. ({value})")
        return None

    # ------------------------------------------------------------------ REST
    def instrument(self) -> dict:
        if self.captured_instrument is not None:
            return dict(self.captured_instrument)
        return {
            "alias": "", "auctionEndTime": "", "baseCcy": "", "category": "1", "contTdSwTime": LIST_TIME,
            "ctMult": "1", "ctType": "linear", "ctVal": self.ct_val_text, "ctValCcy": self.base, "expTime": "",
            "futureSettlement": False, "instFamily": self.family, "instId": self.inst_id, "instType": "SWAP",
            "lever": self.lever, "listTime": LIST_TIME, "lotSz": self.lot_sz, "maxIcebergSz": "100000000.0000000000000000",
            "maxLmtAmt": "20000000", "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": self.max_mkt_sz,
            "maxStopSz": self.max_mkt_sz, "maxTriggerSz": "100000000.0000000000000000",
            "maxTwapSz": "100000000.0000000000000000", "minSz": self.min_sz, "openType": "", "optType": "",
            "quoteCcy": "", "ruleType": "normal", "settleCcy": self.family.split("-")[1], "state": "live", "stk": "",
            "tickSz": self.tick_sz, "tradeQuoteCcyList": [], "uly": self.family,
        }

    async def rest_instruments(self, request: web.Request) -> web.Response:
        kind = request.query.get("instType", "")
        if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            return self.error("51000", "Parameter instType error")
        if kind != "SWAP":
            return self.ok([])
        inst = request.query.get("instId")
        if inst and inst != self.inst_id:
            return self.ok([])
        return self.ok([self.instrument()])

    async def rest_time(self, request: web.Request) -> web.Response:
        return self.ok([{"ts": str(now_ms())}])

    def _levels(self, levels, depth: int) -> list[list[str]]:
        return [[fmt(p), self.contracts(q), "0", str(_orders(q))] for p, q in levels[:depth]]

    async def rest_books(self, request: web.Request) -> web.Response:
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        depth = min(max(_int(request.query.get("sz"), 1) or 1, 1), 5000)
        if self.replaying:
            book = self.market.capture(self.name).book
            b, a = book.levels(depth)
            return self.ok([{"asks": a, "bids": b, "ts": str(book.time_ms or now_ms())}])
        last_id, t, bids, asks = self.market.book_snapshot(self.name, depth)
        return self.ok([{"asks": self._levels(asks, depth), "bids": self._levels(bids, depth), "ts": str(t or now_ms())}])

    def _window(self, keys: list[int], request: web.Request, lo_key: str, hi_key: str, cap: int) -> list[int]:
        """Keys strictly between ``lo_key`` and ``hi_key`` (OKX's exclusive bounds), newest first,
        at most ``limit`` (default 100, at most ``cap``)."""
        lo, hi = _int(request.query.get(lo_key)), _int(request.query.get(hi_key))
        limit = _limit(request.query, cap)
        keys = [k for k in keys if (lo is None or k > lo) and (hi is None or k < hi)]
        return sorted(keys, reverse=True)[:limit]

    def _bad_candle_request(self, request: web.Request) -> web.Response | None:
        """OKX's error for a candle request on another instrument or bar (None: a good one)."""
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        if request.query.get("bar", "1m") != "1m":
            return self.error("51000", "Parameter bar error (the emulator serves 1m)")
        return None

    async def rest_candles(self, request: web.Request) -> web.Response:
        if (bad := self._bad_candle_request(request)) is not None:
            return bad
        st = self.market.venues[self.name]
        now = self.market.now_ms
        rows = []
        for k in self._window(list(st.candles), request, "before", "after", 300):
            c = st.candles[k]
            # contracts: base / ctVal; an inverse swap's contract is ctVal of quote: quote volume / ctVal
            vol = fmt(float(f"{c[7] / self.ct_val:.12g}")) if self.inverse else self.contracts(c[5])
            rows.append([str(k), fmt(c[1]), fmt(c[2]), fmt(c[3]), fmt(c[4]), vol, fmt(c[5]),
                         fmt(c[7]), "1" if k + CANDLE_MS <= now else "0"])
        return self.ok(rows)

    def _trades_newest_first(self, limit: int, below: int | None = None, above: int | None = None,
                             by_time: bool = False) -> list[dict]:
        """Published trades (the market's ledger: those a client missed included), newest first, at
        most ``limit``, with ids (or times, ``by_time``) strictly between ``above`` and ``below``."""
        out = []
        for part in reversed(self.market.ledger[self.name]["trades"]):
            for tid, t, side, price, size in zip(part["id"][::-1].tolist(), part["time_ms"][::-1].tolist(),
                                                 part["side"][::-1].tolist(), part["price"][::-1].tolist(),
                                                 part["size"][::-1].tolist()):
                key = t if by_time else int(tid)
                if below is not None and key >= below:
                    continue
                if above is not None and key <= above:
                    return out
                # replay: sizes as on the wire (contracts); simulated: base -> contracts
                sz = fmt(size) if self.replaying else self.contracts(size)
                out.append({"instId": self.inst_id, "side": "buy" if side > 0 else "sell", "sz": sz, "px": fmt(price),
                            "source": "0", "tradeId": str(tid), "ts": str(int(t))})
                if len(out) >= limit:
                    return out
        return out

    async def rest_trades(self, request: web.Request) -> web.Response:
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        limit = _limit(request.query, 500)
        return self.ok(self._trades_newest_first(limit))

    async def rest_history_trades(self, request: web.Request) -> web.Response:
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        q = request.query
        kind = q.get("type", "1")
        if kind not in ("1", "2"):
            return self.error("51000", "Parameter type error")
        limit = _limit(q, 100)
        after, before = _int(q.get("after")), _int(q.get("before"))
        return self.ok(self._trades_newest_first(limit, below=after, above=before, by_time=kind == "2"))

    async def rest_mark_candles(self, request: web.Request) -> web.Response:
        if (bad := self._bad_candle_request(request)) is not None:
            return bad
        st = self.market.venues[self.name]
        now = self.market.now_ms
        rows = []
        for k in self._window(list(st.mark_candles), request, "before", "after", 100):
            o, h, lo, c = st.mark_candles[k]
            rows.append([str(k), fmt(o), fmt(h), fmt(lo), fmt(c), "1" if k + CANDLE_MS <= now else "0"])
        return self.ok(rows)

    async def rest_open_interest(self, request: web.Request) -> web.Response:
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        st = self.market.venues[self.name]
        if not math.isfinite(st.oi_base):
            return self.ok([])
        return self.ok([self._oi_item(st.oi_time_ms, st.oi_base, st.oi_notional, usd=True)])

    def _oi_item(self, t: int, oi_base: float, oi_notional: float, usd: bool) -> dict:
        item = {"instId": self.inst_id, "instType": "SWAP", "oi": self.contracts(oi_base), "oiCcy": fmt(oi_base)}
        if usd:
            item["oiUsd"] = fmt(oi_notional)
        item["ts"] = str(int(t))
        return item

    async def rest_oi_history(self, request: web.Request) -> web.Response:
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        period = {"5m": OI_HISTORY_MS, "1H": 3_600_000, "1D": 86_400_000}.get(request.query.get("period", "5m"))
        if period is None:
            return self.error("50014", "Parameter period error")
        hist = self.market.venues[self.name].oi_history
        buckets: dict[int, tuple[float, float]] = {}
        for k in sorted(hist):        # the last 5-minute value of each period
            buckets[k // period * period] = hist[k]
        rows = [[str(k), self.contracts(buckets[k][0]), fmt(buckets[k][0]), fmt(buckets[k][1])]
                for k in self._window(list(buckets), request, "begin", "end", 100)]
        return self.ok(rows)

    def _funding_item(self, t: int, rate: float) -> dict:
        nxt = (int(t) // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS
        return {"fundingRate": fmt(rate), "fundingTime": str(nxt), "impactValue": "", "instId": self.inst_id,
                "instType": "SWAP", "interestRate": "0.0001", "maxFundingRate": "0.0075", "method": "current_period",
                "minFundingRate": "-0.0075", "nextFundingRate": "", "nextFundingTime": str(nxt + FUNDING_EVERY_MS),
                "premium": "", "settFundingRate": fmt(rate), "settState": "settled", "ts": str(int(t))}

    async def rest_funding(self, request: web.Request) -> web.Response:
        if (bad := self._wrong_inst(request)) is not None:
            return bad
        if self.replaying and not self.market.capture(self.name).has["funding"]:
            return self.ok([])
        return self.ok([self._funding_item(self.market.now_ms, self.market.venues[self.name].funding_rate)])

    async def rest_tiers(self, request: web.Request) -> web.Response:
        if request.query.get("instType") != "SWAP":
            return self.error("51000", "Parameter instType error (the emulator serves SWAP)")
        if (bad := self._wrong_inst(request, "instFamily" if "instFamily" in request.query else "uly")) is not None:
            return bad
        return self.ok(self.position_tiers())

    def position_tiers(self) -> list[dict]:
        """liqdesk's shipped OKX table as OKX publishes it: bands in contracts (base / ctVal; a
        notional-based generic table through the current mark), ``imr`` = 1 / max leverage."""
        table = load_tiers("okx", self.market.symbol)
        mark = self.market.venues[self.name].mark
        if table.basis == "size":
            floor, cap = table.floor / self.ct_val, table.cap / self.ct_val
        else:
            mark = mark if math.isfinite(mark) and mark > 0 else 1.0
            floor, cap = table.floor / mark / self.ct_val, table.cap / mark / self.ct_val
        out = []
        for i in range(len(floor)):
            lo = 0.0 if i == 0 else float(f"{cap[i - 1]:.10g}")
            out.append({"baseMaxLoan": "", "imr": fmt(round(1.0 / table.max_leverage[i], 10)), "instFamily": self.family,
                        "instId": "", "maxLever": fmt(table.max_leverage[i]), "maxSz": fmt(float(f"{cap[i]:.10g}")),
                        "minSz": fmt(lo), "mmr": fmt(table.mmr[i]), "optMgnFactor": "0", "quoteMaxLoan": "",
                        "tier": str(i + 1), "uly": self.family})
        return out

    async def handle_http(self, request: web.Request, path: str) -> web.StreamResponse:
        response = await super().handle_http(request, path)
        if response.status == 429:      # the ``http429`` fault, in OKX's words (code 50011)
            return web.Response(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                                text='{"msg":"Too Many Requests","code":"50011"}')
        return response

    # ------------------------------------------------------------------ websocket
    async def on_connect(self, client: WsClient, request: web.Request) -> None:
        client.state["connId"] = secrets.token_hex(4)

    async def on_message(self, client: WsClient, data) -> None:
        if data == "ping":
            self.send(client, "pong")
            return
        conn = client.state.get("connId", "")
        if not isinstance(data, dict) or data.get("op") not in ("subscribe", "unsubscribe") \
                or not isinstance(data.get("args"), list):
            text = data if isinstance(data, str) else _dumps(data)
            self.send(client, {"event": "error", "code": "60012", "msg": f"Invalid request: {text[:200]}",
                               "connId": conn})
            return
        op = data["op"]
        for arg in data["args"]:
            topic = self._topic(arg)
            if topic is None:
                self.send(client, {"event": "error", "code": "60018",
                                   "msg": f"Wrong URL or channel:{_dumps(arg)[:120]} doesn't exist.", "connId": conn})
                continue
            reply = {"event": op, "arg": arg, "connId": conn}
            if "id" in data:
                reply = {"id": data["id"], **reply}
            if op == "unsubscribe":
                client.topics.discard(topic)
                self.send(client, reply)
                continue
            client.topics.add(topic)
            self.send(client, reply)
            self._initial_push(client, arg["channel"])

    def _topic(self, arg) -> str | None:
        if not isinstance(arg, dict) or arg.get("channel") not in self.channels:
            return None
        channel = arg["channel"]
        if channel == "liquidation-orders":
            return "liquidation-orders:SWAP" if arg.get("instType") == "SWAP" else None
        return f"{channel}:{self.inst_id}" if arg.get("instId") == self.inst_id else None

    def _arg(self, channel: str) -> dict:
        return {"channel": channel, "instId": self.inst_id}

    def _initial_push(self, client: WsClient, channel: str) -> None:
        """What OKX sends right after a subscription: the book snapshot, the latest value."""
        st = self.market.venues[self.name]
        if self.replaying:
            self._replay_initial_push(client, channel)
            return
        if channel == "books":
            last_id, t, bids, asks = self.market.book_snapshot(self.name, 400)
            b, a = self._levels(bids, 400), self._levels(asks, 400)
            client.state["books_seq"] = last_id
            self.send(client, {"arg": self._arg("books"), "action": "snapshot", "data": [{
                "asks": a, "bids": b, "ts": str(t or self.market.now_ms),
                "checksum": okx_checksum([(x[0], x[1]) for x in b], [(x[0], x[1]) for x in a]),
                "prevSeqId": -1, "seqId": last_id}]})
        elif channel == "mark-price" and (self._last_mark or math.isfinite(st.mark)):
            t, px = self._last_mark or (self.market.now_ms, st.mark)
            self.send(client, self._mark_msg(t, px))
        elif channel == "funding-rate":
            self.send(client, {"arg": self._arg("funding-rate"),
                               "data": [self._funding_item(self.market.now_ms, st.funding_rate)]})
        elif channel == "open-interest" and math.isfinite(st.oi_base):
            self.send(client, {"arg": self._arg("open-interest"),
                               "data": [self._oi_item(st.oi_time_ms, st.oi_base, st.oi_notional, usd=False)]})

    def _replay_initial_push(self, client: WsClient, channel: str) -> None:
        """Replay: the book snapshot built from the capture (once the capture's own went out) and
        the latest captured mark, funding rate, open interest; nothing the capture lacks."""
        cap = self.market.capture(self.name)
        st = self.market.venues[self.name]
        if cap.book_stream == f"{channel}:{self.inst_id}" and cap.book.synced:
            book = cap.book
            b, a = book.levels(400)
            item = {"asks": a, "bids": b, "ts": str(book.time_ms),
                    "checksum": okx_checksum([(x[0], x[1]) for x in b], [(x[0], x[1]) for x in a])}
            if book.last_id is not None:
                item.update(prevSeqId=-1, seqId=book.last_id)
            self.send(client, {"arg": self._arg(channel), "action": "snapshot", "data": [item]})
        elif channel == "mark-price" and cap.has["marks"] and math.isfinite(st.mark):
            self.send(client, self._mark_msg(self.market.now_ms, st.mark))
        elif channel == "funding-rate" and cap.has["funding"]:
            self.send(client, {"arg": self._arg("funding-rate"),
                               "data": [self._funding_item(self.market.now_ms, st.funding_rate)]})
        elif channel == "open-interest" and cap.has["open_interest"] and math.isfinite(st.oi_base):
            self.send(client, {"arg": self._arg("open-interest"),
                               "data": [self._oi_item(st.oi_time_ms, st.oi_base, st.oi_notional, usd=False)]})

    def _mark_msg(self, t: int, px: float) -> dict:
        return {"arg": self._arg("mark-price"),
                "data": [{"instId": self.inst_id, "instType": "SWAP", "markPx": fmt(px), "ts": str(int(t))}]}

    def _fanout(self, topic: str, payloads) -> None:
        subs = self.subscribers(topic)
        if not subs:
            return
        for payload in payloads:
            text = _dumps(payload)
            for c in subs:
                self.send(c, text)

    # ------------------------------------------------------------------ publishing
    def publish(self, update: VenueUpdate) -> None:
        inst = self.inst_id
        if len(update.trades):
            self._fanout(f"trades:{inst}", ({"arg": self._arg("trades"), "data": [{
                "instId": inst, "tradeId": str(int(r["id"])), "px": fmt(r["price"]), "sz": self.contracts(r["size"]),
                "side": "buy" if r["side"] > 0 else "sell", "ts": str(int(r["time_ms"])), "count": "1"}]}
                for r in update.trades))
        if update.book:
            self._publish_book(update)
        if len(update.marks):
            self._last_mark = (int(update.marks["time_ms"][-1]), float(update.marks["price"][-1]))
            self._fanout(f"mark-price:{inst}", (self._mark_msg(r["time_ms"], r["price"]) for r in update.marks))
        if len(update.open_interest):
            self._fanout(f"open-interest:{inst}", ({"arg": self._arg("open-interest"), "data": [
                self._oi_item(r["time_ms"], r["oi_base"], r["oi_notional"], usd=False)]} for r in update.open_interest))
        if len(update.funding):
            self._fanout(f"funding-rate:{inst}", ({"arg": self._arg("funding-rate"), "data": [
                self._funding_item(r["time_ms"], r["rate"])]} for r in update.funding))
        self._publish_liquidations(update)

    def _publish_book(self, update: VenueUpdate) -> None:
        st = self.market.venues[self.name]
        in_sync = self._book is not None and self._book_id == update.book[0].prev_last_id
        bids, asks = (dict(self._book[0]), dict(self._book[1])) if in_sync else (st.bids, st.asks)
        subs = self.subscribers(f"books:{self.inst_id}")
        for u in update.book:
            if in_sync:
                for side, changes in ((bids, u.bids), (asks, u.asks)):
                    for p, q in changes:
                        if q > 0:
                            side[p] = q
                        else:
                            side.pop(p, None)
            if not subs:
                continue
            top_b = [(fmt(p), self.contracts(q)) for p, q in sorted(bids.items(), key=lambda x: -x[0])[:25]]
            top_a = [(fmt(p), self.contracts(q)) for p, q in sorted(asks.items())[:25]]
            msg = {"arg": self._arg("books"), "action": "update", "data": [{
                "asks": [[fmt(p), self.contracts(q) if q > 0 else "0", "0", str(_orders(q))] for p, q in u.asks],
                "bids": [[fmt(p), self.contracts(q) if q > 0 else "0", "0", str(_orders(q))] for p, q in u.bids],
                "ts": str(u.time_ms), "checksum": okx_checksum(top_b, top_a),
                "prevSeqId": u.prev_last_id, "seqId": u.last_id}]}
            if self.faults.take("gap", self.name) is not None:
                continue              # the update is lost: the next prevSeqId points at an unseen seqId
            text = _dumps(msg)
            for c in subs:
                if c.state.get("books_seq", -1) < u.last_id:
                    self.send(c, text)
        self._book = (dict(st.bids), dict(st.asks))
        self._book_id = st.last_update_id

    def _publish_liquidations(self, update: VenueUpdate) -> None:
        subs = self.subscribers("liquidation-orders:SWAP")
        if not subs:
            return
        rows = list(update.liquidations_sampled)
        if self._burst_left == 0 and len(update.liquidations_all):
            n = self.faults.take("burst", self.name)
            if n is not None:
                self._burst_left, self._burst_rows, self._burst_since = max(2, int(n)), [], time.monotonic()
        if self._burst_left:
            # a burst: the next N of the complete feed, in one frame (the sampled ones are among them)
            self._burst_rows += list(update.liquidations_all)
            if len(self._burst_rows) < self._burst_left and time.monotonic() - self._burst_since < BURST_WAIT_S:
                return
            rows, self._burst_rows = self._burst_rows[: self._burst_left], []
            self._burst_left = 0
        if not rows:
            return
        details = []
        for r in rows:
            long_liq = int(r["side"]) > 0
            hedged = int(r["time_ms"]) % 2 == 0       # hedge-mode accounts name the position, net ones do not
            details.append({"bkLoss": "0", "bkPx": fmt(r["price"]), "ccy": "",
                            "posSide": ("long" if long_liq else "short") if hedged else "net",
                            "side": "sell" if long_liq else "buy", "sz": self.contracts(r["size"]),
                            "ts": str(int(r["time_ms"]))})
            self.published_liquidations.append((int(r["time_ms"]), 1 if long_liq else -1, float(r["price"]),
                                                float(r["size"])))
        text = _dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{
            "details": details, "instFamily": self.family, "instId": self.inst_id, "instType": "SWAP",
            "uly": self.family}]})
        for c in subs:
            self.send(c, text)


def _orders(size: float) -> int:
    """Orders resting at a level (OKX's 4th field): not simulated; 0 for a removed level."""
    return 0 if size <= 0 else 1 + int(size * 1000) % 9


def _dumps(payload) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _limit(query, cap: int) -> int:
    """A request's ``limit`` as OKX reads it: default 100, at least 1, at most ``cap``."""
    return min(max(_int(query.get("limit"), 100) or 100, 1), cap)
