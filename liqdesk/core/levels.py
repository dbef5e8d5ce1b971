"""The liquidation level model: where leveraged positions would be force-closed, estimated live.

State: outstanding notional (quote currency) per (exchange, leverage tier, side, price bin), the
bins on an absolute axis of width ``bin_width`` (bin ``k`` = ``[k·w, (k+1)·w)``). Alongside each
bin's notional the model keeps its notional-weighted liquidation price, which is *the* price of
that bin's level: a long level is swept when the mark price falls to or below it, a short level
when the mark rises to or above it.

How levels are made (PRODUCT.md §1):

- **OI mode** (an exchange that publishes open interest). Between two OI observations, trades are
  collected. When OI rose by ΔOI (base units), ΔOI·VWAP of new notional was opened on *each*
  side, at the interval's trade prices (per-bin VWAP, weighted by traded notional). The taker
  imbalance tilts the split: with ``b`` the taker-buy share of the interval's notional and ``a``
  the ``aggressor_weight``, longs get ``N·((1 − a) + 2a·b)`` and shorts ``N·((1 − a) + 2a·(1 − b))``.
  Each side's notional is spread over the leverage prior and placed at each exchange's
  liquidation price (its own tier table and rule). When OI fell, positions closed: every level of
  that exchange shrinks by ``OI_new / OI_old``. An OI fall never creates levels.
- **Volume mode** (no OI yet, or none at all): every ``volume_step_ms`` a fraction
  ``volume_open_fraction`` of the traded notional is taken as newly opened, split and placed as
  above, and the exchange's levels decay with ``volume_half_life_s`` since nothing says when
  positions close. ``modes`` says which mode each exchange is in, so the view can show it.
- **Sweeps**: the mark price (the last trade price for an exchange with no mark feed) crossing a
  level removes it and appends it to the swept record (time, exchange, leverage, side, price,
  notional). A level that would be born already crossed is not added.
- **Decay** (optional): all levels decay with ``decay_half_life_s``, applied at column ends.

Order of operations and batch independence. Events are applied in time order. For a stream whose
events are non-decreasing in time, feeding it as one batch or split into any number of batches
gives bit-identical state, grid and swept record: trades between OI observations are buffered
and histogrammed together when the interval closes, sweeps are applied segment by segment
(removal is order-independent between two state changes), and an OI observation is applied only
once a later event (or :meth:`LevelModel.flush`) shows that no more trades at its time can come.
At one timestamp the order is: volume step and column end (which cover events strictly before
that time), then marks and trades at that time, then an OI observation at that time.

Modules: this one holds the settings, the state and the public reads; the sweeps, the planned
additions and the column ends are mixins of :class:`LevelModel` in :mod:`.level_sweeps`,
:mod:`.level_additions` and :mod:`.level_columns` (they share the model's state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .events import EXCHANGE_ID, EXCHANGES, KINDS, EventBatch, check_order, validate_level_kinds
from .grid import HeatmapGrid
from .level_additions import AdditionsMixin
from .level_columns import ColumnsMixin
from .level_common import _SWEPT_PARTS, LONG, SHORT  # noqa: F401 (LONG, SHORT: part of the model's interface)
from .level_sweeps import SweepsMixin, _SweepSegments
from .leverage_mix import LIQ_DTYPE, NO_PUBLIC_LIQUIDATIONS, SWEEP_DTYPE, LeverageMix, MixSettings
from .position_age import (
    STEP_MS,
    PositionAge,
    live_shares,
    normalize_ages,
)
from .tiers import TierTable, liquidation_price, load_tiers

#: Swept levels: ``side`` +1 long, -1 short; ``price`` the level's liquidation price (quote);
#: ``notional`` in quote currency; ``leverage`` the tier's leverage multiple.
SWEPT_DTYPE = np.dtype(
    [("time_ms", "i8"), ("exchange", "u1"), ("side", "i1"), ("leverage", "f8"), ("price", "f8"),
     ("notional", "f8")]
)


#: Outstanding levels: as :data:`SWEPT_DTYPE` without time, plus the absolute price bin.
LEVEL_DTYPE = np.dtype(
    [("exchange", "u1"), ("side", "i1"), ("leverage", "f8"), ("price", "f8"), ("notional", "f8"), ("bin", "i8")]
)


def parse_prior(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``"5:0.2,10:0.3,..."`` -> (leverages, weights normalized to sum 1). ValueError on bad input."""
    levs, weights = [], []
    for part in text.split(","):
        try:
            lev_s, w_s = part.split(":")
            lev, w = float(lev_s), float(w_s)
        except ValueError:
            raise ValueError(f"bad leverage prior entry {part.strip()!r}; expected LEVERAGE:WEIGHT") from None
        if not (lev > 1 and math.isfinite(lev)) or not (w >= 0 and math.isfinite(w)):
            raise ValueError(f"bad leverage prior entry {part.strip()!r}: leverage must be > 1, weight >= 0")
        levs.append(lev)
        weights.append(w)
    total = sum(weights)
    if not total > 0:
        raise ValueError("leverage prior weights must sum to a positive number")
    if len(set(levs)) != len(levs):
        raise ValueError("leverage prior lists a leverage twice")
    return tuple(levs), tuple(w / total for w in weights)


