"""The alert kinds on hand-built situations: each fires exactly at the checkpoint that shows its
cause and never twice within its cooldown.

The level map is hand-built (:class:`HandModel`): levels are set at given market times, and,
as in the real model, the mark price crossing a level removes it. Marks and liquidations go
through the same :class:`AlertMonitor` as the window's, cut at the same checkpoints.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from liqdesk.app.alert_rules import parse_rules
from liqdesk.app.alerts import AlertMonitor
from liqdesk.core.events import EXCHANGES, make_batch, records

W = 10.0   # bin width (quote)


class HandModel:
    """What the monitor reads of a level model, set by hand: ``changes`` is a list of
    ``(time_ms, side, price_low, price_high, notional_per_bin)`` applied once an event at or after
    that time is ingested (``notional_per_bin`` 0 clears those bins)."""

    def __init__(self, changes=(), exchanges=("binance", "bybit")):
        self.settings = SimpleNamespace(exchanges=exchanges, symbol="BTC/USDT:USDT")
        self.bin_width = W
        self.levels = {"long": {}, "short": {}}
        self.changes = sorted(changes, key=lambda c: c[0])
        self.marks = {}
        self.watermark = None

    def ingest(self, batch) -> None:
        span = batch.time_span()
        if span is None:
            return
        self.watermark = span[1]
        while self.changes and self.changes[0][0] <= span[1]:
            _, side, lo, hi, per_bin = self.changes.pop(0)
            for k in range(round(lo / W), round(hi / W)):
                self.levels[side][k] = per_bin
        for row in batch.marks:
            name = EXCHANGES[row["exchange"]]
            self.marks[name] = float(row["price"])
            p = float(row["price"])
            # the mark crossing a level sweeps it (long: falls to it; short: rises to it)
            for k in [k for k in self.levels["long"] if p <= (k + 0.5) * W]:
                del self.levels["long"][k]
            for k in [k for k in self.levels["short"] if p >= (k + 0.5) * W]:
                del self.levels["short"][k]

    def mark_price(self, name):
        return self.marks.get(name, math.nan)

    def level_map(self, exchanges, tiers, origin, rows):
        out = np.zeros((2, rows))
        for i, side in enumerate(("long", "short")):
            for k, v in self.levels[side].items():
                if origin <= k < origin + rows:
                    out[i, k - origin] = v
        return out


def marks(times_ms, prices, exchange="binance"):
    return records("marks", time_ms=np.asarray(times_ms, dtype=np.int64), exchange=exchange,
                   price=np.asarray(prices, dtype=float))


def liqs(rows):
    """[(time_ms, exchange, side +1/-1, price, notional)]"""
    t, e, s, p, n = zip(*rows)
    return records("liquidations", time_ms=np.array(t, dtype=np.int64),
                   exchange=np.array([EXCHANGES.index(x) for x in e], dtype=np.uint8), side=np.array(s, dtype=np.int8),
                   price=np.array(p), size=np.array(n) / np.array(p), notional=np.array(n))


def run(rules_text, model, mark_times, mark_prices, liquidations=None, pieces_ms=(None,)):
    """Feed the marks (and liquidations) to a monitor over ``model``, cut into batches at
    ``pieces_ms`` boundaries (None: one batch); the alerts fired."""
    monitor = AlertMonitor(parse_rules(rules_text), "BTC/USDT:USDT")
    m = marks(mark_times, mark_prices)
    lq = liqs(liquidations) if liquidations else None
    bounds = [b for b in pieces_ms if b is not None]
    edges = [None] + bounds + [None]
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (m["time_ms"] >= (a if a is not None else -1)) & (m["time_ms"] < (b if b is not None else 2**62))
        kw = {"marks": m[sel]}
        if lq is not None:
            lsel = (lq["time_ms"] >= (a if a is not None else -1)) & (lq["time_ms"] < (b if b is not None else 2**62))
            kw["liquidations"] = lq[lsel]
        monitor.ingest(model, make_batch(**kw))
    return monitor.alerts


def times(alerts):
    return [a.time_ms for a in alerts]


# ---------------------------------------------------------------------------------- near cluster
NEAR = """
[[rule]]
name = "near"
kind = "near_cluster"
side = "long"
min_usd = 4_000_000
within_pct = 0.5
cooldown_s = 30
"""


def test_near_cluster_fires_when_price_comes_within_reach_and_again_only_after_its_cooldown():
    # a $5M long cluster at 9,900-9,950; price falls 1 a second from 10,100 to 9,960 and stays
    model = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 200_000, 500)
    price = np.maximum(10_100 - t / 1000, 9_960)
    alerts = run(NEAR, model, t, price)
    # within 0.5 %: 9,950 / p >= 0.995, first true for the mark at p = 9,999.5 (t = 100.5 s);
    # the step ending at 101 s holds it
    first = 101_000
    assert times(alerts) == [first, first + 30_000, first + 60_000, first + 90_000]
    assert alerts[0].side == "long" and "$5.00M" in alerts[0].detail and alerts[0].rule == "near"


def test_near_cluster_ignores_a_cluster_under_its_size_and_the_other_side():
    model = HandModel([(0, "long", 9_900, 9_950, 700_000),      # $3.5M < 4M
                       (0, "short", 10_000, 10_050, 2_000_000)])  # big, but short
    t = np.arange(0, 120_000, 500)
    assert run(NEAR, model, t, np.full(len(t), 9_970.0)) == []


def test_the_same_alerts_whatever_the_batching():
    model_a = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    model_b = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 200_000, 500)
    price = np.maximum(10_100 - t / 1000, 9_960)
    one = run(NEAR, model_a, t, price)
    many = run(NEAR, model_b, t, price, pieces_ms=list(range(333, 200_000, 777)))
    assert one == many and len(one) == 4


# ---------------------------------------------------------------------------------- new cluster
NEW = """
[[rule]]
name = "new"
kind = "new_cluster"
min_usd = 2_000_000
within_s = 5
grow_pct = 80
cooldown_s = 10
"""


def test_new_cluster_fires_when_one_appears_and_when_it_grows_but_not_within_the_cooldown():
    model = HandModel([(0, "short", 10_300, 10_320, 400_000),          # $0.8M: under the size
                       (20_200, "short", 10_200, 10_250, 500_000),     # appears: $2.5M
                       (24_000, "short", 10_200, 10_250, 600_000),     # grows 20 %: not enough
                       (40_200, "short", 10_200, 10_250, 1_200_000)])  # grows 100 %
    t = np.arange(0, 60_000, 250)
    alerts = run(NEW, model, t, np.full(len(t), 10_000.0))
    assert times(alerts) == [21_000, 41_000]
    assert "appeared" in alerts[0].detail and "$2.50M" in alerts[0].detail
    assert "grew +100%" in alerts[1].detail


# ---------------------------------------------------------------------------------- swept
SWEPT = """
[[rule]]
name = "swept"
kind = "cluster_swept"
min_usd = 3_000_000
feed_window_s = 60
cooldown_s = 30
"""


def test_cluster_swept_fires_when_price_reaches_the_far_edge_and_says_what_the_feed_saw():
    # a $5M long cluster 9,900-9,950; price falls into it (sweeping it bin by bin), then through
    model = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 120_000, 500)
    price = np.maximum(10_000 - t / 500, 9_850)       # 2 a second: 9,950 at 25 s, 9,900 at 50 s
    feed = [(30_000, "binance", 1, 9_940.0, 600_000), (45_000, "bybit", 1, 9_910.0, 400_000),
            (46_000, "binance", -1, 9_910.0, 900_000)]   # a short: not this cluster's side
    alerts = run(SWEPT, model, t, price, feed)
    assert times(alerts) == [51_000]                   # the mark at 9,900 is at t = 50 s
    a = alerts[0]
    assert a.side == "long" and "$5.00M" in a.detail and "$1.00M liquidated" in a.detail and "(20%" in a.detail


def test_a_cluster_price_only_enters_is_not_swept():
    model = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 120_000, 500)
    price = np.where(t < 60_000, np.maximum(10_000 - t / 500, 9_920), 9_990.0)
    assert run(SWEPT, model, t, price) == []


# ---------------------------------------------------------------------------------- burst
BURST = """
[[rule]]
name = "burst"
kind = "liquidation_burst"
side = "long"
min_usd = 1_000_000
within_s = 10
cooldown_s = 60

