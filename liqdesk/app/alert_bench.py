"""``liqdesk bench`` section ``alerts``: what the alert rules add to a frame, beside the same frame
without them, measured in the same run.

A BTC-like market (three exchanges, 12 trades/s each, marks every second, open interest every
5 s, a real liquidation every few seconds) is cut into frames of :data:`FRAME_MS` of market time
(a 1x window at 30 FPS takes about that much per frame) and fed, frame by frame and interleaved,
to two engines with the chart's default settings (4 h window, 0.05 % bins): one watched by the
shipped example rules (one of each kind), one without rules.

- ``alert_latency_ms_median`` / ``_p99``: the ingest of a frame that crosses a checkpoint, with
  the rules: the batch cut at the checkpoint, the model fed, every rule evaluated and the alerts
  fired — what the frame that shows an alert's cause spends before the alert exists.
- ``alert_baseline_ms_median`` / ``_p99``: the same frames ingested by the engine without rules.
- ``alert_eval_ms_median``: the rules' evaluation alone, per checkpoint.
- ``alert_replay_s_per_h`` beside ``alert_replay_baseline_s_per_h``: the whole stream, per hour
  of market, with and without the rules (what ``liqdesk alerts`` costs over a plain replay).
"""

from __future__ import annotations

import time

import numpy as np

from liqdesk.core.events import concat_batches, make_batch, records
from liqdesk.core.synthetic import random_walk_stream

FRAME_MS = 33


def _market(hours: float, seed: int = 5):
    stream = random_walk_stream(hours=hours, trades_per_s=12.0, seed=seed)
    start, end = stream.time_span()
    rng = np.random.default_rng(seed)
    n = int((end - start) / 4_000)
    t = np.sort(rng.integers(start, end, n))
    price = np.interp(t, stream.marks["time_ms"], stream.marks["price"])
    notional = rng.lognormal(9.5, 1.2, n)
    liq = records("liquidations", time_ms=t, exchange=rng.integers(0, 3, n).astype(np.uint8),
                  side=np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8), price=price,
                  size=notional / price, notional=notional)
    return concat_batches([stream, make_batch(liquidations=liq)])


def measure_alerts(quick: bool = False, hours: float | None = None) -> dict:
    from liqdesk.core.levels import ModelSettings

    from .alert_rules import example_rules_path, load_rules
    from .alerts import AlertMonitor
    from .bench import cut
    from .chart_settings import settings_for_window
    from .engine import Engine

    hours = hours or (0.25 if quick else 0.5)
    stream = _market(hours)
    frames = cut(stream, FRAME_MS)
    settings = settings_for_window(ModelSettings(), "4h", 0.05)
    rules = load_rules(example_rules_path())
    watched, plain = Engine(settings), Engine(settings)
    monitor = AlertMonitor(rules, settings.symbol)
    watched.alerts = monitor
    with_rules, without, crossing, evals = [], [], [], []
    for batch in frames:
        before, eval_before = monitor.checkpoints, monitor.eval_s
        t0 = time.perf_counter()
        watched.ingest(batch)
        t1 = time.perf_counter()
        plain.ingest(batch)
        t2 = time.perf_counter()
        with_rules.append(t1 - t0)
        without.append(t2 - t1)
        if monitor.checkpoints > before:
            crossing.append(len(with_rules) - 1)
            evals.append((monitor.eval_s - eval_before) / (monitor.checkpoints - before))
    a, b = np.array(with_rules) * 1000, np.array(without) * 1000
    idx = np.array(crossing, dtype=int)
    return {
        "alert_latency_ms_median": round(float(np.median(a[idx])), 3),
        "alert_latency_ms_p99": round(float(np.percentile(a[idx], 99)), 3),
        "alert_baseline_ms_median": round(float(np.median(b[idx])), 3),
        "alert_baseline_ms_p99": round(float(np.percentile(b[idx], 99)), 3),
        "alert_eval_ms_median": round(float(np.median(evals)) * 1000, 3),
        "alert_checkpoints": int(monitor.checkpoints),
        "alert_fired": int(monitor.fired),
        "alert_replay_s_per_h": round(float(a.sum()) / 1000 / hours, 2),
        "alert_replay_baseline_s_per_h": round(float(b.sum()) / 1000 / hours, 2),
    }
