"""The stats panel under every filter: never raises, never shows figures of an earlier filter."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from liqdesk.core.stats import BandTotals, summarize


def _expected(window):
    """The summary the panel should show, computed independently from the model."""
    engine = window.session.engine
    model = engine.model
    view = window.view
    stats = window.stats
    from liqdesk.app.view_state import display_origin

    origin = display_origin(model)
    lm = model.level_map(view.model_exchanges(model), view.tiers, origin, model.settings.rows)
    long = lm[0] if view.long else np.zeros_like(lm[0])
    short = lm[1] if view.short else np.zeros_like(lm[1])
    edges = model.bin_prices(origin, model.settings.rows)
    return summarize(long, short, edges, model.bin_width, model.mark_price(), band_pct=stats.band_pct), long, short


def _rows(window) -> dict[str, str]:
    """The panel's table as {label: value}, tags stripped (what the user reads)."""
    import html

    text = window.stats.body.text()
    out = {}
    for k, v in re.findall(r"<tr><td[^>]*>([^<]*)</td><td>(.*?)</td></tr>", text, flags=re.S):
        out[html.unescape(re.sub("<[^>]+>", "", k))] = html.unescape(re.sub("<[^>]+>", " ", v)).strip()
    return out


def test_asymmetry_text_for_every_case():
    from liqdesk.ui.stats_panel import asymmetry_text

    def t(lo, sh, long=True, short=True):
        return asymmetry_text(BandTotals(100.0, 3.0, lo, sh), long, short)

    assert t(4e6, 1e6) == "4.00 : 1"
    assert t(1e6, 4e6) == "1 : 4.00"
    assert t(0.0, 4e6) == "shorts only"            # no long in band, shorts there: no division by 0
    assert t(4e6, 0.0) == "longs only"
    assert t(0.0, 0.0) == "n/a (none in band)"
    assert t(0.0, 4e6, long=False) == "n/a (longs hidden)"
    assert t(4e6, 0.0, short=False) == "n/a (shorts hidden)"
    assert t(0.0, 0.0, long=False, short=False) == "n/a (both sides hidden)"
    assert t(1e-300, 4e6) == "1 : > 1M"          # a tiny ratio neither raises nor prints 300 digits
    assert t(3e6, 1e4) == "300 : 1"


def test_unticking_long_shows_sensible_values_and_every_figure_updates(window):
    from liqdesk.ui import scaling

    stats = window.stats
    before = _rows(window)
    assert before["long : short"].split(" ·")[0] not in ("", "-")
    window.filters.long_cb.setChecked(False)     # raised ZeroDivisionError in 1 / ratio
    rows = _rows(window)
    sm, long, short = _expected(window)
    assert not long.any()
    assert "n/a (longs hidden)" in rows["long : short"]
    assert "heavier" not in rows["long : short"]
    assert "hidden" in rows["long below"]
    assert "hidden" in rows["near below"]
    assert scaling.fmt_usd(sm.totals.short_above) in rows["short above"]
    assert rows["total"] == scaling.fmt_usd(float(short.sum()))
    assert rows["total"] != before["total"]
    assert stats.summary.totals == sm.totals
    # shorts off as well: nothing left, nothing raised, nothing stale
    window.filters.short_cb.setChecked(False)
    rows = _rows(window)
    assert "n/a (both sides hidden)" in rows["long : short"]
    assert "hidden" in rows["short above"] and "hidden" in rows["near above"]
    assert rows["total"] == "$0"
    assert "cascade" not in stats.body.text()
    # and back
    window.filters.long_cb.setChecked(True)
    window.filters.short_cb.setChecked(True)
    assert _rows(window) == before


@pytest.mark.parametrize("change", ["exchange", "tier", "all exchanges", "all tiers", "shorts"])
def test_every_figure_follows_the_filters(window, change):
    from liqdesk.ui import scaling

    f = window.filters
    if change == "exchange":
        f.ex_checks["bybit"].setChecked(False)
    elif change == "tier":
        for lev in (50.0, 100.0):
            f.tier_checks[lev].setChecked(False)
    elif change == "all exchanges":
        for cb in f.ex_checks.values():
            cb.setChecked(False)
    elif change == "all tiers":
        for cb in f.tier_checks.values():
            cb.setChecked(False)
    else:
        f.short_cb.setChecked(False)
    rows = _rows(window)
    sm, long, short = _expected(window)
    t = sm.totals
    if change != "shorts":
        assert scaling.fmt_usd(t.short_above) in rows["short above"]
    assert scaling.fmt_usd(t.long_below) in rows["long below"]
    assert rows["total"] == scaling.fmt_usd(float(long.sum() + short.sum()))
    assert window.stats.summary.totals == t
    if change.startswith("all"):
        assert rows["total"] == "$0"
        assert "n/a" in rows["long : short"]
        assert "none in band" in rows["near above"]


def test_band_change_updates_at_once(window):
    stats = window.stats
    first = _rows(window)
    stats.band.setCurrentIndex(stats.band.findData(10.0))
    rows = _rows(window)
    assert stats.band.currentText() == "10 %"
    assert stats.summary.totals.band_pct == 10.0
    assert first != rows


def test_no_stale_figures_when_the_model_has_no_price(window, monkeypatch):
    stats = window.stats
    engine = window.session.engine
    assert "total" in _rows(window)
    # a model with its price axis but no price (no mark, no trade yet)
    monkeypatch.setattr(engine.model, "mark_price", lambda exchange=None: math.nan)
    stats.refresh(engine)
    assert stats.summary is None
    assert "total" not in stats.body.text() and "waiting" in stats.body.text()
    monkeypatch.undo()
    stats.refresh(engine)
    assert "total" in _rows(window)
    engine.reset()                               # e.g. a seek or new settings: nothing yet
    stats.refresh(engine)
    assert stats.summary is None and "waiting" in stats.body.text()


def test_an_empty_engine_before_any_event(themed, qtbot):
    from liqdesk.app.engine import Engine
    from liqdesk.ui.stats_panel import StatsPanel

    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.refresh(Engine())
    assert "waiting" in panel.body.text() and panel.summary is None


def test_the_leverage_mix_in_use_is_shown_per_exchange(window):
    """What the map is weighted by, as the model has it now: every exchange, its state and each
    tier's share of at least 2 %."""
    import html

    model = window.session.engine.model
    window.stats.refresh(window.session.engine)
    text = html.unescape(re.sub("<[^>]+>", " ", window.stats.mix_label.text()))
    summary = model.mix_summary()
    assert "leverage mix" in text
    for venue in summary:
        assert venue["exchange"] in text and venue["state"] in text
        for lev, w in zip(venue["leverages"], venue["weights"]):
            if w >= 0.02:
                assert f"{lev:g}x {w:.0%}" in text
