"""Binance USDⓈ-M websocket captures (``binance-ws``).

Combined-stream messages (``{"stream": ..., "data": {...}}``) or raw ones, one per line, with or
without a receive-time prefix, plain, gzip or zstd, or inside the capture wrapper. Per event type:

- ``trade`` -> trades (time ``T``, taker side from ``m``: buyer is maker = taker sold), id ``t``;
- ``aggTrade`` -> trades, id ``a``; dropped for a symbol that also has the ``trade`` stream;
- ``depthUpdate`` -> book diff rows (time ``T``); ``pu`` must equal the previous ``u`` of the
  symbol, otherwise a gap (previous time, this time) is recorded; a repeated ``u`` is dropped;
- a depth snapshot (``lastUpdateId`` with ``bids``/``asks``: a bare REST answer in the capture,
  or a recorded ``/fapi/v1/depth`` call) -> snapshot rows; diffs that follow it with ``u`` below
  its ``lastUpdateId`` are stale and dropped. A bare snapshot names no symbol: it goes to the
  file's only depth stream, and is counted as skipped when there are several;
- ``markPriceUpdate`` -> mark price (time ``E``), and its funding rate ``r`` -> funding, kept only
  when it changed;
- ``forceOrder`` -> liquidations: ``S`` SELL = a long was liquidated (+1), BUY = a short (-1);
  price = average price ``ap`` when > 0 else ``p``; size = filled ``z`` when > 0 else ``q``;
- ``bookTicker`` and ``kline``: counted, not imported. The best bid/ask is already in the depth
  stream, and a capture holding only bookTicker cannot delete levels, so its rows would leave
  stale levels in the book. These lines are recognised from the stream name and not JSON-decoded.
"""

from __future__ import annotations

from . import report as R
from .base import JSON_ERRORS, SHAPE_ERRORS, LineParser, loads
from .symbols import binance_symbol

#: Known event types that carry nothing the model uses.
NOT_IMPORTED = {"bookTicker": "bookTicker", "kline": "kline", "continuous_kline": "kline",
                "24hrTicker": "ticker", "24hrMiniTicker": "ticker", "compositeIndex": "index",
                "contractInfo": "contract info", "assetIndexUpdate": "index"}


#: Every byte but those that give a JSON array of string pairs its structure.
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]",\\')
_STRUCTURES: dict[int, bytes] = {}


def _structure(n: int) -> bytes:
    """What ``n`` levels ``["p","s"]`` look like with only ``[ ] " , \\`` kept."""
    s = _STRUCTURES.get(n)
    if s is None:
        s = b",".join([b'["",""]'] * n)
        if n < 10_000:
            _STRUCTURES[n] = s
    return s


def _pos(v) -> float:
    """float(v) when it is > 0, else 0.0 (also for missing or malformed values)."""
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return f if f > 0 else 0.0


