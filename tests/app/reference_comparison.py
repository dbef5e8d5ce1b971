"""The comparison as evaluate computed it before it streamed (base of branch ``evalmem``), kept
only as the reference the streaming path must match: every liquidation's and column's window kept
to the end, the whole price tape finished, the baselines' maps and the swept score computed at once.

Copied verbatim (``Recorder`` -> ``WholeRecorder``, ``evaluate`` -> ``evaluate_whole``); the shared
pieces it calls (hot bins, clusters, bootstrap, the model's own scoring) come from the product.
"""
# ruff: noqa

from __future__ import annotations

import math

import numpy as np

from liqdesk.app.analysis import Accuracy, LevelModel, Progress, _ChunkedEvents, _column_times, _score_event, liquidation_feeds, settings_for
from liqdesk.app.baselines import BASELINES, NAIVE_LEVERAGES, VOLUME_WINDOW_S, nearest_map
from liqdesk.app.comparison import METHODS, ModelWindow, ScoreOptions, band_window, hot_bins
from liqdesk.app.swept import Columns, Liquidations, clusters, group_spearman, hot_weights, summarize
from liqdesk.core.events import EXCHANGE_ID, EXCHANGES, EventBatch
from liqdesk.core.levels import ModelSettings
from liqdesk.store import SessionReader

COMPACT_ROWS = 1 << 20

class PriceTape:
    """What the baselines need of a session, per whole second: the low and high price (trades,
    marks and public liquidation fills of the model's exchanges) and the traded notional by
    absolute price bin. Fed the same batches as the model, in time order."""

    def __init__(self, exchange_ids, compact_rows: int | None = None) -> None:
        self.ids = np.asarray(list(exchange_ids), dtype=np.uint8)
        self.compact_rows = COMPACT_ROWS if compact_rows is None else int(compact_rows)
        self._sec: list[np.ndarray] = []
        self._price: list[np.ndarray] = []
        self._vol: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._raw_rows = 0                       # rows added since the last compaction
        self.bin_width = 0.0

    def add(self, batch: EventBatch, bin_width: float) -> None:
        """Record a batch; ``bin_width`` the model's (0 while it has seen no price)."""
        if bin_width and not self.bin_width:
            self.bin_width = float(bin_width)
        for arr in (batch.trades, batch.marks, batch.liquidations):
            if len(arr):
                keep = np.isin(arr["exchange"], self.ids)
                self._sec.append(arr["time_ms"][keep] // 1000)
                self._price.append(arr["price"][keep].astype(float))
        tr = batch.trades
        if len(tr) and self.bin_width:
            tr = tr[np.isin(tr["exchange"], self.ids)]
            self._vol.append((tr["time_ms"] // 1000, np.floor(tr["price"] / self.bin_width).astype(np.int64),
                              tr["price"] * tr["size"]))
        self._raw_rows += len(batch.trades) + len(batch.marks) + len(batch.liquidations)
        if self._raw_rows >= self.compact_rows:
            self._compact()

    def _compact(self) -> None:
        """Reduce every complete second (before the newest second seen: batches come in time
        order) to what :meth:`finish` reads of it: its low and high price, and one traded
        notional per (second, bin), summed in the order the trades came, as the final sum does,
        so the result is the same bit for bit. Memory then follows the seconds, not the events."""
        self._raw_rows = 0
        if self._sec:
            sec, price = np.concatenate(self._sec), np.concatenate(self._price)
            if len(sec):
                cut = int(sec.max())
                done = sec < cut
                s, p = sec[done], price[done]
                order = np.argsort(s, kind="stable")
                s, p = s[order], p[order]
                starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]])) if len(s) else np.empty(0, np.int64)
                keys = s[starts]
                low = np.minimum.reduceat(p, starts) if len(s) else p
                high = np.maximum.reduceat(p, starts) if len(s) else p
                self._sec = [np.repeat(keys, 2), sec[~done]]
                self._price = [np.stack([low, high], axis=1).ravel(), price[~done]]
        if self._vol:
            vs = np.concatenate([v[0] for v in self._vol])
            vb = np.concatenate([v[1] for v in self._vol])
            vn = np.concatenate([v[2] for v in self._vol])
            if len(vs):
                done = vs < int(vs.max())
                ds, db, dn = vs[done], vb[done], vn[done]
                if len(ds):
                    b0 = int(db.min())
                    span = int(db.max()) - b0 + 1
                    keys, inverse = np.unique(ds * span + (db - b0), return_inverse=True)
                    sums = np.bincount(inverse.ravel(), dn, len(keys))
                    ds, db, dn = keys // span, keys % span + b0, sums
                self._vol = [(ds, db, dn), (vs[~done], vb[~done], vn[~done])]

    def finish(self, first_s: int, last_s: int) -> SecondTape:
        """The per-second arrays over ``first_s .. last_s`` (seconds since the epoch)."""
        n = max(0, last_s - first_s + 1)
        low = np.full(n, np.inf)
        high = np.full(n, -np.inf)
        if self._sec:
            sec = np.concatenate(self._sec) - first_s
            price = np.concatenate(self._price)
            ok = (sec >= 0) & (sec < n)
            np.minimum.at(low, sec[ok], price[ok])
            np.maximum.at(high, sec[ok], price[ok])
        if self._vol:
            vs = np.concatenate([v[0] for v in self._vol]) - first_s
            vb = np.concatenate([v[1] for v in self._vol])
            vn = np.concatenate([v[2] for v in self._vol])
            # one row per (second, bin): an hour's look-up then sums a few thousand rows
            span = int(vb.max() - vb.min()) + 1
            keys, inverse = np.unique(vs * span + (vb - vb.min()), return_inverse=True)
            vn = np.bincount(inverse.ravel(), vn, len(keys))
            vs, vb = keys // span, keys % span + vb.min()
        else:
            vs = np.empty(0, np.int64)
            vb = np.empty(0, np.int64)
            vn = np.empty(0)
        return SecondTape(first_s, low, high, vs, vb, vn, self.bin_width)