[[rule]]
name = "bybit shorts"
kind = "liquidation_burst"
side = "short"
venues = ["bybit"]
min_usd = 500_000
within_s = 10
cooldown_s = 60
"""


def test_liquidation_burst_sums_a_window_per_side_and_venue():
    model = HandModel()
    t = np.arange(0, 100_000, 500)
    feed = [(10_200, "binance", 1, 9_990.0, 400_000),
            (12_500, "bybit", 1, 9_980.0, 700_000),     # 1.1M of longs within 10 s: fires at 13 s
            (30_000, "binance", 1, 9_970.0, 1_500_000),  # within the 60 s cooldown: no alert
            (50_000, "binance", -1, 9_970.0, 900_000),   # shorts, but binance: not the bybit rule
            (95_000, "bybit", -1, 10_010.0, 600_000)]    # bybit shorts: fires at 96 s
    alerts = run(BURST, model, t, np.full(len(t), 10_000.0), feed)
    assert [(a.rule, a.time_ms) for a in alerts] == [("burst", 13_000), ("bybit shorts", 96_000)]
    assert "$1.10M" in alerts[0].detail and alerts[1].side == "short"


def test_a_burst_spread_wider_than_the_window_does_not_fire():
    feed = [(10_000, "binance", 1, 9_990.0, 600_000), (21_000, "binance", 1, 9_990.0, 600_000)]
    t = np.arange(0, 40_000, 500)
    assert run(BURST, HandModel(), t, np.full(len(t), 10_000.0), feed) == []


# ---------------------------------------------------------------------------------- asymmetry
ASYM = """
[[rule]]
name = "heavy longs"
kind = "asymmetry"
band_pct = 3
ratio = 3
direction = "up"
cooldown_s = 5

