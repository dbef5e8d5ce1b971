"""Position age: when the positions behind each level were opened, kept per level.

Why it is exact and cheap. Every removal in the level model is proportional within a cell
(exchange, tier, side, bin): a sweep zeroes the whole cell, an OI fall, a decay or the learned
mix multiply a whole exchange or (exchange, tier). So the split of a cell's notional by opening
time changes only through additions. :class:`PositionAge` keeps, beside the model's stored
notional, *cohort* arrays of the same shape (float32, the model's stored units): the notional
added while each cohort was the current one. Additions go to the current cohort, sweeps zero the
same cells in every cohort, a renormalisation multiplies them all. The cohorts' sum is the
model's stored notional (to float32 rounding).

Cohorts and buckets (market time, never the wall clock: the model advances the age clock to each
operation's event time). A cohort is 5 minutes of opening time. The 12 newest make the bucket
"last hour"; a 5-minute cohort 12 steps old is added into its hour's cohort (24 of them make
"1–24 h"), an hour cohort 24 hours old into its day's cohort (7 make "1–7 d"), a day cohort 7 days
old into "older". Edge precision: a position opened at ``t`` leaves "last hour" at an age between
55 and 60 minutes, "1–24 h" between 23 and 24 hours, "1–7 d" between 6 and 7 days (the cohort
edges are on multiples of 5 min, 1 h and 1 day of event time). The state moves one 5-minute step
at a time whatever the batches, so the split does not depend on how a stream is cut.

Grid storage. A stored column keeps, per (slice, row), the cell's split over the four buckets as
one uint16 code: the four shares quantized to multiples of 1/:data:`QUANT` (1/71, ≤ 0.7 %
per bucket edge) that sum to exactly 1, numbered over the simplex. A filtered read decodes a code
with one table look-up (:func:`share_table`: the selected buckets' share per code), so the
buckets' images always sum to the unfiltered one (to float32 rounding).
"""

from __future__ import annotations

import numpy as np

#: length of a cohort, ms (5 minutes of event time)
STEP_MS = 300_000
#: 5-minute steps in an hour and a day
HOUR_STEPS, DAY_STEPS = 12, 288
#: the buckets, youngest first: (key, label)
BUCKETS: tuple[tuple[str, str], ...] = (("hour", "last hour"), ("day", "1–24 h"),
                                        ("week", "1–7 d"), ("older", "older"))
BUCKET_KEYS = tuple(k for k, _ in BUCKETS)
#: how each edge is placed (for legends and help texts)
EDGE_NOTE = "ages by 5-min / 1-h / 1-d cohorts of event time: edges within 5 min at 1 h, 1 h at 24 h, 1 d at 7 d"

_MINUTES, _HOURS, _DAYS = 12, 24, 7
_H0 = _MINUTES                    # first hour-cohort slot
_D0 = _H0 + _HOURS                # first day-cohort slot
_SUM_H = _D0 + _DAYS              # sum of the hour cohorts ("1–24 h")
_SUM_D = _SUM_H + 1               # sum of the day cohorts ("1–7 d")
_OLDER = _SUM_D + 1               # "older"
N_SLOTS = _OLDER + 1
#: after this many steps without additions every cohort has reached "older"
_CATCH_UP = DAY_STEPS * (_DAYS + 2)

#: shares closer than this to 0 or 1 are taken as 0 or 1 (float32 cohorts against the float64
#: notional: their rounding, not a position)
_SNAP = 1e-5
#: shares are stored as multiples of 1/QUANT: C(QUANT + 3, 3) codes fit in 16 bits
QUANT = 71


def _simplex_tables() -> tuple[np.ndarray, np.ndarray]:
    """(encode [Q+1, Q+1, Q+1] cumulative (K0, K1, K2) -> code, decode [codes, 4] shares·Q)."""
    q = QUANT
    enc = np.zeros((q + 1, q + 1, q + 1), np.uint16)
    dec = []
    for k0 in range(q + 1):
        for k1 in range(k0, q + 1):
            for k2 in range(k1, q + 1):
                enc[k0, k1, k2] = len(dec)
                dec.append((k0, k1 - k0, k2 - k1, q - k2))
    return enc, np.asarray(dec, np.int64)


_ENCODE, _DECODE = _simplex_tables()
_ENCODE_FLAT = _ENCODE.reshape(-1)
#: the code of a cell whose notional is all in "last hour" (also used for empty cells)
YOUNG_CODE = int(_ENCODE[QUANT, QUANT, QUANT])


def parse_ages(text: str) -> tuple[str, ...]:
    """``"hour,day"`` -> the selected bucket keys in bucket order. ValueError on a bad name."""
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    if not names:
        raise ValueError(f"no age bucket given; expected some of {', '.join(BUCKET_KEYS)}")
    for n in names:
        if n not in BUCKET_KEYS:
            raise ValueError(f"unknown age bucket {n!r}; expected some of {', '.join(BUCKET_KEYS)}")
    return tuple(k for k in BUCKET_KEYS if k in names)


