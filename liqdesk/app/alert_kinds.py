"""What each alert kind means, evaluated at one checkpoint of market time (no Qt, numpy).

**A cluster** (the one definition every kind uses, :meth:`Moment.clusters`): a maximal run of
adjacent price bins on one side of the price — long levels below it, short levels above it —
within ±``band_pct`` % of the price, each bin holding at least ``bin_usd`` of estimated
liquidation notional (default: the 90th percentile of the non-empty bins of both sides in that
band, the threshold the Stats panel uses, so an alert names the clusters the panel shows). Its
notional is the run's total; "a cluster of ≥ $N" is one whose total is ≥ ``min_usd``. The level
map read is the model's live one, summed over the rule's venues and every leverage tier; the
price is the mean mark price over the rule's venues (the price that triggers liquidations).

The kinds, at a checkpoint ``t`` (see :mod:`liqdesk.app.alerts` for when checkpoints fall):

- ``near_cluster``: a cluster of ≥ ``min_usd`` on ``side`` whose nearest edge is within
  ``within_pct`` % of the price (or ``within_price`` in quote currency). Optionally only
  clusters overlapping ``price_low``…``price_high`` ("alert on this cluster").
- ``new_cluster``: a cluster of ≥ ``min_usd`` whose bins held less than ``min_usd`` in the level
  map of ``within_s`` seconds earlier (it *appeared*), or — with ``grow_pct`` — held at most
  ``1 / (1 + grow_pct/100)`` of what they hold now (it *grew* by ≥ ``grow_pct`` %). Needs
  ``within_s`` of history first; a cluster whose bins were outside the earlier map is skipped.
- ``cluster_swept``: price ran through a cluster of ≥ ``min_usd``: a long cluster's lowest edge
  (a short cluster's highest edge) was reached by the price path of the step (lowest and highest
  mark of the rule's venues). The rule remembers each qualifying cluster (its widest range and
  largest notional, as it stood before price entered it) for :data:`ARMED_MEMORY_MS` after it
  last qualified, so a sweep that takes several steps is seen whole. The alert says how much of it
  the public feeds reported liquidated: real liquidations of that side priced within the cluster
  in the last ``feed_window_s`` seconds.
- ``liquidation_burst``: ≥ ``min_usd`` of real (reported) liquidations of ``side`` (``both``:
  the two sides summed) on the rule's venues with times in ``(t − within_s, t]``.
- ``asymmetry``: the ratio long levels below : short levels above, within ±``band_pct`` % of the
  price, crosses ``ratio`` between the previous checkpoint and this one (``up``: from under it to
  at or over it; ``down``: the reverse; ``both``). No levels on either side: no ratio, no cross.
- ``cascade_risk``: a staircase appears on ``side``: ≥ ``min_clusters`` clusters of ≥ ``min_usd``
  each within ``within_pct`` % of the price, each starting within ``max_step_pct`` % of where the
  previous one ended (:func:`liqdesk.core.stats.find_staircases`), where there was none at the
  previous checkpoint.
- ``price_level``: the price path of the step reached ``price`` from the side the price was on at
  the previous checkpoint (``direction`` up, down or both).

Level-triggered kinds (near cluster, new cluster, burst) fire whenever their condition holds and
the cooldown has passed; the others fire on the change. Every kind then waits its cooldown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from liqdesk.core.events import EXCHANGE_ID
from liqdesk.core.stats import Cluster, band_totals, cluster_threshold, find_clusters, find_staircases

from .alert_rules import Rule

#: How long ``cluster_swept`` remembers a cluster after it last qualified (ms of market time).
ARMED_MEMORY_MS = 300_000
#: Widest band of price (%) a level map is read over, whatever the rules ask.
MAX_BAND_PCT = 50.0


def usd(x: float) -> str:
    """$1.2M, $350k, $900."""
    a = abs(x)
    if a >= 1e9:
        return f"${x / 1e9:.2f}B"
    if a >= 1e6:
        return f"${x / 1e6:.2f}M"
    if a >= 1e3:
        return f"${x / 1e3:.0f}k"
    return f"${x:.0f}"


def price_text(p: float) -> str:
    return f"{p:,.2f}" if p < 100_000 else f"{p:,.0f}"


@dataclass
class VenueView:
    """The market for one set of venues at one checkpoint: price, path and live level map."""

    price: float
    low: float                 # lowest price of the step's path (NaN: no price in the step)
    high: float
    origin: int                # absolute bin of ``levels[:, 0]``
    levels: np.ndarray         # [2 (long, short), rows] notional, quote currency
    width: float               # bin width, quote currency

    _edges: np.ndarray | None = None

    @property
    def edges(self) -> np.ndarray:
        """Lower edge of each bin (quote), computed once."""
        if self._edges is None:
            self._edges = (self.origin + np.arange(self.levels.shape[1])) * self.width
        return self._edges


@dataclass
class Moment:
    """What the rules read at one checkpoint ``time_ms``: per venue set its :class:`VenueView`
    (computed once and shared by the rules), and the recent real liquidations."""

    time_ms: int
    model: object
    band_pct: float
    path_low: np.ndarray       # [exchange id] lowest reference price in the step (inf: none)
    path_high: np.ndarray
    liquidations: np.ndarray   # LIQUIDATION_DTYPE, the last few minutes
    _views: dict = field(default_factory=dict)
    _clusters: dict = field(default_factory=dict)
    _thresholds: dict = field(default_factory=dict)

    def venues_of(self, rule: Rule) -> tuple[str, ...]:
        have = self.model.settings.exchanges
        return tuple(have) if rule.venues is None else tuple(v for v in have if v in rule.venues)

    def view(self, venues: tuple[str, ...]) -> VenueView | None:
        """The venues' view, or None when they have no price yet."""
        if venues in self._views:
            return self._views[venues]
        model = self.model
        marks = [model.mark_price(v) for v in venues]
        marks = [m for m in marks if not math.isnan(m)]
        out = None
        if marks and model.bin_width:
            price = float(sum(marks) / len(marks))
            w = model.bin_width
            ids = [EXCHANGE_ID[v] for v in venues]
            low, high = float(self.path_low[ids].min()), float(self.path_high[ids].max())
            origin = math.floor(price * (1 - self.band_pct / 100) / w)
            rows = math.ceil(price * (2 * self.band_pct / 100) / w) + 2
            levels = model.level_map(list(venues), None, origin, rows)
            out = VenueView(price, low if math.isfinite(low) else math.nan,
                            high if math.isfinite(high) else math.nan, origin, levels, w)
        self._views[venues] = out
        return out

    def _threshold(self, venues: tuple, v: VenueView, band: float) -> float:
        """The default per-bin floor: 90th percentile of the non-empty bins of both sides."""
        key = (venues, band)
        if key not in self._thresholds:
            c = v.edges + v.width / 2
            near = np.abs(c / v.price - 1) <= band / 100
            self._thresholds[key] = cluster_threshold(np.concatenate([v.levels[0][near & (c < v.price)],
                                                                      v.levels[1][near & (c > v.price)]]))
        return self._thresholds[key]

    def clusters(self, rule: Rule, side: str, band_pct: float | None = None) -> list[Cluster]:
        """The clusters (module docstring) on ``side`` for ``rule``'s venues, nearest first."""
        venues = self.venues_of(rule)
        band = rule.band_pct if band_pct is None else band_pct
        key = (venues, side, band, rule.bin_usd)
        if key in self._clusters:
            return self._clusters[key]
        v = self.view(venues)
        out: list[Cluster] = []
        if v is not None:
            edges = v.edges
            threshold = rule.bin_usd
            if threshold is None:
                threshold = self._threshold(venues, v, band)
            values = v.levels[0] if side == "long" else v.levels[1]
            out = find_clusters(values, edges, v.width, v.price, side, threshold, band)
        self._clusters[key] = out
        return out


