"""The model beside the trivial baselines, scored by the same code (see :mod:`liqdesk.app.swept`
and :mod:`liqdesk.app.baselines`): the per-event lift of :func:`liqdesk.app.analysis.evaluate`,
the swept-level score, liquidation clusters and bootstrap intervals, overall and per venue.

:class:`Comparison` is fed during :func:`~liqdesk.app.analysis.evaluate`'s single pass over the
session and scores as it goes: each liquidation when its window is taken, each column once its
horizon has passed, so its memory does not grow with the session's length.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from liqdesk.core.events import EXCHANGES, EventBatch

from .baselines import BASELINES, VOLUME_WINDOW_S, BaselineMaps, RollingTape
from .swept import Columns, Liquidations, SweptScore, clusters, column_cells, summarize

METHODS = ("model",) + BASELINES
#: columns whose horizon has passed are scored together once this many wait (one vectorized step)
COLUMN_BATCH = 32


@dataclass
class ScoreOptions:
    """``horizon_ms``: how far ahead a column looks for crossed bins; ``column_ms``: one column
    every so often; ``gap_ms``: a quiet gap this long ends a liquidation cluster; ``resamples``
    of the bootstrap; ``top``: share of bins called hot; ``band_pct``: bins within ±band % of price."""

    horizon_ms: int = 900_000
    column_ms: int = 60_000
    gap_ms: int = 60_000
    resamples: int = 1000
    top: float = 0.1
    band_pct: float = 5.0


@dataclass
class ModelWindow:
    """The model's map ``[2 (long, short), rows]`` from absolute bin ``origin`` at ``time_ms``,
    around ``mark``; ``in_band`` the bins within the band."""

    time_ms: int
    origin: int
    rows: int
    mark: float
    model: np.ndarray                       # [2, rows]
    in_band: np.ndarray = field(repr=False)  # [rows] bool


def band_window(mark: float, bin_width: float, band_pct: float, margin: int = 0) -> tuple[int, int, np.ndarray]:
    """(origin bin, rows, bins whose centre is within ±band % of ``mark``) around ``mark``."""
    lo = math.floor(mark * (1 - band_pct / 100) / bin_width) - margin
    hi = math.floor(mark * (1 + band_pct / 100) / bin_width) + margin
    rows = hi - lo + 1
    centres = (lo + np.arange(rows) + 0.5) * bin_width
    return lo, rows, np.abs(centres / mark - 1) <= band_pct / 100


class Comparison:
    """The comparison, streamed through :func:`~liqdesk.app.analysis.evaluate`'s pass over the
    session, for the liquidations ``liq`` (in the order of their look-ups):

    - :meth:`add_events` every batch the model ingests (to a whole-second stop ``until_ms``): the
      baselines' tape settles its complete seconds, the columns whose horizon has passed are
      scored, and the tape older than what is still needed (an hour for the volume baseline, the
      open columns' horizons) is dropped;
    - :meth:`add_event` each liquidation's model window as it is taken: the model and the three
      baselines (whose maps only read the past, so they are made right then) are scored at once
      and only the per-event figures are kept (captured, share of bins hot);
    - :meth:`add_column` the model at each column time: its band and the baselines' maps wait
      for the column's horizon, then only the swept score's per-cluster sums are kept;
    - :meth:`result` once the session's last batch is in.

    What it holds follows the horizon and the hour of look-back, not the session's length
    (:meth:`retained`)."""

    def __init__(self, liq: np.ndarray, exchange_ids, first_ms: int, options: ScoreOptions) -> None:
        self.liq, self.options = liq, options
        self.tape = RollingTape(exchange_ids, first_ms // 1000)
        self.maps = BaselineMaps(self.tape)
        self.hit = {m: np.zeros(len(liq)) for m in METHODS}     # per event and method: captured (0/1)
        self.frac = {m: np.zeros(len(liq)) for m in METHODS}    # ... and share of the band's bins hot
        self.open: deque[_OpenColumn] = deque()
        self.subsets = [("all", np.ones(len(liq), bool))] + [(EXCHANGES[int(e)], liq["exchange"] == e)
                                                             for e in np.unique(liq["exchange"]).tolist()]
        self.clusters = {name: clusters(liq["time_ms"][mine], options.gap_ms) for name, mine in self.subsets}
        self.swept: dict[str, SweptScore] | None = None         # made at the first column (needs the bin width)
        self.bin_width = 0.0
        self.columns = 0

    def add_events(self, batch: EventBatch, bin_width: float, until_ms: int) -> None:
        """A batch holding every event before ``until_ms`` not yet added; ``bin_width`` the model's."""
        self.bin_width = self.bin_width or bin_width
        self.tape.add(batch, bin_width, until_ms)
        settled = self.tape.settled_s
        horizon = self.options.horizon_ms
        ready = 0
        while ready < len(self.open) and -(-(self.open[ready].window.time_ms + horizon + 1) // 1000) <= settled:
            ready += 1
        # columns are scored a few dozen at a time (vectorized), or when the oldest waited an hour
        if ready >= COLUMN_BATCH or (ready and self.open[0].window.time_ms // 1000 < settled - VOLUME_WINDOW_S):
            self._score_columns(ready)
        # keep the hour the volume baseline looks back and the open columns' horizons
        keep = settled - VOLUME_WINDOW_S
        if self.open:
            keep = min(keep, self.open[0].window.time_ms // 1000)
        if keep - self.tape.first_s >= 600 and self.tape.bin_width:   # dropped ten minutes at a time
            self.maps.naive.advance(keep)
            self.tape.drop_before(keep)

    def add_event(self, i: int, window: ModelWindow | None) -> None:
        """Score liquidation ``i`` against the model's window at its look-up time (None when the
        model had no estimate yet: missed by every method) and the baselines' maps there."""
        if window is None or not self.bin_width:
            return
        ev = self.liq[i]
        row = 0 if ev["side"] > 0 else 1
        k = math.floor(float(ev["price"]) / self.bin_width) - window.origin
        inside = 0 <= k < window.rows and bool(window.in_band[k])
        rank = int(window.in_band[:k].sum()) if inside else -1
        maps = self.maps.at(window.time_ms, window.origin, window.rows, window.mark)
        for m in METHODS:
            values = (window.model if m == "model" else maps[m])[row][window.in_band]
            hot = hot_bins(values, self.options.top)
            self.hit[m][i] = bool(inside and hot[rank])
            self.frac[m][i] = float(hot.sum()) / max(1, len(values))

    def add_column(self, time_ms: int, model) -> None:
        """The model's whole band at a column time, with the baselines' maps there; scored once its
        horizon has passed."""
        mark = model.mark_price()
        if not model.bin_width or math.isnan(mark):
            return
        origin, rows, in_band = band_window(mark, model.bin_width, self.options.band_pct)
        window = ModelWindow(time_ms, origin, rows, mark, model.level_map(origin=origin, rows=rows), in_band)
        self.open.append(_OpenColumn(window, self.maps.at(time_ms, origin, rows, mark)))
        self.columns += 1

    def _score_columns(self, count: int) -> None:
        """Score the ``count`` oldest open columns (their horizons have passed)."""
        w, opt = self.bin_width, self.options
        if self.swept is None:
            bins = np.floor(self.liq["price"] / w).astype(np.int64)
            self.swept = {}
            for name, mine in self.subsets:
                sub, cl = self.liq[mine], self.clusters[name]
                self.swept[name] = SweptScore(Liquidations(sub["time_ms"], sub["side"], bins[mine], sub["notional"].astype(float), cl),
                                              opt.horizon_ms, int(cl.max()) + 1 if len(cl) else 0, METHODS)
        cs = [self.open.popleft() for _ in range(count)]
        R = max(c.window.rows for c in cs)
        valid = np.zeros((count, R), bool)
        values = {m: np.zeros((count, 2, R)) for m in METHODS}
        for i, c in enumerate(cs):
            valid[i, :c.window.rows] = c.window.in_band
            values["model"][i, :, :c.window.rows] = c.window.model
            for m in BASELINES:
                values[m][i, :, :c.window.rows] = c.baselines[m]
        times = np.array([c.window.time_ms for c in cs], dtype=np.int64)
        marks = np.array([c.window.mark for c in cs])
        lo, hi = self.tape.price_range(times, times + opt.horizon_ms + 1)
        lo, hi = np.fmin(lo, marks), np.fmax(hi, marks)
        cols = Columns(times, np.array([c.window.origin for c in cs], dtype=np.int64), valid,
                       np.floor(lo / w).astype(np.int64), np.floor(hi / w).astype(np.int64), values)
        cells = column_cells(cols, opt.top)
        for score in self.swept.values():
            score.add_columns(cells)

    def retained(self) -> dict[str, int]:
        """What is kept between look-ups: the tape's seconds and rows, the open columns, the
        swept score's waiting pairs (the per-event figures are allocated once)."""
        out = self.tape.retained()
        out["open_columns"] = len(self.open)
        out["swept_pending_pairs"] = sum(s.retained() for s in (self.swept or {}).values())
        return out

    # ---------------------------------------------------------------------------- scoring
    def result(self, feeds: dict) -> dict:
        """Everything the comparison reports (call after the session's last batch): overall, and
        per venue under ``venues``."""
        if self.open:
            self._score_columns(len(self.open))
        swept = {name: s.result() for name, s in (self.swept or {}).items()}
        out = self._summary("all", swept.get("all"))
        out["swept_columns"] = self.columns
        venues = {}
        for name, _ in self.subsets[1:]:
            v = self._summary(name, swept.get(name))
            v["feed"] = feeds.get(name, "unknown")
            venues[name] = v
        out["venues"] = venues
        return out

    def _summary(self, name: str, swept: dict | None) -> dict:
        opt = self.options
        mine = dict(self.subsets)[name]
        sub = self.liq[mine]
        cl = self.clusters[name]
        K = int(cl.max()) + 1 if len(cl) else 0
        per = {}
        for m in METHODS:
            n = sub["notional"].astype(float)
            per[m] = {"cap": np.bincount(cl, n * self.hit[m][mine], K), "usd": np.bincount(cl, n, K),
                      "hot_frac": np.bincount(cl, self.frac[m][mine], K), "events": np.bincount(cl, minlength=K).astype(float)}
            per[m].update(swept[m] if swept is not None else
                          {key: np.zeros(K) for key in ("swept_cap", "swept_usd", "rho_sum", "rho_n")})
        s = summarize(per, K, opt.top, BASELINES, resamples=opt.resamples)
        out = {"events": int(len(sub)), "liquidation_usd": float(sub["notional"].sum()), "clusters": K}
        out.update(s.pop("model"))
        out["skill"], out["skill_interval"] = s.pop("skill"), s.pop("skill_interval")
        out["best_baseline"] = s.pop("best_baseline")
        out["baselines"] = {m: s[m] for m in BASELINES}
        return out


@dataclass
class _OpenColumn:
    """A column waiting for its horizon: the model's window and the baselines' maps at its time."""

    window: ModelWindow
    baselines: dict[str, np.ndarray]


def hot_bins(values: np.ndarray, top: float) -> np.ndarray:
    """Mask of the non-empty bins at or above the (1 − top) quantile of ``values`` (numpy's
    linear quantile, computed with one partition: this runs for every event and map)."""
    n = len(values)
    if not n:
        return np.zeros(0, bool)
    h = (n - 1) * (1 - top)
    i = int(math.floor(h))
    j = min(i + 1, n - 1)
    part = np.partition(values, (i, j)) if j != i else np.partition(values, i)
    a, b, t = float(part[i]), float(part[j]), h - i
    diff = b - a
    q = b - diff * (1 - t) if t >= 0.5 else a + diff * t   # numpy's _lerp, for the same edge cases
    return (values > 0) & (values >= q)