class SecondTape:
    """Per second (index 0 = ``first_s``): ``low``/``high`` price (±inf when none), and the
    trades as (second index, absolute bin, notional) sorted by second."""

    def __init__(self, first_s, low, high, vol_sec, vol_bin, vol_notional, bin_width) -> None:
        self.first_s, self.low, self.high = first_s, low, high
        self.vol_sec, self.vol_bin, self.vol_notional = vol_sec, vol_bin, vol_notional
        self.bin_width = bin_width

    def price_range(self, start_ms: np.ndarray, end_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest price over the whole seconds in ``[start_ms, end_ms)``, per query
        (vectorized; ±inf where no price was seen)."""
        n = len(self.low)
        a = np.clip(np.asarray(start_ms) // 1000 - self.first_s, 0, n)
        b = np.clip(-(-np.asarray(end_ms) // 1000) - self.first_s, 0, n)
        lo, hi = np.full(len(a), np.inf), np.full(len(a), -np.inf)
        if not len(a):
            return lo, hi
        width = int(max(1, (b - a).max()))
        pad_low = np.concatenate([self.low, np.full(width, np.inf)])
        pad_high = np.concatenate([self.high, np.full(width, -np.inf)])
        step = max(1, 4_000_000 // width)   # a month of columns in pieces of a few tens of MB
        for i in range(0, len(a), step):
            idx = a[i:i + step, None] + np.arange(width)[None, :]
            inside = idx < b[i:i + step, None]
            lo[i:i + step] = np.where(inside, pad_low[idx], np.inf).min(axis=1)
            hi[i:i + step] = np.where(inside, pad_high[idx], -np.inf).max(axis=1)
        return lo, hi




def baseline_maps(tape: SecondTape, queries: list[tuple[int, int, int, float]]) -> dict[str, list[np.ndarray]]:
    """Every baseline's ``[2, rows]`` map at each query ``(time_ms, origin bin, rows, price)``.
    Queries may come in any order; the naive map is advanced through them in time order."""
    out = {name: [None] * len(queries) for name in BASELINES}
    if not queries:
        return out
    w = tape.bin_width
    times = np.array([q[0] for q in queries], dtype=np.int64)
    order = np.argsort(times, kind="stable")
    naive = _NaiveMap(tape)
    seen: dict[tuple, int] = {}   # liquidations of one second often ask the same thing
    for i in order.tolist():
        t_ms, origin, rows, mark = queries[i]
        key = (t_ms // 1000, origin, rows, mark)
        if key in seen:
            for name in BASELINES:
                out[name][i] = out[name][seen[key]]
            continue
        seen[key] = i
        if not w or math.isnan(mark):
            for name in BASELINES:
                out[name][i] = np.zeros((2, rows))
            continue
        sec = t_ms // 1000 - tape.first_s  # whole seconds before the query
        out["nearest"][i] = nearest_map(mark, w, origin, rows)
        a, b = np.searchsorted(tape.vol_sec, [sec - VOLUME_WINDOW_S, sec])
        k = tape.vol_bin[a:b] - origin
        ok = (k >= 0) & (k < rows)
        vol = np.bincount(k[ok], tape.vol_notional[a:b][ok], rows)
        out["volume"][i] = np.stack([vol, vol])
        out["naive"][i] = naive.at(sec, origin, rows)
    return out


class _NaiveMap:
    """The naive 1/leverage map, advanced second by second (vectorized between queries)."""

    def __init__(self, tape: SecondTape) -> None:
        self.tape = tape
        w = tape.bin_width
        finite = np.concatenate([tape.low[np.isfinite(tape.low)], tape.high[np.isfinite(tape.high)]])
        if not w or not len(finite):
            self.origin, self.size = 0, 1
        else:
            lo_lev = min(NAIVE_LEVERAGES)
            self.origin = math.floor(finite.min() * (1 - 1 / lo_lev) / w) - 2
            self.size = math.floor(finite.max() * (1 + 1 / lo_lev) / w) - self.origin + 3
        self.state = np.zeros((2, self.size))
        self.done = 0  # seconds applied: [0, done)
        self.vol_cursor = 0
        lev = np.asarray(NAIVE_LEVERAGES)
        self.ratios = np.stack([1 - 1 / lev, 1 + 1 / lev])  # [2, L]

    def _advance(self, sec: int) -> None:
        sec = min(sec, len(self.tape.low))
        if sec <= self.done:
            return
        t, w = self.tape, self.tape.bin_width
        low = t.low[self.done:sec]
        high = t.high[self.done:sec]
        # absolute bin each second reached (±huge when no price that second)
        low_bin = np.where(np.isfinite(low), np.floor(np.where(np.isfinite(low), low, 0) / w), np.inf)
        high_bin = np.where(np.isfinite(high), np.floor(np.where(np.isfinite(high), high, 0) / w), -np.inf)
        # existing levels: a long at bin b goes when a low reaches b (low bin <= b); shorts mirrored
        k = self.origin + np.arange(self.size)
        self.state[0][k >= low_bin.min()] = 0.0
        self.state[1][k <= high_bin.max()] = 0.0
        # new levels of second j survive the sweeps of the later seconds of the period
        b = int(np.searchsorted(t.vol_sec, sec))
        a = self.vol_cursor
        if b > a and w:
            j = t.vol_sec[a:b] - self.done
            centre = (t.vol_bin[a:b] + 0.5) * w
            share = t.vol_notional[a:b] / len(NAIVE_LEVERAGES)
            suffix_low = np.append(np.minimum.accumulate(low_bin[::-1])[::-1], np.inf)[1:]
            suffix_high = np.append(np.maximum.accumulate(high_bin[::-1])[::-1], -np.inf)[1:]
            for side in (0, 1):
                level = np.floor(centre[:, None] * self.ratios[side][None, :] / w).astype(np.int64)
                alive = level < suffix_low[j][:, None] if side == 0 else level > suffix_high[j][:, None]
                idx = level - self.origin
                alive &= (idx >= 0) & (idx < self.size)
                np.add.at(self.state[side], idx[alive], np.broadcast_to(share[:, None], level.shape)[alive])
        self.vol_cursor = b
        self.done = sec

    def at(self, sec: int, origin: int, rows: int) -> np.ndarray:
        self._advance(sec)
        out = np.zeros((2, rows))
        a = max(origin, self.origin)
        b = min(origin + rows, self.origin + self.size)
        if b > a:
            out[:, a - origin:b - origin] = self.state[:, a - self.origin:b - self.origin]
        return out


def swept_contributions(cols: Columns, liq: Liquidations, horizon_ms: int, top: float,
                        n_clusters: int) -> dict[str, dict[str, np.ndarray]]:
    """Per method, per cluster: ``swept_cap`` (notional in hot cells), ``swept_usd`` (notional in
    crossed cells), ``rho_sum`` / ``rho_n`` (sum and count of defined column Spearmans)."""
    C, R = cols.valid.shape
    k = cols.origin[:, None] + np.arange(R)[None, :]
    crossed = cols.valid & (k >= cols.lo_bin[:, None]) & (k <= cols.hi_bin[:, None])
    cell_c, cell_r = np.nonzero(crossed)              # one entry per crossed bin; both sides below
    cell_c = np.concatenate([cell_c, cell_c])
    cell_r = np.concatenate([cell_r, cell_r])
    cell_s = np.repeat([0, 1], len(cell_c) // 2)
    index = np.full((C, 2, R), -1, np.int64)
    index[cell_c, cell_s, cell_r] = np.arange(len(cell_c))
    # pairs (liquidation, column) with t < time <= t + horizon
    c_from = np.searchsorted(cols.times, liq.time_ms - horizon_ms, side="left")
    c_to = np.searchsorted(cols.times, liq.time_ms, side="left")
    count = np.maximum(c_to - c_from, 0)
    pair_i = np.repeat(np.arange(len(liq.time_ms)), count)
    pair_c = np.repeat(c_from, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    r = liq.bin[pair_i] - cols.origin[pair_c]
    s = np.where(liq.side[pair_i] > 0, 0, 1)
    ok = (r >= 0) & (r < R)
    cell = np.full(len(pair_i), -1, np.int64)
    cell[ok] = index[pair_c[ok], s[ok], r[ok]]
    keep = cell >= 0
    pair_i, pair_c, cell = pair_i[keep], pair_c[keep], cell[keep]
    usd = liq.notional[pair_i]
    cl = liq.cluster[pair_i]
    cell_usd = np.bincount(cell, usd, len(cell_c))
    # each column's Spearman goes with the cluster of its largest liquidated notional
    col_cluster = np.full(C, -1, np.int64)
    if len(pair_c):
        o = np.lexsort((usd, pair_c))
        last = np.ones(len(o), bool)
        last[:-1] = pair_c[o][1:] != pair_c[o][:-1]
        col_cluster[pair_c[o][last]] = cl[o][last]
    out = {}
    swept_usd = np.bincount(cl, usd, n_clusters)
    for name, values in cols.values.items():
        cell_values = values[cell_c, cell_s, cell_r]
        w = hot_weights(cell_c, cell_values, top)
        rho = group_spearman(cell_c, cell_values, cell_usd, C)
        defined = ~np.isnan(rho) & (col_cluster >= 0)
        out[name] = {
            "swept_cap": np.bincount(cl, usd * w[cell], n_clusters),
            "swept_usd": swept_usd,
            "rho_sum": np.bincount(col_cluster[defined], rho[defined], n_clusters),
            "rho_n": np.bincount(col_cluster[defined], minlength=n_clusters).astype(float),
        }
    return out




class WholeRecorder:
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


def evaluate_whole(reader: SessionReader, lead_s: float = 60, band_pct: float = 5, top: float = 0.1,
                   liquidations: np.ndarray | None = None, settings: ModelSettings | None = None,
                   options: ScoreOptions | None = None) -> dict:
    """``evaluate`` with ``compare`` and without ``truth``, as it was."""
    if not lead_s >= 0:
        raise ValueError("--lead-s must be >= 0")
    if not 0 < band_pct <= 100:
        raise ValueError("--band-pct must be in (0, 100]")
    if not 0 < top <= 1:
        raise ValueError("--top must be in (0, 1]")
    options = options or ScoreOptions()
    options = ScoreOptions(options.horizon_ms, options.column_ms, options.gap_ms, options.resamples, top, band_pct)
    settings = settings or settings_for(reader, window_columns=2, rows=64)
    if liquidations is None:
        liquidations = reader.read(kinds=["liquidations"]).liquidations
    ids = [EXCHANGE_ID[n] for n in settings.exchanges]
    liq = liquidations[np.isin(liquidations["exchange"], ids)]
    if not len(liq):
        raise ValueError(f"session {reader.path} has no liquidation events on {', '.join(settings.exchanges)}")
    lead_ms = int(lead_s * 1000)
    # look-ups at whole seconds: liquidations of one second share the model's state (a cascade
    # is hundreds of them), which keeps one pass over a day to a few thousand stops
    query = (liq["time_ms"] - lead_ms) // 1000 * 1000
    order = np.argsort(query, kind="stable")
    liq, query = liq[order], query[order]
    model = LevelModel(settings)
    acc = Accuracy()
    events = _ChunkedEvents(reader)
    recorder = WholeRecorder(ids, options)
    columns = _column_times(reader, options, liq["time_ms"])
    truth_query, snapshots = query[:0], np.empty(0, np.int64)
    stops = np.union1d(np.union1d(query, columns), np.union1d(truth_query, snapshots))
    at = {name: np.searchsorted(times, stops, side="left").tolist() + [len(times)]
          for name, times in (("ev", query), ("col", columns), ("truth", truth_query), ("snap", snapshots))}
    for n, q in enumerate(stops.tolist()):
        batch = events.take(q)
        model.ingest(batch)
        if recorder is not None:
            recorder.add_events(batch, model.bin_width)
        for i in range(at["ev"][n], at["ev"][n + 1]):
            window = _score_event(model, liq[i], band_pct, top, acc, q)
            if recorder is not None:
                recorder.add_event_window(window)
        if recorder is not None and at["col"][n + 1] > at["col"][n]:
            recorder.add_column(q, model)
    out = acc.result()
    out.update({"bin_width_pct": round(100 * model.bin_width / model.mark_price(), 5) if model.bin_width and
                not math.isnan(model.mark_price()) else None,
                "lead_s": lead_s, "band_pct": band_pct, "top": top, "mode": model.mode,
                "mix_learned": model.mix.settings.learn, "leverage_mix": model.mix_summary()})
    if recorder is not None:
        recorder.add_events(events.take(reader.end_ms + 1), model.bin_width)  # the last horizon's prices
        scored = recorder.score(liq, reader.start_ms, reader.end_ms, liquidation_feeds(reader))
        scored.pop("lift")  # the same figure as ``out["lift"]``, recomputed per cluster
        out.update(scored)
        out.update({"horizon_min": options.horizon_ms / 60_000, "column_s": options.column_ms / 1000,
                    "cluster_gap_s": options.gap_ms / 1000, "resamples": options.resamples, "interval_level": 0.95})
    return out


