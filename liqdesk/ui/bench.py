"""Frame benchmark of the window (``liqdesk bench``'s frame section), offscreen, 1920 × 1080.

- ``frame_ms_median`` / ``frame_ms_p99``: a full window update — the heatmap handed a new
  1,440 × 2,000 grid (levels, colour bar, live column, candles, bubbles, mark), the liquidation
  map, ladder, stats and status bar all refreshed — then painted by Qt's own paint cycle
  (``processEvents``: everything the update made dirty is painted, as in the running app).
- ``frame_baseline_ms``: the same grids set on a lone ``pg.ImageItem`` (same lookup table and
  levels) in a plain ``pg.PlotWidget`` of the same size, painted by the same call, interleaved
  frame by frame with the window's in the same run. ``frame_ratio`` = median / baseline.
  ``frame_painted`` counts the paints, to show both really painted every frame.
- ``frame_grab_*``: the same comparison with ``QWidget.grab()`` of the whole window against a
  grab of the plain plot (re-renders every widget, changed or not).
- ``frame_rebuild_age_*``: the same with a position-age filter (one bucket, three, two) combined
  with those filters. ``grid_mb``: the heatmap grid's memory, ``grid_age_mb`` the part that holds
  the position-age codes.
- ``frame_rebuild_*``: a filter change (exchanges, sides) applied as the filters panel does it,
  so the heatmap reads its whole window from the level model and colours it, every panel is
  refreshed, then painted; ``frame_live_*``: a steady live frame, the model's time stepped by
  one 1 s column per frame (600 events each; every 10th frame a 0.5 % price jump sweeps levels,
  ``frame_live_sweeps`` counts them), then painted (the view follows the live edge in steps of
  15 % of its width, ``HeatmapPanel.FOLLOW_STEP``: most of these frames scroll nothing). Each is timed interleaved, frame by frame,
  with the bare image item of ``frame_baseline_ms`` re-colouring a whole grid in the same run:
  ``frame_rebuild_ratio`` and ``frame_live_ratio`` are median / baseline median (``_p99``: the
  99th percentiles' ratio). ``frame_live_rebuilds``: whole-window reads during the live frames
  (a new learned mix or a re-centred price axis). ``frame_live_still_*``: the same live frames
  with follow off, so that a new column does not scroll the whole chart (as 29 of 30 frames at
  30 FPS with 1 s columns). ``frame_rows_read``: the heatmap's rows read.
- ``frame_view_<view>_*``: the same live frames with a view shown, beside the same baseline
  (``no_panes``: the context panes hidden — the full window above has them shown;
  ``liquidity`` / ``delta``: that tab in the panes' place; ``hot_lines``: the overlay on).
- ``latency_ms_p99``: from an event's creation (a synthetic flood source, polled off the UI
  thread exactly as the simulator is) to the painted frame that first includes it, at ≥ 20,000
  events/s, with the real 30 FPS frame timer and 1 s columns (one column closes every second).
- ``max_frame_gap_ms``: the longest time between two painted frames while the source floods
  50,000 events/s (10 s; 3 s in quick mode). ``rss_growth_mb``: resident memory after the
  floods minus before them.
"""

from __future__ import annotations

import gc
import math
import os
import tempfile
import time

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, make_batch, records

WIDTH, HEIGHT = 1920, 1080
ROWS, COLUMNS = 2000, 1440
EXCHANGES = ("binance", "bybit", "okx")


