"""Column-wise accumulation of parsed events, and the final step from columns to EventBatches.

Parsers append raw field values (strings or numbers, as the exchange sent them) to plain Python
lists in a :class:`Chunk`; at the end of every decoded block the chunk becomes numpy arrays in one
go (:meth:`Collector.add_chunk`), so no Python object per event survives a block. Values of the
wrong type become NaN / -1 there and are dropped, and counted, by :func:`finish`.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from liqdesk.core.events import (
    BOOK_DTYPE,
    EXCHANGES,
    FUNDING_DTYPE,
    KINDS,
    LIQUIDATION_DTYPE,
    MARK_DTYPE,
    OI_DTYPE,
    TRADE_DTYPE,
    EventBatch,
    make_batch,
)

from . import report as R
from .markets import choose_market, kept


def _with(dtype: np.dtype, *extra: tuple[str, str]) -> np.dtype:
    return np.dtype(list(dtype.descr) + list(extra))


#: Internal arrays: the public dtypes plus ``sym`` (symbol code) and, for trades, the trade id.
INTERNAL: dict[str, np.dtype] = {
    "trades": _with(TRADE_DTYPE, ("sym", "i4"), ("id", "i8")),
    "aggtrades": _with(TRADE_DTYPE, ("sym", "i4"), ("id", "i8")),
    "marks": _with(MARK_DTYPE, ("sym", "i4")),
    "open_interest": _with(OI_DTYPE, ("sym", "i4")),
    "funding": _with(FUNDING_DTYPE, ("sym", "i4")),
    "liquidations": _with(LIQUIDATION_DTYPE, ("sym", "i4")),
    "book": _with(BOOK_DTYPE, ("sym", "i4")),
}

#: Plausible event times (ms): 1973 .. 2286. Anything else is a unit mistake or garbage.
MIN_TIME_MS = 100_000_000_000
MAX_TIME_MS = 10_000_000_000_000

#: Events per output batch (batches are cut at time boundaries, never inside one timestamp).
BATCH_EVENTS = 1_000_000

# The rules of liqdesk.core.events.validate_array, as masks (rows failing them are dropped here).
_POSITIVE = {"trades": ("price", "size"), "marks": ("price",), "liquidations": ("price", "size", "notional"),
             "book": ("price",)}
_NON_NEGATIVE = {"open_interest": ("oi_base", "oi_notional"), "book": ("size",)}
_FINITE = {"funding": ("rate",)}
_SIDED = ("trades", "liquidations", "book")

_NAN = float("nan")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


# ---------------------------------------------------------------------------------------------
# conversions: a fast numpy path, and a per-value fallback when the list holds the odd bad value


def _float(v) -> float:
    t = type(v)
    if t is bytes:
        v, t = v.decode("utf-8", "replace"), str
    if t is str or t is float or t is int:
        try:
            return float(v)
        except (ValueError, OverflowError):
            return _NAN
    return _NAN


def f8(values: list) -> np.ndarray:
    """float64 array of exchange values (numbers or numeric strings); bad ones become NaN."""
    n = len(values)
    try:
        arr = np.array(values, dtype=np.float64)
        if arr.shape == (n,):
            return arr
    except (ValueError, TypeError, OverflowError):
        pass
    return np.fromiter((_float(v) for v in values), dtype=np.float64, count=n)


def _int(v) -> int:
    t = type(v)
    try:
        if t is bytes:
            v, t = v.decode("ascii", "replace"), str
        if t is str:
            v = int(v) if v.strip().lstrip("-").isdigit() else float(v)
            t = type(v)
        if t is float:
            return int(v) if math.isfinite(v) and abs(v) < 9e18 else -1
        if t is int:
            return v if _I64_MIN <= v <= _I64_MAX else -1
    except (ValueError, OverflowError):
        return -1
    return -1


def i8(values: list) -> np.ndarray:
    """int64 array (times, ids); bad values become -1."""
    n = len(values)
    try:
        arr = np.array(values, dtype=np.int64)
        if arr.shape == (n,):
            return arr
    except (ValueError, TypeError, OverflowError):
        pass
    return np.fromiter((_int(v) for v in values), dtype=np.int64, count=n)


def _id(v) -> int:
    t = type(v)
    if t is int and _I64_MIN <= v <= _I64_MAX:
        return v
    if t is str:
        if v.isdigit() and len(v) < 19:
            return int(v)
        return hash(v)
    return hash(repr(v))


def ids(values: list) -> np.ndarray:
    """int64 ids: numeric ids as they are, others (UUIDs...) hashed, for duplicate detection."""
    n = len(values)
    try:
        arr = np.array(values, dtype=np.int64)
        if arr.shape == (n,):
            return arr
    except (ValueError, TypeError, OverflowError):
        pass
    return np.fromiter((_id(v) for v in values), dtype=np.int64, count=n)


def levels(lv: list) -> tuple[np.ndarray, np.ndarray]:
    """(price, size) of book levels given as ``[price, size, ...]`` lists."""
    n = len(lv)
    if n == 0:
        return np.empty(0), np.empty(0)
    try:
        arr = np.array(lv, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] >= 2:
            return arr[:, 0].copy(), arr[:, 1].copy()
    except (ValueError, TypeError, OverflowError):
        pass
    px = np.full(n, np.nan)
    sz = np.full(n, np.nan)
    for i, level in enumerate(lv):
        if type(level) is list and len(level) >= 2:
            px[i] = _float(level[0])
            sz[i] = _float(level[1])
    return px, sz


class FloatCache:
    """Decimal strings -> floats through a dict: book prices and sizes repeat a lot (a capture of
    445k BTC book rows has 33k distinct strings), and a lookup is cheaper than parsing."""

    LIMIT = 500_000

    def __init__(self) -> None:
        self.d: dict = {}

    def convert(self, tokens: list) -> np.ndarray:
        """float64 array of hashable tokens (str or bytes); bad ones become NaN."""
        d = self.d
        missing = set(tokens).difference(d)
        if missing:
            if len(d) + len(missing) > self.LIMIT:
                d.clear()
                missing = set(tokens)
            for tok in missing:
                d[tok] = _float(tok)
        return np.fromiter(map(d.__getitem__, tokens), dtype=np.float64, count=len(tokens))


# ---------------------------------------------------------------------------------------------


class Chunk:
    """Raw columns of one block of lines. Parsers append to the tuples' lists, all or nothing per
    event (they read every field first, then append)."""

    __slots__ = ("tr", "ag", "mk", "oi", "fu", "lq", "bk", "lv", "tok")

    def __init__(self) -> None:
        self.tr: tuple[list, ...] = ([], [], [], [], [], [])  # sym, time, side, price, size, id
        self.ag: tuple[list, ...] = ([], [], [], [], [], [])  # aggregate trades, same columns
        self.mk: tuple[list, ...] = ([], [], [])  # sym, time, price
        self.oi: tuple[list, ...] = ([], [], [], [])  # sym, time, oi_base, oi_notional
        self.fu: tuple[list, ...] = ([], [], [])  # sym, time, rate
        self.lq: tuple[list, ...] = ([], [], [], [], [])  # sym, time, side, price, size
        # per book message: sym, time, snapshot, n_bids, n_asks, size multiplier, size in quote?,
        # and whether its levels are in ``tok`` (pre-split number tokens) rather than ``lv``
        self.bk: tuple[list, ...] = ([], [], [], [], [], [], [], [])
        self.lv: list = []  # levels as ``[price, size, ...]`` lists, bids then asks, per message
        self.tok: list = []  # or as b"price,size,price,size..." segments, one per side

    def add_book(self, code: int, t, snapshot: bool, bids: list, asks: list,
                 mult: float = 1.0, inverse: bool = False) -> None:
        """One book message whose ``bids`` and ``asks`` are lists of levels."""
        c = self.bk
        c[0].append(code)
        c[1].append(t)
        c[2].append(snapshot)
        c[3].append(len(bids))
        c[4].append(len(asks))
        c[5].append(mult)
        c[6].append(inverse)
        c[7].append(False)
        self.lv.extend(bids)
        self.lv.extend(asks)


def chunk_arrays(c: Chunk, exchange: int, floats: FloatCache | None = None) -> dict[str, np.ndarray]:
    """The chunk's columns as internal structured arrays (unvalidated)."""
    out: dict[str, np.ndarray] = {}
    for cols, kind in ((c.tr, "trades"), (c.ag, "aggtrades")):
        if cols[0]:
            a = np.empty(len(cols[0]), INTERNAL[kind])
            a["sym"] = cols[0]
            a["time_ms"] = i8(cols[1])
            a["exchange"] = exchange
            a["side"] = cols[2]
            a["price"] = f8(cols[3])
            a["size"] = f8(cols[4])
            a["id"] = ids(cols[5])
            out[kind] = a
    if c.mk[0]:
        a = np.empty(len(c.mk[0]), INTERNAL["marks"])
        a["sym"], a["time_ms"], a["exchange"], a["price"] = c.mk[0], i8(c.mk[1]), exchange, f8(c.mk[2])
        out["marks"] = a
    if c.oi[0]:
        a = np.empty(len(c.oi[0]), INTERNAL["open_interest"])
        a["sym"], a["time_ms"], a["exchange"] = c.oi[0], i8(c.oi[1]), exchange
        a["oi_base"], a["oi_notional"] = f8(c.oi[2]), f8(c.oi[3])
        out["open_interest"] = a
    if c.fu[0]:
        a = np.empty(len(c.fu[0]), INTERNAL["funding"])
        a["sym"], a["time_ms"], a["exchange"], a["rate"] = c.fu[0], i8(c.fu[1]), exchange, f8(c.fu[2])
        out["funding"] = a
    if c.lq[0]:
        a = np.empty(len(c.lq[0]), INTERNAL["liquidations"])
        a["sym"], a["time_ms"], a["exchange"], a["side"] = c.lq[0], i8(c.lq[1]), exchange, c.lq[2]
        px, sz = f8(c.lq[3]), f8(c.lq[4])
        a["price"], a["size"] = px, sz
        with np.errstate(all="ignore"):
            a["notional"] = px * sz
        out["liquidations"] = a
    if c.bk[0]:
        out["book"] = _book_arrays(c, exchange, floats or FloatCache())
    return out


