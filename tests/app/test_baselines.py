"""The baselines on tiny hand-made tapes (bin width 1, prices around 100)."""

import numpy as np
import pytest

from liqdesk.app.baselines import PriceTape, baseline_maps, nearest_map
from liqdesk.core.events import make_batch, records


def _tape(last_s=4000):
    trades = records("trades", time_ms=[10_400, 20_100, 4_000_000], exchange=[0, 0, 1],
                     side=[1, -1, 1], price=[100.0, 105.0, 50.0], size=[2.0, 1.0, 9.0])
    marks = records("marks", time_ms=[30_500], exchange="binance", price=97.5)
    tape = PriceTape([0])                       # binance only: the bybit trade is not the model's
    tape.add(make_batch(trades=trades, marks=marks), 1.0)
    return tape.finish(0, last_s)


def test_nearest_by_hand():
    m = nearest_map(100.2, 1.0, 97, 6)          # bins 97 .. 102; the price is in bin 100
    assert m[0] == pytest.approx([1 / 4, 1 / 3, 1 / 2, 1, 0, 0])
    assert m[1] == pytest.approx([0, 0, 0, 1, 1 / 2, 1 / 3])


def test_volume_is_the_last_hour_before_the_query():
    tape = _tape()
    q = [(21_000, 95, 20, 100.0), (20_000, 95, 20, 100.0), (3_615_000, 95, 20, 100.0)]
    vol = baseline_maps(tape, q)["volume"]
    assert vol[0][0][5] == 200 and vol[0][0][10] == 105 and vol[0][0].sum() == 305
    assert (vol[0][0] == vol[0][1]).all()                  # both sides alike
    assert vol[1][0].sum() == 200                           # second 20 not whole yet
    assert vol[2][0].sum() == 105                           # second 10 left the hour


def test_naive_map_places_at_one_over_leverage_and_removes_when_crossed():
    tape = _tape()
    q = [(15_000, 85, 35, 100.0), (31_000, 85, 35, 97.5)]
    first, later = baseline_maps(tape, q)["naive"]
    # trade at 100 (bin centre 100.5), 200 USD: 50 a leverage at 100.5·(1 ∓ 1/L)
    longs = {90: 50, 96: 50, 98: 50, 99: 50}
    shorts = {101: 50, 102: 50, 104: 50, 110: 50}
    assert {85 + i: v for i, v in enumerate(first[0]) if v} == longs
    assert {85 + i: v for i, v in enumerate(first[1]) if v} == shorts
    # the 105 trade swept the shorts up to 105 and added its own (105 USD: 26.25 a leverage at 105.5·(1 ∓ 1/L)); the mark
    # at 97.5 then swept every long at or above bin 97
    assert {85 + i: v for i, v in enumerate(later[0]) if v} == {90: 50, 94: 26.25, 96: 50}
    assert {85 + i: v for i, v in enumerate(later[1]) if v} == {106: 26.25, 107: 26.25, 109: 26.25, 110: 50, 116: 26.25}


def test_price_range_over_whole_seconds():
    tape = _tape()
    lo, hi = tape.price_range(np.array([0, 15_000, 40_000]), np.array([20_000, 31_000, 50_000]))
    assert lo[0] == 100 and hi[0] == 100            # [0 s, 20 s): only the first trade
    assert lo[1] == 97.5 and hi[1] == 105
    assert np.isinf(lo[2]) and np.isinf(hi[2])      # no price at all
