"""Rules against the current state, for the rules editor and the chart's right-click (no Qt):
what a rule reads now, the cluster under a price, and the rules a right-click makes."""

from __future__ import annotations

import math

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, EXCHANGES
from liqdesk.core.stats import Cluster, band_totals, find_staircases

from . import alert_kinds
from .alert_kinds import Moment, usd
from .alert_rules import Rule, with_changes
from .alerts import LIQUIDATION_MEMORY_MS


def moment_now(engine, band_pct: float = 10.0) -> Moment | None:
    """The engine's state as a checkpoint now (the step's price path: the current prices)."""
    model = engine.model
    if model.watermark is None or not model.bin_width:
        return None
    now = int(model.watermark)
    low = np.full(len(EXCHANGES), np.inf)
    high = np.full(len(EXCHANGES), -np.inf)
    for name in model.settings.exchanges:
        m = model.mark_price(name)
        if not math.isnan(m):
            low[EXCHANGE_ID[name]] = high[EXCHANGE_ID[name]] = m
    liq = engine.liquidations
    liq = liq[liq["time_ms"] > now - LIQUIDATION_MEMORY_MS]
    return Moment(now, model, band_pct, low, high, liq)


def probe(rule: Rule, engine) -> str:
    """One line: what ``rule`` reads on the engine's state now, and whether it would fire."""
    m = moment_now(engine, max(rule.band_pct, rule.within_pct or 0))
    if m is None:
        return "no data yet"
    venues = m.venues_of(rule)
    if not venues:
        return "none of the rule's venues is in this chart"
    v = m.view(venues)
    if v is None:
        return "no price yet"
    state = alert_kinds.RuleState()
    kind = rule.kind
    if kind in ("near_cluster", "liquidation_burst"):
        found = alert_kinds.EVALUATORS[kind](rule, m, state)
        return f"would fire now: {found[1]}" if found else "would not fire now"
    if kind in ("new_cluster", "cluster_swept"):
        big = [c for s in alert_kinds.sides_of(rule) for c in m.clusters(rule, s) if c.notional >= rule.min_usd]
        what = "watching for new ones" if kind == "new_cluster" else "each would alert when price runs through it"
        if not big:
            return f"no cluster of ≥ {usd(rule.min_usd)} within ±{rule.band_pct:g} % now ({what})"
        near = ", ".join(f"{c.side} {usd(c.notional)} at {c.distance_pct:+.2f} %" for c in big[:4])
        return f"{len(big)} cluster{'s' if len(big) > 1 else ''} of ≥ {usd(rule.min_usd)} now: {near} ({what})"
    if kind == "asymmetry":
        t = band_totals(v.levels[0], v.levels[1], v.edges, v.width, v.price, rule.band_pct)
        r = t.ratio
        now = "no levels in the band" if math.isnan(r) else ("longs only" if math.isinf(r) else f"{r:.2f} : 1")
        return f"long : short within ±{rule.band_pct:g} % is {now}; fires when it crosses {rule.ratio:g}"
    if kind == "cascade_risk":
        found = []
        for side in alert_kinds.sides_of(rule):
            cl = [c for c in m.clusters(rule, side, rule.within_pct) if c.notional >= rule.min_usd]
            stairs = find_staircases(cl, rule.max_step_pct, rule.min_clusters)
            if stairs:
                found.append(f"{len(stairs[0])} {side} clusters stacked from {stairs[0][0].distance_pct:+.2f} %")
        return ("a staircase stands now: " + "; ".join(found) + " (fires when one appears)") if found else \
            "no staircase now (fires when one appears)"
    if kind == "price_level":
        return f"price {alert_kinds.price_text(v.price)}, {(rule.price / v.price - 1) * 100:+.2f} % to {alert_kinds.price_text(rule.price)}"
    return "?"


def cluster_at(engine, price: float, band_pct: float = 10.0) -> Cluster | None:
    """The cluster (every venue, default threshold) holding ``price`` or nearest to it within two
    bins, on the side of the price it is on (below: long, above: short)."""
    m = moment_now(engine, band_pct)
    if m is None:
        return None
    probe_rule = Rule(name="probe", kind="near_cluster", band_pct=band_pct)
    v = m.view(m.venues_of(probe_rule))
    if v is None:
        return None
    side = "long" if price < v.price else "short"
    best, gap = None, 2 * v.width
    for c in m.clusters(probe_rule, side):
        d = 0.0 if c.price_low <= price <= c.price_high else min(abs(price - c.price_low), abs(price - c.price_high))
        if d <= gap:
            best, gap = c, d
    return best


def _unique(name: str, taken) -> str:
    taken = set(taken)
    if name not in taken:
        return name
    i = 2
    while f"{name} ({i})" in taken:
        i += 1
    return f"{name} ({i})"


def price_rule(symbol: str, price: float, taken=()) -> Rule:
    """"Alert when price reaches here": a ``price_level`` rule on this market."""
    name = _unique(f"price {alert_kinds.price_text(price)}", taken)
    return Rule(name=name, kind="price_level", symbol=symbol, price=round(float(price), 8), cooldown_s=3600.0,
                given=("symbol", "price", "cooldown_s"))


def cluster_rule(symbol: str, cluster: Cluster, taken=()) -> Rule:
    """"Alert on this cluster": a ``near_cluster`` rule on the cluster's price range (price within
    0.3 % of it while it still holds at least half of its notional now)."""
    name = _unique(f"{cluster.side} cluster {alert_kinds.price_text(cluster.price_low)}", taken)
    base = Rule(name=name, kind="near_cluster", symbol=symbol)
    return with_changes(base, side=cluster.side, min_usd=round(cluster.notional / 2, 2), within_pct=0.3,
                        price_low=cluster.price_low, price_high=cluster.price_high, cooldown_s=600.0)
