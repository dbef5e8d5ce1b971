"""The heatmap shows what the model says: filters, crosshair read-out, scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest


def _cell_of_max(panel):
    img, cols = panel.last_image, panel.last_columns
    row, idx = np.unravel_index(int(np.argmax(img)), img.shape)
    model = panel._model
    cm = model.settings.column_ms
    time_s = (int(cols[idx]) + 0.5) * cm / 1000.0
    price = (panel._origin + row + 0.5) * model.bin_width
    return row, idx, time_s, price


def _displayed(panel):
    """(first row, end row, pixels) of the rows the image item draws, in time order."""
    (r0, r1), pixels, _ = panel.shown_pixels()
    return r0, r1, pixels[r0:r1]


def _coloured(panel, dollars):
    """``dollars`` as the panel's current colour scale colours them."""
    return panel.raster.colouring.colour(dollars)


def test_image_item_shows_the_models_window_coloured(window):
    panel = window.heatmap
    model = window.session.engine.model
    expected, cols, origin = model.image(include_live=False)
    np.testing.assert_array_equal(panel.last_image, expected)
    r0, r1, shown = _displayed(panel)
    assert r1 > r0
    assert panel.image.pixels.dtype == np.uint32 and panel.image.pixels.flags.c_contiguous
    np.testing.assert_array_equal(shown, _coloured(panel, expected[r0:r1]))
    assert len(np.unique(shown)) > 10           # a real picture, not one flat colour


@pytest.mark.parametrize("change", ["exchange", "tier", "side"])
def test_toggling_a_filter_changes_the_displayed_image_as_the_model_says(window, change):
    panel = window.heatmap
    model = window.session.engine.model
    before = panel.last_image.copy()
    f = window.filters
    if change == "exchange":
        f.ex_checks["bybit"].setChecked(False)
        expected = model.image(["binance", "okx"], None, True, True, include_live=False)[0]
    elif change == "tier":
        f.tier_checks[100.0].setChecked(False)
        f.tier_checks[50.0].setChecked(False)
        kept = [float(lev) for lev in model.leverages if lev not in (50.0, 100.0)]
        expected = model.image(None, kept, True, True, include_live=False)[0]
    else:
        f.short_cb.setChecked(False)
        expected = model.image(None, None, True, False, include_live=False)[0]
    # the change is applied to the whole window at once, without waiting for a frame
    np.testing.assert_array_equal(panel.last_image, expected)
    assert not np.array_equal(before, expected)
    r0, r1, shown = _displayed(panel)
    np.testing.assert_array_equal(shown, _coloured(panel, expected[r0:r1]))
    # the live column follows the same filter
    ex = ["binance", "okx"] if change == "exchange" else None
    tiers = [float(lev) for lev in model.leverages if lev not in (50.0, 100.0)] if change == "tier" else None
    live = model.level_map(ex, tiers, panel._origin, model.settings.rows)
    want = live[0] + (0 if change == "side" else live[1])
    np.testing.assert_allclose(panel.last_live, want.astype(np.float32), rtol=1e-6)


def test_crosshair_readout_equals_the_models_cell(window):
    panel = window.heatmap
    model = window.session.engine.model
    row, idx, t, p = _cell_of_max(panel)
    r = panel.show_crosshair_at(t, p)
    cell = model.cell(int(panel.last_columns[idx]), row, panel._origin)
    assert r is not None and not r.live
    assert r.long == pytest.approx(float(cell[..., 0].sum()), rel=1e-9)
    assert r.short == pytest.approx(float(cell[..., 1].sum()), rel=1e-9)
    assert r.total == pytest.approx(float(panel.last_image[row, idx]), rel=1e-5)
    assert r.total > 0
    tiers = dict((lev, lo + sh) for lev, lo, sh in r.by_tier)
    for t_i, lev in enumerate(model.leverages):
        assert tiers[float(lev)] == pytest.approx(float(cell[:, t_i].sum()), rel=1e-9)
    assert r.price_low <= p < r.price_high
    assert panel.readout_label.isVisibleTo(panel) and "long" in panel.readout_label.text()


