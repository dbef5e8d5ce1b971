"""Hot lines: the strongest estimated levels over the heatmap, with their dollars."""

from __future__ import annotations

import numpy as np


def test_hot_lines_mark_the_strongest_levels_of_the_view(window, tmp_path):
    from liqdesk.app.view_state import live_level_map

    engine = window.session.engine
    overlay = window.hot_lines
    assert not any(line.isVisible() for line in overlay.lines)          # off by default
    window.actions_["hot_lines"].trigger()
    window.on_frame(force=True)
    shown = overlay.shown
    assert 3 <= len(shown) <= 10
    origin, full = live_level_map(engine, window.view)
    total = full.sum(axis=0)
    w = engine.model.bin_width
    # (only the prices in view)
    lo, hi = window.heatmap.vb.viewRange()[1]
    k_all = origin + np.arange(len(total))
    total[(k_all < int(lo // w)) | (k_all > int(hi // w))] = 0.0
    # the first line is the strongest bin of the live map, at its middle
    k = int(np.argmax(total))
    assert shown[0].notional == total[k] and abs(shown[0].price - (origin + k + 0.5) * w) < 1e-6
    assert [h.notional for h in shown] == sorted((h.notional for h in shown), reverse=True)
    visible = [line for line in overlay.lines if line.isVisible()]
    assert len(visible) == len(shown)
    assert visible[0].label.toPlainText().startswith("$")
    window.grab().save(str(tmp_path / "hot.png"))
    import os
    if os.environ.get("LIQDESK_SAVE_SHOT"):
        window.grab().save(os.environ["LIQDESK_SAVE_SHOT"])
    # only shorts: every line is a short level above price
    window.set_view(window.view.with_(long=False))
    window.on_frame(force=True)
    assert overlay.shown and all(h.side == -1 for h in overlay.shown)
    # zoomed out to every price: the strongest line is the map's strongest level
    window.heatmap.vb.setYRange(origin * w, (origin + len(total)) * w, padding=0)
    window.set_view(window.view.with_(long=True))
    window.on_frame(force=True)
    assert overlay.shown[0].notional == full.sum(axis=0).max()
    window.actions_["hot_lines"].trigger()
    assert not any(line.isVisible() for line in overlay.lines)
