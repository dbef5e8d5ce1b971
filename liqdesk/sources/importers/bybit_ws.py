"""Bybit v5 public websocket captures (``bybit-ws``).

- ``publicTrade.<S>`` -> trades (time ``T``, taker side ``S``, id ``i``);
- ``orderbook.<depth>.<S>`` -> book rows: ``snapshot`` replaces the book, ``delta`` updates it;
  update id ``u`` must grow by one between deltas (a gap is recorded otherwise) and a repeated one
  is dropped;
- ``tickers.<S>`` -> mark price (``markPrice``), open interest (``openInterest`` in base,
  ``openInterestValue`` in USD) and funding (``fundingRate``, kept when it changed). Deltas carry
  only the fields that changed, so the last known value of each is kept per symbol; an OI event is
  written whenever ``openInterest`` is in the message;
- ``allLiquidation.<S>`` (``T``, ``S``, ``v``, ``p``) and the older ``liquidation.<S>``
  (``updatedTime``, ``side``, ``size``, ``price``) -> liquidations. Bybit's side is the side of the
  liquidated *position*: ``Buy`` = a long was liquidated (+1), ``Sell`` = a short (-1);
- ``kline.*``: counted, not imported.

The market (linear, inverse, spot) comes from the connection URL when the capture has it (the
wrapper's ``connect`` records or a cryptofeed ``<url> <-> <time>`` line), linear otherwise. Sizes
of inverse contracts are in USD and divided by the price.
"""

from __future__ import annotations

from . import report as R
from .base import SHAPE_ERRORS, LineParser
from .symbols import bybit_symbol

_SIDES = {"Buy": 1, "Sell": -1}


