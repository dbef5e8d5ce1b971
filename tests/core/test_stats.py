import numpy as np
import pytest

from liqdesk.core.stats import band_totals, cumulative_map, find_clusters, find_staircases, summarize

W = 10.0
EDGES = np.arange(900.0, 1100.0, W)   # 20 bins, price 1000 between bins 9 and 10


def maps():
    long = np.zeros(20)
    short = np.zeros(20)
    long[[2, 3]] = [50, 80]        # 920-940: one cluster of two adjacent bins
    long[6] = 30                   # 960
    long[8] = 5                    # 980: small
    short[11] = 40                 # 1010
    short[13] = 45                 # 1030
    short[15] = 40                 # 1050
    short[17] = 42                 # 1070
    return long, short


def test_band_totals_and_asymmetry():
    long, short = maps()
    t = band_totals(long, short, EDGES, W, 1000.0, band_pct=5)
    # long bins centred 955..995 (>= 950) below price; short 1005..1045 (<= 1050)
    assert t.long_below == 35 and t.short_above == 85
    assert t.ratio == pytest.approx(35 / 85) and t.dominant == "short"
    wide = band_totals(long, short, EDGES, W, 1000.0, band_pct=10)
    assert wide.long_below == 165 and wide.short_above == 167


def test_cumulative_map_runs_outward_from_price():
    long, short = maps()
    cl, cs = cumulative_map(long, short, EDGES, W, 1000.0)
    assert cl[8] == 5 and cl[6] == 35 and cl[2] == 165 and cl[0] == 165 and cl[12] == 0
    assert cs[11] == 40 and cs[19] == 167 and cs[5] == 0
    assert np.all(np.diff(cl[:10]) <= 0) and np.all(np.diff(cs[10:]) >= 0)


def test_clusters_merge_adjacent_bins_and_sort_from_price():
    long, short = maps()
    lc = find_clusters(long, EDGES, W, 1000.0, "long", threshold=20)
    assert [(c.price_low, c.price_high, c.notional) for c in lc] == [(960, 970, 30), (920, 940, 130)]
    assert lc[1].peak_price == 935 and lc[0].distance_pct == pytest.approx(-3.0)


def test_staircase_needs_three_clusters_within_a_step():
    long, short = maps()
    sc = find_clusters(short, EDGES, W, 1000.0, "short", threshold=20)
    stairs = find_staircases(sc, max_step_pct=1.5)
    assert len(stairs) == 1 and len(stairs[0]) == 4
    assert find_staircases(sc, max_step_pct=0.5) == []
    lc = find_clusters(long, EDGES, W, 1000.0, "long", threshold=20)
    assert find_staircases(lc, max_step_pct=5) == []  # only two long clusters


def test_summarize_nearest_clusters():
    long, short = maps()
    s = summarize(long, short, EDGES, W, 1000.0, band_pct=10, threshold=20)
    assert s.nearest_above.price_low == 1010 and s.nearest_below.price_high == 970
    assert len(s.short_staircases) == 1
    empty = summarize(np.zeros(20), np.zeros(20), EDGES, W, 1000.0)
    assert empty.nearest_above is None and np.isnan(empty.totals.ratio)