def test_crosshair_readout_with_a_filter_and_on_the_live_column(window):
    panel = window.heatmap
    model = window.session.engine.model
    window.filters.ex_checks["okx"].setChecked(False)
    row, idx, t, p = _cell_of_max(panel)
    r = panel.show_crosshair_at(t, p)
    cell = model.cell(int(panel.last_columns[idx]), row, panel._origin)
    assert r.total == pytest.approx(float(cell[:2].sum()), rel=1e-9)
    assert r.total == pytest.approx(float(panel.last_image[row, idx]), rel=1e-5)
    # live column: the model's live state
    live_col = model.watermark // model.settings.column_ms
    k = int(np.argmax(panel.last_live))
    t_live = (live_col + 0.5) * model.settings.column_ms / 1000.0
    r = panel.show_crosshair_at(t_live, (panel._origin + k + 0.5) * model.bin_width)
    lm = model.level_map(["binance", "bybit"], None, panel._origin + k, 1)
    assert r.live
    assert r.long == pytest.approx(float(lm[0, 0]), rel=1e-9)
    assert r.short == pytest.approx(float(lm[1, 0]), rel=1e-9)
    assert panel.displayed_value(t_live, (panel._origin + k + 0.5) * model.bin_width) == pytest.approx(r.total,
                                                                                                     rel=1e-5)


def _band_max(panel, img) -> float:
    """The largest value in the rows the panel reads (those in view and half a view around):
    the colour scale fits what is around the view, not what lies far off screen."""
    b0, b1 = panel.raster.band
    return max(float(img[b0:b1].max()), float(panel.last_live[b0:b1].max()))


def test_scaling_modes_and_colour_bar_in_dollars(window):
    from liqdesk.ui import scaling

    panel = window.heatmap
    img = panel.last_image
    window.set_view(window.view.with_(scale="linear"))
    window.on_frame()
    top = _band_max(panel, img)
    assert panel.levels[1] == pytest.approx(top, rel=0.02) or panel.levels[1] >= top * 0.9
    window.set_view(window.view.with_(scale="log"))
    window.on_frame()
    lo, hi = panel.levels
    assert hi == pytest.approx(math.log10(1 + _band_max(panel, img)), rel=0.05)
    r0, r1, shown = _displayed(panel)
    from liqdesk.ui.heatmap_raster import Colouring

    np.testing.assert_array_equal(shown, Colouring(panel.lut, (lo, hi), "log").colour(img[r0:r1]))
    labels = [text for _, text in panel.colorbar._ticks]
    assert labels and all(text.lstrip("≥≤").startswith("$") for text in labels)
    window.set_view(window.view.with_(scale="percentile"))
    window.on_frame()
    assert panel.colorbar._ticks[-1][1].startswith("≥$")
    assert scaling.fmt_usd(1_234_567) == "$1.23M"


def test_follow_switches_off_on_pan_back_and_on_with_the_key(window, qtbot):
    from PySide6 import QtCore

    panel = window.heatmap
    assert panel.follow
    (x0, x1), _ = panel.vb.viewRange()
    span = x1 - x0
    panel.vb.setXRange(x0 - span, x1 - span, padding=0)
    panel.vb.sigRangeChangedManually.emit([True, False])
    assert not panel.follow and not window.actions_["follow"].isChecked()
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_F)
    assert panel.follow
    (x0, x1), _ = panel.vb.viewRange()
    assert x1 >= panel._live_end_s()


def test_bubbles_are_real_liquidations_sized_by_notional(window):
    from liqdesk.ui.heatmap_panel import bubble_size

    panel = window.heatmap
    liq = window.session.engine.liquidations
    assert len(liq) and len(panel.bubbles.data) > 0
    sizes = bubble_size(np.array([1e3, 1e4, 1e5, 1e6, 1e7]))
    assert np.all(np.diff(sizes[1:]) > 0)


def test_the_colour_bar_says_dollars_or_relative_intensity(window):
    """The switch changes only the bar's labels (the colours stay): dollars, or % of the top."""
    from liqdesk.ui.heatmap_items import COLORBAR_LABEL, COLORBAR_RELATIVE

    hm = window.heatmap
    bar = hm.colorbar
    pixels = hm.raster.pixels.copy() if hasattr(hm, "raster") and hasattr(hm.raster, "pixels") else None
    assert bar.label == COLORBAR_LABEL and any(t.lstrip("≥").startswith("$") for _, t in bar._ticks)
    hm.bar_button.click()
    assert hm.relative_bar and hm.bar_button.text() == "%"
    assert bar.label == COLORBAR_RELATIVE
    assert [t for _, t in bar._ticks] == ["0%", "25%", "50%", "75%", "100%"]
    window.on_frame(force=True)
    assert bar.label == COLORBAR_RELATIVE                    # a new frame keeps the choice
    if pixels is not None:
        assert (hm.raster.pixels == pixels).all()
    hm.bar_button.click()
    assert bar.label == COLORBAR_LABEL and not hm.relative_bar