[[rule]]
name = "back down"
kind = "asymmetry"
band_pct = 3
ratio = 3
direction = "down"
cooldown_s = 5
"""


def test_asymmetry_fires_on_the_crossing_only():
    model = HandModel([(0, "long", 9_800, 9_900, 300_000),       # $3M below
                       (0, "short", 10_100, 10_200, 200_000),    # $2M above: 1.5 : 1
                       (10_300, "long", 9_700, 9_750, 900_000),  # +4.5M below: 7.5 / 2 = 3.75
                       (30_300, "long", 9_700, 9_750, 0)])        # back to 1.5
    t = np.arange(0, 60_000, 500)
    alerts = run(ASYM, model, t, np.full(len(t), 10_000.0))
    assert [(a.rule, a.time_ms) for a in alerts] == [("heavy longs", 11_000), ("back down", 31_000)]
    assert "3.75 : 1" in alerts[0].detail


# ---------------------------------------------------------------------------------- cascade
CASCADE = """
[[rule]]
name = "stairs"
kind = "cascade_risk"
side = "long"
min_clusters = 3
within_pct = 3
max_step_pct = 0.5
min_usd = 1_000_000
bin_usd = 100_000
cooldown_s = 5
"""


def test_cascade_risk_fires_when_a_staircase_appears():
    model = HandModel([(0, "long", 9_900, 9_950, 300_000),     # $1.5M at -0.5 %
                       (0, "long", 9_800, 9_850, 300_000),     # $1.5M at -1.5 %
                       (15_100, "long", 9_700, 9_760, 300_000),  # third step: a staircase
                       (15_100, "long", 9_500, 9_520, 300_000)])  # $0.6M, too far and too small
    t = np.arange(0, 40_000, 500)
    alerts = run(CASCADE, model, t, np.full(len(t), 10_000.0))
    assert times(alerts) == [16_000]
    assert alerts[0].detail.startswith("3 long clusters stacked")


def test_no_staircase_with_a_gap_wider_than_the_step():
    model = HandModel([(0, "long", 9_900, 9_950, 300_000), (0, "long", 9_800, 9_850, 300_000),
                       (5_100, "long", 9_600, 9_650, 300_000)])   # 1.5 % beyond the last: too far
    t = np.arange(0, 20_000, 500)
    assert run(CASCADE, model, t, np.full(len(t), 10_000.0)) == []


# ---------------------------------------------------------------------------------- price level
def test_price_level_fires_when_the_path_reaches_it():
    rules = """