def _book_arrays(c: Chunk, exchange: int, floats: FloatCache) -> np.ndarray:
    sym, times, snap, nb, na, mult, inv, fast = c.bk
    m = len(sym)
    nb_a = np.array(nb, dtype=np.int64)
    na_a = np.array(na, dtype=np.int64)
    per = nb_a + na_a
    if not c.tok:
        px, sz = levels(c.lv)
    else:
        values = floats.convert(b",".join(c.tok).split(b","))
        if not c.lv:
            px, sz = values[0::2], values[1::2]
        else:  # both kinds of messages: put each one's rows back in stream order
            rows_fast = np.repeat(np.array(fast, dtype=bool), per)
            px = np.empty(len(rows_fast))
            sz = np.empty(len(rows_fast))
            px[rows_fast], sz[rows_fast] = values[0::2], values[1::2]
            px[~rows_fast], sz[~rows_fast] = levels(c.lv)
    counts = np.empty(2 * m, dtype=np.int64)
    counts[0::2] = nb_a
    counts[1::2] = na_a
    a = np.empty(int(per.sum()), INTERNAL["book"])
    a["side"] = np.repeat(np.tile(np.array([1, -1], dtype=np.int8), m), counts)
    a["time_ms"] = np.repeat(i8(times), per)
    a["sym"] = np.repeat(np.array(sym, dtype=np.int32), per)
    a["snapshot"] = np.repeat(np.array(snap, dtype=bool), per)
    a["exchange"] = exchange
    a["price"] = px
    mult_a = np.array(mult, dtype=np.float64)
    inv_a = np.array(inv, dtype=bool)
    with np.errstate(all="ignore"):
        if np.any(mult_a != 1.0):
            sz = sz * np.repeat(mult_a, per)
        if inv_a.any():
            rows_inv = np.repeat(inv_a, per)
            sz = np.where(rows_inv, sz / px, sz)
    a["size"] = sz
    return a


