"""The heatmap grid and its filters, as the view uses them."""

import numpy as np
import pytest

from liqdesk.core.events import slice_batch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.synthetic import random_walk_stream

SETTINGS = ModelSettings(column_ms=60_000, window_columns=120, rows=500)


@pytest.fixture(scope="module")
def model():
    m = LevelModel(SETTINGS)
    m.ingest(random_walk_stream(hours=1.5, seed=3, trades_per_s=20, vol_per_sqrt_s=0.0008))
    m.flush()
    return m


def test_image_is_contiguous_float32_rows_by_columns_without_nan(model):
    img, cols, origin = model.image()
    assert img.dtype == np.float32 and img.flags["C_CONTIGUOUS"]
    assert img.shape == (SETTINGS.rows, SETTINGS.window_columns)
    assert np.all(np.diff(cols) == 1) and not np.isnan(img).any() and img.sum() > 0
    # the last column is the live state
    live = model.level_map()
    assert np.allclose(img[:, -1], live.sum(axis=0).astype(np.float32))


def test_exchange_filter_splits_the_image_exactly(model):
    full, _, _ = model.image()
    parts = [model.image(exchanges=[name])[0] for name in SETTINGS.exchanges]
    assert np.allclose(sum(parts), full, rtol=1e-5, atol=1e-2)
    assert not np.allclose(parts[0], full)


def test_tier_and_side_filters(model):
    full, _, _ = model.image()
    longs, _, _ = model.image(short=False)
    shorts, _, _ = model.image(long=False)
    assert np.allclose(longs + shorts, full, rtol=1e-5, atol=1e-2)
    levs = sorted(model.leverages)
    high, _, _ = model.image(tiers=levs[len(levs) // 2:])
    low, _, _ = model.image(tiers=levs[: len(levs) // 2])
    assert np.allclose(high + low, full, rtol=1e-5, atol=1e-2)
    empty, _, _ = model.image(exchanges=[])
    assert not empty.any()


def test_long_levels_below_the_mark_in_every_column(model):
    longs, cols, origin = model.image(short=False, include_live=False)
    shorts, _, _ = model.image(long=False, include_live=False)
    rows = np.arange(SETTINGS.rows)[:, None]
    for name in SETTINGS.exchanges:
        e = SETTINGS.exchanges.index(name)
        mark_row = model.grid.mark_row[cols % SETTINGS.window_columns, e] + \
            model.grid.origin[cols % SETTINGS.window_columns] - origin
        only, _, _ = model.image(exchanges=[name], short=False, include_live=False)
        assert not only[rows > mark_row[None, :]].any()
        only_s, _, _ = model.image(exchanges=[name], long=False, include_live=False)
        assert not only_s[rows < mark_row[None, :]].any()
    assert longs.sum() > 0 and shorts.sum() > 0


def test_crosshair_cell_equals_the_image(model):
    img, cols, origin = model.image(include_live=False)
    r, c = np.unravel_index(np.argmax(img), img.shape)
    cell = model.grid.cell(int(cols[c]), int(r), origin)
    assert cell.sum() == pytest.approx(float(img[r, c]), rel=1e-5)
    assert model.grid.cell(int(cols[0]) - 10_000, 0, origin) is None


def test_price_axis_follows_the_market_without_losing_columns():
    s = ModelSettings(column_ms=60_000, window_columns=120, rows=200)
    m = LevelModel(s)
    stream = random_walk_stream(hours=1.0, seed=5, trades_per_s=10)
    start = stream.time_span()[0]
    m.ingest(slice_batch(stream, None, start + 30 * 60_000))
    img_before, cols_before, origin_before = m.image(include_live=False)
    kept = img_before.sum(axis=0)
    # the market jumps 15 %: far outside the 200-row window around the old price
    up = random_walk_stream(hours=0.5, seed=6, trades_per_s=10, price=m.mark_price() * 1.15,
                            start_ms=start + 30 * 60_000)
    m.ingest(up)
    img_after, cols_after, origin_after = m.image(include_live=False)
    assert origin_after != origin_before
    # columns stored before the re-centre are still stored, with their own origin
    slots = cols_before % s.window_columns
    assert np.array_equal(m.grid.origin[slots[kept > 0]], np.full((kept > 0).sum(), origin_before))
    again, _ = m.grid.image(np.ones(m.E, bool), np.ones(m.T, bool), display_origin=origin_before,
                               end_column=int(cols_before[-1]))
    assert np.allclose(again.sum(axis=0), kept)


def test_long_gap_skips_storage_but_keeps_going():
    s = ModelSettings(column_ms=1_000, window_columns=60, rows=200)
    m = LevelModel(s)
    a = random_walk_stream(hours=0.05, seed=1, trades_per_s=5, oi_every_ms=2_000)
    m.ingest(a)
    later = random_walk_stream(hours=0.05, seed=2, trades_per_s=5, oi_every_ms=2_000,
                               start_ms=a.time_span()[1] + 3 * 3_600_000)
    m.ingest(later)
    img, cols, _ = m.image()
    assert cols[-1] == later.time_span()[1] // 1000 and not np.isnan(img).any()
