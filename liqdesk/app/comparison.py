"""The model beside the trivial baselines, scored by the same code (see :mod:`liqdesk.app.swept`
and :mod:`liqdesk.app.baselines`): the per-event lift of :func:`liqdesk.app.analysis.evaluate`,
the swept-level score, liquidation clusters and bootstrap intervals, overall and per venue.

:class:`Recorder` is fed during :func:`~liqdesk.app.analysis.evaluate`'s single pass over the
session: the model's map at every liquidation's look-up time and at every column time, and the
events (for the baselines). :meth:`Recorder.score` does the rest after the pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from liqdesk.core.events import EXCHANGES, EventBatch

from .baselines import BASELINES, PriceTape, baseline_maps
from .swept import Columns, Liquidations, clusters, summarize, swept_contributions

METHODS = ("model",) + BASELINES


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


class Recorder:
    """Collects, during the pass, what the comparison needs (see the module docstring)."""

    def __init__(self, exchange_ids, options: ScoreOptions) -> None:
        self.options = options
        self.tape = PriceTape(exchange_ids)
        self.events: list[ModelWindow | None] = []
        self.columns: list[ModelWindow] = []
        self.bin_width = 0.0

    def add_events(self, batch: EventBatch, bin_width: float) -> None:
        self.bin_width = self.bin_width or bin_width
        self.tape.add(batch, bin_width)

    def add_event_window(self, window: ModelWindow | None) -> None:
        """The model's map (the liquidated side's row used) at one liquidation's look-up time, in
        the order of the liquidations; None when the model had no estimate yet."""
        self.events.append(window)

    def add_column(self, time_ms: int, model) -> None:
        """The model's whole band at a column time."""
        mark = model.mark_price()
        if not model.bin_width or math.isnan(mark):
            return
        origin, rows, in_band = band_window(mark, model.bin_width, self.options.band_pct)
        self.columns.append(ModelWindow(time_ms, origin, rows, mark, model.level_map(origin=origin, rows=rows), in_band))

    # ---------------------------------------------------------------------------- scoring
    def score(self, liq: np.ndarray, first_ms: int, last_ms: int, feeds: dict) -> dict:
        """Everything the comparison reports, for the liquidations ``liq`` (in the order their
        windows were added): overall, and per venue under ``venues``."""
        opt = self.options
        w = self.bin_width
        tape = self.tape.finish(first_ms // 1000, last_ms // 1000)
        ev = self.events
        queries = [(x.time_ms, x.origin, x.rows, x.mark) for x in ev if x is not None]
        queries += [(c.time_ms, c.origin, c.rows, c.mark) for c in self.columns]
        maps = baseline_maps(tape, queries)
        n_ev = sum(x is not None for x in ev)
        # per event and method: captured (0/1) and share of bins hot
        hit = {m: np.zeros(len(liq)) for m in METHODS}
        frac = {m: np.zeros(len(liq)) for m in METHODS}
        j = 0
        for i, x in enumerate(ev):
            if x is None or not w:
                continue
            row = 0 if liq["side"][i] > 0 else 1
            k = math.floor(float(liq["price"][i]) / w) - x.origin
            inside = 0 <= k < x.rows and bool(x.in_band[k])
            rank = int(x.in_band[:k].sum()) if inside else -1
            for m in METHODS:
                values = (x.model if m == "model" else maps[m][j])[row][x.in_band]
                hot = hot_bins(values, opt.top)
                hit[m][i] = bool(inside and hot[rank])
                frac[m][i] = float(hot.sum()) / max(1, len(values))
            j += 1
        cols = self._columns(tape, {m: maps[m][n_ev:] for m in BASELINES})
        out = self._summary(liq, np.ones(len(liq), bool), hit, frac, cols, w)
        out["swept_columns"] = 0 if cols is None else len(cols.times)
        venues = {}
        for e in np.unique(liq["exchange"]).tolist():
            name = EXCHANGES[int(e)]
            mine = liq["exchange"] == e
            v = self._summary(liq, mine, hit, frac, cols, w)
            v["feed"] = feeds.get(name, "unknown")
            venues[name] = v
        out["venues"] = venues
        return out

    def _columns(self, tape, baseline_values: dict[str, list[np.ndarray]]) -> Columns | None:
        cs = self.columns
        if not cs or not self.bin_width:
            return None
        w = self.bin_width
        R = max(c.rows for c in cs)
        C = len(cs)
        valid = np.zeros((C, R), bool)
        values = {m: np.zeros((C, 2, R)) for m in METHODS}
        for i, c in enumerate(cs):
            valid[i, :c.rows] = c.in_band
            values["model"][i, :, :c.rows] = c.model
            for m in BASELINES:
                values[m][i, :, :c.rows] = baseline_values[m][i]
        times = np.array([c.time_ms for c in cs], dtype=np.int64)
        marks = np.array([c.mark for c in cs])
        lo, hi = tape.price_range(times, times + self.options.horizon_ms + 1)
        lo, hi = np.fmin(lo, marks), np.fmax(hi, marks)
        return Columns(times, np.array([c.origin for c in cs], dtype=np.int64), valid,
                       np.floor(lo / w).astype(np.int64), np.floor(hi / w).astype(np.int64), values)

    def _summary(self, liq, mine, hit, frac, cols, w) -> dict:
        opt = self.options
        sub = liq[mine]
        cl = clusters(sub["time_ms"], opt.gap_ms)
        K = int(cl.max()) + 1 if len(cl) else 0
        per = {}
        for m in METHODS:
            n = sub["notional"].astype(float)
            per[m] = {"cap": np.bincount(cl, n * hit[m][mine], K), "usd": np.bincount(cl, n, K),
                      "hot_frac": np.bincount(cl, frac[m][mine], K), "events": np.bincount(cl, minlength=K).astype(float)}
        if cols is not None and w:
            bins = np.floor(sub["price"] / w).astype(np.int64)
            swept = swept_contributions(cols, Liquidations(sub["time_ms"], sub["side"], bins, sub["notional"].astype(float), cl),
                                        opt.horizon_ms, opt.top, K)
            for m in METHODS:
                per[m].update(swept[m])
        else:
            for m in METHODS:
                per[m].update({key: np.zeros(K) for key in ("swept_cap", "swept_usd", "rho_sum", "rho_n")})
        s = summarize(per, K, opt.top, BASELINES, resamples=opt.resamples)
        out = {"events": int(len(sub)), "liquidation_usd": float(sub["notional"].sum()), "clusters": K}
        out.update(s.pop("model"))
        out["skill"], out["skill_interval"] = s.pop("skill"), s.pop("skill_interval")
        out["best_baseline"] = s.pop("best_baseline")
        out["baselines"] = {m: s[m] for m in BASELINES}
        return out


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