class Collector:
    """Everything parsed so far, over all inputs: arrays per kind with a symbol code column, lines
    and skip reasons per symbol code (-1 = no symbol), gaps per symbol code."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        self.lines: list[int] = []
        self.exchanges: list[set[str]] = []
        #: per symbol code, the exchanges' own ids of it, e.g. {("okx", "BTC-USDT-SWAP")}
        self.natives: list[set[tuple[str, str]]] = []
        self.reasons: Counter = Counter()
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in INTERNAL}
        self.gaps: list[tuple[int, R.Gap]] = []
        self.floats = FloatCache()

    def code(self, unified: str, exchange: str, native: str | None = None) -> int:
        """The code of a unified symbol; ``native``: the exchange's own id of it."""
        code = self.codes.get(unified)
        if code is None:
            code = self.codes[unified] = len(self.names)
            self.names.append(unified)
            self.lines.append(0)
            self.exchanges.append(set())
            self.natives.append(set())
        self.exchanges[code].add(exchange)
        self.natives[code].add((exchange, native or unified))
        return code

    def skip(self, reason: str, code: int = -1, n: int = 1) -> None:
        self.reasons[(code, reason)] += n

    def gap(self, code: int, gap: R.Gap) -> None:
        self.gaps.append((code, gap))

    def add_chunk(self, chunk: Chunk, exchange: int) -> None:
        for kind, arr in chunk_arrays(chunk, exchange, self.floats).items():
            self.parts[kind].append(arr)


