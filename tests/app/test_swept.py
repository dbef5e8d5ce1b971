"""The swept-level score, clusters and bootstrap on synthetic cases whose answers are known."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.app.swept import (
    Columns,
    Liquidations,
    clusters,
    group_ranks,
    group_spearman,
    hot_weights,
    summarize,
    swept_contributions,
)

BASELINES = ("nearest", "volume", "naive")


def test_hot_weights_by_hand():
    # 20 distinct values, top 10 %: the two largest
    w = hot_weights(np.zeros(20, int), np.arange(20.0), 0.1)
    assert w.tolist() == [0.0] * 18 + [1.0, 1.0]
    # 5 cells: half a place, to the largest
    w = hot_weights(np.zeros(5, int), np.array([3.0, 9.0, 1.0, 0.0, 2.0]), 0.1)
    assert w.tolist() == [0.0, 0.5, 0.0, 0.0, 0.0]
    # ties share: 4 equal values, top half = 2 places over 4 cells
    w = hot_weights(np.zeros(4, int), np.ones(4), 0.5)
    assert w.tolist() == [0.5] * 4
    # groups are separate
    w = hot_weights(np.array([0, 0, 1, 1]), np.array([1.0, 2.0, 5.0, 4.0]), 0.5)
    assert w.tolist() == [0.0, 1.0, 1.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=60),
       st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0]))
def test_hot_weights_sum_to_top_share_and_follow_value(cells, top):
    group = np.array([c[0] for c in cells])
    values = np.array([float(c[1]) for c in cells])
    w = hot_weights(group, values, top)
    assert ((w >= 0) & (w <= 1 + 1e-12)).all()
    for g in np.unique(group):
        m = group == g
        assert w[m].sum() == pytest.approx(top * m.sum())
        v, wg = values[m], w[m]
        for i in range(len(v)):        # a larger value never gets less, an equal one the same
            assert (wg[v > v[i]] >= wg[i] - 1e-12).all() and np.allclose(wg[v == v[i]], wg[i])


def _spearman_reference(x, y):
    def rank(a):
        order = np.argsort(a, kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(1, len(a) + 1)
        for v in np.unique(a):        # average the ranks of ties
            r[a == v] = r[a == v].mean()
        return r
    rx, ry = rank(x), rank(y)
    if rx.std() == 0 or ry.std() == 0:
        return np.nan
    return np.corrcoef(rx, ry)[0, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=40))
def test_group_spearman_matches_a_plain_computation(cells):
    group = np.array([c[0] for c in cells])
    x = np.array([float(c[1]) for c in cells])
    y = np.array([float(c[2]) for c in cells])
    rho = group_spearman(group, x, y, 3)
    for g in range(3):
        m = group == g
        ref = _spearman_reference(x[m], y[m]) if m.sum() >= 3 else np.nan
        assert (np.isnan(rho[g]) and np.isnan(ref)) or rho[g] == pytest.approx(ref)


def test_group_ranks_average_ties():
    assert group_ranks(np.zeros(4, int), np.array([5.0, 1.0, 5.0, 3.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_clusters_split_on_gaps():
    t = np.array([0, 30_000, 200_000, 50_000, 1_000_000, 1_059_000])
    assert clusters(t, 60_000).tolist() == [0, 0, 1, 0, 2, 2]
    assert clusters(t, 0).tolist() == [0, 1, 3, 2, 4, 5]


def _synthetic(columns=400, bins=20, seed=1, where="hottest"):
    """Columns one minute apart, each crossing ``bins`` bins (2·bins cells); one liquidation per
    column, half a minute after it, inside that column's horizon only (horizon = one column)."""
    rng = np.random.default_rng(seed)
    R = bins + 4
    times = np.arange(columns, dtype=np.int64) * 60_000
    origin = np.full(columns, 1000, np.int64)
    valid = np.ones((columns, R), bool)
    lo, hi = origin + 2, origin + 2 + bins - 1
    values = {m: rng.random((columns, 2, R)) for m in ("model",) + BASELINES}
    model = values["model"]
    crossed = np.zeros((2, R), bool)
    crossed[:, 2:2 + bins] = True
    side = np.empty(columns, int)
    r = np.empty(columns, int)
    for c in range(columns):
        if where == "hottest":
            flat = np.where(crossed, model[c], -1).argmax()
        else:
            flat = rng.choice(np.flatnonzero(crossed.ravel()))
        side[c], r[c] = divmod(int(flat), R)
    liq = Liquidations(times + 30_000, np.where(side == 0, 1, -1), origin + r, rng.uniform(1e3, 1e5, columns),
                       clusters(times + 30_000, 0))
    return Columns(times, origin, valid, lo, hi, values), liq