def nice_bin_width(raw: float) -> float:
    """Round a bin width (quote currency) to 1, 2, 2.5 or 5 × 10^k, the nearest not above it."""
    if not raw > 0:
        raise ValueError("bin width must be > 0")
    exp = math.floor(math.log10(raw))
    for step in (5, 2.5, 2, 1):
        width = step * 10.0**exp
        if width <= raw * (1 + 1e-9):
            return width
    return 10.0**exp


#: The tiers of the learned mix and its prior (see :attr:`ModelSettings.leverages`).
DEFAULT_LEVERAGES: tuple[float, ...] = (10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 75.0, 100.0, 125.0)
#: The earlier fixed prior: even weights over the leverages traders pick most, all of whose
#: levels fall within ±10 % of entry (what ``--prior fixed`` uses).
FIXED_LEVERAGES: tuple[float, ...] = (10.0, 20.0, 25.0, 50.0, 75.0, 100.0)
DEFAULT_WEIGHTS: tuple[float, ...] = tuple(
    0.9 * (1 / len(FIXED_LEVERAGES) if lev in FIXED_LEVERAGES else 0.0) + 0.1 / len(DEFAULT_LEVERAGES)
    for lev in DEFAULT_LEVERAGES)


@dataclass(frozen=True)
class ModelSettings:
    """Settings of the level model and its grid. Times in ms, prices in quote currency."""

    exchanges: tuple[str, ...] = ("binance", "bybit", "okx")
    symbol: str = "BTC/USDT:USDT"
    #: leverage tiers and the prior mix over them (weights normalized). Not the simulator's true
    #: prior. The tiers are the round leverages exchanges offer and traders pick (10x … 125x,
    #: Binance's maximum on BTC; below 10x a level lies more than ~10 % from entry, outside the
    #: rows the window draws and the band ``evaluate`` scores, and each tier costs ingest time
    #: and grid memory); the prior is the earlier fixed mix (even weights on 10, 20, 25,
    #: 50, 75 and 100x) with a tenth spread evenly over every tier, so that the mix learned from
    #: the market (``mix``, :mod:`liqdesk.core.leverage_mix`) starts where the fixed one was and
    #: can still move weight to any tier. Any leverage > 1 may be listed: on an exchange whose
    #: maximum for a typical position is lower, that tier sits at the maximum.
    leverages: tuple[float, ...] = DEFAULT_LEVERAGES
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    #: how the mix is learned (``MixSettings(learn=False)``: the prior as it is)
    mix: MixSettings = field(default_factory=MixSettings)
    #: exchanges whose public liquidations this stream carries (a live feed, a simulator, a
    #: recording that says so): there a crossed level without a liquidation teaches the mix too.
    #: Elsewhere only the liquidations seen count (an imported file without any teaches nothing).
    liquidation_feeds: tuple[str, ...] = ()
    #: bin width as a percentage of the first price seen (rounded to a nice number) ...
    bin_width_pct: float = 0.1
    #: ... or an absolute width in quote currency, which wins when set.
    bin_width: float | None = None
    aggressor_weight: float = 0.5
    #: share of each interval's traded volume (relative to OI) that closes existing positions
    #: and, unless OI fell, reopens as much at the interval's prices
    turnover: float = 0.25
    #: each tier stands for leverages within a factor (1 + spread) of its own, log-spaced over
    #: ``spread_points``: nobody's leverage is exactly 25x, and a sharp line per tier would sit
    #: between the bands of the leverages people really use
    leverage_spread: float = 0.0
    spread_points: int = 5
    #: notional of a typical position, for the tier lookup (quote currency)
    typical_position: float = 10_000.0
    decay_half_life_s: float = 0.0
    volume_step_ms: int = 60_000
    volume_open_fraction: float = 0.05
    volume_half_life_s: float = 8 * 3600.0
    #: grid: column width, columns kept, price rows per column
    column_ms: int = 10_000
    window_columns: int = 1440
    rows: int = 600

    def __post_init__(self):
        if not self.exchanges:
            raise ValueError("the model needs at least one exchange")
        for name in self.exchanges:
            if name not in EXCHANGE_ID:
                raise ValueError(f"unknown exchange {name!r}; expected one of {', '.join(EXCHANGES)}")
        if len(self.leverages) != len(self.weights) or not self.leverages:
            raise ValueError("leverage prior: as many weights as leverages, at least one")
        if any(not lev > 1 for lev in self.leverages) or not sum(self.weights) > 0 or min(self.weights) < 0:
            raise ValueError("leverage prior: leverages > 1, weights >= 0 summing to > 0")
        if not 0 <= self.aggressor_weight <= 1:
            raise ValueError("aggressor_weight must be within [0, 1]")
        if not 0 <= self.turnover <= 10:
            raise ValueError("turnover must be within [0, 10]")
        if not 0 <= self.leverage_spread < 1 or not 1 <= self.spread_points <= 25:
            raise ValueError("leverage_spread must be within [0, 1) and spread_points within 1..25")
        if not (self.bin_width_pct > 0 or (self.bin_width or 0) > 0):
            raise ValueError("bin width must be > 0")
        if self.column_ms < 1 or self.volume_step_ms < 1 or self.window_columns < 2 or self.rows < 8:
            raise ValueError("column_ms, volume_step_ms >= 1 ms; window_columns >= 2; rows >= 8")
        if self.decay_half_life_s < 0 or self.volume_half_life_s < 0 or self.typical_position <= 0:
            raise ValueError("half-lives must be >= 0 and typical_position > 0")

    @property
    def prior(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=float)
        return w / w.sum()

    @property
    def learns_mix(self) -> bool:
        """Whether the leverage mix is learned from liquidations (else the prior is fixed)."""
        return self.mix.learn and bool(np.all(self.prior > 0))