class BybitWsParser(LineParser):
    exchange = "bybit"
    fmt = "bybit-ws"

    def __init__(self, col) -> None:
        super().__init__(col)
        self._tick: dict[int, dict] = {}
        self._rates: dict[int, object] = {}

    def unified(self, raw: str) -> str:
        return bybit_symbol(raw, self.market)

    def message(self, msg) -> None:
        if type(msg) is not dict:
            self.malformed()
            return
        topic = msg.get("topic")
        if type(topic) is not str:
            if "op" in msg or "success" in msg or "ret_msg" in msg or "req_id" in msg:
                self.col.skip(R.CONTROL)
            else:
                self.col.skip(R.UNKNOWN_STREAM)
            return
        name, _, rest = topic.partition(".")
        try:
            if name == "publicTrade":
                self._trades(msg)
            elif name == "orderbook":
                self._book(msg, rest)
            elif name == "tickers":
                self._ticker(msg)
            elif name == "allLiquidation":
                self._all_liquidation(msg)
            elif name == "liquidation":
                self._liquidation(msg)
            elif name == "kline":
                self.col.skip(R.NOT_IMPORTED.format("kline"), self.sym(rest.rpartition(".")[2]))
            else:
                self.col.skip(R.UNKNOWN_STREAM)
        except SHAPE_ERRORS:
            self.malformed()

    def _inverse(self) -> bool:
        return self.market == "inverse"

    def _trades(self, msg: dict) -> None:
        data = msg["data"]
        if type(data) is not list:
            raise TypeError("publicTrade data")
        if not data:
            self.col.skip(R.EMPTY)
        inverse = self._inverse()
        seen: set[int] = set()
        for item in data:
            try:
                t, s, v, p, tid = item["T"], item["S"], item["v"], item["p"], item["i"]
                if inverse:
                    v = float(v) / float(p)
                code = self.sym(item["s"], False)
            except SHAPE_ERRORS:
                self.malformed()
                continue
            seen.add(code)
            c = self.c.tr
            c[0].append(code)
            c[1].append(t)
            c[2].append(_SIDES.get(s, 0) if type(s) is str else 0)
            c[3].append(p)
            c[4].append(v)
            c[5].append(tid)
        self.count_lines(seen)

    def _book(self, msg: dict, rest: str) -> None:
        typ, data = msg["type"], msg["data"]
        t = msg["ts"]  # not "cts": snapshots lack it, and book rows must keep the stream's order
        bids, asks, u = data["b"], data["a"], data.get("u")
        if type(bids) is not list or type(asks) is not list:
            raise TypeError("orderbook levels")
        code = self.sym(data.get("s") or rest.rpartition(".")[2])
        st = self.book(code)
        snapshot = typ == "snapshot"
        if not snapshot and typ != "delta":
            raise ValueError("orderbook type")
        key = (u, snapshot)
        if u is not None and st.seen(key):
            self.col.skip(R.DUPLICATE.format("book updates"), code)
            return
        if not snapshot and type(u) is int and type(st.last_id) is int and u != st.last_id + 1:
            self.gap(code, st.last_t, t, f"orderbook u {u} after {st.last_id}")
        if u is not None:
            st.remember(key)
        st.last_id, st.last_t = u, t
        if not bids and not asks:
            self.col.skip(R.EMPTY, code)
            return
        self.c.add_book(code, t, snapshot, bids, asks, inverse=self._inverse())

    def _ticker(self, msg: dict) -> None:
        data, t = msg["data"], msg["ts"]
        if type(data) is not dict:
            raise TypeError("tickers data")
        code = self.sym(data["symbol"])
        state = self._tick.setdefault(code, {})
        emitted = False
        mark = data.get("markPrice")
        if mark is not None and mark != "":
            emitted = True
            state["mark"] = mark
            c = self.c.mk
            c[0].append(code)
            c[1].append(t)
            c[2].append(mark)
        if data.get("openInterestValue") not in (None, ""):
            state["oiv"] = data["openInterestValue"]
        oi = data.get("openInterest")
        if oi is not None and oi != "":
            state["oi"] = oi
            value = state.get("oiv")
            if value is None and "mark" in state:
                value = float(oi) * float(state["mark"])
            if value is not None:
                if self._inverse():  # inverse OI is counted in USD contracts
                    oi, value = float(oi) / float(state["mark"]), float(oi)
                emitted = True
                c = self.c.oi
                c[0].append(code)
                c[1].append(t)
                c[2].append(oi)
                c[3].append(value)
        rate = data.get("fundingRate")
        if rate is not None and rate != "" and type(rate) is not list and type(rate) is not dict \
                and self._rates.get(code) != rate:
            self._rates[code] = rate
            emitted = True
            c = self.c.fu
            c[0].append(code)
            c[1].append(t)
            c[2].append(rate)
        if not emitted:
            self.col.skip(R.NOT_IMPORTED.format("tickers without new mark, OI or funding"), code)

    def _liq(self, code: int, t, side, size, price) -> None:
        if self._inverse():
            size = float(size) / float(price)
        c = self.c.lq
        c[0].append(code)
        c[1].append(t)
        c[2].append(_SIDES.get(side, 0) if type(side) is str else 0)
        c[3].append(price)
        c[4].append(size)

    def _all_liquidation(self, msg: dict) -> None:
        data = msg["data"]
        if type(data) is dict:
            data = [data]
        if type(data) is not list:
            raise TypeError("allLiquidation data")
        if not data:
            self.col.skip(R.EMPTY)
        seen: set[int] = set()
        for item in data:
            try:
                t, s, v, p = item["T"], item["S"], item["v"], item["p"]
                code = self.sym(item["s"], False)
                self._liq(code, t, s, v, p)
                seen.add(code)
            except SHAPE_ERRORS:
                self.malformed()
        self.count_lines(seen)

    def _liquidation(self, msg: dict) -> None:
        d = msg["data"]
        t, s, v, p = d["updatedTime"], d["side"], d["size"], d["price"]
        self._liq(self.sym(d["symbol"]), t, s, v, p)