class BinanceWsParser(LineParser):
    exchange = "binance"
    fmt = "binance-ws"

    def __init__(self, col) -> None:
        super().__init__(col)
        self._handlers = {
            "trade": self._trade,
            "aggTrade": self._agg_trade,
            "depthUpdate": self._depth,
            "markPriceUpdate": self._mark,
            "forceOrder": self._force_order,
        }
        self._stream_kinds: dict[bytes, tuple[str, int]] = {}
        self._rates: dict[int, object] = {}
        self._file_depth: set[int] = set()
        self._pending: list[tuple] = []

    def unified(self, raw: str) -> str:
        return binance_symbol(raw)

    def start_file(self, name: str) -> None:
        super().start_file(name)
        self._file_depth = set()
        self._pending = []

    def end_file(self) -> None:
        if self._pending:
            self.col.skip(R.AMBIGUOUS_SNAPSHOT, n=len(self._pending))
            self._pending = []
        super().end_file()

    # -- fast paths, taken on combined-stream lines before any JSON decoding ---------------------
    #
    # bookTicker and kline lines are recognised from the stream name and only counted. Depth
    # diffs are split by hand: the small head (ids, times, symbol) is JSON-decoded, the two level
    # arrays are cut into number tokens without building a Python list per level. Any line that
    # does not look exactly as expected takes the normal path (and is counted there if broken).

    def prefilter(self, line: bytes, i: int) -> bool:
        if not line.startswith(b'{"stream":"', i):
            return False
        j = line.find(b'"', i + 11, i + 80)
        if j < 0:
            return False
        name = line[i + 11: j]
        kind = self._stream_kinds.get(name)
        if kind is None:
            kind = self._stream_kind(name)
            if len(self._stream_kinds) < 10_000:
                self._stream_kinds[name] = kind
        what, code, key = kind
        if what == "depth":
            return self._fast_depth(line, i)
        if what == "trade" or what == "aggTrade":
            try:
                msg = loads(line[i:])
            except JSON_ERRORS:
                return False
            d = msg.get("data") if type(msg) is dict else None
            if type(d) is not dict or d.get("e") != what:
                return False
            try:
                if what == "trade":
                    self._trade(d)
                else:
                    self._agg_trade(d)
            except SHAPE_ERRORS:
                self.malformed()
            return True
        if what and line.endswith(b"}}"):
            self.col.lines[code] += 1
            self.col.reasons[key] += 1
            return True
        return False

    def _stream_kind(self, name: bytes) -> tuple[str, int, tuple]:
        """(what, symbol code, reason key) of a combined-stream name, e.g. ``btcusdt@trade``."""
        raw, _, typ = name.partition(b"@")
        if typ.startswith(b"depth"):
            return "depth", -1, ()
        if typ == b"trade" or typ == b"aggTrade":
            return typ.decode(), -1, ()
        if typ == b"bookTicker" or typ.startswith(b"kline_"):
            reason = R.NOT_IMPORTED.format("bookTicker" if typ == b"bookTicker" else "kline")
            try:
                text = raw.decode("ascii").upper()
                if not text.isalnum():
                    return "", -1, ()
                code = self._codes.get((text, self.market))
                if code is None:
                    code = self.col.code(self.unified(text), self.exchange, text)
                    self._codes[(text, self.market)] = code
            except (UnicodeDecodeError, TypeError):
                return "", -1, ()
            return reason, code, (code, reason)
        return "", -1, ()

    def _fast_depth(self, line: bytes, i: int) -> bool:
        b = line.find(b',"b":[', i)
        if b < 0:
            return False
        a = line.find(b',"a":[', b + 6)
        if a < 0 or line[a - 1] != 93 or not line.endswith(b"]}}"):  # 93: "]"
            return False
        try:
            head = loads(line[i:b] + b"}}")
        except JSON_ERRORS:
            return False
        d = head.get("data") if type(head) is dict else None
        if type(d) is not dict or d.get("e") != "depthUpdate" or "b" in d or "a" in d:
            return False
        bids, asks = line[b + 6: a - 1], line[a + 6: len(line) - 3]
        nb, na = bids.count(b"["), asks.count(b"[")
        # '["1.5","2"],["1.4","3"]' -> '1.5,2,1.4,3', only when every level is exactly two
        # plain strings: the brackets, quotes, commas and backslashes must be those of
        # '["",""],["",""]'; anything else takes the normal path.
        if nb:
            if bids.translate(None, _NOT_STRUCTURE) != _structure(nb):
                return False
            bids = bids.translate(None, b'[]"')
        if na:
            if asks.translate(None, _NOT_STRUCTURE) != _structure(na):
                return False
            asks = asks.translate(None, b'[]"')
        try:
            if self._depth_accept(d, nb, na, True):
                if nb:
                    self.c.tok.append(bids)
                if na:
                    self.c.tok.append(asks)
        except SHAPE_ERRORS:
            self.malformed()
        return True

    # -- messages ------------------------------------------------------------------------------

    def message(self, msg) -> None:
        if type(msg) is not dict:
            self.malformed()
            return
        d = msg["data"] if "stream" in msg and "data" in msg else msg
        if type(d) is list:
            if not d:
                self.col.skip(R.EMPTY)
            for item in d:
                self._event(item)
        else:
            self._event(d)

    def _event(self, d) -> None:
        if type(d) is not dict:
            self.malformed()
            return
        e = d.get("e")
        handler = self._handlers.get(e) if type(e) is str else None
        try:
            if handler is not None:
                handler(d)
            elif "lastUpdateId" in d and "bids" in d:
                self._snapshot(d, None)
            elif type(e) is str and e in NOT_IMPORTED:
                self.col.skip(R.NOT_IMPORTED.format(NOT_IMPORTED[e]), self.sym(d.get("s")))
            elif "result" in d or "id" in d or "code" in d:
                self.col.skip(R.CONTROL)
            else:
                self.col.skip(R.UNKNOWN_STREAM)
        except SHAPE_ERRORS:
            self.malformed()

    def _trade(self, d: dict) -> None:
        t, p, q, m, tid = d["T"], d["p"], d["q"], d["m"], d["t"]
        code = self.sym(d["s"])
        c = self.c.tr
        c[0].append(code)
        c[1].append(t)
        c[2].append(-1 if m is True else (1 if m is False else 0))
        c[3].append(p)
        c[4].append(q)
        c[5].append(tid)

    def _agg_trade(self, d: dict) -> None:
        t, p, q, m, aid = d["T"], d["p"], d["q"], d["m"], d["a"]
        code = self.sym(d["s"])
        c = self.c.ag
        c[0].append(code)
        c[1].append(t)
        c[2].append(-1 if m is True else (1 if m is False else 0))
        c[3].append(p)
        c[4].append(q)
        c[5].append(aid)

    def _depth(self, d: dict) -> None:
        bids, asks = d["b"], d["a"]
        if type(bids) is not list or type(asks) is not list:
            raise TypeError("depthUpdate levels")
        if self._depth_accept(d, len(bids), len(asks), False):
            self.c.lv.extend(bids)
            self.c.lv.extend(asks)

    def _depth_accept(self, d: dict, nb: int, na: int, tokens: bool) -> bool:
        """Sequence checks of one diff; True when its levels are to be added (by the caller)."""
        t = d["T"] if "T" in d else d["E"]
        u = d["u"]
        pu = d.get("pu")
        if type(u) is not int:
            raise TypeError("depthUpdate u")
        if pu is None:
            first = d.get("U")
            pu = first - 1 if type(first) is int else None
        code = self.sym(d["s"])
        if self._pending:
            pending, self._pending = self._pending, []
            for snap in pending:
                self.col.lines[code] += 1
                self._emit_snapshot(code, *snap)
        self._file_depth.add(code)
        st = self.book(code)
        if st.in_chain(u):
            self.col.skip(R.DUPLICATE.format("book updates"), code)
            return False
        if st.snap_id is not None and u < st.snap_id:
            self.col.skip(R.STALE_BOOK, code)
            return False
        chained = st.last_id is not None and pu == st.last_id
        if st.last_id is not None and pu is not None and not chained:
            self.gap(code, st.last_t, t, f"depth pu {pu} != previous u {st.last_id}")
        st.extend(u, chained)
        st.last_id, st.last_t = u, t
        if not nb and not na:
            self.col.skip(R.EMPTY, code)
            return False
        c = self.c.bk
        c[0].append(code)
        c[1].append(t)
        c[2].append(False)
        c[3].append(nb)
        c[4].append(na)
        c[5].append(1.0)
        c[6].append(False)
        c[7].append(tokens)
        return True

    def _snapshot(self, d: dict, raw_symbol: str | None) -> None:
        last_id, bids, asks = d["lastUpdateId"], d["bids"], d["asks"]
        t = d.get("T") or d.get("E") or self.recv_ms()
        if type(bids) is not list or type(asks) is not list or type(last_id) is not int or t is None:
            raise TypeError("depth snapshot fields")
        if raw_symbol is not None:
            self._emit_snapshot(self.sym(raw_symbol), t, last_id, bids, asks)
        elif len(self._file_depth) == 1:
            code = next(iter(self._file_depth))
            self.col.lines[code] += 1
            self._emit_snapshot(code, t, last_id, bids, asks)
        elif not self._file_depth:
            self._pending.append((t, last_id, bids, asks))
        else:
            self.col.skip(R.AMBIGUOUS_SNAPSHOT)

    def _emit_snapshot(self, code: int, t, last_id: int, bids: list, asks: list) -> None:
        st = self.book(code)
        if st.snap_id == last_id:
            self.col.skip(R.DUPLICATE.format("book snapshots"), code)
            return
        st.snap_id = last_id
        if not bids and not asks:
            self.col.skip(R.EMPTY, code)
            return
        self.c.add_book(code, t, True, bids, asks)

    def _mark(self, d: dict) -> None:
        t, p = d["E"], d["p"]
        r = d.get("r")
        code = self.sym(d["s"])
        c = self.c.mk
        c[0].append(code)
        c[1].append(t)
        c[2].append(p)
        if r is not None and r != "" and type(r) is not list and type(r) is not dict \
                and self._rates.get(code) != r:
            self._rates[code] = r
            f = self.c.fu
            f[0].append(code)
            f[1].append(t)
            f[2].append(r)

    def _force_order(self, d: dict) -> None:
        o = d["o"]
        t, s = o["T"], o["S"]
        price = _pos(o.get("ap")) or float(o["p"])
        size = _pos(o.get("z")) or float(o["q"])
        side = 1 if s == "SELL" else (-1 if s == "BUY" else 0)
        code = self.sym(o["s"])
        c = self.c.lq
        c[0].append(code)
        c[1].append(t)
        c[2].append(side)
        c[3].append(price)
        c[4].append(size)

    # -- REST answers recorded in a capture ----------------------------------------------------

    def http(self, url: str, body: str) -> bool:
        if "/depth" not in url or "symbol=" not in url:
            return False
        raw = url.split("symbol=", 1)[1].split("&", 1)[0]
        try:
            d = loads(body)
            if type(d) is not dict or "lastUpdateId" not in d:
                return False
            self._snapshot(d, raw.upper())
        except SHAPE_ERRORS:
            self.malformed()
        except Exception:  # noqa: BLE001 - a JSON error in a recorded body: count, go on
            self.col.skip(R.GARBAGE)
        return True
