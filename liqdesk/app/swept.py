"""The swept-level score, liquidation clusters and the bootstrap over them (vectorized numpy).

Swept-level score. At every column time ``t`` (one every ``column_s``), take the price bins price
actually crossed in the next ``horizon`` (lowest to highest price of the trades, marks and public
liquidation fills in ``[t, t + horizon)``, and the price at ``t``), both sides, within ±band % of
the price at ``t``: these are the column's *cells*. A map (the model's, or a baseline's) gives
each cell a value as it stood at ``t``; the liquidations in ``(t, t + horizon]`` give each cell
its liquidated notional. Then

- ``swept_lift``: share of the liquidated notional in the map's top ``top`` share of the
  column's cells, ÷ ``top``. The top share is ``top · cells`` cells, the last one counted
  fractionally; cells of equal value share their places evenly (what a random order among them
  would give on average), so a map that knows nothing scores 1 exactly in expectation and a
  perfect one ``1 / top`` (less when a column has fewer than ``1 / top`` cells). Summed over
  columns: a liquidation counts once in every column whose horizon holds it.
- ``swept_spearman``: the mean over columns with liquidations of the Spearman correlation
  between the map's values and the liquidated notional over the column's cells.

Nearness to price no longer helps: every crossed bin was reached.

Clusters. Liquidations sorted by time, a new cluster starts after a gap of more than
``gap_s`` seconds: one cascade is one event. The bootstrap draws clusters with replacement
(``resamples`` times, fixed seed) and recomputes every figure; the interval is its 2.5–97.5
percentiles. A column's Spearman goes with the cluster holding most of its liquidated notional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _runs(group: np.ndarray, values: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort by (group, value); per sorted position: order, position in its group, start and
    length of its run of equal values within the group."""
    key = -values if descending else values
    order = np.lexsort((key, group))
    g, v = group[order], key[order]
    n = len(order)
    new_group = np.ones(n, bool)
    new_group[1:] = g[1:] != g[:-1]
    group_start = np.flatnonzero(new_group)
    pos = np.arange(n) - group_start[np.cumsum(new_group) - 1]
    new_run = new_group.copy()
    new_run[1:] |= v[1:] != v[:-1]
    run_id = np.cumsum(new_run) - 1
    run_start = pos[new_run][run_id]
    run_len = np.bincount(run_id)[run_id]
    return order, pos, run_start, run_len


def hot_weights(group: np.ndarray, values: np.ndarray, top: float) -> np.ndarray:
    """Per cell, its share of a place in its group's top ``top · n`` cells by value (ties share
    their places evenly). Each group's weights sum to ``top · n``."""
    group = np.asarray(group, dtype=np.int64)
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    out = np.zeros(len(values))
    if not len(values):
        return out
    order, _, run_start, run_len = _runs(group, values, descending=True)
    n = np.bincount(group)[group[order]]
    k = top * n
    out[order] = np.clip(k - run_start, 0, run_len) / run_len
    return out


