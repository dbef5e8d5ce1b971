"""The context panes under the heatmap: they show the session's open interest, funding, volume
delta and liquidations at the crosshair's time, move with the heatmap and can be hidden."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.core.events import EXCHANGE_ID


def test_the_panes_show_the_session_at_the_crosshair(window, replay_engine):
    engine, reader = replay_engine
    panes = window.context
    assert window.docks["context"].isVisible() or not window.isVisible()
    # the panes follow the heatmap's time range
    (h0, h1), _ = window.heatmap.vb.viewRange()
    (p0, p1), _ = panes.plots["cvd"].getViewBox().viewRange()
    assert (p0, p1) == pytest.approx((h0, h1))
    w = panes.window
    assert w is not None and len(w.time_ms) > 10
    start = reader.start_ms
    batch = reader.read(start, start + 30 * 60_000)          # (what the engine was fed)
    # a bucket in the middle of what was ingested: its values equal the session's events in it
    traded = np.flatnonzero(w.buy + w.sell)
    i = int(traded[len(traded) // 2])
    t0, t1 = int(w.time_ms[i]), int(w.time_ms[i] + w.interval_ms)
    tr = batch.trades[(batch.trades["time_ms"] >= t0) & (batch.trades["time_ms"] < t1)]
    notional = tr["price"] * tr["size"]
    assert w.buy[i] == pytest.approx(notional[tr["side"] > 0].sum())
    assert w.sell[i] == pytest.approx(notional[tr["side"] < 0].sum())
    lq = batch.liquidations
    drawn = w.liq_long.sum() + w.liq_short.sum()
    visible = lq[(lq["time_ms"] >= w.time_ms[0]) & (lq["time_ms"] < w.time_ms[-1] + w.interval_ms)]
    assert drawn == pytest.approx(visible["notional"].sum())
    # open interest and funding at the crosshair: the session's last value before the bucket's end
    mid_s = (t0 + t1) / 2000
    window.heatmap.vline.setValue(mid_s)
    window.heatmap.vline.show()
    assert panes.lines["cvd"].isVisible() and panes.lines["cvd"].value() == pytest.approx(mid_s)
    for name in w.open_interest:
        oi = batch.open_interest[(batch.open_interest["exchange"] == EXCHANGE_ID[name])
                                 & ((batch.open_interest["time_ms"] // 5_000) * 5_000 < t1)]
        assert panes.value_at("open_interest", name, mid_s) == pytest.approx(oi["oi_notional"][-1])
    for name in w.funding:
        f = batch.funding[(batch.funding["exchange"] == EXCHANGE_ID[name])
                          & ((batch.funding["time_ms"] // 5_000) * 5_000 < t1)]
        assert panes.value_at("funding", name, mid_s) == pytest.approx(f["rate"][-1])
    assert "CVD" in panes.readout.text() and "OI $" in panes.readout.text()
    window.heatmap.vline.hide()
    assert not panes.lines["cvd"].isVisible() and panes.readout.text() == ""


def test_panes_follow_the_exchange_filter_and_hide(window):
    panes = window.context
    everything = panes.window.buy.sum() + panes.window.sell.sum()
    window.set_view(window.view.with_(exchanges=("bybit",)))
    window.on_frame(force=True)
    only = panes.window
    assert set(only.open_interest) <= {"bybit"}
    assert 0 < only.buy.sum() + only.sell.sum() < everything
    panes.toggles["funding"].setChecked(False)
    assert not panes.plots["funding"].isVisible() and panes.visible_panes() == ["open_interest", "cvd", "liquidations"]
    panes.toggles["funding"].setChecked(True)
    assert panes.plots["funding"].isVisible() or not window.isVisible()


def test_zooming_the_heatmap_redraws_the_panes_at_a_finer_interval(window):
    panes = window.context
    coarse = panes.window.interval_ms
    (x0, x1), _ = window.heatmap.vb.viewRange()
    window.heatmap.vb.setXRange(x1 - (x1 - x0) / 20, x1, padding=0)
    assert panes.window.interval_ms < coarse
    assert np.isfinite(panes.window.cvd).all()
