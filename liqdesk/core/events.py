"""Normalized market events, moved in numpy batches.

Every source (simulator, live exchanges, replay, importers) emits :class:`EventBatch` objects: one
structured array per event kind, each sorted by time. Nothing downstream sees exchange-specific
messages, and nothing moves one Python object per trade.

Units, the same for every kind:

- ``time_ms``   int64, milliseconds since the Unix epoch (UTC), the exchange's event time.
- ``exchange``  uint8, an index into :data:`EXCHANGES`.
- ``price``     float64, quote currency (USDT/USDC/USD) per one unit of base currency.
- ``size``      float64, base currency (e.g. BTC), always > 0.
- ``notional``  float64, quote currency (price × size).
- ``side``      int8, +1 or -1; its meaning is given per kind below.

Validation happens once, on entry (:func:`validate_batch`): NaN, inf, non-positive prices or sizes,
unknown exchanges, bad sides and time running backwards by more than :data:`TIME_TOLERANCE_MS`
raise ``ValueError`` naming the field and the count of bad rows. A validated batch is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

#: Exchanges liqdesk knows, in id order. The id is stored in the ``exchange`` field of every event.
EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid", "bitget")
EXCHANGE_ID: dict[str, int] = {name: i for i, name in enumerate(EXCHANGES)}

#: How far (ms) an event may be older than the one before it in the same stream. Venues stamp
#: events on different machines, and a combined stream interleaves them, so a few seconds of
#: disorder is normal; more than that means a corrupt or mis-sorted source.
TIME_TOLERANCE_MS = 5_000

#: Trades: ``side`` is the taker (aggressor) side, +1 buy, -1 sell.
TRADE_DTYPE = np.dtype(
    [("time_ms", "i8"), ("exchange", "u1"), ("side", "i1"), ("price", "f8"), ("size", "f8")]
)
#: Mark price (or index price, same layout).
MARK_DTYPE = np.dtype([("time_ms", "i8"), ("exchange", "u1"), ("price", "f8")])
#: Open interest: ``oi_base`` in base currency, ``oi_notional`` in quote currency.
OI_DTYPE = np.dtype(
    [("time_ms", "i8"), ("exchange", "u1"), ("oi_base", "f8"), ("oi_notional", "f8")]
)
#: Funding: ``rate`` per funding interval as a fraction (0.0001 = 0.01 %); may be negative.
FUNDING_DTYPE = np.dtype([("time_ms", "i8"), ("exchange", "u1"), ("rate", "f8")])
#: Liquidations: ``side`` is the side of the *liquidated position*, +1 long, -1 short
#: (a liquidated long is a forced market sell).
LIQUIDATION_DTYPE = np.dtype(
    [
        ("time_ms", "i8"),
        ("exchange", "u1"),
        ("side", "i1"),
        ("price", "f8"),
        ("size", "f8"),
        ("notional", "f8"),
    ]
)
#: Order book rows: ``side`` +1 bid, -1 ask; ``size`` in base currency, 0 deletes the level.
#: Rows with ``snapshot`` True and the same (time, exchange) replace that exchange's whole book.
BOOK_DTYPE = np.dtype(
    [
        ("time_ms", "i8"),
        ("exchange", "u1"),
        ("side", "i1"),
        ("snapshot", "?"),
        ("price", "f8"),
        ("size", "f8"),
    ]
)

#: Kind name -> dtype, in the order batches list them.
KINDS: dict[str, np.dtype] = {
    "trades": TRADE_DTYPE,
    "marks": MARK_DTYPE,
    "open_interest": OI_DTYPE,
    "funding": FUNDING_DTYPE,
    "liquidations": LIQUIDATION_DTYPE,
    "book": BOOK_DTYPE,
}

# Per kind: fields that must be finite and > 0, fields that must be finite and >= 0,
# fields that must be finite (any sign), and the allowed values of ``side``.
_POSITIVE = {
    "trades": ("price", "size"),
    "marks": ("price",),
    "open_interest": (),
    "funding": (),
    "liquidations": ("price", "size", "notional"),
    "book": ("price",),
}
_NON_NEGATIVE = {"open_interest": ("oi_base", "oi_notional"), "book": ("size",)}
_FINITE = {"funding": ("rate",)}
_SIDES = {"trades": (-1, 1), "liquidations": (-1, 1), "book": (-1, 1)}


def empty(kind: str) -> np.ndarray:
    """A read-only empty array of the given kind."""
    arr = np.empty(0, dtype=KINDS[kind])
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class EventBatch:
    """One immutable batch of normalized events; each array is sorted by ``time_ms``.

    Construct with :func:`make_batch` (which validates); the dataclass itself does not check.
    """

    trades: np.ndarray = field(default_factory=lambda: empty("trades"))
    marks: np.ndarray = field(default_factory=lambda: empty("marks"))
    open_interest: np.ndarray = field(default_factory=lambda: empty("open_interest"))
    funding: np.ndarray = field(default_factory=lambda: empty("funding"))
    liquidations: np.ndarray = field(default_factory=lambda: empty("liquidations"))
    book: np.ndarray = field(default_factory=lambda: empty("book"))
    #: True when every array passed :func:`validate_array` (set by :func:`make_batch` and the
    #: functions here that derive batches from checked ones); consumers then only check time
    #: order against what they have already seen.
    checked: bool = field(default=False, compare=False, repr=False)

    def arrays(self) -> dict[str, np.ndarray]:
        """Kind name -> array, for every kind (empty ones included)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in KINDS}

    def __len__(self) -> int:
        return sum(len(a) for a in self.arrays().values())

    def time_span(self) -> tuple[int, int] | None:
        """(first, last) event time in ms over all kinds, or None for an empty batch."""
        lo = [int(a["time_ms"][0]) for a in self.arrays().values() if len(a)]
        hi = [int(a["time_ms"][-1]) for a in self.arrays().values() if len(a)]
        return (min(lo), max(hi)) if lo else None


