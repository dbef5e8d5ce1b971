"""Headless pictures: ``liqdesk render`` and ``liqdesk --screenshot`` draw a heatmap that is not blank."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _liqdesk(*args, tmp_path, timeout=120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "liqdesk", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _assert_heatmap_not_blank(png, rect):
    from liqdesk.ui.render import heatmap_area_stats

    st = heatmap_area_stats(png, rect)
    assert st["colours"] >= 40, st            # a colour ramp, candles, axes: not a flat fill
    assert st["non_background"] >= 0.25, st   # most of the plot area carries the heatmap
    return st


def test_render_draws_the_heatmap_with_candles(themed, session_path, tmp_path):
    from liqdesk.main import render_session

    out = tmp_path / "r.png"
    info = render_session(session_path, out, width=1200, height=700)
    assert out.exists() and info["time_ms"] is not None
    from PySide6 import QtGui

    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1200, 700)
    # the plot area: left of the price axis and colour bar, between title and time axis
    _assert_heatmap_not_blank(out, (10, 40, 850, 560))


def test_render_views_context_liquidity_and_hot_lines(themed, book_engine, tmp_path, monkeypatch):
    """Each view draws what it names (one engine, rendered five ways)."""
    from PySide6 import QtGui

    from liqdesk.app import views
    from liqdesk.ui.render import heatmap_area_stats, render_engine

    engine, _ = book_engine
    ctx = tmp_path / "ctx.png"
    render_engine(engine, ctx, 900, 700, view="context")
    _assert_heatmap_not_blank(ctx, (10, 40, 600, 280))
    # the panes (lower part): lines and bars in several colours, not an empty background
    panes = heatmap_area_stats(ctx, (10, 460, 600, 220))
    assert panes["colours"] >= 8 and 0.01 <= panes["non_background"] < 0.6, panes
    liq = tmp_path / "liq.png"
    render_engine(engine, liq, 900, 700, view="liquidity")
    _assert_heatmap_not_blank(liq, (10, 40, 600, 250))
    below = heatmap_area_stats(liq, (10, 380, 600, 290))        # the order-book heatmap
    assert below["colours"] >= 20 and below["non_background"] >= 0.03, below
    delta = tmp_path / "delta.png"
    with pytest.raises(ValueError, match="needs a time window longer"):
        render_engine(engine, delta, 900, 700, view="delta", delta_period="1h")    # the window is 1 h
    monkeypatch.setitem(views.DELTA_PERIODS, "10m", 600_000)
    render_engine(engine, delta, 900, 700, view="delta", delta_period="10m")
    below = heatmap_area_stats(delta, (10, 380, 600, 290))      # growth and shrinkage
    assert below["colours"] >= 20 and below["non_background"] >= 0.03, below
    plain, hot = tmp_path / "plain.png", tmp_path / "hot.png"
    render_engine(engine, plain, 600, 400)
    render_engine(engine, hot, 600, 400, view="hotlines")
    a, b = QtGui.QImage(str(plain)), QtGui.QImage(str(hot))
    assert a.size() == b.size() and a != b                       # the lines and labels are drawn


def test_render_command_at_a_time_and_errors(session_path, tmp_path):
    out = tmp_path / "at.png"
    r = _liqdesk("render", str(session_path), "--out", str(out), "--at", "2023-11-14T22:35:00Z",
                 "--width", "900", "--height", "500", "--view", "context", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and out.exists()
    _assert_heatmap_not_blank(out, (10, 40, 600, 180))
    r = _liqdesk("render", str(tmp_path / "nope.liqs"), "--out", str(tmp_path / "x.png"), tmp_path=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("liqdesk: error:") and "Traceback" not in r.stderr
    r = _liqdesk("render", str(session_path), "--out", str(tmp_path / "x.jpg"), tmp_path=tmp_path)
    assert r.returncode == 2 and ".png" in r.stderr


def test_screenshot_of_the_full_window_then_exit(session_path, tmp_path):
    out = tmp_path / "shot.png"
    r = _liqdesk("--replay", str(session_path), "--speed", "600", "--screenshot", str(out), "--quit-after", "4",
                 tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.exists()
    from PySide6 import QtGui

    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1920, 1080)
    # the heatmap dock's plot area, at the left of the default layout
    _assert_heatmap_not_blank(out, (20, 120, 800, 800))


@pytest.mark.parametrize("args,needle", [
    (["--screenshot", "x.png"], "--quit-after"),
    (["--replay", "missing.liqs", "--screenshot", "x.png", "--quit-after", "1"], "no session"),
    (["--speed", "fast"], "--speed"),
])
def test_window_option_errors_are_one_line(args, needle, tmp_path):
    r = _liqdesk(*args, tmp_path=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("liqdesk: error:") and needle in r.stderr and "Traceback" not in r.stderr


def test_render_a_session_whose_symbol_has_no_tier_table(tmp_path):
    from liqdesk.cli import main
    from liqdesk.main import render_session

    session = tmp_path / "pepe.liqs"
    assert main(["simulate", "--symbol", "PEPE/USDT:USDT", "--venues", "5", "--hours", "0.2", "--out", str(session),
                 "--quiet"]) == 0
    out = tmp_path / "pepe.png"
    render_session(session, out, width=800, height=500)
    assert out.stat().st_size > 0