def venue_mask(exchange_ids: np.ndarray, venues: tuple[str, ...]) -> np.ndarray:
    """Which rows of ``exchange_ids`` belong to ``venues`` (a lookup, cheaper than np.isin)."""
    table = np.zeros(256, bool)
    table[[EXCHANGE_ID[v] for v in venues]] = True
    return table[exchange_ids]


def sides_of(rule: Rule) -> tuple[str, ...]:
    return ("long", "short") if rule.side == "both" else (rule.side,)


def overlaps(c: Cluster, lo: float | None, hi: float | None) -> bool:
    return (lo is None or c.price_high > lo) and (hi is None or c.price_low < hi)


@dataclass
class RuleState:
    """What one rule remembers between checkpoints."""

    last_fired_ms: int | None = None
    primed: bool = False
    prev_ratio: float = math.nan
    prev_stairs: dict = field(default_factory=dict)      # side -> bool
    prev_price: float = math.nan
    armed: list = field(default_factory=list)            # [[side, lo, hi, notional, last_seen_ms]]


# ---------------------------------------------------------------------------------- kinds
# Each returns None or (side, detail) for the alert at this checkpoint, and updates ``state``.

def near_cluster(rule: Rule, m: Moment, state: RuleState):
    v = m.view(m.venues_of(rule))
    if v is None:
        return None
    best = None
    for side in sides_of(rule):
        for c in m.clusters(rule, side):
            if c.notional < rule.min_usd or not overlaps(c, rule.price_low, rule.price_high):
                continue
            gap = abs(c.distance_pct) * v.price / 100
            close = gap <= rule.within_price if rule.within_price is not None else abs(c.distance_pct) <= rule.within_pct
            if close and (best is None or abs(c.distance_pct) < abs(best.distance_pct)):
                best = c
    if best is None:
        return None
    return best.side, (f"{best.side} cluster {usd(best.notional)} at {price_text(best.price_low)}–"
                       f"{price_text(best.price_high)}, {best.distance_pct:+.2f} % from price")