def normalize_ages(ages) -> tuple[str, ...] | None:
    """A selection of buckets (keys) in bucket order, or None for every bucket (no filter)."""
    if ages is None:
        return None
    sel = tuple(k for k in BUCKET_KEYS if k in set(ages))
    unknown = set(ages) - set(BUCKET_KEYS)
    if unknown:
        raise ValueError(f"unknown age bucket {sorted(unknown)[0]!r}; expected some of {', '.join(BUCKET_KEYS)}")
    return None if len(sel) == len(BUCKET_KEYS) else sel


def cumulative_shares(total: np.ndarray, older: np.ndarray) -> np.ndarray:
    """Per cell, the share younger than 1 h, 24 h and 7 d: ``[3, ...]`` in [0, 1].

    ``total``: the cells' stored notional; ``older[3, ...]``: the notional in "1–24 h", "1–7 d" and
    "older" (same units). An empty cell counts as young."""
    total = np.asarray(total, dtype=np.float64)
    b1, b2, b3 = (np.asarray(o, dtype=np.float64) for o in older)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(total > 0, 1.0 / total, 0.0)
    cum = np.empty((3,) + total.shape)
    cum[2] = 1.0 - b3 * inv
    cum[1] = cum[2] - b2 * inv
    cum[0] = cum[1] - b1 * inv
    # the cohorts are float32: a share within their rounding of 0 or 1 is exactly that
    cum[cum < _SNAP] = 0.0
    cum[cum > 1.0 - _SNAP] = 1.0
    return cum


def bucket_shares(cum: np.ndarray, ages) -> np.ndarray:
    """The share of the selected buckets (keys) per cell from :func:`cumulative_shares`."""
    edges = [np.zeros(cum.shape[1:]), cum[0], cum[1], cum[2], np.ones(cum.shape[1:])]
    out = np.zeros(cum.shape[1:])
    for i, key in enumerate(BUCKET_KEYS):
        if key in ages:
            out += edges[i + 1] - edges[i]
    return out


def encode(cum: np.ndarray) -> np.ndarray:
    """Cumulative shares ``[3, ...]`` -> uint16 codes ``[...]`` (shares rounded to 1/QUANT)."""
    k = np.rint(cum * QUANT).astype(np.intp)
    return _ENCODE[k[0], k[1], k[2]]


def share_table(ages) -> np.ndarray:
    """float32 ``[codes]``: the selected buckets' share for each code."""
    pick = np.array([k in ages for k in BUCKET_KEYS])
    return (_DECODE[:, pick].sum(axis=1) / QUANT).astype(np.float32)


def code_shares(codes: np.ndarray) -> np.ndarray:
    """Each bucket's share ``[..., 4]`` of stored codes (for read-outs)."""
    return _DECODE[codes] / QUANT