def _score(cols, liq, top=0.1, resamples=200):
    K = int(liq.cluster.max()) + 1
    per = swept_contributions(cols, liq, 60_000, top, K)
    for m in per:   # no per-event lift here: zeros
        per[m].update({k: np.zeros(K) for k in ("cap", "usd", "hot_frac", "events")})
    return summarize(per, K, top, BASELINES, resamples=resamples)


def test_liquidations_at_the_models_hottest_crossed_bins_give_lift_ten_and_skill():
    cols, liq = _synthetic(where="hottest")
    out = _score(cols, liq)
    assert out["model"]["swept_lift"] == pytest.approx(10.0)
    for m in BASELINES:  # random maps
        assert 0.6 < out[m]["swept_lift"] < 1.4
    assert out["skill"] > 5
    assert out["model"]["swept_spearman"] > 0.2 > max(abs(out[m]["swept_spearman"]) for m in BASELINES)


def test_liquidations_at_random_crossed_bins_give_lift_about_one():
    cols, liq = _synthetic(columns=2000, where="random", seed=4)
    out = _score(cols, liq)
    assert out["model"]["swept_lift"] == pytest.approx(1.0, abs=0.25)
    lo, hi = out["model"]["swept_lift_interval"]
    assert lo < 1.0 < hi
    assert abs(out["model"]["swept_spearman"]) < 0.05


def test_a_liquidation_outside_the_crossed_bins_or_horizon_does_not_count():
    cols, liq = _synthetic(columns=3)
    outside = Liquidations(np.array([30_000, 30_000, 10_000_000]), np.array([1, 1, 1]),
                           np.array([1000, 1000 + 2, 1000 + 2]), np.array([5.0, 7.0, 11.0]), np.array([0, 0, 1]))
    per = swept_contributions(cols, outside, 60_000, 0.1, 2)
    # only the second: bin 1000 lies under the crossed range, the third after every horizon
    assert per["model"]["swept_usd"].tolist() == [7.0, 0.0]


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.integers(0, 10_000))
def test_bootstrap_interval_holds_the_point_estimate(n_clusters, seed):
    rng = np.random.default_rng(seed)
    usd = rng.uniform(1, 100, n_clusters)
    per = {m: {"cap": usd * rng.random(n_clusters), "usd": usd, "hot_frac": rng.uniform(0.05, 0.15, n_clusters),
               "events": np.ones(n_clusters), "swept_cap": usd * rng.uniform(0, 0.3, n_clusters), "swept_usd": usd,
               "rho_sum": rng.uniform(-1, 1, n_clusters), "rho_n": np.ones(n_clusters)}
           for m in ("model",) + BASELINES}
    out = summarize(per, n_clusters, 0.1, BASELINES, resamples=400, seed=seed)
    for m in ("model",) + BASELINES:
        for key in ("lift", "swept_lift", "swept_spearman"):
            lo, hi = out[m][key + "_interval"]
            # a ratio's bootstrap can be skewed; the point sits inside or within a hair of it
            assert lo - 1e-9 <= out[m][key] <= hi + 1e-9 or n_clusters < 4
    lo, hi = out["skill_interval"]
    assert lo <= hi


def test_bootstrap_of_a_single_cluster_is_that_cluster():
    one = {"cap": np.array([3.0]), "usd": np.array([10.0]), "hot_frac": np.array([0.1]), "events": np.array([1.0]),
           "swept_cap": np.array([2.0]), "swept_usd": np.array([10.0]), "rho_sum": np.array([0.5]), "rho_n": np.array([1.0])}
    out = summarize({m: dict(one) for m in ("model",) + BASELINES}, 1, 0.1, BASELINES, resamples=50)
    assert out["model"]["lift"] == pytest.approx(3.0) and out["model"]["lift_interval"] == pytest.approx([3.0, 3.0])
    assert out["model"]["swept_lift"] == pytest.approx(2.0) and out["skill"] == pytest.approx(1.0)


def test_columns_without_liquidations_change_nothing():
    """evaluate records only the columns whose horizon holds a liquidation: the others must add
    nothing to any figure."""
    cols, liq = _synthetic(columns=50, seed=7)
    K = int(liq.cluster.max()) + 1
    keep = np.arange(50) % 3 != 0            # drop every third column and its liquidation
    liq_kept = Liquidations(*(getattr(liq, f)[keep] for f in ("time_ms", "side", "bin", "notional", "cluster")))
    fewer = Columns(cols.times[keep], cols.origin[keep], cols.valid[keep], cols.lo_bin[keep], cols.hi_bin[keep],
                    {m: v[keep] for m, v in cols.values.items()})
    full = swept_contributions(cols, liq_kept, 60_000, 0.1, K)
    part = swept_contributions(fewer, liq_kept, 60_000, 0.1, K)
    for m in full:
        for key in full[m]:
            assert np.allclose(full[m][key], part[m][key])