def _bad_rows(kind: str, arr: np.ndarray, last_time_ms: int | None) -> list[tuple[str, int, str]]:
    """(field, count, reason) for every rule the array breaks."""
    problems: list[tuple[str, int, str]] = []
    for name in _POSITIVE.get(kind, ()):
        col = arr[name]
        bad = int(np.count_nonzero(~((col > 0) & (col < np.inf))))
        if bad:
            problems.append((name, bad, "NaN, inf or not > 0"))
    for name in _NON_NEGATIVE.get(kind, ()):
        col = arr[name]
        bad = int(np.count_nonzero(~((col >= 0) & (col < np.inf))))
        if bad:
            problems.append((name, bad, "NaN, inf or negative"))
    for name in _FINITE.get(kind, ()):
        bad = int(np.count_nonzero(~np.isfinite(arr[name])))
        if bad:
            problems.append((name, bad, "NaN or inf"))
    bad = int(np.count_nonzero(arr["exchange"] >= len(EXCHANGES)))
    if bad:
        problems.append(("exchange", bad, "unknown exchange id"))
    if kind in _SIDES:
        side = arr["side"]
        bad = int(np.count_nonzero((side != 1) & (side != -1)))
        if bad:
            problems.append(("side", bad, "not +1 or -1"))
    times = arr["time_ms"]
    if len(times):
        prev = np.maximum.accumulate(times)
        if last_time_ms is not None:
            prev = np.maximum(prev, last_time_ms)
        back = int(np.count_nonzero(times[1:] < prev[:-1] - TIME_TOLERANCE_MS))
        if last_time_ms is not None and times[0] < last_time_ms - TIME_TOLERANCE_MS:
            back += 1
        if back:
            problems.append(("time_ms", back, f"more than {TIME_TOLERANCE_MS} ms backwards"))
    return problems