@dataclass
class _ExchangeState:
    """Per-exchange running state (local index ``e``)."""

    mark: float = math.nan          # last sweep reference price (mark, or last trade without a mark feed)
    has_mark_feed: bool = False
    oi: float = math.nan            # last OI in base units
    pending: list = field(default_factory=list)  # [(price, size, side)] arrays since the last addition


class LevelModel(SweepsMixin, AdditionsMixin, ColumnsMixin):
    """Estimated liquidation levels for one symbol over several exchanges, with its grid.

    Feed :class:`EventBatch` objects to :meth:`ingest`; read the live map with :meth:`level_map`,
    the time × price window with :meth:`image`, sweeps with :meth:`swept`.
    """

    def __init__(self, settings: ModelSettings | None = None, tiers: dict[str, TierTable] | None = None):
        self.settings = s = settings or ModelSettings()
        self.tiers = {name: (tiers or {}).get(name) or load_tiers(name, s.symbol) for name in s.exchanges}
        self.E, self.T = len(s.exchanges), len(s.leverages)
        self.leverages = np.asarray(s.leverages, dtype=float)
        self._leverage_order = np.argsort(self.leverages, kind="stable")
        self._sorted_leverages = self.leverages[self._leverage_order]
        self.prior = s.prior
        self._lut = np.full(256, -1, dtype=np.int64)
        for i, name in enumerate(s.exchanges):
            self._lut[EXCHANGE_ID[name]] = i
        self._global_id = np.array([EXCHANGE_ID[n] for n in s.exchanges], dtype=np.uint8)
        self._identity_ids = bool(np.array_equal(self._global_id, np.arange(self.E)))
        self.grid = HeatmapGrid(self.E, self.T, s.rows, s.window_columns, s.column_ms)
        # the mix is learned only when every tier has some prior weight: stored levels carry the
        # prior, and a tier stored at zero could never be given any
        has_feed = np.array([n in s.liquidation_feeds and n not in NO_PUBLIC_LIQUIDATIONS for n in s.exchanges])
        self.mix = LeverageMix(self.prior, self.E, s.mix if s.learns_mix else replace(s.mix, learn=False),
                               has_feed=has_feed, typical_liquidation=s.typical_position)
        self._reset_state()

    def reset(self) -> None:
        """Forget every event seen (same settings); the grid's memory is kept and cleared."""
        self.grid.clear()
        self.mix.reset()
        self._reset_state()

    def _reset_state(self) -> None:
        self.bin_width: float = 0.0          # set from the settings or the first price seen
        self.origin = 0                      # absolute bin of state index 0
        # stored notional and Σ notional · liquidation price; the true values are these times the
        # exchange's scale factor, so that shrinking or decaying an exchange is O(1)
        self.notional = np.zeros((self.E, self.T, 2, 0))
        self.weighted = np.zeros((self.E, self.T, 2, 0))
        # the notional split by when it was opened (see position_age.py)
        self.age = PositionAge((self.E, self.T, 2))
        self._factor = [1.0] * self.E
        # additions not yet written into the arrays: (additions, lo, hi, divisor) per exchange;
        # written in one np.add.at, in order, before anything reads the arrays
        self._queued: list[list] = [[] for _ in range(self.E)]
        # per exchange: how many queued additions are due, i.e. would have been written already
        # had every sweep that could find nothing written them, as a sweep does (into the
        # current age cohort): they are written before the age clock moves to another cohort
        self._flush_due = [0] * self.E
        # the age codes of the last closed column, and what they were computed for (display
        # origin, state origin, bins, cohort version): while that holds, the next column's codes
        # differ only in the cells written since (additions, sweeps), listed per exchange as
        # flat [T·2·bins] indexes
        self._codes: np.ndarray | None = None
        self._codes_key: tuple | None = None
        self._codes_dirty: list[list] = [[] for _ in range(self.E)]
        self._packed: np.ndarray | None = None    # [E, T, rows] float64 buffer of a closing column
        self.display_origin: int | None = None
        self.ex = [_ExchangeState() for _ in range(self.E)]
        self._lp_ratio: np.ndarray | None = None   # [E, 2, T] liquidation price / entry price
        # per exchange: no long level sits above bin ``_long_top``, no short level below
        # ``_short_bottom`` (absolute bins); lets a sweep that cannot reach any level return at once
        # (Python ints: they are read at every sweep segment, where numpy scalars cost ~10x more)
        self._long_top = [np.iinfo(np.int64).min // 2] * self.E
        self._short_bottom = [np.iinfo(np.int64).max // 2] * self.E
        # per exchange: no long level's price (weighted / notional, as a sweep computes it) is
        # above ``_long_ceiling``, no short level's below ``_short_floor`` (quote; up to
        # _PRICE_SLACK). Tighter than the bins after a sweep: the mark coming back into the bin
        # of its last extreme, without passing it, cannot hit anything and is skipped.
        self._long_ceiling = [-math.inf] * self.E
        self._short_floor = [math.inf] * self.E
        self.watermark: int | None = None    # newest event time seen (ms)
        self._next_column_end: int | None = None
        self._next_volume_step: int | None = None
        self._deferred_oi = np.empty(0, dtype=KINDS["open_interest"])
        self._swept: list[np.ndarray] = []
        self._swept_sorted = True                 # _swept is one part in swept()'s order
        self._mix_sweeps: list[np.ndarray] = []   # swept levels not yet handed to the mix
        # sweeps of this batch as plain columns (time, exchange id, side, tier, price, notional),
        # made into records once per batch (:meth:`_join_sweeps`): a structured array per sweep
        # and their concatenation cost more than the sweep itself
        self._sweep_parts: list[tuple] = []
        self.counts = {k: 0 for k in ("trades", "marks", "open_interest", "ignored")}

    # ------------------------------------------------------------------ public read-outs
    @property
    def modes(self) -> dict[str, str]:
        """Per exchange: ``"oi"`` once it has published open interest, else ``"volume"``."""
        return {n: ("oi" if not math.isnan(st.oi) else "volume") for n, st in zip(self.settings.exchanges, self.ex)}

    @property
    def mode(self) -> str:
        """``"oi"``, ``"volume"`` or ``"mixed"`` over the exchanges that have seen prices."""
        seen = [m for m, st in zip(self.modes.values(), self.ex) if not math.isnan(st.mark)]
        kinds = set(seen)
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "volume")

    def mark_price(self, exchange: str | None = None) -> float:
        """Last mark (or trade) price of one exchange, or the mean over exchanges; NaN if none."""
        if exchange is not None:
            return self.ex[self.settings.exchanges.index(exchange)].mark
        marks = [st.mark for st in self.ex if not math.isnan(st.mark)]
        return sum(marks) / len(marks) if marks else math.nan

    def bin_prices(self, origin: int, rows: int) -> np.ndarray:
        """Lower edge (quote currency) of ``rows`` bins from absolute bin ``origin``."""
        return (origin + np.arange(rows)) * self.bin_width

    def masks(self, exchanges=None, tiers=None) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks over the model's exchanges and tiers (None = all). Leverages as numbers."""
        ex_mask = np.ones(self.E, bool) if exchanges is None else np.isin(self.settings.exchanges, list(exchanges))
        tier_mask = np.ones(self.T, bool) if tiers is None else np.isin(self.leverages, [float(t) for t in tiers])
        return ex_mask, tier_mask

    def level_map(self, exchanges=None, tiers=None, origin: int | None = None, rows: int | None = None,
                  ages=None) -> np.ndarray:
        """Live outstanding notional ``[2 (long, short), rows]`` from absolute bin ``origin``;
        ``ages``: the position-age buckets to count (keys of ``position_age.BUCKETS``; None = all)."""
        origin = self._display_origin() if origin is None else origin
        rows = self.settings.rows if rows is None else rows
        ex_mask, tier_mask = self.masks(exchanges, tiers)
        window = self._true_window(origin, rows)
        ages = normalize_ages(ages)
        if ages is not None:
            window = window * live_shares(self._state_window(self.notional, origin, rows),
                                          self._state_window(self.age.older_view(), origin, rows), ages)
        return window[ex_mask][:, tier_mask].sum(axis=(0, 1))

    def image(self, exchanges=None, tiers=None, long: bool = True, short: bool = True,
              include_live: bool = True, ages=None) -> tuple[np.ndarray, np.ndarray, int]:
        """The filtered window ``[rows, W]`` float32 (price rows × time columns, oldest first).

        With ``include_live`` the last column is the live state (the column in progress).
        Returns (image, column numbers, display origin bin).
        """
        origin = self._display_origin()
        ex_mask, tier_mask = self.masks(exchanges, tiers)
        end = self.grid.last_column + (1 if include_live else 0)
        img, cols = self.grid.image(ex_mask, tier_mask, long, short, origin, end_column=end,
                                    weights=self.mix_multipliers(), ages=normalize_ages(ages))
        if include_live and self.bin_width:
            live = self.level_map(exchanges, tiers, origin, self.settings.rows, ages=ages)
            img[:, -1] = (live[0] if long else 0) + (live[1] if short else 0)
        return img, cols, origin

    def band(self, exchanges=None, tiers=None, long: bool = True, short: bool = True,
             rows: tuple[int, int] | None = None, slots: np.ndarray | None = None,
             origin: int | None = None, end_column: int | None = None, ages=None) -> np.ndarray:
        """Display rows ``rows = (r0, r1)`` (default: all) of the closed columns' window, for the
        ring ``slots`` (default: every slot; column ``c`` sits in slot ``c % window_columns``), as
        ``[r1 - r0, len(slots)]`` float32 notional (quote currency) under the mix in use. Each
        cell equals the same cell of :meth:`image` bit for bit, so a view can read only the rows
        it shows, or only the columns that closed, and keep the rest. ``end_column``: the
        window's newest column (default: the newest closed one); slots whose column is no longer
        stored read zero."""
        origin = self._display_origin() if origin is None else origin
        ex_mask, tier_mask = self.masks(exchanges, tiers)
        end = self.grid.last_column if end_column is None else end_column
        return self.grid.band(ex_mask, tier_mask, long, short, origin, rows=rows, end_column=end,
                              slots=slots, weights=self.mix_multipliers(), ages=normalize_ages(ages))

    def window_stamp(self) -> tuple:
        """What every closed column of :meth:`image` depends on besides the filters: (grid
        epoch, display origin, mix version, bin width). While it stays the same, stored columns
        never change, a new column only appends (see :meth:`closed_since`), and a sweep changes
        the live column only (closed columns are snapshots taken when they closed)."""
        return (self.grid.epoch, self._display_origin(), self.mix.version, self.bin_width)

    def closed_since(self, stamp: tuple | None, last_column: int | None) -> np.ndarray | None:
        """The columns closed since a view read the window at ``stamp`` with ``last_column`` the
        newest closed column then: an array of column numbers (empty: nothing closed), or None
        when the whole window must be read again (the stamp moved, or more than a window closed)."""
        if stamp is None or last_column is None or stamp != self.window_stamp():
            return None
        end = self.grid.last_column
        if end < last_column or end - last_column > self.settings.window_columns:
            return None
        return np.arange(last_column + 1, end + 1)

    def cell(self, column: int, row: int, display_origin: int) -> np.ndarray | None:
        """Notional of one stored cell per (exchange, tier, side), ``[E, T, 2]`` (quote currency,
        under the leverage mix in use), or None when that column is not stored."""
        return self.grid.cell(column, row, display_origin, self.mix_multipliers())

    def levels(self) -> np.ndarray:
        """Every outstanding level (one per exchange, tier, side and bin with notional > 0) as
        :data:`LEVEL_DTYPE` rows: its liquidation price (quote) and notional (quote)."""
        self._flush_all()
        e, t, s, k = np.nonzero(self.notional > 0)
        out = np.empty(len(e), LEVEL_DTYPE)
        out["exchange"] = self._global_id[e]
        out["side"] = np.where(s == LONG, 1, -1)
        out["leverage"] = self.leverages[t]
        stored = self.notional[e, t, s, k]
        out["price"] = self.weighted[e, t, s, k] / stored
        scale = self._slice_scale()
        out["notional"] = stored * scale[e, t] if scale is not None else stored
        out["bin"] = k + self.origin
        return out

    def _swept_cutoff(self) -> int | None:
        """Start (ms) of the oldest column of the grid's window at the newest event (None before
        any event): sweeps before it are out of the window for good, as the watermark only grows."""
        if self.watermark is None:
            return None
        s = self.settings
        return (self.watermark // s.column_ms - s.window_columns + 1) * s.column_ms

    def _prune_swept(self) -> None:
        """Join the swept record's parts (in the order they came) and drop the sweeps before the
        window; the join is sorted only when read (:meth:`swept`)."""
        self._join_sweeps()
        cutoff = self._swept_cutoff()
        if cutoff is None or not self._swept:
            return
        rec = np.concatenate(self._swept) if len(self._swept) > 1 else self._swept[0]
        if len(rec) and rec["time_ms"].min() < cutoff:
            rec = rec[rec["time_ms"] >= cutoff]
        self._swept = [rec]

    def swept(self) -> np.ndarray:
        """Every level swept within the grid's time window (:data:`SWEPT_DTYPE`: since the start
        of the oldest column the grid keeps, ``window_columns`` columns back from the newest
        event), ordered by time, exchange, side, leverage and price (so the record does not depend
        on how events were batched); notional under the leverage mix in use now. Older sweeps are
        dropped, so the record's memory follows the window, not the length of the stream."""
        self._prune_swept()
        if not self._swept_sorted and self._swept:
            rec = self._swept[0]
            order = np.lexsort((rec["price"], rec["leverage"], rec["side"], rec["exchange"], rec["time_ms"]))
            self._swept = [rec[order]]
        self._swept_sorted = True
        rec = self._swept[0] if self._swept else np.empty(0, SWEPT_DTYPE)
        mult = self.mix_multipliers()
        if mult is None or not len(rec):
            return rec
        out = rec.copy()
        tier = np.searchsorted(self._sorted_leverages, rec["leverage"])
        out["notional"] *= mult[self._lut[rec["exchange"]], self._leverage_order[tier]]
        return out

    def total_notional(self) -> float:
        """Total outstanding estimated notional, all slices (quote currency)."""
        self._flush_all()
        scale = self._slice_scale()
        per_slice = self.notional.sum(axis=(2, 3))
        return float((per_slice * scale).sum() if scale is not None else per_slice.sum())

    # ------------------------------------------------------------------ ingest
    def ingest(self, batch: EventBatch) -> None:
        """Apply a batch. Raises ValueError (and changes nothing) for malformed or too-old events."""
        if batch.checked:
            trades, marks, oi = batch.trades, batch.marks, batch.open_interest
            for kind, arr in (("trades", trades), ("marks", marks), ("open_interest", oi)):
                check_order(kind, arr, self.watermark)
        else:
            checked = validate_level_kinds(batch, self.watermark)
            trades, marks, oi = checked["trades"], checked["marks"], checked["open_interest"]
        trades, marks, oi = (self._local(k, a) for k, a in (("trades", trades), ("marks", marks), ("open_interest", oi)))
        self._mix_liquidations(batch.liquidations)
        if not (len(trades) or len(marks) or len(oi)):
            self._advance_mix()
            return
        hi = max(int(a["time_ms"][-1]) for a in (trades, marks, oi) if len(a))
        lo = min(int(a["time_ms"][0]) for a in (trades, marks, oi) if len(a))
        if self.watermark is not None:
            # events a little older than the watermark (within tolerance) are applied as of now
            lo = max(lo, self.watermark)
            hi = max(hi, self.watermark)
        if self._lp_ratio is None:
            self._init_axis(trades, marks)
        if self._next_column_end is None:
            cm, vs = self.settings.column_ms, self.settings.volume_step_ms
            self._next_column_end = (lo // cm + 1) * cm
            self._next_volume_step = (lo // vs + 1) * vs
        self.counts["trades"] += len(trades)
        self.counts["marks"] += len(marks)
        self.counts["open_interest"] += len(oi)
        self.watermark = hi
        self._run(trades, marks, oi, hi, final=False)
        self._advance_mix()

    def flush(self) -> None:
        """Apply OI observations held back at the newest timestamp (call at the end of a stream)."""
        if self.watermark is None:
            return
        empty = np.empty(0, KINDS["trades"])
        self._run(empty, np.empty(0, KINDS["marks"]), np.empty(0, KINDS["open_interest"]),
                  self.watermark, final=True)

    def _mix_liquidations(self, liqs: np.ndarray) -> None:
        """Hand the public liquidations of the model's exchanges to the mix estimator."""
        if not (self.mix.settings.learn and len(liqs)):
            return
        local = self._lut[liqs["exchange"]]
        good = (local >= 0) & (liqs["price"] > 0) & np.isfinite(liqs["price"]) & (liqs["notional"] > 0) \
            & np.isfinite(liqs["notional"]) & np.isin(liqs["side"], (-1, 1))
        if not good.any():
            return
        rows = np.empty(int(good.sum()), LIQ_DTYPE)
        for name in ("time_ms", "side", "price", "notional"):
            rows[name] = liqs[name][good]
        rows["exchange"] = local[good]
        self.mix.add_liquidations(rows)

    def _join_sweeps(self) -> None:
        """Make the sweeps kept as plain columns into one block of :data:`SWEPT_DTYPE` records
        (in the order they came), for the swept record and, when it learns, the mix."""
        parts = self._sweep_parts
        if not parts:
            return
        self._sweep_parts = []
        lengths = [len(p[4]) for p in parts]
        rec = np.empty(sum(lengths), SWEPT_DTYPE)
        rec["time_ms"] = np.concatenate([p[0] for p in parts])
        rec["exchange"] = np.repeat([p[1] for p in parts], lengths)
        rec["side"] = np.repeat([p[2] for p in parts], lengths)
        rec["leverage"] = self.leverages[np.concatenate([p[3] for p in parts])]
        rec["price"] = np.concatenate([p[4] for p in parts])
        rec["notional"] = np.concatenate([p[5] for p in parts])
        self._swept.append(rec)
        self._swept_sorted = False
        if self.mix.settings.learn:
            self._mix_sweeps.append(rec)
        if len(self._swept) >= _SWEPT_PARTS:
            self._prune_swept()

    def _advance_mix(self) -> None:
        self._join_sweeps()
        if self._mix_sweeps:
            # the batch's swept levels in one go: local exchange, tier and unit notional
            rec = np.concatenate(self._mix_sweeps) if len(self._mix_sweeps) > 1 else self._mix_sweeps[0]
            self._mix_sweeps = []
            tier = self._leverage_order[np.searchsorted(self._sorted_leverages, rec["leverage"])]
            unit = np.empty(len(rec), SWEEP_DTYPE)
            unit["time_ms"], unit["side"], unit["price"] = rec["time_ms"], rec["side"], rec["price"]
            unit["exchange"] = self._lut[rec["exchange"]]
            unit["tier"] = tier
            unit["unit"] = rec["notional"] / self.prior[tier]
            self.mix.add_sweeps(unit)
        if self.watermark is not None:
            self.mix.advance(self.watermark)

    def mix_multipliers(self) -> np.ndarray | None:
        """``[E, T]`` factors from the stored levels (made with the prior) to the learned mix, or
        None while the mix is still the prior."""
        if not self.mix.version:
            return None
        return self.mix.weights / self.prior[None, :]

    def mix_summary(self) -> list[dict]:
        """Per exchange: the leverage mix in use, how sure it is and what it learned from."""
        return self.mix.summary(self.settings.exchanges, self.leverages)

    def _local(self, kind: str, arr: np.ndarray) -> np.ndarray:
        """Keep rows of the model's exchanges; exchange ids become local indexes (in place on a copy)."""
        if not len(arr):
            return arr
        ids = arr["exchange"]
        if self._identity_ids and int(ids.max()) < self.E:
            return arr  # ids already are local indexes: no copy needed
        local = self._lut[ids]
        keep = local >= 0
        if keep.all():
            out = arr.copy()
        else:
            self.counts["ignored"] += int((~keep).sum())
            out, local = arr[keep], local[keep]
        out["exchange"] = local
        return out

    def _init_axis(self, trades: np.ndarray, marks: np.ndarray) -> None:
        first = [(a["time_ms"][0], a["price"][0]) for a in (marks, trades) if len(a)]
        if not first:
            return
        price = float(min(first, key=lambda x: x[0])[1])
        self.bin_width = self.settings.bin_width or nice_bin_width(price * self.settings.bin_width_pct / 100.0)
        span = self.settings.rows
        self.origin = int(math.floor(price / self.bin_width)) - span // 2
        self.notional = np.zeros((self.E, self.T, 2, span))
        self.weighted = np.zeros((self.E, self.T, 2, span))
        self.age.reset(span)
        self._lp_ratio = self._liquidation_ratios(price)

    def _liquidation_ratios(self, price: float) -> np.ndarray:
        """Liquidation price over entry price, ``[E, 2 (long, short), T, K]`` for the K leverages
        each tier stands for (see ``leverage_spread``).

        Positions are modelled at ``typical_position`` notional, so ``Q = typical / EP`` and every
        term of each exchange's formula scales with EP: the ratio is a constant per exchange,
        side and leverage (the tier is looked up at the liquidation notional once, here). A
        leverage above the exchange's maximum for that notional is placed at the maximum.
        """
        s = self.settings
        k = s.spread_points if s.leverage_spread > 0 else 1
        span = np.log1p(s.leverage_spread)
        lev = self.leverages[:, None] * np.exp(np.linspace(-span, span, k))[None, :]     # [T, K]
        lev = np.maximum(lev, 1.01)
        ratios = np.empty((self.E, 2, self.T, k))
        size = s.typical_position / price
        for e, name in enumerate(s.exchanges):
            table = self.tiers[name]
            # a leverage above the exchange's maximum for such a position is not on offer there:
            # a trader asking for it gets the maximum (Hyperliquid BTC 40x, Bybit 100x, Binance 150x)
            top = table.max_leverage_at(s.typical_position if table.basis == "notional" else size)
            lp, _ = liquidation_price(table, np.array([1, -1])[:, None, None], price,
                                      np.minimum(lev, top)[None], size)
            ratios[e] = lp / price
        return ratios

    # ------------------------------------------------------------------ the sequential core
    def _run(self, trades, marks, oi, hi: int, final: bool) -> None:
        oi = np.concatenate([self._deferred_oi, oi]) if len(self._deferred_oi) else oi
        cut = len(oi) if final else int(np.searchsorted(oi["time_ms"], hi, "left"))
        self._deferred_oi = oi[cut:]
        oi = oi[:cut]
        sweeps = self._sweep_streams(trades, marks)
        tr_ex = self._split_trades(trades) if len(trades) else None
        tr_cursor = np.zeros(self.E, dtype=np.int64)
        plans = self._plan_oi(oi, tr_ex, sweeps, tr_cursor)
        ops = self._ops(oi, hi)
        op_times = np.array([op[0] for op in ops], dtype=np.int64)
        op_is_oi = np.array([op[1] == 2 for op in ops], dtype=bool)
        op_exchange = np.full(len(ops), -1, np.int64)
        op_exchange[op_is_oi] = oi["exchange"][[op[2] for op in ops if op[1] == 2]]
        segs = [_SweepSegments(stream, op_times, op_is_oi, op_exchange, e) for e, stream in enumerate(sweeps)]
        for t_op, kind, i in ops:
            self._advance_age(t_op)   # positions opened by this operation have its event time
            if kind == 2:  # OI observation of one exchange: marks and trades up to and at its time
                e = int(oi["exchange"][i])
                self._sweep_next(e, segs[e])
                plan = plans[e]
                if plan.first_is_base and plan.next_op == 0:
                    tr_cursor[e] = self._collect(tr_ex, e, tr_cursor[e], t_op, "right")
                    self._volume_step(e)
                    self.ex[e].oi = float(plan.oi[0])
                else:
                    self._apply_planned(e, plan, plan.next_op)
                plan.next_op += 1
                continue
            for e in range(self.E):
                self._sweep_next(e, segs[e])
            if kind == 0:  # volume step: exchanges without OI place part of their volume
                for e in range(self.E):
                    if math.isnan(self.ex[e].oi):
                        tr_cursor[e] = self._collect(tr_ex, e, tr_cursor[e], t_op, "left")
                        self._volume_step(e)
            else:  # column end
                self._close_column(t_op)
        self._advance_age(hi)
        for e in range(self.E):
            self._sweep_next(e, segs[e])
            start = max(tr_cursor[e], plans[e].trades_used if plans[e] else 0)
            self._collect(tr_ex, e, start, None, "left")


    def _ops(self, oi: np.ndarray, hi: int) -> list[tuple[int, int, int]]:
        """Time-ordered operations: (time, kind, index); kind 0 volume step, 1 column end, 2 OI."""
        s = self.settings
        ops: list[tuple[int, int, int]] = []
        if self._next_volume_step is not None and self._next_volume_step <= hi:
            steps = np.arange(self._next_volume_step, hi + 1, s.volume_step_ms)
            ops += [(int(t), 0, 0) for t in steps]
            self._next_volume_step = int(steps[-1]) + s.volume_step_ms
        if self._next_column_end is not None and self._next_column_end <= hi:
            ends = np.arange(self._next_column_end, hi + 1, s.column_ms)
            self._next_column_end = int(ends[-1]) + s.column_ms
            if len(ends) > s.window_columns + 1:
                # a long gap: columns older than the window are never shown; skip their storage
                self._skip_columns(ends[: -(s.window_columns + 1)])
                ends = ends[-(s.window_columns + 1):]
            ops += [(int(t), 1, 0) for t in ends]
        ops += [(int(t), 2, i) for i, t in enumerate(oi["time_ms"])]
        ops.sort(key=lambda op: (op[0], op[1], op[2]))
        return ops

    def _skip_columns(self, ends: np.ndarray) -> None:
        """Pass over column ends in a gap without storing them (decay still applies per column)."""
        factor = self._column_decay()
        if factor != 1.0:
            for _ in range(len(ends)):
                for e in range(self.E):
                    self._scale(e, factor)
        self.grid.skip_to(int(ends[-1]) // self.settings.column_ms - 1)


    def _scale(self, e: int, factor: float) -> None:
        """Multiply exchange ``e``'s levels by ``factor`` (O(1): its scale factor changes)."""
        f = self._factor[e] * factor
        # renormalise well before stored units (notional / factor) overflow the float32 age
        # cohorts: a $1e12 level over 1e-20 is 1e32, under float32's 3.4e38 (and the float64
        # state never comes near its own limits)
        if f < 1e-20:
            self._flush(e)
            self.notional[e] *= f
            self.weighted[e] *= f
            self.age.scale(e, f)
            f = 1.0
        self._factor[e] = f

    def _advance_age(self, t_ms: int) -> None:
        """Move the age clock to ``t_ms``; additions due (see ``_flush_due``) are written first,
        into the cohort they would have joined."""
        if self.age.step is not None and t_ms // STEP_MS > self.age.step:
            for e in range(self.E):
                if self._flush_due[e]:
                    self._flush(e, self._flush_due[e])
        self.age.advance(t_ms)

    def _flush(self, e: int, count: int | None = None) -> None:
        """Write exchange ``e``'s queued additions (the first ``count``; default all) into the
        arrays (one np.add.at, in order)."""
        queue = self._queued[e]
        if count is not None and count < len(queue):
            queue, rest = queue[:count], queue[count:]
        else:
            rest = []
        self._flush_due[e] = 0
        if not queue:
            return
        if len(queue) == 1:
            adds, lo, hi, div = queue[0]
            slot, k = adds.slot[lo:hi], adds.k[lo:hi]
            amount, weighted = adds.amount[lo:hi] / div, adds.weighted[lo:hi] / div
        else:
            slot = np.concatenate([a.slot[lo:hi] for a, lo, hi, _ in queue])
            k = np.concatenate([a.k[lo:hi] for a, lo, hi, _ in queue])
            amount = np.concatenate([a.amount[lo:hi] / d for a, lo, hi, d in queue])
            weighted = np.concatenate([a.weighted[lo:hi] / d for a, lo, hi, d in queue])
        self._queued[e] = rest
        # one flat index: numpy's add.at is several times faster on 1-D indexes than on tuples
        bins = self.notional.shape[-1]
        flat = slot * bins + (k - self.origin)
        np.add.at(self.notional[e].reshape(-1), flat, amount)
        np.add.at(self.weighted[e].reshape(-1), flat, weighted)
        self.age.add(e, flat, amount)
        self._codes_dirty[e].append(flat)

    def _flush_all(self) -> None:
        for e in range(self.E):
            self._flush(e)


    def _display_origin(self) -> int:
        return self.display_origin if self.display_origin is not None else self._recentre(peek=True)


