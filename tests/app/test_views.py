"""The delta view and hot lines read the model's image the heatmap draws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.app.views import delta_image, delta_levels, hot_lines, period_columns
from liqdesk.core.events import slice_batch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.leverage_mix import MixSettings


def test_delta_over_a_period_is_the_grid_now_minus_the_grid_then():
    """The delta view's newest column equals the live map now minus the live map of a model fed
    only up to one period earlier: what the stored columns hold is what the market held then."""
    from tests.ui.helpers import START_MS, synthetic_stream

    stream = synthetic_stream(hours=1.0, seed=7)
    s = ModelSettings(exchanges=("binance", "bybit", "okx"), column_ms=10_000, window_columns=720, rows=400,
                      mix=MixSettings(learn=False))        # (a learned mix re-weights every column)
    period_ms = 30 * 60_000
    k = period_columns(period_ms, s.column_ms, s.window_columns)
    end = START_MS + 3_600_000
    then = end - period_ms

    now_model = LevelModel(s)
    now_model.ingest(slice_batch(stream, START_MS, end))
    img, cols, origin = now_model.image(include_live=True)
    d = delta_image(img, k)

    then_model = LevelModel(s)
    then_model.ingest(slice_batch(stream, START_MS, then))
    rows = s.rows
    live_now = now_model.level_map(origin=origin, rows=rows).sum(axis=0)
    live_then = then_model.level_map(origin=origin, rows=rows).sum(axis=0)
    # the column that closed at `then`: the newest column's number minus the period's columns
    assert int(cols[-1] - cols[-1 - k]) == k
    assert np.allclose(img[:, -1], live_now, rtol=1e-5, atol=1e-3)
    assert np.allclose(img[:, -1 - k], live_then, rtol=1e-4, atol=1e-2)
    assert np.allclose(d[:, -1], live_now - live_then, rtol=1e-4, atol=1e-2)
    assert np.abs(d[:, -1]).max() > 0                       # something did change in 30 minutes
    assert np.isnan(d[:, :k]).all()                         # no earlier state in the window there


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(2, 12), st.integers(0, 2**31 - 1))
def test_delta_is_the_difference_of_shifted_columns(k, width, seed):
    img = np.random.default_rng(seed).gamma(1.0, 1e5, (5, width)).astype(np.float32)
    d = delta_image(img, k)
    for c in range(width):
        if c < k:
            assert np.isnan(d[:, c]).all()
        else:
            assert np.allclose(d[:, c], img[:, c] - img[:, c - k])
    assert delta_levels(d) > 0 or k >= width


def test_a_period_longer_than_the_window_is_refused_in_one_line():
    with pytest.raises(ValueError, match="needs a time window longer"):
        period_columns(86_400_000, 10_000, 1440)
    assert period_columns(3_600_000, 10_000, 1440) == 360


def test_hot_lines_are_the_strongest_levels_one_per_cluster():
    lm = np.zeros((2, 20))
    lm[0, 3:6] = [5.0, 9.0, 6.0]          # one long cluster of three bins: one line, at its peak
    lm[1, 15] = 7.0
    lm[0, 10] = 1.0
    lines = hot_lines(lm, origin=1000, width=10.0, n=3)
    assert [(ln.price, ln.notional, ln.side) for ln in lines] == [(10045.0, 9.0, 1), (10155.0, 7.0, -1),
                                                                   (10105.0, 1.0, 1)]
    assert hot_lines(np.zeros((2, 5)), 0, 1.0) == []


def test_no_delta_before_the_data_began():
    img = np.ones((3, 10), np.float32)
    img[:, :4] = 0.0                                   # the session starts at column 4
    d = delta_image(img, 2, first_data=4)
    assert np.isnan(d[:, :6]).all() and np.all(d[:, 6:] == 0.0)
