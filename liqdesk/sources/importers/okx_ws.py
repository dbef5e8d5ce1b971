"""OKX v5 public websocket captures (``okx-ws``).

- ``trades`` -> trades (``ts``, taker ``side``, id ``tradeId``);
- ``books``, ``books-l2-tbt``, ``books50-l2-tbt`` -> book rows, ``action`` snapshot / update;
  ``books5`` and ``bbo-tbt`` are whole books every time (snapshots). With ``seqId``/``prevSeqId``
  a broken chain is a gap; a repeated update (same ids, or same ``ts`` and ``checksum`` when the
  capture predates sequence ids) is dropped;
- ``open-interest`` -> OI (``oiCcy`` in base currency, ``oiUsd`` when present, else OI times the
  last known mark or trade price); ``mark-price`` -> mark; ``funding-rate`` -> funding (kept when
  it changed);
- ``liquidation-orders`` -> liquidations at the bankruptcy price ``bkPx``; the liquidated side is
  ``posSide`` (long/short), or for net positions the order ``side`` (sell = a long was liquidated);
- ``tickers`` and candles: counted, not imported.

Derivative sizes are in contracts: linear contracts are ``sz * ctVal`` base units, inverse ones
``sz * ctVal / price`` (ctVal in USD). ctVal comes from an instrument list recorded in the capture
when there is one, else from :data:`~liqdesk.sources.importers.symbols.OKX_CONTRACTS`; messages of
instruments in neither are skipped ("unknown contract size").
"""

from __future__ import annotations

from . import report as R
from .base import SHAPE_ERRORS, LineParser, loads
from .symbols import okx_contract, okx_symbol

_BOOKS = {"books", "books-l2-tbt", "books50-l2-tbt", "books5", "bbo-tbt", "books-elp"}
_WHOLE = {"books5", "bbo-tbt"}
_NOT_IMPORTED = {"tickers": "tickers", "index-tickers": "tickers", "price-limit": "price limits",
                 "estimated-price": "estimated price", "opt-summary": "option summary",
                 "instruments": "instruments", "status": "status"}


