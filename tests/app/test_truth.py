"""Ground-truth scores on a hand-made 'simulated' session whose truth is known exactly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.app.analysis import evaluate, settings_for
from liqdesk.app.truth import truth_metrics
from liqdesk.core.events import make_batch, records
from liqdesk.core.levels import LevelModel
from liqdesk.core.synthetic import random_walk_stream
from liqdesk.store import SessionReader, SessionWriter

TRUTH_DTYPE = np.dtype([("time_ms", "i8"), ("side", "i1"), ("bin", "i8"), ("notional", "f8")])


def _write(path, stream, truth_map, truth_liq, bin_width):
    with SessionWriter(path, "BTC/USDT:USDT", meta={"truth": {"bin_width": bin_width, "every_ms": 60_000}}) as w:
        w.write(stream)
        w.write_table("truth_map", truth_map)
        w.write_table("truth_liquidations", truth_liq)


def test_an_estimate_equal_to_the_truth_scores_correlation_one(tmp_path):
    stream = random_walk_stream(hours=0.5, seed=4, trades_per_s=10, vol_per_sqrt_s=0.001)
    start, end = stream.time_span()
    # the "truth" is the model's own estimate at every minute: a perfect model
    probe_path = tmp_path / "probe.liqs"
    liq = records("liquidations", time_ms=[start + 20 * 60_000], exchange="binance", side=[1],
                  price=[59_000.0], size=[1.0], notional=[59_000.0])
    _write(probe_path, make_batch(trades=stream.trades, marks=stream.marks, open_interest=stream.open_interest,
                                  liquidations=liq), np.empty(0, TRUTH_DTYPE), liq, 50.0)
    settings = settings_for(SessionReader(probe_path), window_columns=2, rows=64)
    model = LevelModel(settings)
    rows = []
    from liqdesk.core.events import slice_batch
    cursor = None
    for t in range(start - start % 60_000 + 60_000, end, 60_000):
        model.ingest(slice_batch(stream, cursor, t))
        cursor = t
        lv = model.levels()
        for side in (1, -1):
            mine = lv[lv["side"] == side]
            bins, inverse = np.unique(mine["bin"], return_inverse=True)
            notional = np.bincount(inverse, mine["notional"])
            rows += [(t, side, int(b), float(n)) for b, n in zip(bins, notional)]
    truth_map = np.array(rows, dtype=TRUTH_DTYPE)
    path = tmp_path / "perfect.liqs"
    _write(path, make_batch(trades=stream.trades, marks=stream.marks, open_interest=stream.open_interest,
                            liquidations=liq), truth_map, liq, 50.0)
    reader = SessionReader(path)
    m = truth_metrics(reader)
    assert m["truth_correlation"] == pytest.approx(1.0, abs=1e-9)
    assert m["truth_correlation_long"] == pytest.approx(1.0, abs=1e-9)
    assert m["truth_capture"] > 0 and m["truth_snapshots"] == len(np.unique(truth_map["time_ms"]))
    assert m["truth_lift"] == evaluate(reader)["lift"] or (np.isnan(m["truth_lift"]) and np.isnan(evaluate(reader)["lift"]))


def test_sessions_without_truth_have_no_truth_metrics(tmp_path):
    path = tmp_path / "plain.liqs"
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(random_walk_stream(hours=0.05, seed=1))
    assert truth_metrics(SessionReader(path)) == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 10**8), st.integers(0, 10**8)), max_size=40), min_size=1, max_size=8))
def test_running_moments_give_the_correlation_of_everything_added(batches):
    """The map agreement's correlation is kept as running moments: they equal the correlation of
    every snapshot's values put together, however the snapshots cut them."""
    from liqdesk.app.truth import PairMoments

    m = PairMoments()
    for batch in batches:
        arr = np.array(batch, float).reshape(-1, 2)
        m.add(arr[:, 0], arr[:, 1])
    every = np.array([p for b in batches for p in b], float).reshape(-1, 2)
    x, y = every[:, 0], every[:, 1]
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        assert np.isnan(m.pearson())
    else:
        assert m.pearson() == pytest.approx(float(np.corrcoef(x, y)[0, 1]), abs=1e-9)
