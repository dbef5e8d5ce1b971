"""``liqdesk bench --only live``: the live path over real loopback websockets, beside the
in-process simulator source, in the same run.

The emulator runs in its own process (``liqdesk emulate``, Binance + Bybit + OKX, simulator
driven) and logs, per tick, the wall time and the newest event time it sent. The window (offscreen,
1920×1080) runs a live session on it with the real frame timer. Figures:

- ``live_msgs_per_s``: websocket messages the emulator sent per second, sustained, at the flood
  speed; ``live_events_per_s``: events the window ingested per second;
- ``live_latency_ms_p99``: from the emulator sending a message to the first frame painted with
  its event in the model (a frame's newest event time looked up in the emulator's log);
- ``live_max_frame_gap_ms``: the longest time between painted frames during the flood;
- ``live_cpu_share``: CPU time of the window's process per wall second at a realistic BTC rate
  (about 300 messages/s over the three exchanges);
- ``live_rss_growth_mb``: resident memory growth at that rate over ``realistic_s`` (30 minutes in
  a full run), next to ``live_journal_mb``, what the session journal holds by design.

The same figures for the in-process simulator source at the same market speed (same simulator,
so the same event rate) come as ``sim_*``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

VENUES = ("binance", "bybit", "okx")


def _emulator(speed: float, send_log: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "liqdesk", "emulate", "--exchanges", ",".join(VENUES), "--speed", str(speed),
           "--history", "10m", "--send-log", send_log]
    # the emulator stands in for the exchanges, which do not share the trader's CPU: it runs at a
    # lower priority, so what is measured is liqdesk's own path (it still takes what is left)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            preexec_fn=(lambda: os.nice(10)) if hasattr(os, "nice") else None)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the emulator did not start: {line or 'no output'}")
    return proc, line.split("listening on ", 1)[1]


def _send_log(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                d = json.loads(line)
                rows.append((d["newest"], d["wall"], d["sent"]))
            except (ValueError, KeyError):
                continue
    arr = np.array(rows, dtype=float) if rows else np.empty((0, 3))
    return arr[:, 0], arr[:, 1], arr[:, 2]


def _run(app, clock, window, session, seconds: float) -> dict:
    """Run the Qt loop for ``seconds``; per first paint of a frame: (wall ms, newest event ms)."""
    from PySide6 import QtCore

    frames: list[tuple[float, float, int | None]] = []
    seen_tick = {"id": -1}

    def on_paint(_t: float) -> None:
        if clock.tick_id != seen_tick["id"]:
            seen_tick["id"] = clock.tick_id
            frames.append((time.perf_counter(), time.time() * 1000, session.engine.now_ms))

    conn = window.heatmap.gview.painted.connect(on_paint)
    events0 = session.engine.stats.events
    cpu0, t0 = time.process_time(), time.perf_counter()
    lat_sim: list[float] = []
    stall, last = 0.0, t0          # the longest the UI thread was away from its event loop (s)
    while time.perf_counter() - t0 < seconds:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        now = time.perf_counter()
        stall, last = max(stall, now - last), now
        lat_sim.extend(session.latencies_ms)
        session.latencies_ms.clear()
        time.sleep(0.0005)
    elapsed = time.perf_counter() - t0
    window.heatmap.gview.painted.disconnect(conn)
    perf = np.array([f[0] for f in frames])
    gaps = np.diff(perf) * 1000 if len(perf) > 1 else np.array([float("inf")])
    return {"frames": frames, "gap": float(gaps.max()), "cpu": (time.process_time() - cpu0) / elapsed,
            "events_per_s": (session.engine.stats.events - events0) / elapsed, "elapsed": elapsed,
            "lat_created": lat_sim, "ui_stall_ms": stall * 1000}


def _latency_from_log(frames, newest, wall) -> np.ndarray:
    """Per frame showing new events: frame wall time minus the emulator's send time of its newest."""
    out, last = [], None
    order = np.argsort(newest, kind="stable")
    newest, wall = newest[order], wall[order]
    for _, frame_wall, now_ms in frames:
        if now_ms is None or now_ms == last or not len(newest):
            continue
        last = now_ms
        i = int(np.searchsorted(newest, now_ms, "left"))
        if i < len(newest):
            out.append(frame_wall - wall[i])
    return np.asarray(out, dtype=float)


