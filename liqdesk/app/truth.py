"""Scores against the simulator's ground truth, which no exchange publishes.

A simulated session stores two extra tables: ``truth_liquidations`` (every liquidation, the
public feed being throttled) and ``truth_map`` (the true outstanding liquidation notional per
absolute price bin and side, every ``truth.every_ms``, columns ``time_ms, side, bin, notional``,
binned with ``truth.bin_width`` of the session meta, the model's own binning).

- ``truth_lift``: the accuracy metric of :func:`liqdesk.app.analysis.evaluate` over every
  liquidation instead of the public feed.
- ``truth_correlation``: Pearson correlation of the estimated and the true level maps over all
  truth snapshots and the bins within ±band % of the price, both sides together
  (``truth_correlation_long`` / ``_short`` per side).
- ``truth_capture``: the share of the true outstanding notional within the band that lies in the
  estimated hot bins (per snapshot and side, hot as in ``evaluate``).
"""

from __future__ import annotations

import math

import numpy as np

from liqdesk.core.levels import LevelModel
from liqdesk.store import SessionReader

from .analysis import _ChunkedEvents, evaluate, hot_bins, settings_for

TRUTH_LIQUIDATIONS = "truth_liquidations"
TRUTH_MAP = "truth_map"


def has_truth(reader: SessionReader) -> bool:
    return TRUTH_MAP in reader.tables and TRUTH_LIQUIDATIONS in reader.tables


def _table_arrays(reader: SessionReader, name: str) -> dict[str, np.ndarray]:
    table = reader.table(name)
    return {col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names}


def truth_liquidations(reader: SessionReader) -> np.ndarray:
    from liqdesk.core.events import EXCHANGE_ID, LIQUIDATION_DTYPE

    cols = _table_arrays(reader, TRUTH_LIQUIDATIONS)
    out = np.empty(len(cols["time_ms"]), LIQUIDATION_DTYPE)
    for name in LIQUIDATION_DTYPE.names:
        values = cols[name]
        if name == "exchange" and values.dtype.kind in "OUS":
            values = np.array([EXCHANGE_ID[str(v)] for v in values], dtype=np.uint8)
        out[name] = values
    return out[np.argsort(out["time_ms"], kind="stable")]


def truth_metrics(reader: SessionReader, lead_s: float = 60, band_pct: float = 5, top: float = 0.1,
                  settings=None) -> dict:
    """The ground-truth scores of a simulated session (model ``settings``, default those of
    :func:`settings_for`); an empty dict for any other session."""
    if not has_truth(reader):
        return {}
    settings = settings or settings_for(reader, window_columns=2, rows=64)
    every = truth_liquidations(reader)
    # a calm session may hold no liquidation at all: the maps can still be compared
    out = {"truth_lift": evaluate(reader, lead_s, band_pct, top, liquidations=every, settings=settings,
                                  compare=False)["lift"] if len(every) else float("nan")}
    out.update(_map_agreement(reader, settings, band_pct, top))
    return out


def _map_agreement(reader: SessionReader, settings, band_pct: float, top: float) -> dict:
    agreement = MapAgreement(reader, band_pct, top)
    model = LevelModel(settings)
    events = _ChunkedEvents(reader)
    for t in agreement.times.tolist():
        model.ingest(events.take(int(t)))
        agreement.add(model, int(t))
    return agreement.result()


def _snapshot_times(reader: SessionReader) -> tuple[np.ndarray, bool]:
    """The truth map's distinct snapshot times (sorted) and whether its rows are in time order,
    read a row group at a time: the map has a row per bin and snapshot (5.4 M rows in 7 days),
    the times a few thousand."""
    distinct: list[np.ndarray] = []
    in_order, last = True, None
    for part in reader.iter_table(TRUTH_MAP, ["time_ms"]):
        t = part.column("time_ms").to_numpy(zero_copy_only=False)
        if not len(t):
            continue
        if np.any(t[1:] < t[:-1]) or (last is not None and t[0] < last):
            in_order = False
        distinct.append(np.unique(t))
        last = int(t[-1])
    if not distinct:
        return np.empty(0, np.int64), True
    return np.unique(np.concatenate(distinct)), in_order