def group_ranks(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of ``values`` within each group."""
    group = np.asarray(group, dtype=np.int64)
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    out = np.zeros(len(values))
    if not len(values):
        return out
    order, _, run_start, run_len = _runs(group, values, descending=False)
    out[order] = run_start + (run_len + 1) / 2
    return out


def group_spearman(group: np.ndarray, x: np.ndarray, y: np.ndarray, groups: int) -> np.ndarray:
    """Spearman correlation of ``x`` and ``y`` within each group ``0 .. groups-1`` (NaN where
    fewer than 3 cells or either side constant)."""
    return ranked_spearman(group, group_ranks(group, x), group_ranks(group, y), groups)


def ranked_spearman(group: np.ndarray, rx: np.ndarray, ry: np.ndarray, groups: int) -> np.ndarray:
    """:func:`group_spearman` from the ranks (:func:`group_ranks`) of both sides."""
    n = np.bincount(group, minlength=groups).astype(float)
    sx, sy = np.bincount(group, rx, groups), np.bincount(group, ry, groups)
    sxy = np.bincount(group, rx * ry, groups)
    sxx, syy = np.bincount(group, rx * rx, groups), np.bincount(group, ry * ry, groups)
    cov = n * sxy - sx * sy
    vx, vy = n * sxx - sx * sx, n * syy - sy * sy
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = cov / np.sqrt(vx * vy)
    # ranks are exact multiples of 0.5: a variance this small is a constant side
    rho[(n < 3) | (vx <= 1e-9 * np.maximum(n * n, 1)) | (vy <= 1e-9 * np.maximum(n * n, 1))] = np.nan
    return rho


def clusters(times_ms: np.ndarray, gap_ms: int) -> np.ndarray:
    """Cluster id per liquidation (0, 1, ... in time order): a new cluster after a gap > ``gap_ms``."""
    times_ms = np.asarray(times_ms, dtype=np.int64)
    if not len(times_ms):
        return np.zeros(0, np.int64)
    order = np.argsort(times_ms, kind="stable")
    new = np.ones(len(order), bool)
    new[1:] = np.diff(times_ms[order]) > gap_ms
    out = np.empty(len(order), np.int64)
    out[order] = np.cumsum(new) - 1
    return out


@dataclass(frozen=True)
class Columns:
    """Every column's maps over its band: ``values[method]`` ``[C, 2, R]`` from absolute bin
    ``origin[C]``; ``valid[C, R]`` the bins within the band; ``times[C]`` (ms); ``lo_bin``/``hi_bin``
    the lowest and highest bin price crossed in the column's horizon."""

    times: np.ndarray
    origin: np.ndarray
    valid: np.ndarray
    lo_bin: np.ndarray
    hi_bin: np.ndarray
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class Liquidations:
    """The liquidations to score: time (ms), side (+1 long / −1 short), absolute bin, notional,
    cluster id."""

    time_ms: np.ndarray
    side: np.ndarray
    bin: np.ndarray
    notional: np.ndarray
    cluster: np.ndarray


def swept_contributions(cols: Columns, liq: Liquidations, horizon_ms: int, top: float,
                        n_clusters: int) -> dict[str, dict[str, np.ndarray]]:
    """Per method, per cluster: ``swept_cap`` (notional in hot cells), ``swept_usd`` (notional in
    crossed cells), ``rho_sum`` / ``rho_n`` (sum and count of defined column Spearmans), for
    columns given all at once (in time order)."""
    score = SweptScore(liq, horizon_ms, n_clusters, tuple(cols.values))
    score.add_columns(column_cells(cols, top))
    return score.result()


@dataclass(frozen=True)
class ColumnCells:
    """Some columns' cells (the crossed bins within the band, both sides) and what every set of
    liquidations scored on them shares: per method each cell's hot weight (:func:`hot_weights`)
    and the rank of its value within its column. Cells run side 0 then side 1, each by column
    then bin; ``index[column, side, row]`` is a cell's number (-1: no cell)."""

    cols: Columns
    cell_c: np.ndarray
    index: np.ndarray
    hot: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray]