def validate_array(kind: str, arr: np.ndarray, last_time_ms: int | None = None) -> np.ndarray:
    """Check one array of events and return it sorted by time and read-only.

    ``last_time_ms`` is the newest time already seen on this stream, so that a batch starting
    too far in the past is caught too. Raises ``ValueError("trades.price: 3 rows are NaN, inf or
    not > 0")`` style messages listing every broken field and its count of bad rows.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")
    dtype = KINDS[kind]
    if not isinstance(arr, np.ndarray) or arr.dtype.names is None:
        raise ValueError(f"{kind}: expected a numpy structured array with fields {dtype.names}")
    missing = [n for n in dtype.names if n not in arr.dtype.names]
    if missing:
        raise ValueError(f"{kind}: missing field(s) {', '.join(missing)}")
    if arr.dtype != dtype:
        converted = np.empty(len(arr), dtype=dtype)
        for name in dtype.names:
            converted[name] = arr[name]
        arr = converted
    problems = _bad_rows(kind, arr, last_time_ms)
    if problems:
        raise ValueError(
            "; ".join(f"{kind}.{name}: {count} row{'s' if count != 1 else ''} {why}"
                      for name, count, why in problems)
        )
    times = arr["time_ms"]
    if len(times) > 1 and np.any(times[1:] < times[:-1]):
        arr = arr[np.argsort(times, kind="stable")]
    elif arr.flags.writeable and arr.base is not None:
        arr = arr.copy()
    arr.flags.writeable = False
    return arr


#: The kinds the level model applies (liquidations only teach its leverage mix).
LEVEL_KINDS = ("trades", "marks", "open_interest")


def validate_level_kinds(batch: EventBatch, last_time_ms: int | None) -> dict[str, np.ndarray]:
    """:func:`validate_array` for every kind the level model applies, all checked before any is
    used (one ValueError listing every problem), so that a bad row changes nothing."""
    checked, errors = {}, []
    for kind in LEVEL_KINDS:
        try:
            checked[kind] = validate_array(kind, getattr(batch, kind), last_time_ms)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("; ".join(errors))
    return checked


def check_order(kind: str, arr: np.ndarray, last_time_ms: int | None) -> None:
    """For an already validated array: ValueError if it starts too far before ``last_time_ms``."""
    if last_time_ms is not None and len(arr) and arr["time_ms"][0] < last_time_ms - TIME_TOLERANCE_MS:
        bad = int(np.count_nonzero(arr["time_ms"] < last_time_ms - TIME_TOLERANCE_MS))
        raise ValueError(f"{kind}.time_ms: {bad} row{'s' if bad != 1 else ''} more than "
                         f"{TIME_TOLERANCE_MS} ms backwards")


def make_batch(last_time_ms: int | None = None, **kinds: np.ndarray) -> EventBatch:
    """Validate arrays (keyword per kind, e.g. ``trades=...``) and build an :class:`EventBatch`.

    Raises ``ValueError`` naming the field and the count of bad rows; nothing is built then.
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown event kind(s) {', '.join(unknown)}; expected {', '.join(KINDS)}")
    checked = {}
    errors = []
    for kind, arr in kinds.items():
        if arr is None:
            continue
        try:
            checked[kind] = validate_array(kind, arr, last_time_ms)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("; ".join(errors))
    return EventBatch(**checked, checked=True)


def concat_batches(batches: list[EventBatch]) -> EventBatch:
    """One batch holding every event of ``batches``, each kind merged and sorted by time (stable)."""
    merged = {}
    for kind in KINDS:
        parts = [getattr(b, kind) for b in batches if len(getattr(b, kind))]
        if not parts:
            continue
        arr = np.concatenate(parts)
        arr = arr[np.argsort(arr["time_ms"], kind="stable")]
        arr.flags.writeable = False
        merged[kind] = arr
    return EventBatch(**merged, checked=all(b.checked for b in batches))


def slice_batch(batch: EventBatch, start_ms: int | None = None, end_ms: int | None = None) -> EventBatch:
    """Events with ``start_ms <= time_ms < end_ms`` (either bound may be None)."""
    out = {}
    for kind, arr in batch.arrays().items():
        lo, hi = np.searchsorted(arr["time_ms"], [start_ms if start_ms is not None else np.iinfo(np.int64).min,
                                                  end_ms if end_ms is not None else np.iinfo(np.int64).max])
        out[kind] = arr[lo:hi]
    return EventBatch(**out, checked=batch.checked)


def records(kind: str, **columns) -> np.ndarray:
    """Build an array of ``kind`` from equal-length columns (unvalidated; pass to make_batch).

    ``exchange`` may be given as a name or as ids. Missing ``snapshot`` defaults to False.
    """
    dtype = KINDS[kind]
    lengths = {len(np.atleast_1d(v)) for v in columns.values()}
    n = max(lengths) if lengths else 0
    arr = np.zeros(n, dtype=dtype)
    for name, values in columns.items():
        if name not in dtype.names:
            raise ValueError(f"{kind}: no field {name!r}")
        if name == "exchange" and isinstance(values, str):
            if values not in EXCHANGE_ID:
                raise ValueError(f"unknown exchange {values!r}; expected one of {', '.join(EXCHANGES)}")
            values = EXCHANGE_ID[values]
        arr[name] = values
    return arr


def exchange_id(name: str) -> int:
    """The id of an exchange name; ``ValueError`` with the known names otherwise."""
    try:
        return EXCHANGE_ID[name.lower()]
    except KeyError:
        raise ValueError(f"unknown exchange {name!r}; expected one of {', '.join(EXCHANGES)}") from None