def _map_sum(view: VenueView, side: str, lo_bin: int, hi_bin: int) -> float | None:
    """Notional of absolute bins [lo_bin, hi_bin) on ``side`` in ``view``; None if outside it."""
    a, b = lo_bin - view.origin, hi_bin - view.origin
    if a < 0 or b > view.levels.shape[1]:
        return None
    return float(view.levels[0 if side == "long" else 1, a:b].sum())


def new_cluster(rule: Rule, m: Moment, state: RuleState, history) -> object:
    v = m.view(m.venues_of(rule))
    if v is None:
        return None
    then = history.at(m.venues_of(rule), m.time_ms - int(rule.within_s * 1000))
    if then is None:
        return None
    best, best_then = None, 0.0
    for side in sides_of(rule):
        for c in m.clusters(rule, side):
            if c.notional < rule.min_usd:
                continue
            lo_bin, hi_bin = round(c.price_low / v.width), round(c.price_high / v.width)
            before = _map_sum(then, side, lo_bin, hi_bin)
            if before is None:
                continue
            grew = rule.grow_pct is not None and before <= c.notional / (1 + rule.grow_pct / 100)
            if (before < rule.min_usd or grew) and (best is None or c.notional > best.notional):
                best, best_then = c, before
    if best is None:
        return None
    what = "appeared" if best_then < rule.min_usd else f"grew {best.notional / max(best_then, 1e-9) - 1:+.0%}"
    return best.side, (f"{best.side} cluster {usd(best.notional)} {what} in {rule.within_s:g} s at "
                       f"{price_text(best.price_low)}–{price_text(best.price_high)} "
                       f"({best.distance_pct:+.2f} % from price; was {usd(best_then)})")


def cluster_swept(rule: Rule, m: Moment, state: RuleState):
    venues = m.venues_of(rule)
    v = m.view(venues)
    if v is None:
        return None
    hit = []
    keep = []
    for a in state.armed:
        side, lo, hi = a[0], a[1], a[2]
        reached = (side == "long" and v.low <= lo) or (side == "short" and v.high >= hi)
        if reached and state.primed:
            hit.append(a)
        elif not reached and m.time_ms - a[4] <= ARMED_MEMORY_MS:
            keep.append(a)
    state.armed = keep
    for side in sides_of(rule):
        for c in m.clusters(rule, side):
            if c.notional < rule.min_usd or not overlaps(c, rule.price_low, rule.price_high):
                continue
            for a in state.armed:
                if a[0] == side and c.price_high > a[1] and c.price_low < a[2]:
                    a[1], a[2] = min(a[1], c.price_low), max(a[2], c.price_high)
                    a[3], a[4] = max(a[3], c.notional), m.time_ms
                    break
            else:
                state.armed.append([side, c.price_low, c.price_high, c.notional, m.time_ms])
    if not hit:
        return None
    side, lo, hi, notional, _ = max(hit, key=lambda a: a[3])
    liq = m.liquidations
    sel = ((liq["time_ms"] > m.time_ms - rule.feed_window_s * 1000) & (liq["side"] == (1 if side == "long" else -1))
           & (liq["price"] >= lo) & (liq["price"] <= hi) & venue_mask(liq["exchange"], venues))
    seen = float(liq["notional"][sel].sum())
    more = f" (and {len(hit) - 1} more)" if len(hit) > 1 else ""
    return side, (f"{side} cluster {usd(notional)} at {price_text(lo)}–{price_text(hi)} swept{more}; the feed "
                  f"reported {usd(seen)} liquidated there in {rule.feed_window_s:g} s "
                  f"({seen / notional:.0%} of the estimate)")


