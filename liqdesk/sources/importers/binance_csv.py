"""Binance public futures history CSVs (``binance-csv``), with or without a header row, plain,
compressed or zipped as published:

- ``aggTrades``: ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker``
- ``trades``: ``id,price,qty,quote_qty,time,is_buyer_maker``
- ``bookDepth``: ``timestamp,percentage,depth,notional`` (cumulative depth within ±1..5 % of mid)
- ``metrics``: ``create_time,symbol,sum_open_interest,sum_open_interest_value,...``
- ``liquidationSnapshot`` (the old forceOrder archive): ``time,side,order_type,time_in_force,
  original_quantity,price,average_price,order_status,last_fill_quantity,accumulated_fill_quantity``

``is_buyer_maker`` true means the buyer was the resting order, so the taker sold (side -1).
Times in microseconds (newer archives) are brought to milliseconds. The symbol is read from the
file name (``BTCUSDT-aggTrades-2024-08-08.csv``), or from the ``symbol`` column of metrics; failing
both, from ``--symbol``.

bookDepth becomes one book *snapshot* per timestamp: each band between two percentages becomes one
level at the band's average price (notional / depth of the band) holding the band's depth. It is a
coarse book, but it is what the file says.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import numpy as np

from liqdesk.core.events import EXCHANGE_ID

from . import report as R
from .collect import INTERNAL, Collector, f8, i8
from .symbols import binance_symbol, parse_user_symbol

#: Headerless layouts: kind -> (column count, role -> column index)
LAYOUTS: dict[str, tuple[int, dict[str, int]]] = {
    "aggTrades": (7, {"id": 0, "price": 1, "qty": 2, "time": 5, "maker": 6}),
    "trades": (6, {"id": 0, "price": 1, "qty": 2, "time": 4, "maker": 5}),
    "bookDepth": (4, {"time": 0, "pct": 1, "depth": 2, "notional": 3}),
    "metrics": (8, {"time": 0, "symbol": 1, "oi": 2, "oiv": 3}),
    "liquidationSnapshot": (10, {"time": 0, "side": 1, "qty": 4, "price": 5, "avg": 6, "filled": 9}),
}
#: Header name -> role
ROLES = {
    "agg_trade_id": "id", "id": "id", "price": "price", "quantity": "qty", "qty": "qty",
    "transact_time": "time", "time": "time", "timestamp": "time", "create_time": "time",
    "is_buyer_maker": "maker", "percentage": "pct", "depth": "depth", "notional": "notional",
    "symbol": "symbol", "sum_open_interest": "oi", "sum_open_interest_value": "oiv",
    "side": "side", "original_quantity": "qty", "average_price": "avg",
    "accumulated_fill_quantity": "filled",
}
_FILE_SYMBOL = re.compile(r"^([A-Za-z0-9]{2,}(?:_[A-Za-z0-9]+)?)-[A-Za-z]")
_TRUE = (b"true", b"True", b"TRUE", b"1")
_FALSE = (b"false", b"False", b"FALSE", b"0")


def _is_datetime(field: bytes) -> bool:
    return b"-" in field and b":" in field


def kind_of_header(names: list[str]) -> str | None:
    s = set(names)
    if "agg_trade_id" in s:
        return "aggTrades"
    if "percentage" in s and "depth" in s:
        return "bookDepth"
    if "sum_open_interest" in s:
        return "metrics"
    if "original_quantity" in s:
        return "liquidationSnapshot"
    if "id" in s and "is_buyer_maker" in s:
        return "trades"
    return None


def kind_of_row(fields: list[bytes]) -> str | None:
    n = len(fields)
    last = fields[-1].strip() if fields else b""
    if n == 7 and last in _TRUE + _FALSE:
        return "aggTrades"
    if n == 6 and last in _TRUE + _FALSE:
        return "trades"
    if n == 4 and _is_datetime(fields[0]):
        return "bookDepth"
    if n == 8 and _is_datetime(fields[0]):
        return "metrics"
    if n == 10 and fields[1].strip() in (b"BUY", b"SELL"):
        return "liquidationSnapshot"
    return None


def sniff(line: bytes) -> tuple[str, bool] | None:
    """(kind, has_header) from the first line of a CSV, or None when it is none of ours."""
    fields = line.strip().split(b",")
    if len(fields) < 4:
        return None
    names = [f.strip().decode("ascii", "replace").lower() for f in fields]
    kind = kind_of_header(names)
    if kind is not None:
        return kind, True
    kind = kind_of_row(fields)
    return (kind, False) if kind else None


def _times_ms(values: np.ndarray) -> np.ndarray:
    """Epoch integers in s, ms, us or ns -> ms."""
    t = values.copy()
    ns, us = t >= 10**17, (t >= 10**14) & (t < 10**17)
    t[ns] //= 10**6
    t[us] //= 10**3
    return t


def _datetimes_ms(col: tuple) -> np.ndarray:
    text = np.array(col).astype("U")
    try:
        return text.astype("datetime64[ms]").astype(np.int64)
    except ValueError:
        out = np.full(len(text), -1, dtype=np.int64)
        for i, s in enumerate(text):
            try:
                out[i] = np.datetime64(s, "ms").astype(np.int64)
            except ValueError:
                pass
        return out


def _times(col: tuple) -> np.ndarray:
    if col and _is_datetime(col[0]):
        return _datetimes_ms(col)
    return _times_ms(i8(list(col)))


def _sides(col: tuple, true_side: int) -> np.ndarray:
    m = np.array(col).astype("S8")
    m = np.char.strip(m)
    is_true = np.isin(m, _TRUE)
    is_false = np.isin(m, _FALSE)
    return np.where(is_true, true_side, np.where(is_false, -true_side, 0)).astype(np.int8)


class BinanceCsvParser:
    exchange = "binance"
    fmt = "binance-csv"

    def __init__(self, col: Collector, symbol_hint: str | None = None) -> None:
        self.col = col
        self.xid = EXCHANGE_ID["binance"]
        self.hint = symbol_hint
        self.kind: str | None = None
        self.roles: dict[str, int] = {}
        self.ncol = 0
        self.header: bytes | None = None
        self.file_code = -1
        self._depth: list[tuple[np.ndarray, ...]] = []

    def start_file(self, name: str) -> None:
        self.kind = None
        self.header = None
        self._depth = []
        m = _FILE_SYMBOL.match(PurePath(name).name)
        if m:
            native = m.group(1)
            unified = binance_symbol(native)
        elif self.hint:
            native = self.hint
            unified = parse_user_symbol(self.hint)
        else:
            native = unified = "UNKNOWN"
        self.file_code = self.col.code(unified, self.exchange, native)

    def end_chunk(self) -> None:
        pass

    def end_file(self) -> None:
        if self._depth:
            self._book_depth()
        self._depth = []

    def feed(self, lines: list[bytes]) -> int:
        lines = [ln for ln in lines if ln.strip()]
        if not lines:
            return 0
        n = len(lines)
        if self.kind is None:
            found = sniff(lines[0])
            if found is None:
                self.col.skip(R.UNRECOGNIZED, n=n)
                self.kind = ""
                return n
            self.kind, has_header = found
            self.ncol, self.roles = LAYOUTS[self.kind]
            if has_header:
                names = [f.strip().decode("ascii", "replace").lower() for f in lines[0].split(b",")]
                self.ncol = len(names)
                self.roles = {ROLES[x]: i for i, x in enumerate(names) if x in ROLES}
                self.header = lines[0].strip()
                lines = lines[1:]
                self.col.skip(R.CONTROL)
        if self.kind == "":
            self.col.skip(R.UNRECOGNIZED, n=len(lines))
            return n
        rows = [ln.split(b",") for ln in lines]
        good = [r for r in rows if len(r) == self.ncol]
        bad = len(rows) - len(good)
        if self.header is not None and good:
            head0 = self.header.split(b",", 1)[0]
            kept = [r for r in good if r[0].strip() != head0]
            if len(kept) != len(good):  # header rows repeated inside (concatenated files)
                self.col.skip(R.CONTROL, n=len(good) - len(kept))
                good = kept
        if bad:
            self.col.skip(R.GARBAGE, n=bad)
        if good:
            cols = list(zip(*good, strict=True))
            try:
                getattr(self, "_" + self.kind)(cols)
            except (ValueError, TypeError, KeyError, IndexError) as exc:  # pragma: no cover
                self.col.skip(f"{R.GARBAGE} ({type(exc).__name__})", n=len(good))
        return n

    # -- per kind ------------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        self.col.lines[self.file_code] += n

    def _trade_rows(self, cols: list[tuple], kind: str) -> None:
        r = self.roles
        n = len(cols[0])
        a = np.empty(n, INTERNAL[kind])
        a["sym"] = self.file_code
        a["time_ms"] = _times(cols[r["time"]])
        a["exchange"] = self.xid
        a["side"] = _sides(cols[r["maker"]], -1)
        a["price"] = f8(list(cols[r["price"]]))
        a["size"] = f8(list(cols[r["qty"]]))
        a["id"] = i8(list(cols[r["id"]]))
        self.col.parts[kind].append(a)
        self._count(n)

    def _aggTrades(self, cols: list[tuple]) -> None:  # noqa: N802 - named after the archive
        self._trade_rows(cols, "aggtrades")

    def _trades(self, cols: list[tuple]) -> None:
        self._trade_rows(cols, "trades")

    def _metrics(self, cols: list[tuple]) -> None:
        r = self.roles
        n = len(cols[0])
        a = np.empty(n, INTERNAL["open_interest"])
        names = np.array(cols[r["symbol"]]).astype("U") if "symbol" in r else None
        if names is not None:
            codes = np.empty(n, dtype=np.int32)
            for raw in np.unique(names):
                code = self.col.code(binance_symbol(str(raw).strip()), self.exchange, str(raw).strip())
                hit = names == raw
                codes[hit] = code
                self.col.lines[code] += int(hit.sum())
            a["sym"] = codes
        else:
            a["sym"] = self.file_code
            self._count(n)
        a["time_ms"] = _times(cols[r["time"]])
        a["exchange"] = self.xid
        a["oi_base"] = f8(list(cols[r["oi"]]))
        a["oi_notional"] = f8(list(cols[r["oiv"]]))
        self.col.parts["open_interest"].append(a)

    def _liquidationSnapshot(self, cols: list[tuple]) -> None:  # noqa: N802
        r = self.roles
        n = len(cols[0])
        a = np.empty(n, INTERNAL["liquidations"])
        a["sym"] = self.file_code
        a["time_ms"] = _times(cols[r["time"]])
        a["exchange"] = self.xid
        side = np.char.strip(np.array(cols[r["side"]]).astype("S8"))
        a["side"] = np.where(side == b"SELL", 1, np.where(side == b"BUY", -1, 0))
        price = f8(list(cols[r["price"]]))
        avg = f8(list(cols[r["avg"]])) if "avg" in r else price
        qty = f8(list(cols[r["qty"]]))
        filled = f8(list(cols[r["filled"]])) if "filled" in r else qty
        with np.errstate(invalid="ignore"):
            price = np.where(avg > 0, avg, price)
            size = np.where(filled > 0, filled, qty)
            a["notional"] = price * size
        a["price"], a["size"] = price, size
        self.col.parts["liquidations"].append(a)
        self._count(n)

    def _bookDepth(self, cols: list[tuple]) -> None:  # noqa: N802
        r = self.roles
        self._depth.append((_times(cols[r["time"]]), f8(list(cols[r["pct"]])),
                            f8(list(cols[r["depth"]])), f8(list(cols[r["notional"]]))))
        self._count(len(cols[0]))

    def _book_depth(self) -> None:
        t, pct, depth, notional = (np.concatenate(x) for x in zip(*self._depth, strict=True))
        side = np.where(pct < 0, 1, -1).astype(np.int8)
        order = np.lexsort((np.abs(pct), side, t))
        t, pct, depth, notional, side = t[order], pct[order], depth[order], notional[order], side[order]
        same = np.zeros(len(t), dtype=bool)
        same[1:] = (t[1:] == t[:-1]) & (side[1:] == side[:-1])
        band_depth = depth.copy()
        band_notional = notional.copy()
        band_depth[1:][same[1:]] -= depth[:-1][same[1:]]
        band_notional[1:][same[1:]] -= notional[:-1][same[1:]]
        with np.errstate(all="ignore"):
            price = np.where((band_depth > 0) & (pct != 0), band_notional / band_depth, np.nan)
        a = np.empty(len(t), INTERNAL["book"])
        a["sym"] = self.file_code
        a["time_ms"] = t
        a["exchange"] = self.xid
        a["side"] = side
        a["snapshot"] = True
        a["price"] = price
        a["size"] = band_depth
        # bids first, then asks, within each timestamp (lexsort put asks (-1) first)
        order = np.lexsort((-a["side"], a["time_ms"]))
        self.col.parts["book"].append(a[order])
