"""The line loop shared by the websocket-capture importers.

A line is one of:

- ``<json>`` — a message as the exchange sent it;
- ``<receive time> <json>`` — nanoseconds then a space (hftbacktest captures), or seconds then a
  colon (cryptofeed ``*.ws.*`` captures: ``<time>: <json>``);
- ``<url> <-> <time>`` (a connection opened) or ``<url> <- <time>: <json>`` (a message *sent*),
  both counted as control lines;
- ``{"t": "recv", "conn": ..., "ts": <s>, "data": "<raw message>"}`` and its siblings
  (``header``, ``connect``, ``send``, ``http``...) — the JSON-lines wrapper of the ``*.v3.jsonl.zst``
  captures, unwrapped here for every exchange.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque

from liqdesk.core.events import EXCHANGE_ID

from . import report as R
from .collect import Chunk, Collector

#: orjson before 3.9.15 has no recursion limit (CVE-2024-27454): a deeply nested line in a
#: capture crashes the process (3.9.10: a segmentation fault on a million '['). pyproject.toml
#: asks for a fixed one; an older one already installed is not used.
ORJSON_FIXED = (3, 9, 15)


def json_decoder(orjson=None):
    """(loads, its decode error): orjson's when ``orjson`` (the module; imported when None) is
    present and at least :data:`ORJSON_FIXED`, else the standard library's, which orjson
    parses about 3x faster than."""
    import json

    if orjson is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - orjson is a declared dependency
            return json.loads, json.JSONDecodeError
    version = tuple(int(part) for part in re.findall(r"\d+", str(getattr(orjson, "__version__", "")))[:3])
    if version < ORJSON_FIXED:
        return json.loads, json.JSONDecodeError
    return orjson.loads, orjson.JSONDecodeError


loads, _JSONError = json_decoder()
JSON_ERRORS = (_JSONError, ValueError, TypeError, RecursionError)
#: What a handler may raise on a message of the wrong shape; counted as malformed.
SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)

#: Record types of the capture wrapper that carry no market data.
WRAPPER_RECORDS = frozenset({"header", "send", "disconnect", "close", "error", "meta", "info"})

#: Recent book update ids remembered per symbol to drop repeated updates.
RECENT_UPDATES = 4096


def market_of(url: str | None) -> str | None:
    """'spot', 'linear', 'inverse' or 'option' from a websocket URL, None when it does not say."""
    if not url:
        return None
    for market in ("spot", "linear", "inverse", "option"):
        if f"/{market}" in url:
            return market
    return None


class BookState:
    """Sequence checking of one symbol's book stream.

    Two ways to recognise a repeated update: a window of the last :data:`RECENT_UPDATES` keys
    (:meth:`seen` / :meth:`remember`), or, for streams whose updates chain (Binance ``pu`` = the
    previous ``u``), the ranges of ids an unbroken chain has covered (:meth:`in_chain` /
    :meth:`extend`): an id inside such a range was already applied, however long ago (two
    overlapping captures, or the same file given twice).
    """

    __slots__ = ("last_id", "last_t", "snap_id", "recent", "order", "los", "his")

    def __init__(self) -> None:
        self.last_id = None
        self.last_t = None
        self.snap_id = None
        self.recent: set = set()
        self.order: deque = deque()
        self.los: list[int] = []  # chain ranges, sorted and disjoint
        self.his: list[int] = []

    def in_chain(self, u: int) -> bool:
        i = bisect_right(self.los, u) - 1
        return i >= 0 and u <= self.his[i]

    def extend(self, u: int, chained: bool) -> None:
        """Record an applied id ``u``; ``chained``: it followed the last id without a break."""
        if chained and self.last_id is not None:
            i = bisect_right(self.los, self.last_id) - 1
            if i >= 0 and self.his[i] == self.last_id:
                nxt = i + 1
                if nxt < len(self.los) and self.los[nxt] <= u:  # reached the next range: merge
                    self.his[i] = max(u, self.his[nxt])
                    del self.los[nxt], self.his[nxt]
                else:
                    self.his[i] = u
                return
        i = bisect_right(self.los, u)
        self.los.insert(i, u)
        self.his.insert(i, u)

    def seen(self, key) -> bool:
        return key in self.recent

    def remember(self, key) -> None:
        self.recent.add(key)
        self.order.append(key)
        if len(self.order) > RECENT_UPDATES:
            self.recent.discard(self.order.popleft())


class LineParser:
    """Base of the websocket importers: framing, the capture wrapper, chunk bookkeeping."""

    exchange = "binance"
    fmt = ""
    #: market when a capture does not say (Bybit's spot and linear share symbol names)
    default_market = "linear"

    def __init__(self, col: Collector) -> None:
        self.col = col
        self.xid = EXCHANGE_ID[self.exchange]
        self.c = Chunk()
        self._codes: dict = {}
        self.market = self.default_market
        self._conn_market: dict = {}
        self._line = b""
        self._i = 0
        self._recv_s: float | None = None
        self.books: dict[int, BookState] = {}

    # -- per file / per chunk ------------------------------------------------------------------

    def start_file(self, name: str) -> None:
        self.market = self.default_market
        self._conn_market = {}

    def end_chunk(self) -> None:
        self.col.add_chunk(self.c, self.xid)
        self.c = Chunk()

    def end_file(self) -> None:
        self.end_chunk()

    # -- helpers for subclasses ----------------------------------------------------------------

    def sym(self, raw, count: bool = True) -> int:
        """Symbol code of a raw exchange symbol; ``count``: count one line of that symbol."""
        key = (raw, self.market)
        code = self._codes.get(key)
        if code is None:
            if type(raw) is not str or not raw:
                raise TypeError("symbol is not a string")
            code = self._codes[key] = self.col.code(self.unified(raw), self.exchange, raw)
        if count:
            self.col.lines[code] += 1
        return code

    def count_lines(self, codes: set[int]) -> None:
        """Count one line for each symbol a multi-item message held."""
        for code in codes:
            self.col.lines[code] += 1

    def unified(self, raw: str) -> str:  # pragma: no cover - overridden
        return raw

    def book(self, code: int) -> BookState:
        st = self.books.get(code)
        if st is None:
            st = self.books[code] = BookState()
        return st

    def gap(self, code: int, t0, t1, reason: str, kind: str = "book") -> None:
        try:
            a, b = int(t0), int(t1)
        except (TypeError, ValueError, OverflowError):
            return
        self.col.gap(code, R.Gap(min(a, b), max(a, b), self.exchange, kind, reason))

    def recv_ms(self) -> int | None:
        """Local receive time of the current line (prefix or wrapper), in ms, when known."""
        if self._recv_s is not None:
            try:
                return int(float(self._recv_s) * 1000)
            except (TypeError, ValueError, OverflowError):
                return None
        text = self._line[: self._i].strip().rstrip(b":")
        try:
            if b"." in text:
                return int(float(text) * 1000)
            v = int(text)
        except (ValueError, OverflowError):
            return None
        if v >= 10**17:  # nanoseconds
            return v // 10**6
        if v >= 10**14:  # microseconds
            return v // 10**3
        return v if v >= 10**11 else v * 1000

    # -- the loop ------------------------------------------------------------------------------

    prefilter = None  # optional fast path: (line, json_start) -> True when the line was handled

    def feed(self, lines: list[bytes]) -> int:
        """Parse a block of lines; returns the number of non-empty lines."""
        col = self.col
        message = self.message
        prefilter = self.prefilter
        n = garbage = control = 0
        for line in lines:
            i = line.find(b"{")
            if i < 0:
                if line.strip():
                    n += 1
                    if b"<->" in line:
                        control += 1
                        self.market = market_of(line.split(b" ", 1)[0].decode("utf-8", "replace")) \
                            or self.default_market
                    else:
                        garbage += 1
                continue
            n += 1
            if i and not 48 <= line[0] <= 57 and b"<-" in line[:i]:
                control += 1  # a message we sent, in a cryptofeed capture
                continue
            if prefilter is not None and prefilter(line, i):
                continue
            self._line, self._i = line, i
            try:
                msg = loads(line[i:] if i else line)
            except JSON_ERRORS:
                garbage += 1
                continue
            if type(msg) is dict and type(msg.get("t")) is str and ("conn" in msg or "format" in msg):
                self._wrapper(msg)
            else:
                message(msg)
        if garbage:
            col.skip(R.GARBAGE, n=garbage)
        if control:
            col.skip(R.CONTROL, n=control)
        return n

    def _wrapper(self, rec: dict) -> None:
        t = rec["t"]
        conn = rec.get("conn")
        if t == "recv":
            data = rec.get("data")
            self._recv_s = rec.get("ts")
            self.market = self._conn_market.get(conn if type(conn) is str else None, self.default_market)
            try:
                if type(data) is str or type(data) is bytes:
                    try:
                        msg = loads(data)
                    except JSON_ERRORS:
                        self.col.skip(R.GARBAGE)
                        return
                else:
                    msg = data
                self.message(msg)
            finally:
                self._recv_s = None
        elif t == "connect":
            addr = rec.get("addr")
            if type(conn) is str and type(addr) is str:
                self._conn_market[conn] = market_of(addr) or self.default_market
            self.col.skip(R.CONTROL)
        elif t == "http":
            self._recv_s = rec.get("ts")
            try:
                url, data = rec.get("url"), rec.get("data")
                if type(url) is str and type(data) is str and self.http(url, data):
                    return
            finally:
                self._recv_s = None
            self.col.skip(R.CONTROL)
        elif t in WRAPPER_RECORDS:
            self.col.skip(R.CONTROL)
        else:  # not a wrapper record after all: a message with a string field "t"
            self.message(rec)

    # -- to override ---------------------------------------------------------------------------

    def message(self, msg) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def http(self, url: str, body: str) -> bool:
        """A REST response recorded in a capture; True when it was used."""
        return False

    def malformed(self, code: int = -1) -> None:
        self.col.skip(R.MALFORMED, code)