# ---------------------------------------------------------------------------------------------
# the end: choose the symbol, merge, drop duplicates and invalid rows, sort, cut into batches


def _public(kind: str, arr: np.ndarray) -> np.ndarray:
    dtype = KINDS[kind]
    out = np.empty(len(arr), dtype=dtype)
    for name in dtype.names:
        out[name] = arr[name]
    return out


def _first_rows(keys: list[np.ndarray]) -> np.ndarray:
    """For every row, the index of the first row (in input order, i.e. stream order) with the
    same key tuple; a row that is the first of its key points at itself."""
    n = len(keys[0])
    if n < 2:
        return np.arange(n)
    order = np.lexsort(keys[::-1])  # stable: equal keys stay in input order
    same = np.ones(n - 1, dtype=bool)
    for k in keys:
        ks = k[order]
        same &= ks[1:] == ks[:-1]
    # in sorted order, each row's group starts at the last position that does not continue a group
    starts = np.concatenate(([True], ~same))
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    first = np.empty(n, dtype=np.intp)
    first[order] = order[group_start]
    return first


def _first_of_each(keys: list[np.ndarray]) -> np.ndarray:
    """Mask keeping the first row (in input order) of every distinct key tuple."""
    first = _first_rows(keys)
    return first == np.arange(len(first))


#: what must match for a trade with an id already seen to be a repeat, not a conflicting copy
_TRADE_CONTENT = ("time_ms", "side", "price", "size")


def _drop_duplicate_trades(trades: np.ndarray, report: R.ImportReport) -> np.ndarray:
    """Keep the first trade of every (exchange, id), in stream order. The others are counted as
    duplicates when they repeat it exactly, as conflicting duplicates when their time, side,
    price or size differ (a damaged or forged copy must neither replace the trade it copies nor
    pass for a harmless repeat)."""
    first = _first_rows([trades["exchange"], trades["id"]])
    later = np.flatnonzero(first != np.arange(len(trades)))
    if not len(later):
        return trades
    conflicting = np.zeros(len(later), dtype=bool)
    for name in _TRADE_CONTENT:
        col = trades[name]
        conflicting |= col[later] != col[first[later]]
    n_conflicting = int(conflicting.sum())
    if len(later) > n_conflicting:
        report.skipped[R.DUPLICATE.format("trades")] += len(later) - n_conflicting
    if n_conflicting:
        report.skipped[R.CONFLICTING.format("trades")] += n_conflicting
    keep = np.ones(len(trades), dtype=bool)
    keep[later] = False
    return trades[keep]


def valid_mask(kind: str, arr: np.ndarray) -> np.ndarray:
    t = arr["time_ms"]
    ok = (t >= MIN_TIME_MS) & (t <= MAX_TIME_MS) & (arr["exchange"] < len(EXCHANGES))
    for name in _POSITIVE.get(kind, ()):
        col = arr[name]
        ok &= (col > 0) & (col < np.inf)
    for name in _NON_NEGATIVE.get(kind, ()):
        col = arr[name]
        ok &= (col >= 0) & (col < np.inf)
    for name in _FINITE.get(kind, ()):
        ok &= np.isfinite(arr[name])
    if kind in _SIDED:
        ok &= (arr["side"] == 1) | (arr["side"] == -1)
    return ok


def _trade_id_gaps(trades: np.ndarray) -> list[R.Gap]:
    """Binance trade and aggregate-trade ids are consecutive per symbol: a jump is lost trades."""
    gaps: list[R.Gap] = []
    rows = trades[trades["exchange"] == EXCHANGES.index("binance")]
    if len(rows) < 2:
        return gaps
    rows = rows[np.argsort(rows["id"], kind="stable")]
    step = np.diff(rows["id"])
    for i in np.flatnonzero(step > 1)[:10_000]:
        t0, t1 = int(rows["time_ms"][i]), int(rows["time_ms"][i + 1])
        gaps.append(R.Gap(min(t0, t1), max(t0, t1), "binance", "trades",
                          f"trade ids skip {int(step[i]) - 1}"))
    return gaps