def measure_live(quick: bool, realistic_s: float | None = None) -> dict:
    from .app import ensure_platform

    ensure_platform(headless=True)
    import psutil
    from PySide6 import QtCore

    from liqdesk.main import live_session, sim_session

    from .app import application
    from .chart_window import ChartWindow, FrameClock, LayoutStore

    app = application()
    tmp = tempfile.mkdtemp(prefix="liqdesk-bench-live-")
    store = LayoutStore(os.path.join(tmp, "layouts.json"))
    proc_self = psutil.Process()
    # real: about 300 messages/s over the three exchanges, a busy BTC hour
    flood_speed, real_speed = 400.0, 15.0
    flood_s = 8.0 if quick else 20.0
    if realistic_s is None:
        realistic_s = 30.0 if quick else 1800.0
    out: dict = {}

    def window_for(session):
        clock = FrameClock()
        win = ChartWindow(session, clock, store, restore=False)
        win.resize(1920, 1080)
        win.show()
        app.processEvents()
        session.start()
        clock.start()
        return clock, win

    def close(clock, win, session):
        clock.stop()
        win.close()
        session.stop()
        app.processEvents()

    # ---------------- live: flood, then a realistic rate
    for phase, speed, seconds in (("flood", flood_speed, flood_s), ("real", real_speed, realistic_s)):
        log = os.path.join(tmp, f"send-{phase}.jsonl")
        emu, url = _emulator(speed, log)
        try:
            session = live_session(VENUES, "BTC/USDT:USDT", url, backfill_ms=0)
            clock, win = window_for(session)
            _run(app, clock, win, session, 3.0)             # connect and settle
            rss0 = proc_self.memory_info().rss
            run = _run(app, clock, win, session, seconds)
            rss1 = proc_self.memory_info().rss
            journal_mb = session.journal.memory_bytes / 2**20 if session.journal else 0.0
            states = {s.exchange: s.state.value for s in session.source.statuses()}
            close(clock, win, session)
        finally:
            emu.terminate()
            emu.wait(10)
        newest, wall, sent = _send_log(log)
        if phase == "flood":
            lat = _latency_from_log(run["frames"], newest, wall)
            span = (wall[-1] - wall[0]) / 1000 if len(wall) > 1 else float("nan")
            out.update({
                "live_msgs_per_s": round(float((sent[-1] - sent[0]) / span), 0) if len(sent) > 1 else None,
                "live_events_per_s": round(run["events_per_s"]),
                "live_latency_ms_p50": round(float(np.median(lat)), 1) if len(lat) else None,
                "live_latency_ms_p99": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
                "live_max_frame_gap_ms": round(run["gap"], 1),
                "live_max_ui_stall_ms": round(run["ui_stall_ms"], 1),
                "live_flood_speed": flood_speed,
                "live_states": states,
            })
        else:
            span = (wall[-1] - wall[0]) / 1000 if len(wall) > 1 else float("nan")
            out.update({
                "live_real_msgs_per_s": round(float((sent[-1] - sent[0]) / span), 0) if len(sent) > 1 else None,
                "live_cpu_share": round(run["cpu"], 3),
                "live_rss_growth_mb": round((rss1 - rss0) / 2**20, 1),
                "live_journal_mb": round(journal_mb, 1),
                "live_realistic_s": seconds,
            })

    # ---------------- the in-process simulator source at the same market speeds
    for phase, speed, seconds in (("flood", flood_speed, flood_s), ("real", real_speed, realistic_s)):
        session = sim_session(history_ms=10 * 60_000, speed=speed)
        clock, win = window_for(session)
        deadline = time.perf_counter() + 60
        while session.history is not None and time.perf_counter() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        _run(app, clock, win, session, 3.0)
        rss0 = proc_self.memory_info().rss
        run = _run(app, clock, win, session, seconds)
        rss1 = proc_self.memory_info().rss
        journal_mb = session.journal.memory_bytes / 2**20 if session.journal else 0.0
        close(clock, win, session)
        lat = np.asarray(run["lat_created"], dtype=float)
        if phase == "flood":
            out.update({
                "sim_events_per_s": round(run["events_per_s"]),
                "sim_latency_ms_p99": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
                "sim_max_frame_gap_ms": round(run["gap"], 1),
                "sim_max_ui_stall_ms": round(run["ui_stall_ms"], 1),
            })
        else:
            out.update({
                "sim_cpu_share": round(run["cpu"], 3),
                "sim_rss_growth_mb": round((rss1 - rss0) / 2**20, 1),
                "sim_journal_mb": round(journal_mb, 1),
            })
    return out