class PositionAge:
    """The cohort arrays of one level model: ``stack[N_SLOTS, E, T, 2, bins]`` float32.

    Slots: 12 five-minute cohorts (a ring: cohort ``m`` in slot ``m % 12``), 24 hour cohorts, 7
    day cohorts, the running sums of the hour and of the day cohorts, and "older". ``step`` is the
    current 5-minute index of event time (``t // STEP_MS``); additions go to its cohort.
    """

    def __init__(self, head: tuple[int, ...]):
        self.head = tuple(head)
        self.stack = np.zeros((N_SLOTS, *self.head, 0), np.float32)
        self.step: int | None = None
        self._used = np.zeros(N_SLOTS, bool)
        #: bumped whenever the older buckets may change in every cell (a rescale, a resize, a
        #: reset): a reader caching per-cell results (the model's column codes) recomputes them
        #: all. Where a cohort move changes them is listed in ``changed`` instead (flat
        #: ``[E·T·2·bins]`` indexes, taken with :meth:`take_changed`); :meth:`zero` is tracked by
        #: the caller.
        self.version = 0
        self.changed: list[np.ndarray] = []

    @property
    def nbytes(self) -> int:
        return self.stack.nbytes

    def reset(self, bins: int = 0) -> None:
        self.stack = np.zeros((N_SLOTS, *self.head, bins), np.float32)
        self.step = None
        self.version += 1
        self.changed = []
        self._used[:] = False

    def pad(self, lo: int, hi: int) -> None:
        """Grow the bins axis by ``lo`` bins below and ``hi`` above (as the model's state)."""
        pads = ((0, 0),) * (self.stack.ndim - 1) + ((lo, hi),)
        self.stack = np.pad(self.stack, pads)
        self.version += 1
        self.changed = []

    def add(self, e: int, flat: np.ndarray, amount: np.ndarray) -> None:
        """Add stored-unit notional to exchange ``e``'s cells ``flat`` (flat [T·2·bins] index) in
        the current cohort (the same np.add.at as the model's own arrays, so the same order)."""
        slot = (self.step or 0) % _MINUTES
        np.add.at(self.stack[slot, e].reshape(-1), flat, amount.astype(np.float32))
        self._used[slot] = True

    def zero(self, e: int, side: int, lo: int, hi: int, hit: np.ndarray) -> None:
        """Zero the swept cells ``hit[T, hi - lo]`` of exchange ``e``'s side in every slot."""
        self.stack[:, e, :, side, lo:hi][:, hit] = 0.0

    def scale(self, e: int, factor: float) -> None:
        """Multiply exchange ``e``'s cohorts (the model renormalised its stored values)."""
        self.stack[:, e] *= np.float32(factor)
        self.version += 1

    def advance(self, t_ms: int) -> None:
        """Move the age clock to event time ``t_ms`` (never back), one 5-minute step at a time."""
        target = int(t_ms) // STEP_MS
        if self.step is None:
            self.step = target
            return
        n = target - self.step
        if n <= 0:
            return
        for _ in range(min(n, _CATCH_UP)):
            self._step_once()
        self.step = target

    def _move(self, src: int, dst: int, running_sum: int | None = None) -> None:
        if not self._used[src]:
            return
        # every move adds into an older bucket ("1–24 h", "1–7 d" or "older"): it changes where
        # the moving cohort holds something
        self.changed.append(np.flatnonzero(self.stack[src]))
        np.add(self.stack[dst], self.stack[src], out=self.stack[dst])
        if running_sum is not None:
            np.add(self.stack[running_sum], self.stack[src], out=self.stack[running_sum])
        self.stack[src] = 0.0
        self._used[src] = False
        self._used[dst] = True

    def _resum(self, first: int, n: int, into: int) -> None:
        """Recompute a running sum after a cohort left it (no subtraction: no drift)."""
        before = self.stack[into].copy()
        if self._used[first:first + n].any():
            np.sum(self.stack[first:first + n], axis=0, out=self.stack[into])
        else:
            self.stack[into] = 0.0
        self.changed.append(np.flatnonzero(before != self.stack[into]))

    def take_changed(self) -> list[np.ndarray]:
        """The cells (flat ``[E·T·2·bins]`` indexes, repeats possible) whose older buckets cohort
        moves changed since the last call."""
        out, self.changed = self.changed, []
        return out

    def _step_once(self) -> None:
        c = self.step + 1
        if c % DAY_STEPS == 0:       # the day cohort 7 days old becomes "older"
            self._move(_D0 + (c // DAY_STEPS - _DAYS) % _DAYS, _OLDER)
            self._resum(_D0, _DAYS, _SUM_D)
        if c % HOUR_STEPS == 0:      # the hour cohort 24 hours old joins its day cohort
            h = c // HOUR_STEPS - _HOURS
            self._move(_H0 + h % _HOURS, _D0 + (h // _HOURS) % _DAYS, _SUM_D)
            self._resum(_H0, _HOURS, _SUM_H)
        m = c - _MINUTES              # the 5-minute cohort an hour old joins its hour cohort
        self._move(m % _MINUTES, _H0 + (m // HOUR_STEPS) % _HOURS, _SUM_H)
        self.step = c

    def older_view(self) -> np.ndarray:
        """``[3, E, T, 2, bins]``: stored notional in "1–24 h", "1–7 d", "older" (a view)."""
        return self.stack[_SUM_H:_OLDER + 1]

    def buckets(self) -> np.ndarray:
        """``[4, E, T, 2, bins]`` float64: stored notional per bucket, youngest first (for tests
        and read-outs; the hot paths use :meth:`older_view`)."""
        out = np.empty((4,) + self.stack.shape[1:])
        out[0] = self.stack[:_MINUTES].sum(axis=0, dtype=np.float64)
        out[1:] = self.older_view()
        return out

    def cohort_total(self) -> np.ndarray:
        """Sum of every cohort, ``[E, T, 2, bins]`` float64 (equals the model's stored notional)."""
        return self.stack[:_SUM_H].sum(axis=0, dtype=np.float64) + self.stack[_OLDER]


#: stored notional under which a cell's age split is not encoded (see :func:`cell_codes`)
TINY_STORED = 1e-30


def cell_codes(old: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Codes ``[n]`` of ``n`` cells from their "1–24 h", "1–7 d" and "older" parts ``old[3, n]``
    and their stored notional ``total[n]`` (float64). Cell by cell, so a subset of a column's
    cells gets exactly the codes the whole column would give them; a cell with nothing older
    gets :data:`YOUNG_CODE`."""
    # a decayed remnant under 1e-30 stored units (under 1e-30 USD) counts as empty: its inverse
    # would overflow float32
    inv = (QUANT / np.where(total > TINY_STORED, total, np.inf)).astype(np.float32)
    # running sums from the oldest bucket: QUANT minus them are the cumulative shares K2, K1, K0
    older_first = np.cumsum(old[::-1] * inv, axis=0)
    k = np.clip(np.rint(QUANT - older_first), 0, QUANT).astype(np.intp)
    return _ENCODE_FLAT[(k[2] * (QUANT + 1) + k[1]) * (QUANT + 1) + k[0]]


def live_shares(window: np.ndarray, older: np.ndarray, ages) -> np.ndarray:
    """The selected buckets' share of each live cell ``[E, T, 2, rows]`` (float64, unquantized)."""
    return bucket_shares(cumulative_shares(window, older), ages)