class FloodSource:
    """Synthetic events at ``rate`` per second of wall time, stamped with the wall clock.

    Each poll returns the events 'created' since the previous poll; ``last_created`` is when the
    oldest of them was created (the previous poll), for latency measurement.
    """

    kind = "flood"
    playing = True

    def __init__(self, rate: float, price: float, seed: int = 11):
        self.rate = rate
        self.price = price
        self.rng = np.random.default_rng(seed)
        self._last_wall: float | None = None
        self._last_perf: float | None = None
        self.last_created: float | None = None
        self.events = 0
        self._t_ms = int(time.time() * 1000)
        self._next_mark = self._t_ms
        self._next_oi = self._t_ms
        self._oi = {e: 50_000.0 for e in EXCHANGES}

    def poll(self, now_wall_s: float):
        perf = time.perf_counter()
        if self._last_perf is None:
            self._last_perf = perf
            return None
        dt = perf - self._last_perf
        n = int(self.rate * dt)
        if n <= 0:
            return None
        created = self._last_perf
        self._last_perf = perf
        t1 = max(int(time.time() * 1000), self._t_ms)
        batch = self.events_until(t1, n, dt)
        self.last_created = created
        return batch

    def events_until(self, t1: int, n: int, dt: float, jump: float = 0.0):
        """``n`` events from the last one's time to ``t1`` (ms), the price moving as over ``dt``
        seconds and by a factor ``exp(jump)`` more (a sudden move that sweeps levels)."""
        t = np.sort(self.rng.integers(self._t_ms, t1 + 1, n))
        self._t_ms = t1
        rng = self.rng
        self.price *= math.exp(rng.normal(0, 0.00025 * math.sqrt(max(dt, 1e-3))) + jump)
        ex = rng.integers(0, len(EXCHANGES), n)
        ids = np.array([EXCHANGE_ID[e] for e in EXCHANGES], dtype=np.uint8)[ex]
        n_trade = int(n * 0.8)
        p = self.price * (1 + rng.normal(0, 0.00008, n))
        trades = records("trades", time_ms=t[:n_trade], exchange=ids[:n_trade],
                         side=np.where(rng.random(n_trade) < 0.5, 1, -1).astype(np.int8),
                         price=p[:n_trade], size=rng.pareto(2.5, n_trade) * 0.01 + 0.001)
        nb = n - n_trade
        bside = np.where(rng.random(nb) < 0.5, 1, -1).astype(np.int8)
        book = records("book", time_ms=t[n_trade:], exchange=ids[n_trade:], side=bside, snapshot=False,
                       price=np.round(self.price * (1 - bside * rng.uniform(0.0001, 0.004, nb)), 1),
                       size=rng.gamma(1.5, 1.0, nb) * (rng.random(nb) > 0.1))
        book = book[np.argsort(book["time_ms"], kind="stable")]
        kinds = {"trades": trades, "book": book}
        if t1 >= self._next_mark:
            mt = np.full(len(EXCHANGES), t1)
            kinds["marks"] = records("marks", time_ms=mt, exchange=np.array([EXCHANGE_ID[e] for e in EXCHANGES]),
                                     price=np.full(len(EXCHANGES), self.price))
            self._next_mark = t1 + 100
        if t1 >= self._next_oi:
            for e in EXCHANGES:
                self._oi[e] = max(1000.0, self._oi[e] + rng.normal(3.0, 20.0))
            kinds["open_interest"] = records(
                "open_interest", time_ms=np.full(len(EXCHANGES), t1),
                exchange=np.array([EXCHANGE_ID[e] for e in EXCHANGES]),
                oi_base=np.array([self._oi[e] for e in EXCHANGES]),
                oi_notional=np.array([self._oi[e] * self.price for e in EXCHANGES]))
            self._next_oi = t1 + 1000
        if rng.random() < 0.2:
            notional = float(rng.lognormal(10, 1.2))
            side = 1 if rng.random() < 0.5 else -1
            kinds["liquidations"] = records("liquidations", time_ms=[t1], exchange=[int(ids[0])], side=[side],
                                            price=[self.price], size=[notional / self.price], notional=[notional])
        self.events += n
        return make_batch(**kinds)


def _settings(column_ms: int = 1_000):
    from liqdesk.core.levels import ModelSettings

    return ModelSettings(exchanges=EXCHANGES, column_ms=column_ms, window_columns=COLUMNS, rows=ROWS,
                         bin_width_pct=0.01)


def _prefilled_engine(end_ms: int, column_ms: int = 1_000):
    """An engine whose 1,440 × 2,000 window is full: a random walk ingested up to ``end_ms``."""
    from liqdesk.app.engine import Engine
    from liqdesk.core.synthetic import random_walk_stream

    engine = Engine(_settings(column_ms))
    span_s = COLUMNS * column_ms / 1000.0 + 60
    stream = random_walk_stream(hours=span_s / 3600.0, exchanges=EXCHANGES, trades_per_s=40.0,
                                start_ms=end_ms - int(span_s * 1000), seed=5, vol_per_sqrt_s=0.0006)
    from liqdesk.core.events import slice_batch

    start, stop = stream.time_span()
    for t in range(start, stop + 1, 120_000):
        engine.ingest(slice_batch(stream, t, t + 120_000))
    return engine


def _stats(values) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 99))


