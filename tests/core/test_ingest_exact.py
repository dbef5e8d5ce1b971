"""The faster ingest (issue 13) gives bit-identical results to the earlier code.

Three 1.2–1.5 h random walks (older than an hour, so the position-age codes hold every bucket) with
marks, trades, open interest that rises and falls, sweeps and the learned leverage mix, fed in
5-minute and in 1-minute batches and in uneven cuts, to the model and to
:class:`ReferenceLevelModel` (the earlier ingest code): the grid (values, age codes, mark-row
parts, origins), the live state and its cohorts, the level map, the swept record and the mix must
be equal, exactly.
"""

import numpy as np
import pytest

from liqdesk.core.events import slice_batch
from liqdesk.core.level_additions import interval_of
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.synthetic import random_walk_stream

from .ingest_reference import ReferenceLevelModel

FEEDS = ("binance", "bybit", "okx")
#: three regimes: a volatile walk (the price leaves the grid's rows: re-centres, state growth,
#: many sweeps; the window always lies inside the state) and a calm one on more rows (the
#: window reaches past the state's bins, as in the bench: the zero-padded read paths)
SCENARIOS = {
    "volatile": (dict(hours=1.5, seed=11, trades_per_s=25.0, oi_every_ms=4_000, vol_per_sqrt_s=0.0015),
                 ModelSettings(column_ms=60_000, window_columns=120, rows=300, liquidation_feeds=FEEDS)),
    "calm": (dict(hours=1.5, seed=5, trades_per_s=25.0, oi_every_ms=4_000, vol_per_sqrt_s=0.0004),
             ModelSettings(column_ms=60_000, window_columns=120, rows=600, liquidation_feeds=FEEDS)),
    # levels decaying with a 10-minute half-life (the exchanges' scale factors move at every
    # column end), on 30-second columns
    "decaying": (dict(hours=1.2, seed=8, trades_per_s=25.0, oi_every_ms=4_000, vol_per_sqrt_s=0.0008),
                 ModelSettings(column_ms=30_000, window_columns=200, rows=400, liquidation_feeds=FEEDS,
                               decay_half_life_s=600.0)),
}


@pytest.fixture(scope="module")
def streams():
    return {}


def _scenario(streams, name):
    if name not in streams:
        kwargs, settings = SCENARIOS[name]
        streams[name] = random_walk_stream(**kwargs), settings
    return streams[name]


def _feed(model, stream, chunk_ms=None, cuts=None):
    start, end = stream.time_span()
    bounds = cuts if cuts is not None else list(range(start, end + chunk_ms, chunk_ms))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        model.ingest(slice_batch(stream, lo, hi))
    model.flush()
    return model


def _state(model) -> dict[str, np.ndarray]:
    g = model.grid
    g._flush()
    out = {"values": g.values, "age_codes": g.age_codes, "boundary": g.boundary, "mark_row": g.mark_row,
           "grid_origin": g.origin, "column": g.column, "notional": model.notional, "weighted": model.weighted,
           "cohorts": model.age.stack, "factor": np.array(model._factor), "origin": np.array([model.origin]),
           "mix_weights": model.mix.weights, "mix_version": np.array([model.mix.version]),
           "level_map": model.level_map(), "level_map_old": model.level_map(ages=("day", "week", "older"))}
    for name, rec in (("swept", model.swept()), ("levels", model.levels())):
        for f in rec.dtype.names:
            out[f"{name}.{f}"] = rec[f]
    return out


def _assert_identical(fast, ref):
    a, b = _state(fast), _state(ref)
    assert a.keys() == b.keys()
    differ = [k for k in a if not (a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                                   and np.ascontiguousarray(a[k]).tobytes() == np.ascontiguousarray(b[k]).tobytes())]
    assert not differ, f"differ from the reference ingest: {differ}"


def _cuts(stream, seed):
    start, end = stream.time_span()
    rng = np.random.default_rng(seed)
    inner = np.unique(rng.integers(start + 1, end, 40)).tolist()
    return [start] + inner + [end + 1]


@pytest.mark.parametrize("name, chunk_ms", [("volatile", 300_000), ("volatile", 60_000), ("volatile", "uneven"),
                                            ("calm", 60_000), ("calm", "uneven"), ("decaying", 300_000)])
def test_fast_ingest_equals_the_reference_bit_for_bit(streams, name, chunk_ms):
    stream, settings = _scenario(streams, name)
    cuts = _cuts(stream, 3) if chunk_ms == "uneven" else None
    chunk = None if cuts else chunk_ms
    fast = _feed(LevelModel(settings), stream, chunk, cuts)
    ref = _feed(ReferenceLevelModel(settings), stream, chunk, cuts)
    state = _state(ref)
    # the stream exercises what the rewrite touched: sweeps, every age bucket, the learned mix
    assert len(state["swept.time_ms"]) > 50
    assert (state["age_codes"] != state["age_codes"].max()).sum() > 1000
    assert state["mix_version"][0] > 0
    _assert_identical(fast, ref)


@pytest.mark.parametrize("seed", range(20))
def test_interval_of_equals_searchsorted(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 50, rng.integers(0, 60)))
    times = np.sort(rng.integers(-5, 55, rng.integers(0, 12)))
    assert np.array_equal(interval_of(t, times), np.searchsorted(times, t, "left"))