def liquidation_burst(rule: Rule, m: Moment, state: RuleState):
    liq = m.liquidations
    recent = liq[(liq["time_ms"] > m.time_ms - rule.within_s * 1000) & (liq["time_ms"] <= m.time_ms)
                 & venue_mask(liq["exchange"], m.venues_of(rule))]
    longs = float(recent["notional"][recent["side"] == 1].sum())
    shorts = float(recent["notional"][recent["side"] == -1].sum())
    total = {"long": longs, "short": shorts, "both": longs + shorts}[rule.side]
    if total < rule.min_usd or total <= 0:
        return None
    side = rule.side if rule.side != "both" else ("long" if longs >= shorts else "short")
    return side, (f"{usd(total)} of real liquidations in {rule.within_s:g} s (longs {usd(longs)}, "
                  f"shorts {usd(shorts)}; {len(recent)} events)")


def asymmetry(rule: Rule, m: Moment, state: RuleState):
    v = m.view(m.venues_of(rule))
    if v is None:
        return None
    t = band_totals(v.levels[0], v.levels[1], v.edges, v.width, v.price, rule.band_pct)
    ratio, prev = t.ratio, state.prev_ratio
    state.prev_ratio = ratio
    if math.isnan(ratio) or math.isnan(prev):
        return None
    r = rule.ratio
    up = prev < r <= ratio
    down = prev >= r > ratio
    if not ((up and rule.direction in ("up", "both")) or (down and rule.direction in ("down", "both"))):
        return None
    shown = "longs only" if math.isinf(ratio) else f"{ratio:.2f} : 1"
    return ("long" if up else "short"), (f"long : short within ±{rule.band_pct:g} % crossed {r:g} "
                                         f"{'upward' if up else 'downward'}: now {shown} "
                                         f"(long {usd(t.long_below)}, short {usd(t.short_above)})")


def cascade_risk(rule: Rule, m: Moment, state: RuleState):
    if m.view(m.venues_of(rule)) is None:
        return None
    found = None
    for side in sides_of(rule):
        clusters = [c for c in m.clusters(rule, side, rule.within_pct) if c.notional >= rule.min_usd]
        stairs = find_staircases(clusters, rule.max_step_pct, rule.min_clusters)
        was = state.prev_stairs.get(side, True)   # unknown before the first checkpoint: no change
        state.prev_stairs[side] = bool(stairs)
        if stairs and not was and found is None:
            run = stairs[0]
            found = side, (f"{len(run)} {side} clusters stacked from {run[0].distance_pct:+.2f} % to "
                           f"{run[-1].far_pct:+.2f} % ({usd(sum(c.notional for c in run))})")
    return found


def price_level(rule: Rule, m: Moment, state: RuleState):
    v = m.view(m.venues_of(rule))
    if v is None:
        return None
    prev, level = state.prev_price, rule.price
    state.prev_price = v.price
    if math.isnan(prev):
        return None
    up = prev < level and (v.high >= level or v.price >= level)
    down = prev > level and (v.low <= level or v.price <= level)
    if not ((up and rule.direction in ("up", "both")) or (down and rule.direction in ("down", "both"))):
        return None
    return ("short" if up else "long"), f"price reached {price_text(level)} {'rising' if up else 'falling'}"


EVALUATORS = {"near_cluster": near_cluster, "cluster_swept": cluster_swept,
              "liquidation_burst": liquidation_burst, "asymmetry": asymmetry, "cascade_risk": cascade_risk,
              "price_level": price_level}