def column_cells(cols: Columns, top: float) -> ColumnCells:
    """The cells of ``cols`` and their per-method hot weights (share ``top``) and value ranks."""
    C, R = cols.valid.shape
    k = cols.origin[:, None] + np.arange(R)[None, :]
    crossed = cols.valid & (k >= cols.lo_bin[:, None]) & (k <= cols.hi_bin[:, None])
    cell_c, cell_r = np.nonzero(crossed)              # one entry per crossed bin; both sides below
    cell_c = np.concatenate([cell_c, cell_c])
    cell_r = np.concatenate([cell_r, cell_r])
    cell_s = np.repeat([0, 1], len(cell_c) // 2)
    index = np.full((C, 2, R), -1, np.int64)
    index[cell_c, cell_s, cell_r] = np.arange(len(cell_c))
    hot, ranks = {}, {}
    for name, values in cols.values.items():
        cell_values = values[cell_c, cell_s, cell_r]
        hot[name] = hot_weights(cell_c, cell_values, top)
        ranks[name] = group_ranks(cell_c, cell_values)
    return ColumnCells(cols, cell_c, index, hot, ranks)


class SweptScore:
    """The swept-level score of one set of liquidations (known in advance), fed columns in time
    order (:meth:`add_columns`, a few at a time, each once its horizon's prices are known). Each
    column is reduced at once; only its liquidations' per-cell figures wait until every column
    that can hold them is in, so the sums run in the order of the liquidations, as one pass over
    every column would. :meth:`result`: what :func:`swept_contributions` returns."""

    def __init__(self, liq: Liquidations, horizon_ms: int, n_clusters: int, methods) -> None:
        self.liq, self.horizon_ms, self.K = liq, int(horizon_ms), int(n_clusters)
        self.by_time = np.argsort(liq.time_ms, kind="stable")
        self.sorted_ms = np.asarray(liq.time_ms)[self.by_time]
        self.latest_ms = np.maximum.accumulate(liq.time_ms) if len(liq.time_ms) else np.zeros(0, np.int64)
        self.swept_usd = np.zeros(self.K)
        self.sums = {m: {"swept_cap": np.zeros(self.K), "rho_sum": np.zeros(self.K), "rho_n": np.zeros(self.K)}
                     for m in methods}
        self.pending: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []   # (liquidation, column, usd·weight)
        self.columns = 0

    def add_columns(self, cells: ColumnCells) -> None:
        """Score columns (later than every earlier one)."""
        cols, liq = cells.cols, self.liq
        C, R = cols.valid.shape
        if not C:
            return
        # pairs (liquidation, column) with t < time <= t + horizon, by liquidation then column
        a, b = np.searchsorted(self.sorted_ms, [cols.times[0], cols.times[-1] + self.horizon_ms], side="right")
        near = np.sort(self.by_time[a:b])
        t = liq.time_ms[near]
        c_from = np.searchsorted(cols.times, t - self.horizon_ms, side="left")
        c_to = np.searchsorted(cols.times, t, side="left")
        count = np.maximum(c_to - c_from, 0)
        pair_i = np.repeat(near, count)
        pair_c = np.repeat(c_from, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
        r = liq.bin[pair_i] - cols.origin[pair_c]
        s = np.where(liq.side[pair_i] > 0, 0, 1)
        ok = (r >= 0) & (r < R)
        cell = np.full(len(pair_i), -1, np.int64)
        cell[ok] = cells.index[pair_c[ok], s[ok], r[ok]]
        keep = cell >= 0
        pair_i, pair_c, cell = pair_i[keep], pair_c[keep], cell[keep]
        usd = liq.notional[pair_i]
        usd_ranks = group_ranks(cells.cell_c, np.bincount(cell, usd, len(cells.cell_c)))
        # each column's Spearman goes with the cluster of its largest liquidated notional
        col_cluster = np.full(C, -1, np.int64)
        if len(pair_c):
            o = np.lexsort((usd, pair_c))
            last = np.ones(len(o), bool)
            last[:-1] = pair_c[o][1:] != pair_c[o][:-1]
            col_cluster[pair_c[o][last]] = liq.cluster[pair_i[o][last]]
        weighted = {}
        for name, sums in self.sums.items():
            weighted[name] = usd * cells.hot[name][cell]
            rho = ranked_spearman(cells.cell_c, cells.ranks[name], usd_ranks, C)
            defined = ~np.isnan(rho) & (col_cluster >= 0)
            # np.add.at adds one by one in column order: the same sums as one bincount over every column
            np.add.at(sums["rho_sum"], col_cluster[defined], rho[defined])
            np.add.at(sums["rho_n"], col_cluster[defined], 1.0)
        self.pending.append((pair_i, pair_c + self.columns, weighted))
        self.columns += C
        # a liquidation at or before the last of these columns is in no later one
        self._flush(int(np.searchsorted(self.latest_ms, cols.times[-1], side="right")))

    def _flush(self, upto: int) -> None:
        """Sum the pending figures of the liquidations ``[0, upto)`` (in their order), per cluster."""
        if not self.pending:
            return
        idx = np.concatenate([p[0] for p in self.pending])
        col = np.concatenate([p[1] for p in self.pending])
        weighted = {m: np.concatenate([p[2][m] for p in self.pending]) for m in self.sums}
        now = idx < upto
        order = np.flatnonzero(now)[np.lexsort((col[now], idx[now]))]
        cl = self.liq.cluster[idx[order]]
        # np.add.at adds one by one in order: the same sums as one bincount over every pair
        np.add.at(self.swept_usd, cl, self.liq.notional[idx[order]])
        for m in self.sums:
            np.add.at(self.sums[m]["swept_cap"], cl, weighted[m][order])
        later = np.flatnonzero(~now)
        self.pending = [(idx[later], col[later], {m: w[later] for m, w in weighted.items()})] if len(later) else []

    def result(self) -> dict[str, dict[str, np.ndarray]]:
        self._flush(len(self.liq.time_ms))
        return {m: {"swept_cap": s["swept_cap"], "swept_usd": self.swept_usd, "rho_sum": s["rho_sum"],
                    "rho_n": s["rho_n"]} for m, s in self.sums.items()}

    def retained(self) -> int:
        """Pairs (liquidation, column) waiting to be summed."""
        return sum(len(p[0]) for p in self.pending)


def summarize(per_cluster: dict[str, dict[str, np.ndarray]], n_clusters: int, top: float, baselines,
              resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, dict]:
    """Point estimates and bootstrap intervals of every method's ``lift``, ``swept_lift``,
    ``swept_spearman``, and of ``skill`` (the model's ``swept_lift`` ÷ the best baseline's).
    ``per_cluster[method]`` holds per-cluster sums: ``cap``, ``usd``, ``hot_frac``, ``events``
    (the per-event lift) and those of :func:`swept_contributions`."""
    rng = np.random.default_rng(seed)
    K = max(n_clusters, 1)
    columns = [(name, key) for name, sums in per_cluster.items() for key in sums]
    sums_by_cluster = np.column_stack([_pad(per_cluster[n][k], K) for n, k in columns])   # [K, F]
    totals = [sums_by_cluster.sum(axis=0, keepdims=True)]      # row 0: the sample itself
    step = max(1, 2_000_000 // K)                              # draws a few MB at a time
    for start in range(0, resamples if n_clusters else 0, step):
        draws = rng.multinomial(K, np.full(K, 1 / K), size=min(step, resamples - start)).astype(float)
        totals.append(draws @ sums_by_cluster)
    table = np.vstack(totals)
    n_rows = len(table)

    def ratio(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)

    figures = {}
    for name, sums in per_cluster.items():
        total = {key: table[:, columns.index((name, key))] for key in sums}
        capture = ratio(total["cap"], total["usd"])
        random_pick = ratio(total["hot_frac"], total["events"])
        figures[name] = {"lift": ratio(capture, random_pick),
                         "swept_lift": ratio(total["swept_cap"], total["swept_usd"]) / top,
                         "swept_spearman": ratio(total["rho_sum"], total["rho_n"])}
    best = np.full(n_rows, np.nan)
    for name in baselines:
        if name in figures:
            best = np.fmax(best, figures[name]["swept_lift"])
    skill = ratio(figures["model"]["swept_lift"], best) if "model" in figures else best * np.nan
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2

    def pack(series):
        point = float(series[0])
        rest = series[1:][~np.isnan(series[1:])]
        interval = [float(np.percentile(rest, lo_q)), float(np.percentile(rest, hi_q))] if len(rest) else [np.nan, np.nan]
        return point, interval

    out = {}
    for name, figs in figures.items():
        out[name] = {}
        for key, series in figs.items():
            out[name][key], out[name][key + "_interval"] = pack(series)
    out["skill"], out["skill_interval"] = pack(skill)
    best_name = max((n for n in baselines if n in figures and not np.isnan(figures[n]["swept_lift"][0])),
                    key=lambda n: figures[n]["swept_lift"][0], default=None)
    out["best_baseline"] = best_name
    return out


def _pad(a: np.ndarray, K: int) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a if len(a) == K else np.concatenate([a, np.zeros(K - len(a))])