class OkxWsParser(LineParser):
    exchange = "okx"
    fmt = "okx-ws"

    def __init__(self, col) -> None:
        super().__init__(col)
        self.learned: dict[str, tuple[float, str]] = {}
        self._contracts: dict[str, tuple[float, bool] | None] = {}
        self._seen: set[int] = set()
        self._last_px: dict[int, float] = {}
        self._rates: dict[int, object] = {}

    def unified(self, raw: str) -> str:
        return okx_symbol(raw)

    def contract(self, inst_id) -> tuple[float, bool] | None:
        if type(inst_id) is not str:
            raise TypeError("instId")
        if inst_id not in self._contracts:
            self._contracts[inst_id] = okx_contract(inst_id, self.learned)
        return self._contracts[inst_id]

    def message(self, msg) -> None:
        if type(msg) is not dict:
            self.malformed()
            return
        if "event" in msg or "op" in msg:
            self.col.skip(R.CONTROL)
            return
        arg = msg.get("arg")
        channel = arg.get("channel") if type(arg) is dict else None
        if type(channel) is not str:
            self.col.skip(R.UNKNOWN_STREAM if "data" in msg else R.MALFORMED)
            return
        try:
            data = msg["data"]
            if type(data) is not list:
                raise TypeError("data is not a list")
            if not data:
                self.col.skip(R.EMPTY)
            elif channel == "trades" or channel == "trades-all":
                self._trades(data, arg)
            elif channel in _BOOKS:
                self._books(data, arg, channel, msg.get("action"))
            elif channel == "open-interest":
                self._per_item(data, arg, self._open_interest)
            elif channel == "mark-price":
                self._per_item(data, arg, self._mark)
            elif channel == "funding-rate":
                self._per_item(data, arg, self._funding)
            elif channel == "liquidation-orders":
                self._per_item(data, arg, self._liquidations)
            elif channel in _NOT_IMPORTED or channel.startswith(("candle", "mark-price-candle",
                                                                 "index-candle")):
                what = _NOT_IMPORTED.get(channel, "candles")
                inst = arg.get("instId")
                if channel == "tickers" and data and type(data[0]) is dict:
                    self._remember_price(inst, data[0].get("last"))
                code = self.sym(inst) if type(inst) is str and inst else -1
                self.col.skip(R.NOT_IMPORTED.format(what), code)
            else:
                self.col.skip(R.UNKNOWN_STREAM)
        except SHAPE_ERRORS:
            self.malformed()

    def _remember_price(self, inst, px) -> None:
        try:
            code = self._codes.get((inst, self.market))
            if code is not None:
                self._last_px[code] = float(px)
        except (TypeError, ValueError):
            pass

    def _per_item(self, data: list, arg: dict, handler) -> None:
        self._seen = set()
        for item in data:
            try:
                handler(item, arg)
            except SHAPE_ERRORS:
                self.malformed()
        self.count_lines(self._seen)

    def _code_and_contract(self, inst) -> tuple[int, tuple[float, bool]] | None:
        contract = self.contract(inst)
        if contract is None:
            self.col.skip(R.UNKNOWN_CONTRACT)
            return None
        code = self.sym(inst, False)
        self._seen.add(code)
        return code, contract

    def _trades(self, data: list, arg: dict) -> None:
        self._seen = set()
        self._trade_items(data, arg)
        self.count_lines(self._seen)

    def _trade_items(self, data: list, arg: dict) -> None:
        for item in data:
            try:
                inst = item.get("instId") or arg["instId"]
                t, px, sz, side, tid = item["ts"], item["px"], item["sz"], item["side"], item["tradeId"]
                cc = self._code_and_contract(inst)
                if cc is None:
                    continue
                code, (value, inverse) = cc
                if value != 1.0 or inverse:
                    sz = float(sz) * value / (float(px) if inverse else 1.0)
            except SHAPE_ERRORS:
                self.malformed()
                continue
            c = self.c.tr
            c[0].append(code)
            c[1].append(t)
            c[2].append(1 if side == "buy" else (-1 if side == "sell" else 0))
            c[3].append(px)
            c[4].append(sz)
            c[5].append(tid)
            self._last_px[code] = px

    def _books(self, data: list, arg: dict, channel: str, action) -> None:
        snapshot = channel in _WHOLE or action == "snapshot" or action is None
        if not snapshot and action != "update":
            raise ValueError("books action")
        self._seen = set()
        self._book_items(data, arg, snapshot)
        self.count_lines(self._seen)

    def _book_items(self, data: list, arg: dict, snapshot: bool) -> None:
        for item in data:
            try:
                inst = arg.get("instId") or item["instId"]
                bids, asks, t = item["bids"], item["asks"], item["ts"]
                if type(bids) is not list or type(asks) is not list:
                    raise TypeError("book levels")
                cc = self._code_and_contract(inst)
                if cc is None:
                    continue
                code, (value, inverse) = cc
                seq, prev = item.get("seqId"), item.get("prevSeqId")
                key = ((seq, prev) if seq is not None else (t, item.get("checksum")), snapshot)
                st = self.book(code)
                duplicate = st.seen(key)  # TypeError for ids that are lists or objects
            except SHAPE_ERRORS:
                self.malformed()
                continue
            if duplicate:
                self.col.skip(R.DUPLICATE.format("book updates"), code)
                continue
            if (not snapshot and type(prev) is int and type(st.last_id) is int and prev >= 0
                    and prev != st.last_id):
                self.gap(code, st.last_t, t, f"books prevSeqId {prev} != previous seqId {st.last_id}")
            st.remember(key)
            st.last_id, st.last_t = seq, t
            if not bids and not asks:
                self.col.skip(R.EMPTY, code)
                continue
            self.c.add_book(code, t, snapshot, bids, asks, value, inverse)

    def _open_interest(self, item: dict, arg: dict) -> None:
        inst = item.get("instId") or arg["instId"]
        t = item["ts"]
        cc = self._code_and_contract(inst)
        if cc is None:
            return
        code, (value, inverse) = cc
        base = item.get("oiCcy")
        if base not in (None, ""):
            base = float(base)
        else:
            base = float(item["oi"]) * value / (float(self._last_px[code]) if inverse else 1.0)
        usd = item.get("oiUsd")
        if usd not in (None, ""):
            usd = float(usd)
        elif code in self._last_px:
            usd = base * float(self._last_px[code])
        else:
            self.col.skip(R.NOT_IMPORTED.format("open interest without a price"), code)
            return
        c = self.c.oi
        c[0].append(code)
        c[1].append(t)
        c[2].append(base)
        c[3].append(usd)

    def _mark(self, item: dict, arg: dict) -> None:
        inst = item.get("instId") or arg["instId"]
        t, px = item["ts"], item["markPx"]
        code = self.sym(inst, False)
        self._seen.add(code)
        c = self.c.mk
        c[0].append(code)
        c[1].append(t)
        c[2].append(px)
        self._remember_price(inst, px)

    def _funding(self, item: dict, arg: dict) -> None:
        inst = item.get("instId") or arg["instId"]
        t = item.get("ts") or item["fundingTime"]
        rate = item["fundingRate"]
        code = self.sym(inst, False)
        self._seen.add(code)
        if type(rate) in (str, int, float) and rate != "" and self._rates.get(code) != rate:
            self._rates[code] = rate
            c = self.c.fu
            c[0].append(code)
            c[1].append(t)
            c[2].append(rate)
        else:
            self.col.skip(R.NOT_IMPORTED.format("unchanged funding rates"), code)

    def _liquidations(self, item: dict, arg: dict) -> None:
        inst = item["instId"]
        details = item["details"]
        if type(details) is not list:
            raise TypeError("details")
        if not details:
            self.col.skip(R.EMPTY)
            return
        cc = self._code_and_contract(inst)
        if cc is None:
            return
        code, (value, inverse) = cc
        for det in details:
            try:
                t, px, sz = det["ts"], float(det["bkPx"]), float(det["sz"])
                pos, side = det.get("posSide"), det.get("side")
                sz = sz * value / (px if inverse else 1.0)
            except SHAPE_ERRORS:
                self.malformed(code)
                continue
            if pos == "long" or pos == "short":
                liq_side = 1 if pos == "long" else -1
            else:
                liq_side = 1 if side == "sell" else (-1 if side == "buy" else 0)
            c = self.c.lq
            c[0].append(code)
            c[1].append(t)
            c[2].append(liq_side)
            c[3].append(px)
            c[4].append(sz)

    # -- instrument lists recorded in a capture ------------------------------------------------

    def http(self, url: str, body: str) -> bool:
        if "/public/instruments" not in url:
            return False
        try:
            doc = loads(body)
            for inst in doc["data"]:
                ct = inst.get("ctVal")
                if ct in (None, ""):
                    continue
                unit = "usd" if inst.get("ctType") == "inverse" else "base"
                self.learned[inst["instId"]] = (float(ct), unit)
            self._contracts.clear()
        except SHAPE_ERRORS:
            self.malformed()
        except Exception:  # noqa: BLE001 - a broken recorded body: count it, go on
            self.col.skip(R.GARBAGE)
        return True