def finish(col: Collector, wanted: str | None, report: R.ImportReport) -> list[EventBatch]:
    """Fill ``report`` and return the batches of the chosen symbol (empty list when none)."""
    code = choose_market(col, wanted, report)
    report.symbols = {n: col.lines[i] for i, n in enumerate(col.names) if col.lines[i]}
    for (c, reason), n in col.reasons.items():
        if c == -1 or c == code:
            report.skipped[reason] += n
    others = sum(n for i, n in enumerate(col.lines) if i != code)
    if others:
        report.skipped[R.OTHER_SYMBOLS] += others
    if code is None:
        report.events = {k: 0 for k in KINDS}
        return []
    report.symbol = col.names[code]
    report.exchanges = sorted(col.exchanges[code], key=EXCHANGES.index)

    arrays: dict[str, np.ndarray] = {}
    single = len(col.names) == 1
    for kind, parts in col.parts.items():
        rows = parts if single else [p[p["sym"] == code] for p in parts]
        rows = [r for r in rows if len(r)]
        if len(rows) == 1:
            arrays[kind] = rows[0]
        else:
            arrays[kind] = np.concatenate(rows) if rows else np.empty(0, INTERNAL[kind])

    # aggregate trades only where the exchange gave no plain trade stream (the same trades twice)
    agg = arrays.pop("aggtrades")
    if len(agg):
        has_trades = np.isin(agg["exchange"], np.unique(arrays["trades"]["exchange"]))
        if has_trades.any():
            report.skipped[R.SUPERSEDED_AGG] += int(has_trades.sum())
            agg = agg[~has_trades]
        arrays["trades"] = np.concatenate([arrays["trades"], agg])

    # invalid rows first (so that a broken copy never wins over a good one), then duplicates
    for kind in KINDS:
        arr = arrays[kind]
        if len(arr):
            ok = valid_mask(kind, arr)
            if not ok.all():
                report.skipped[R.INVALID_ROWS.format(kind.replace("_", " "))] += int((~ok).sum())
                arrays[kind] = arr[ok]
    if len(arrays["trades"]) > 1:
        arrays["trades"] = _drop_duplicate_trades(arrays["trades"], report)
    for kind in ("liquidations", "marks", "open_interest", "funding"):
        arr = arrays[kind]
        if len(arr) > 1:
            keep = _first_of_each([arr[n] for n in arr.dtype.names if n != "sym"])
            if not keep.all():
                report.skipped[R.DUPLICATE.format(kind.replace("_", " "))] += int((~keep).sum())
                arrays[kind] = arr[keep]

    gaps = [g for c, g in col.gaps if c == code and MIN_TIME_MS <= g.start_ms <= g.end_ms <= MAX_TIME_MS]
    gaps += _trade_id_gaps(arrays["trades"])

    public: dict[str, np.ndarray] = {}
    for kind in KINDS:
        arr = arrays[kind]
        if not len(arr):
            continue
        t = arr["time_ms"]
        if len(t) > 1 and np.any(t[1:] < t[:-1]):
            arr = arr[np.argsort(t, kind="stable")]
        public[kind] = _public(kind, arr)

    batches = _cut(public, report)
    report.events = {k: 0 for k in KINDS}
    for b in batches:
        for k, a in b.arrays().items():
            report.events[k] += len(a)
    spans = [b.time_span() for b in batches]
    spans = [s for s in spans if s]
    report.span_ms = (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
    report.gaps = sorted(gaps)
    kept(report)
    return batches


def _cut(public: dict[str, np.ndarray], report: R.ImportReport) -> list[EventBatch]:
    public = {k: a for k, a in public.items() if len(a)}
    if not public:
        return []
    times = np.sort(np.concatenate([a["time_ms"] for a in public.values()]), kind="stable")
    bounds = [int(times[0])]
    for i in range(BATCH_EVENTS, len(times), BATCH_EVENTS):
        t = int(times[i])
        if t > bounds[-1]:
            bounds.append(t)
    bounds.append(int(times[-1]) + 1)
    batches = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part = {}
        for kind, arr in public.items():
            t = arr["time_ms"]
            a, b = np.searchsorted(t, lo, "left"), np.searchsorted(t, hi, "left")
            if a == 0 and b == len(arr):
                part[kind] = arr  # whole: no slice, so make_batch need not copy it again
            elif b > a:
                part[kind] = arr[a:b]
        if not part:
            continue
        try:
            batches.append(make_batch(**part))
        except ValueError:  # cannot happen after valid_mask; never raise from an import
            for kind, arr in part.items():
                report.skipped[R.INVALID_ROWS.format(kind.replace("_", " "))] += len(arr)
    return batches