class MapAgreement:
    """The estimated map beside the true one at every truth snapshot: call :meth:`add` with the
    model as it stands at each of ``times`` (any other time is ignored), in increasing time, then
    :meth:`result`.

    The truth map is read a row group at a time as the times pass (it is written in time order),
    so its memory is a row group, not the session; a table out of time order is sorted whole."""

    def __init__(self, reader: SessionReader, band_pct: float, top: float) -> None:
        self.times, in_order = _snapshot_times(reader)
        if not in_order:
            whole = _table_arrays(reader, TRUTH_MAP)
            order = np.argsort(whole["time_ms"], kind="stable")
            self._snapshots = _SnapshotCursor(iter([{k: v[order] for k, v in whole.items()}]))
        else:
            self._snapshots = _SnapshotCursor(_arrays(p) for p in reader.iter_table(TRUTH_MAP))
        self.band_pct, self.top = band_pct, top
        # correlations from running moments, not the snapshots' values kept to the end (those
        # grew with the session: 2,880 snapshots of two sides' bands in 48 h)
        self.moments = {1: PairMoments(), -1: PairMoments()}
        self.true_total = self.true_in_hot = 0.0

    def add(self, model: LevelModel, t: int) -> None:
        band_pct = self.band_pct
        snap = self._snapshots.rows(t)
        price = model.mark_price()
        if not len(snap["side"]) or not model.bin_width or math.isnan(price):
            return
        w = model.bin_width
        lo = math.floor(price * (1 - band_pct / 100) / w)
        hi = math.floor(price * (1 + band_pct / 100) / w)
        rows = hi - lo + 1
        centres = (lo + np.arange(rows) + 0.5) * w
        in_band = np.abs(centres / price - 1) <= band_pct / 100
        estimate = model.level_map(origin=lo, rows=rows)
        for side, row in ((1, 0), (-1, 1)):
            mine = snap["side"] == side
            k = snap["bin"][mine].astype(np.int64) - lo
            ok = (k >= 0) & (k < rows)
            true_map = np.bincount(k[ok], snap["notional"][mine][ok], rows)
            e_vals, t_vals = estimate[row][in_band], true_map[in_band]
            self.moments[side].add(e_vals, t_vals)
            hot = hot_bins(e_vals, self.top)
            self.true_total += float(t_vals.sum())
            self.true_in_hot += float(t_vals[hot].sum())

    def result(self) -> dict:
        both = PairMoments()
        both.merge(self.moments[1])
        both.merge(self.moments[-1])
        result = {"truth_correlation": both.pearson(), "truth_correlation_long": self.moments[1].pearson(),
                  "truth_correlation_short": self.moments[-1].pearson()}
        result["truth_capture"] = self.true_in_hot / self.true_total if self.true_total > 0 else float("nan")
        result["truth_snapshots"] = len(self.times)
        return result


def _arrays(table) -> dict[str, np.ndarray]:
    return {col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names}


class _SnapshotCursor:
    """Rows of a time-ordered truth map, handed out one snapshot time at a time (increasing):
    ``parts`` yields column dicts in time order; rows before a requested time are dropped."""

    def __init__(self, parts) -> None:
        self._parts = parts
        self._buf: dict[str, np.ndarray] | None = None
        self._done = False

    def _load(self) -> bool:
        part = next(self._parts, None)
        if part is None:
            self._done = True
            return False
        buf = self._buf
        self._buf = part if buf is None else {k: np.concatenate([buf[k], part[k]]) for k in part}
        return True

    def rows(self, t: int) -> dict[str, np.ndarray]:
        """The rows at time ``t`` (in file order); later calls must ask for later times."""
        while not self._done and (self._buf is None or not len(self._buf["time_ms"])
                                  or self._buf["time_ms"][-1] <= t):
            self._load()
        buf = self._buf
        if buf is None:
            return {"side": np.empty(0, np.int8), "bin": np.empty(0, np.int64), "notional": np.empty(0)}
        times = buf["time_ms"]
        a, b = np.searchsorted(times, [t, t + 1])
        out = {k: v[a:b] for k, v in buf.items()}
        self._buf = {k: v[b:] for k, v in buf.items()}
        return out


class PairMoments:
    """Count, means, squared deviations and co-deviation of pairs (x, y) added a batch at a
    time, merged as Chan et al.'s parallel algorithm does (stable where sums of squares would
    cancel): the Pearson correlation of everything added, without keeping it."""

    def __init__(self) -> None:
        self.n = 0
        self.mean_x = self.mean_y = 0.0
        self.m2_x = self.m2_y = self.c_xy = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        if not len(x):
            return
        other = PairMoments()
        other.n = len(x)
        other.mean_x, other.mean_y = float(x.mean()), float(y.mean())
        dx, dy = x - other.mean_x, y - other.mean_y
        other.m2_x, other.m2_y, other.c_xy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
        self.merge(other)

    def merge(self, o: PairMoments) -> None:
        if not o.n:
            return
        n = self.n + o.n
        dx, dy = o.mean_x - self.mean_x, o.mean_y - self.mean_y
        f = self.n * o.n / n
        self.m2_x += o.m2_x + dx * dx * f
        self.m2_y += o.m2_y + dy * dy * f
        self.c_xy += o.c_xy + dx * dy * f
        self.mean_x += dx * o.n / n
        self.mean_y += dy * o.n / n
        self.n = n

    def pearson(self) -> float:
        """NaN with fewer than two pairs or a constant side."""
        if self.n < 2 or self.m2_x <= 0 or self.m2_y <= 0:
            return float("nan")
        return float(min(1.0, max(-1.0, self.c_xy / math.sqrt(self.m2_x * self.m2_y))))