[[rule]]
name = "10k"
kind = "price_level"
price = 10_050
direction = "up"
cooldown_s = 10
"""
    t = np.arange(0, 60_000, 500)
    price = 10_000 + 100 * np.sin(t / 8_000)          # up through 10,050 at 4.19 s, back, again later
    alerts = run(rules, HandModel(), t, price)
    crossings = t[1:][(price[1:] >= 10_050) & (price[:-1] < 10_050)]
    assert times(alerts) == [int(c // 1000 + 1) * 1000 for c in crossings] and len(alerts) >= 2


# ---------------------------------------------------------------------------------- switches
def test_a_disabled_rule_or_one_for_another_symbol_never_fires():
    text = NEAR.replace('cooldown_s = 30', 'cooldown_s = 30\nenabled = false') + NEAR.replace(
        '"near"', '"eth"').replace('cooldown_s = 30', 'cooldown_s = 30\nsymbol = "ETHUSDT"')
    model = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 30_000, 500)
    assert run(text, model, t, np.full(len(t), 9_960.0)) == []


@pytest.mark.parametrize("symbol", ["all", "BTCUSDT", "BTC/USDT:USDT", "btc-usdt-swap"])
def test_symbol_spellings(symbol):
    text = NEAR + f'symbol = "{symbol}"\n'
    model = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 5_000, 500)
    assert times(run(text, model, t, np.full(len(t), 9_960.0))) == [1_000]


# ---------------------------------------------------------------------------------- bench
def test_the_bench_reports_alert_latency_beside_the_frame_without_rules():
    from liqdesk.app.alert_bench import measure_alerts

    out = measure_alerts(hours=0.02)      # 72 s of market: 72 checkpoints
    assert out["alert_checkpoints"] >= 70
    for key in ("alert_latency_ms_median", "alert_baseline_ms_median", "alert_eval_ms_median",
                "alert_replay_s_per_h", "alert_replay_baseline_s_per_h"):
        assert out[key] > 0, key


# ---------------------------------------------------------------------------------- robustness
def test_a_failing_listener_is_said_and_the_ingest_goes_on():
    monitor = AlertMonitor(parse_rules(NEAR), "BTC/USDT:USDT")
    said = []
    monitor.on_error = said.append

    def broken(alert):
        raise RuntimeError("no notification service")
    monitor.listeners.append(broken)
    model = HandModel([(0, "long", 9_900, 9_950, 1_000_000)])
    t = np.arange(0, 65_000, 500)
    monitor.ingest(model, make_batch(marks=marks(t, np.full(len(t), 9_960.0))))
    assert times(monitor.alerts) == [1_000, 31_000, 61_000] and model.watermark == 64_500
    assert said[0] == "alert 'near': could not deliver it (no notification service)"


def test_a_malformed_batch_across_a_checkpoint_changes_nothing():
    from liqdesk.app.engine import Engine
    from liqdesk.core.events import EventBatch
    from liqdesk.core.levels import ModelSettings

    engine = Engine(ModelSettings(exchanges=("binance",), bin_width=10.0))
    engine.alerts = AlertMonitor(parse_rules(NEAR), "BTC/USDT:USDT")
    t = np.arange(0, 3_000, 100)
    engine.ingest(make_batch(marks=marks(t, np.full(len(t), 10_000.0)),
                             trades=records("trades", time_ms=t, exchange="binance", side=np.ones(len(t), np.int8),
                                            price=np.full(len(t), 10_000.0), size=np.ones(len(t)))))
    before = (engine.model.watermark, dict(engine.model.counts), engine.alerts.next_checkpoint)
    bad = marks([3_100, 4_500, 5_200], [10_001.0, float("nan"), 10_002.0])
    with pytest.raises(ValueError, match="marks.price: 1 row"):
        engine.ingest(EventBatch(marks=bad))
    assert (engine.model.watermark, dict(engine.model.counts), engine.alerts.next_checkpoint) == before