def _figures(prefix: str, times: list[float], base: list[float], with_baseline: bool = True) -> dict:
    """``{prefix}_ms_median``, ``_ms_p99``, (the baseline's,) ``_ratio`` and ``_ratio_p99`` of
    frame times (s) beside the bare image item's in the same frames."""
    med, p99 = _stats(times)
    b_med, b_p99 = _stats(base)
    out = {f"{prefix}_ms_median": round(med * 1000, 2), f"{prefix}_ms_p99": round(p99 * 1000, 2)}
    if with_baseline:
        out[f"{prefix}_baseline_ms_median"] = round(b_med * 1000, 2)
        out[f"{prefix}_baseline_ms_p99"] = round(b_p99 * 1000, 2)
    out[f"{prefix}_ratio"] = round(med / b_med, 3)
    out[f"{prefix}_ratio_p99"] = round(p99 / b_p99, 3)
    return out


def _live_and_rebuild_frames(app, window, engine, item, grids, n_frames: int) -> dict:
    """``frame_live_*`` and ``frame_rebuild_*`` (see the module docstring), each frame timed
    beside the bare image item re-colouring a whole grid, interleaved frame by frame."""
    from liqdesk.core.levels import LevelModel

    model: LevelModel = engine.model
    views = [window.view.with_(exchanges=None, tiers=None, long=True, short=True),
             window.view.with_(exchanges=None, tiers=None, long=True, short=False),
             window.view.with_(exchanges=("binance", "okx"), tiers=None, long=True, short=True)]
    levels = window.heatmap.levels

    def baseline(grid) -> float:
        t0 = time.perf_counter()
        item.setImage(grid[0], autoLevels=False, levels=levels)
        app.processEvents()
        return time.perf_counter() - t0

    def rebuild_frames(filters) -> tuple[list[float], list[float]]:
        """A filter change per frame, cycling through ``filters``: the whole window read and
        coloured again (as FiltersPanel does it), beside the baseline of the same frame."""
        out, out_base = [], []
        for i in range(max(9, n_frames // 2) + 3):
            t0 = time.perf_counter()
            window.set_view(filters[i % 3])
            window.on_frame()
            app.processEvents()
            t = time.perf_counter() - t0
            b = baseline(grids[i % 3])
            if i >= 3:
                out.append(t)
                out_base.append(b)
        return out, out_base

    rebuild, rebuild_base = rebuild_frames(views)
    # the same with the position-age filter (issue 15) combined with the others: every slice's
    # cells times the selected buckets' share, read and coloured again
    rebuild_age, rebuild_age_base = rebuild_frames([views[0].with_(ages=("hour",)),
                                                    views[1].with_(ages=("day", "week", "older")),
                                                    views[2].with_(ages=("hour", "older"))])
    window.set_view(views[0])
    window.on_frame()
    app.processEvents()

    # steady live frames: one column closes per frame (1 s columns, the model's time stepped
    # by a column per frame), and every 10th frame the price jumps 0.5 % and sweeps levels
    feeder = FloodSource(0, model.mark_price(), seed=17)
    cm = model.settings.column_ms
    feeder._t_ms = t_ms = (model.watermark // cm + 1) * cm
    swept0 = len(model.swept())
    raster = getattr(window.heatmap, "raster", None)      # None: the code before the ring
    rebuilds0 = raster.rebuilds if raster is not None else 0

    def live_frames() -> tuple[list[float], list[float]]:
        nonlocal t_ms
        live, live_base = [], []
        for i in range(n_frames + 3):
            jump = (0.005 if i % 20 == 9 else -0.005) if i % 10 == 9 else 0.0
            t_ms += cm
            engine.ingest(feeder.events_until(t_ms - 1, 600, cm / 1000.0, jump))
            t0 = time.perf_counter()
            window.on_frame()
            app.processEvents()
            t = time.perf_counter() - t0
            b = baseline(grids[0])
            if i >= 3:
                live.append(t)
                live_base.append(b)
        return live, live_base

    live, live_base = live_frames()
    sweeps, rebuilds = len(model.swept()) - swept0, (raster.rebuilds - rebuilds0) if raster is not None else None
    # the same with the view still (follow off): each new column no longer scrolls the chart
    window.heatmap.set_follow(False)
    still, still_base = live_frames()
    window.heatmap.set_follow(True)
    still_med, still_b_med = float(np.median(still)), float(np.median(still_base))
    views_out = {}
    # the views (issue 15), each shown as a trader would, with the same live frames: the context
    # panes hidden (their share of a live frame), the order-book heatmap, delta and position-age
    # tabs in their place, hot lines over the heatmap
    docks = window.docks

    def variant(name: str, setup, undo) -> None:
        setup()
        app.processEvents()
        frames, frames_base = live_frames()
        undo()
        app.processEvents()
        views_out.update(_figures(f"frame_view_{name}", frames, frames_base, with_baseline=False))

    if "context" in docks:
        variant("no_panes", lambda: docks["context"].hide(), lambda: docks["context"].show())
        for key in ("liquidity", "delta", "age"):
            if key in docks:
                variant(key, docks[key].raise_, docks["context"].raise_)
    if hasattr(window, "hot_lines"):
        variant("hot_lines", lambda: window.actions_["hot_lines"].setChecked(True) or window._toggle_hot_lines(True),
                lambda: window.actions_["hot_lines"].setChecked(False) or window._toggle_hot_lines(False))
    return {
        **views_out,
        **_figures("frame_live", live, live_base),
        "frame_live_sweeps": int(sweeps),
        "frame_live_rebuilds": rebuilds,
        "frame_live_still_ms_median": round(still_med * 1000, 2),
        "frame_live_still_ratio": round(still_med / still_b_med, 3),
        **_figures("frame_rebuild", rebuild, rebuild_base),
        **_figures("frame_rebuild_age", rebuild_age, rebuild_age_base, with_baseline=False),
        "grid_mb": round(model.grid.nbytes / 2**20, 1),
        "grid_age_mb": round(model.grid.age_nbytes / 2**20, 1),
        "frame_rows_read": list(raster.band) if raster is not None else [0, ROWS],
    }


def measure_frames(quick: bool = False) -> dict:
    """Run the frame benchmark; returns the figures (see the module docstring)."""
    import psutil

    from .app import ensure_platform

    ensure_platform(headless=True)
    import pyqtgraph as pg
    from PySide6 import QtCore, QtWidgets

    from liqdesk.app.session import Session

    from .app import application
    from .chart_window import ChartWindow, FrameClock, LayoutStore

    app = application()
    proc = psutil.Process()
    tmp = tempfile.mkdtemp(prefix="liqdesk-bench-")
    store = LayoutStore(os.path.join(tmp, "layouts.json"))
    now_ms = int(time.time() * 1000)
    engine = _prefilled_engine(now_ms)
    model = engine.model
    price = model.mark_price()
    source = FloodSource(20_000, price)
    session = Session(engine, source, "sim", label="bench flood")
    clock = FrameClock(session)
    window = ChartWindow(session, clock, store, restore=False)
    window.resize(WIDTH, HEIGHT)
    window.show()
    for _ in range(5):
        app.processEvents()
    window.on_frame(force=True)
    window.grab()

    # grids to hand over: the window under three filters (computed outside the timed part)
    grids = [model.image(None, None, True, True, include_live=False),
             model.image(None, None, True, False, include_live=False),
             model.image(["binance", "okx"], None, True, True, include_live=False)]
    n_frames = 20 if quick else 60

    # ---- full window update vs a bare image item, interleaved frame by frame so that both
    # see the same machine load. The render call is Qt's own paint cycle (processEvents after
    # the update paints whatever the update made dirty, as in the running app); a whole-window
    # grab() of both is measured too.
    class _CountingPlot(pg.PlotWidget):
        painted = 0

        def paintEvent(self, ev):
            super().paintEvent(ev)
            _CountingPlot.painted += 1

    pw = _CountingPlot()
    pw.resize(WIDTH, HEIGHT)
    item = pg.ImageItem(axisOrder="row-major")
    item.setLookupTable(window.heatmap.lut)
    pw.addItem(item)
    pw.show()
    app.processEvents()
    levels = window.heatmap.levels
    painted = {"window": 0}
    conn = window.heatmap.gview.painted.connect(lambda t: painted.__setitem__("window", painted["window"] + 1))
    full, base, grab_w, grab_b, update_only = [], [], [], [], []
    inline = FloodSource(20_000, price, seed=3)
    inline._t_ms = max(inline._t_ms, model.watermark or 0)

    def feed():
        time.sleep(0.002)
        batch = inline.poll(time.monotonic()) or inline.poll(time.monotonic())
        if batch is not None:
            engine.ingest(batch)

    app.processEvents()
    painted["window"] = _CountingPlot.painted = 0
    for i in range(n_frames + 3):
        feed()
        grid = grids[i % len(grids)]
        t0 = time.perf_counter()
        window.on_frame(force=True, image=grid)
        t1 = time.perf_counter()
        app.processEvents()
        t2 = time.perf_counter()
        item.setImage(grid[0], autoLevels=False, levels=levels)
        app.processEvents()
        t3 = time.perf_counter()
        if i >= 3:
            full.append(t2 - t0)
            update_only.append(t1 - t0)
            base.append(t3 - t2)
    frames_painted = (painted["window"], _CountingPlot.painted)
    window.heatmap.gview.painted.disconnect(conn)
    for i in range(max(6, n_frames // 3)):
        feed()
        grid = grids[i % len(grids)]
        t0 = time.perf_counter()
        window.on_frame(force=True, image=grid)
        window.grab()
        t1 = time.perf_counter()
        item.setImage(grid[0], autoLevels=False, levels=levels)
        pw.grab()
        t2 = time.perf_counter()
        grab_w.append(t1 - t0)
        grab_b.append(t2 - t1)

    frame_med, frame_p99 = _stats(full)
    base_med = float(np.median(base))

    # ---- latency at >= 20,000 events/s and gaps at 50,000 events/s, with the real frame timer
    def run_live(rate: float, seconds: float) -> dict:
        source.rate = rate
        source.events = 0
        session.latencies_ms.clear()
        shown: dict[int, float] = {}          # frame tick -> when it was first painted

        def on_paint(t: float) -> None:
            shown.setdefault(clock.tick_id, t)

        conn = window.heatmap.gview.painted.connect(on_paint)
        deadline = time.perf_counter() + seconds
        t_start = time.perf_counter()
        lat: list[float] = []
        while time.perf_counter() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            lat.extend(session.latencies_ms)
            session.latencies_ms.clear()
            time.sleep(0.0005)
        elapsed = time.perf_counter() - t_start
        window.heatmap.gview.painted.disconnect(conn)
        frames = sorted(shown.values())
        gaps = np.diff(frames) * 1000.0 if len(frames) > 1 else np.array([float("inf")])
        return {"rate": source.events / elapsed, "lat": lat, "gap": float(gaps.max()),
                "fps": len(frames) / elapsed, "frames": len(frames)}

    gc.collect()
    session.start()
    clock.start()
    run_live(20_000, 1.0)                      # warm-up
    rss0 = proc.memory_info().rss
    lat_run = run_live(25_000, 3.0 if quick else 10.0)
    gap_run = run_live(50_000, 3.0 if quick else 10.0)
    rss1 = proc.memory_info().rss
    clock.stop()
    session.stop()
    # last: these step the model's time ahead of the wall clock the floods above stamp with
    steady = _live_and_rebuild_frames(app, window, engine, item, grids, n_frames)
    pw.close()
    window.close()
    app.processEvents()

    lat = np.asarray(lat_run["lat"], dtype=float)
    return {
        "frame_ms_median": round(frame_med * 1000, 2),
        "frame_ms_p99": round(frame_p99 * 1000, 2),
        "frame_baseline_ms": round(base_med * 1000, 2),
        "frame_ratio": round(frame_med / base_med, 3) if base_med > 0 else None,
        **steady,
        "frame_update_ms_median": round(float(np.median(update_only)) * 1000, 2),
        "frame_painted": {"window": frames_painted[0], "baseline": frames_painted[1], "frames": n_frames},
        "frame_grab_ms_median": round(float(np.median(grab_w)) * 1000, 2),
        "frame_grab_baseline_ms": round(float(np.median(grab_b)) * 1000, 2),
        "frame_grab_ratio": round(float(np.median(grab_w) / np.median(grab_b)), 3),
        "frame_grid": [ROWS, COLUMNS],
        "frame_window_px": [WIDTH, HEIGHT],
        "latency_ms_p50": round(float(np.median(lat)), 1) if len(lat) else None,
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "latency_events_per_s": round(lat_run["rate"]),
        "latency_fps": round(lat_run["fps"], 1),
        "max_frame_gap_ms": round(gap_run["gap"], 1),
        "flood_seconds": 3.0 if quick else 10.0,
        "flood_frames": gap_run["frames"],
        "flood_events_per_s": round(gap_run["rate"]),
        "flood_fps": round(gap_run["fps"], 1),
        "rss_start_mb": round(rss0 / 2**20, 1),
        "rss_end_mb": round(rss1 / 2**20, 1),
        "rss_growth_mb": round((rss1 - rss0) / 2**20, 1),
        "opengl": ("not used: offscreen Qt has no OpenGL context. Tried on Xvfb + Mesa (llvmpipe): "
                   "pyqtgraph's OpenGL viewport made a full frame ~5x slower than raster (79 vs 15 ms), "
                   "so the raster path is kept"),
        "platform": QtWidgets.QApplication.platformName(),
    }


if __name__ == "__main__":  # pragma: no cover - manual run
    import json
    import sys

    print(json.dumps(measure_frames("--quick" in sys.argv), indent=2))
