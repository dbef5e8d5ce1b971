"""Position age in the window and in pictures (issue 15): the age filter re-filters the whole
window with the other filters, "all" is the unfiltered window, the age tab and ``render --view
age`` draw the levels coloured by age, ``render/export --age`` filter."""

from __future__ import annotations

import numpy as np

from liqdesk.core.position_age import BUCKET_KEYS

from .helpers import show_tab


def test_the_age_filter_rebuilds_the_window_and_all_is_unfiltered(window):
    engine = window.session.engine
    window.on_frame(force=True)
    raster = window.heatmap.raster
    b0, b1 = raster.band
    plain = raster.vals[b0:b1].copy()
    assert plain.sum() > 0
    panel = window.filters
    # the session is 40 minutes long: everything is "last hour"; leaving it out empties the window
    panel.age_checks["hour"].setChecked(False)
    assert window.view.ages == ("day", "week", "older")
    window.on_frame(force=True)
    assert raster.vals[b0:b1].sum() == 0
    assert window.liqmap.view.ages == ("day", "week", "older")
    # "last hour" alone is everything again, and so is every bucket checked (the unfiltered read)
    for key in BUCKET_KEYS:
        panel.age_checks[key].setChecked(key == "hour")
    window.on_frame(force=True)
    assert window.view.ages == ("hour",)
    assert np.allclose(raster.vals[b0:b1], plain, rtol=1e-5, atol=1e-3)
    for key in BUCKET_KEYS:
        panel.age_checks[key].setChecked(True)
    window.on_frame(force=True)
    assert window.view.ages is None and np.array_equal(raster.vals[b0:b1], plain)
    # combined with the other filters: the buckets of one exchange's longs sum to its longs
    model = engine.model
    parts = [model.band(["okx"], None, True, False, ages=(k,)) for k in BUCKET_KEYS]
    whole = model.band(["okx"], None, True, False)
    assert whole.sum() > 0 and np.allclose(np.sum(parts, axis=0), whole, rtol=1e-5, atol=1e-3)


def test_the_age_tab_colours_the_levels(window, qtbot):
    # behind the context panes (the default) or in a window not shown, the tab's whole-window
    # read is not paid for
    window.on_frame(force=True)
    assert window.age.last is None and window.delta.last is None
    window.show()
    qtbot.waitExposed(window)
    window.on_frame(force=True)
    assert window.age.last is None and window.delta.last is None
    show_tab(qtbot, window, "age")
    window.on_frame(force=True)
    last = window.age.last
    assert last is not None and last["buckets"].shape[0] == 4
    # the 40-minute session is all "last hour"
    assert last["buckets"][0].sum() > 0 and last["buckets"][1:].sum() == 0
    assert "100 %" in window.age.note.text()


def test_render_view_age_and_the_age_filter(themed, replay_engine, tmp_path):
    from PySide6 import QtGui

    from liqdesk.ui.render import heatmap_area_stats, render_engine

    engine, _ = replay_engine
    out = tmp_path / "age.png"
    assert render_engine(engine, out, 900, 700, view="age")
    below = heatmap_area_stats(out, (10, 380, 600, 290))       # the age picture under the heatmap
    assert below["colours"] >= 20 and below["non_background"] >= 0.05, below
    plain, old = tmp_path / "plain.png", tmp_path / "old.png"
    render_engine(engine, plain, 600, 400)
    render_engine(engine, old, 600, 400, ages=("day", "week", "older"))
    assert QtGui.QImage(str(plain)) != QtGui.QImage(str(old))
    assert heatmap_area_stats(old, (10, 40, 400, 300))["non_background"] < 0.5 * \
        heatmap_area_stats(plain, (10, 40, 400, 300))["non_background"]


def test_export_and_render_age_options(session_path, tmp_path):
    from tests.ui.test_render import _liqdesk

    every, young, old = (tmp_path / f"{n}.npz" for n in ("every", "young", "old"))
    for out, extra in ((every, ()), (young, ("--age", "hour")), (old, ("--age", "day,week,older"))):
        r = _liqdesk("export", str(session_path), "--out", str(out), *extra, tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr
    a, y, o = (np.load(p) for p in (every, young, old))
    total = a["long_usd"].sum() + a["short_usd"].sum()
    assert total > 0
    assert y["long_usd"].sum() + y["short_usd"].sum() == np.float32(total) or \
        abs(y["long_usd"].sum() + y["short_usd"].sum() - total) <= 1e-5 * total
    assert o["long_usd"].sum() + o["short_usd"].sum() == 0
    r = _liqdesk("export", str(session_path), "--out", str(tmp_path / "x.npz"), "--age", "month", tmp_path=tmp_path)
    assert r.returncode == 2 and "--age" in r.stderr and "Traceback" not in r.stderr
    r = _liqdesk("render", str(session_path), "--out", str(tmp_path / "x.png"), "--view", "age", "--age", "hour",
                 "--width", "600", "--height", "400", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
