"""The age view's picture kept between frames: after any run of closed columns it holds what a
whole read of the window gives, and reads only the columns that closed."""

import numpy as np
import pytest

from liqdesk.app.age_view import AgeImage, age_buckets, age_rgb
from liqdesk.core.events import slice_batch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.synthetic import random_walk_stream

SETTINGS = ModelSettings(exchanges=("binance", "bybit"), column_ms=60_000, window_columns=120, rows=200, turnover=0.1)


@pytest.mark.parametrize("filters", [{}, {"exchanges": ["bybit"], "long": False},
                                     {"tiers": [25.0, 100.0], "shown": ("day", "week", "older")}])
def test_the_kept_picture_equals_a_whole_read_after_each_step(filters):
    stream = random_walk_stream(hours=2.5, seed=5, exchanges=("binance", "bybit"), trades_per_s=0.5,
                                oi_every_ms=30_000, mark_every_ms=10_000, vol_per_sqrt_s=0.0015)
    start, end = stream.time_span()
    model = LevelModel(SETTINGS)
    pic = AgeImage()
    kw = {k: v for k, v in filters.items() if k != "shown"}
    shown = filters.get("shown")
    cuts = start + np.array([70, 71, 73, 80, 95, 96, 120, 131, 148]) * 60_000 + 17_000
    updates = []
    prev = start
    for cut in cuts.tolist():
        model.ingest(slice_batch(stream, prev, cut))
        prev = cut
        pic.update(model, shown=shown, **kw)
        updates.append(pic.last_update[0])
        want, cols, origin = age_buckets(model, **kw)
        if shown is not None:
            AgeImage._mask(want, shown)
        np.testing.assert_array_equal(pic.columns, cols)
        assert pic.origin == origin
        np.testing.assert_array_equal(pic.buckets, want)
        np.testing.assert_array_equal(pic.rgb, age_rgb(want, pic.top))
    assert updates[0] == "full" and "columns" in updates, updates   # later steps read only what closed
    assert end > cuts[-1]


def test_a_change_of_the_learned_mix_re_reads_the_window_at_most_every_five_minutes():
    stream = random_walk_stream(hours=2, seed=6, exchanges=("binance", "bybit"), trades_per_s=0.5,
                                oi_every_ms=30_000, mark_every_ms=10_000, vol_per_sqrt_s=0.0015)
    start, _ = stream.time_span()
    model = LevelModel(SETTINGS)
    pic = AgeImage()
    steps = []
    prev = start
    for minute in (70, 72, 74, 76, 78):          # a mix change every two minutes of event time
        cut = start + minute * 60_000
        model.ingest(slice_batch(stream, prev, cut))
        prev = cut
        model.mix.version += 1
        pic.update(model)
        steps.append(pic.last_update[0])
    assert steps == ["full", "columns", "columns", "full", "columns"], steps
    # what it re-read whole is what a whole read gives
    np.testing.assert_array_equal(pic.buckets[:, :, :-3], age_buckets(model)[0][:, :, :-3])
