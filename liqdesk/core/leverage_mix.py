"""The leverage mix learned from what the market shows: which tiers really hold positions.

Nothing public says how traders spread their leverage, but every exchange keeps telling: public
liquidations happen at some of the model's levels and not at others that price crossed. The model
(:class:`liqdesk.core.levels.LevelModel`) places each tier's levels as if the whole notional used
that tier ("unit" levels ``U[e, t]``, quote currency) and shows ``Σ_t w[e, t] · U[e, t]``; this
module estimates the mix ``w`` per exchange.

Evidence, per exchange ``e`` and tier ``t``, forgotten with a half-life (default 24 h):

- exposure ``S[e, t]``: unit notional of the tier's levels that price swept (crossed levels, with
  or without liquidations there);
- attributed liquidations ``A[e, t]``: each public liquidation (notional, quote) is shared among
  the levels of its exchange and side that were swept within ``match_s`` of it at a price within
  ``match_pct`` of its fill, in proportion to ``w[e, t] · U`` of each (the tier's exposure there
  under the current mix: the E step of an online EM). A liquidation with no such level is
  counted as unmatched (the positions behind it are not where the model put any).

Model: a swept level of tier ``t`` with unit notional ``S`` shows ``κ · w_t · S`` of liquidations
on the feed, ``κ`` (``visible``) being the share a feed shows of what a tier holding every
position would lose there (feed completeness × how much of the model's notional is still open
when price arrives). So ``A_t ~ Poisson(κ w_t S_t)``; with a Dirichlet-like prior of mean ``π``
(the model's prior) worth ``strength`` typical liquidations (``a`` in notional), the most
probable mix on the simplex is

    w_t = (a · π_t + A_t) / (κ · S_t + μ),   μ such that Σ w = 1.

A tier swept often with few liquidations there gets little weight, a tier with many gets more,
and what the swept tiers do not hold goes to the tiers price has not reached, in the prior's
proportions (nothing says more about them). Relative rates alone cannot say that *every* swept
tier is nearly empty (a market of 3–30x traders whose 50–125x levels keep being crossed): the
absolute rate can, which is why ``κ`` is fixed rather than fitted. It was chosen on three 6 h
simulated sessions (default market seed 11, ``highlev`` seed 3, ``lowlev`` seed 5; 0.05, 0.15, 0.3
and 0.5 tried: 0.3 kept the first two as good as the fixed prior and helped the third most) and
scored on other seeds and scenarios it never saw (README, Accuracy). A sampled feed
(Binance, OKX, Bitget: at most one liquidation a second) shows less in bursts, where the high
tiers go first, so it under-states them somewhat. Exchanges without liquidations of their own
(Hyperliquid publishes none) take the mix pooled over the others.

Updates happen on a fixed clock (every ``update_ms`` of event time, independent of the chart's
columns and of how events are batched), each using the liquidations at least ``match_s`` old,
so live, replay, rebuild and ``evaluate`` learn the same mix from the same events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Exchanges that publish no liquidations at all: levels crossed there say nothing about the mix
#: (the live adapters declare the same, ``liquidations = ABSENT``; a test keeps the two in step).
NO_PUBLIC_LIQUIDATIONS = frozenset({"hyperliquid"})


@dataclass(frozen=True)
class MixSettings:
    """How the mix is learned. Times in ms or s as named; ``match_pct`` in percent of price."""

    #: learn the mix (False: the prior is used as it is, today's fixed behaviour)
    learn: bool = True
    #: prior strength, in typical liquidations: how many it takes to move the mix half-way
    strength: float = 20.0
    #: evidence older than this counts half (event time, seconds); 0 = never forget
    half_life_s: float = 24 * 3600.0
    #: a liquidation matches levels swept within this many seconds of it ...
    match_s: float = 30.0
    #: ... at a level price within this % of its fill price (simulated default market, seed 11:
    #: the nearest swept level of 90 % of liquidations within ±26 s, and within ±0.05 % in price)
    match_pct: float = 0.1
    #: the mix is updated every so often (event time, ms)
    update_ms: int = 60_000
    #: share of a swept level's notional that the public feed shows as liquidations, were every
    #: position at that level's leverage (feed completeness × how much of the model's notional is
    #: still open when price gets there); see the module docstring for how it was set
    visible: float = 0.3
    #: how unsure ``visible`` is: the log-sd of its prior (0 = taken as exact)
    visible_spread: float = 0.0

    def __post_init__(self):
        if not (self.strength > 0 and self.half_life_s >= 0 and self.match_s > 0 and self.match_pct > 0
                and self.update_ms >= 1000):
            raise ValueError("mix: strength > 0, half-life >= 0, match window > 0 s and > 0 %, update >= 1 s")


#: Pending sweeps: unit notional of one swept level (exchange and tier are local indexes).
SWEEP_DTYPE = np.dtype([("time_ms", "i8"), ("exchange", "i8"), ("side", "i1"), ("tier", "i8"),
                        ("price", "f8"), ("unit", "f8")])
#: Pending liquidations (exchange a local index).
LIQ_DTYPE = np.dtype([("time_ms", "i8"), ("exchange", "i8"), ("side", "i1"), ("price", "f8"),
                      ("notional", "f8")])


class LeverageMix:
    """Online estimate of the leverage mix ``weights[E, T]`` (rows sum to 1).

    ``prior[T]`` is the model's prior (normalized); ``has_feed[E]``: which exchanges publish
    liquidations (only there does a crossed level without one count); ``typical_liquidation``
    (quote) sizes the prior before any liquidation is seen. Feed :meth:`add_sweeps` and :meth:`add_liquidations`, then
    :meth:`advance` to the newest event time.
    """

    def __init__(self, prior: np.ndarray, n_exchanges: int, settings: MixSettings | None = None,
                 has_feed: np.ndarray | None = None, typical_liquidation: float = 10_000.0):
        self.settings = settings or MixSettings()
        self.prior = np.asarray(prior, dtype=float) / float(np.sum(prior))
        self.E, self.T = n_exchanges, len(self.prior)
        self.has_feed = np.ones(self.E, bool) if has_feed is None else np.asarray(has_feed, bool)
        self.typical_liquidation = float(typical_liquidation)
        self.reset()

    def reset(self) -> None:
        self.weights = np.tile(self.prior, (self.E, 1))
        self.version = 0                       # bumped whenever ``weights`` change
        self.exposure = np.zeros((self.E, self.T))     # S, unit notional swept (decayed)
        self.attributed = np.zeros((self.E, self.T))   # A, liquidation notional (decayed)
        self.events = np.zeros(self.E)                 # liquidations matched to a level (decayed)
        self.unmatched = np.zeros(self.E)              # liquidations with no swept level near them
        self.unmatched_notional = np.zeros(self.E)
        self.seen = np.zeros(self.E, np.int64)         # every liquidation read (not decayed)
        self._sweeps = np.empty(0, SWEEP_DTYPE)
        self._liqs = np.empty(0, LIQ_DTYPE)
        self._next_update: int | None = None
        self._counted_to: int | None = None           # sweeps up to here are in ``exposure``

    # ------------------------------------------------------------------ input
    def add_sweeps(self, rows: np.ndarray) -> None:
        """Swept levels (:data:`SWEEP_DTYPE`), any order."""
        if len(rows):
            self._sweeps = _merge_by_time(self._sweeps, rows)

    def add_liquidations(self, rows: np.ndarray) -> None:
        """Public liquidations (:data:`LIQ_DTYPE`), any order."""
        if len(rows):
            np.add.at(self.seen, rows["exchange"], 1)
            self._liqs = _merge_by_time(self._liqs, rows)

    # ------------------------------------------------------------------ the clock
    def advance(self, watermark_ms: int) -> bool:
        """Run every update whose time is before ``watermark_ms``; True when the mix changed."""
        s = self.settings
        if not s.learn:
            self._sweeps = self._sweeps[:0]
            self._liqs = self._liqs[:0]
            return False
        if self._next_update is None:
            first = [int(a["time_ms"][0]) for a in (self._sweeps, self._liqs) if len(a)]
            if not first:
                return False
            self._next_update = (min(first) // s.update_ms + 1) * s.update_ms
        version = self.version
        lag = int(s.match_s * 1000)
        decay = 0.5 ** (s.update_ms / 1000.0 / s.half_life_s) if s.half_life_s > 0 else 1.0
        while self._next_update < watermark_ms:
            if not (len(self._sweeps) or len(self._liqs)):
                # nothing pending: the remaining updates only decay, in one step
                steps = -(-(watermark_ms - self._next_update) // s.update_ms)
                self._decay(decay ** steps)
                self._next_update += steps * s.update_ms
                break
            self._decay(decay)
            # each update takes the evidence at least ``match_s`` old, in order, with the mix of
            # the update before (so how events were batched cannot change the result)
            if self._update(self._next_update - lag):
                self._estimate()
            self._next_update += s.update_ms
        return self.version != version

    def _typical(self, feed: np.ndarray) -> float:
        """A typical liquidation's notional (quote): the mean matched one once there are some."""
        events = float(self.events[feed].sum())
        total = float(self.attributed[feed].sum())
        return total / events if events > 0 and total > 0 else self.typical_liquidation

    def _decay(self, factor: float) -> None:
        if factor != 1.0:
            for arr in (self.exposure, self.attributed, self.events, self.unmatched, self.unmatched_notional):
                arr *= factor

    def _update(self, horizon: int) -> bool:
        """Take the sweeps and liquidations up to ``horizon`` (ms) into the evidence."""
        sweeps, liqs = self._sweeps, self._liqs
        t = sweeps["time_ms"]
        n_liq = int(np.searchsorted(liqs["time_ms"], horizon, "right"))
        counted = int(np.searchsorted(t, self._counted_to, "right")) if self._counted_to is not None else 0
        n_sw = int(np.searchsorted(t, horizon, "right"))
        self._counted_to = horizon
        if n_sw > counted:
            new = sweeps[counted:n_sw]
            np.add.at(self.exposure, (new["exchange"], new["tier"]), new["unit"])
        if n_liq:
            self._attribute(liqs[:n_liq], sweeps)
            self._liqs = liqs[n_liq:]
        # keep only the sweeps a later liquidation (newer than ``horizon``) may still match
        keep_from = int(np.searchsorted(t, horizon - int(self.settings.match_s * 1000), "left"))
        self._sweeps = sweeps[keep_from:]
        return bool(n_liq or n_sw > counted)

    def _attribute(self, liqs: np.ndarray, sweeps: np.ndarray) -> None:
        """Share each liquidation among the swept levels near it (time and price), by w · U."""
        s = self.settings
        lag = int(s.match_s * 1000)
        tol = s.match_pct / 100.0
        t = sweeps["time_ms"]
        lo = np.searchsorted(t, liqs["time_ms"] - lag, "left")
        hi = np.searchsorted(t, liqs["time_ms"] + lag, "right")
        counts = hi - lo
        li = np.repeat(np.arange(len(liqs)), counts)
        si = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        cand = sweeps[si]
        lq = liqs[li]
        ok = ((cand["exchange"] == lq["exchange"]) & (cand["side"] == lq["side"])
              & (np.abs(cand["price"] / lq["price"] - 1.0) <= tol))
        li, cand = li[ok], cand[ok]
        weight = self.weights[cand["exchange"], cand["tier"]] * cand["unit"]
        total = np.bincount(li, weight, len(liqs))
        matched = total > 0
        share = weight / total[li]
        np.add.at(self.attributed, (cand["exchange"], cand["tier"]), share * liqs["notional"][li])
        np.add.at(self.events, liqs["exchange"][matched], 1.0)
        np.add.at(self.unmatched, liqs["exchange"][~matched], 1.0)
        np.add.at(self.unmatched_notional, liqs["exchange"][~matched], liqs["notional"][~matched])

    def _estimate(self) -> None:
        """Posterior mean mix per exchange (see the module docstring)."""
        s = self.settings
        # an exchange teaches the mix once it publishes liquidations: the ones it shows, and the
        # crossed levels where it showed none (an exchange without a feed shows none anywhere)
        feed = self.has_feed | (self.events > 0)
        typical = self._typical(feed)
        args = (self.prior, s.strength, typical, s.visible, s.visible_spread)
        pooled = _posterior(self.attributed[feed].sum(axis=0), self.exposure[feed].sum(axis=0), *args)
        new = np.tile(pooled, (self.E, 1))
        for e in np.flatnonzero(feed):
            new[e] = _posterior(self.attributed[e], self.exposure[e], *args)
        if not np.array_equal(new, self.weights):
            self.weights = new
            self.version += 1

    # ------------------------------------------------------------------ read-out
    def confidence(self) -> np.ndarray:
        """Per exchange and tier, the posterior's relative standard deviation of the tier's rate
        (1/√(effective liquidations behind it): prior ones included); ``[E, T]``."""
        strength = self.settings.strength
        n = self.events[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_liq = np.where(n > 0, self.attributed.sum(axis=1, keepdims=True) / n, 0.0)
            effective = strength * self.weights + np.where(mean_liq > 0, self.attributed / mean_liq, 0.0)
            return 1.0 / np.sqrt(np.maximum(effective, 1e-12))

    def summary(self, exchanges: tuple[str, ...], leverages: np.ndarray) -> list[dict]:
        """One plain dict per exchange: the mix, how sure it is and what it learned from."""
        rel_sd = self.confidence()
        out = []
        for e, name in enumerate(exchanges):
            if not self.settings.learn:
                state = "fixed"
            elif self.events[e] > 0:
                state = "learned"
            elif self.has_feed[e] and self.exposure[e].sum() > 0:
                state = "learned from crossed levels (no liquidation yet)"
            elif self.version:
                state = "no liquidation feed: the others' mix"
            else:
                state = "the prior (nothing learned yet)"
            out.append({
                "exchange": name, "state": state,
                "leverages": [float(x) for x in leverages],
                "weights": [round(float(x), 4) for x in self.weights[e]],
                "rel_sd": [round(float(x), 3) for x in rel_sd[e]],
                "liquidations_matched": round(float(self.events[e]), 1),
                "liquidations_unmatched": round(float(self.unmatched[e]), 1),
                "liquidations_seen": int(self.seen[e]),
            })
        return out


def _posterior(attributed: np.ndarray, exposure: np.ndarray, prior: np.ndarray, strength: float,
               typical: float, visible: float, spread: float) -> np.ndarray:
    """The most probable mix given attributed notional and exposure (both ``[T]``, quote), the
    prior mix, its ``strength`` (in liquidations of ``typical`` notional) and the feed's visibility
    ``κ``: log-normal around ``visible`` with a log-sd of ``spread`` (0: exactly ``visible``).

    In units of typical liquidations (``n = A / typical``), maximizes
    ``Σ n_t log(κ w_t S_t) − κ w_t S_t / typical + strength π_t log w_t − (log κ/visible)² / 2 spread²``
    over the mix (on the simplex) and ``κ``, alternating the two closed steps (see
    :func:`_mix_given_visibility`). The prior itself when there is no evidence."""
    if float(attributed.sum()) <= 0 and float(exposure.sum()) <= 0:
        return prior.copy()
    kappa = visible
    w = _mix_given_visibility(attributed, exposure, prior, strength * typical, kappa)
    if spread <= 0:
        return w
    n = float(attributed.sum()) / typical
    for _ in range(30):
        seen = float((w * exposure).sum()) / typical      # what a feed showing everything would show
        # n − κ·seen − log(κ/visible)/spread² = 0, decreasing in κ: bisect on log κ
        lo, hi = math.log(visible) - 12.0, math.log(visible) + 12.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if n - math.exp(mid) * seen - (mid - math.log(visible)) / spread**2 > 0:
                lo = mid
            else:
                hi = mid
        new_kappa = math.exp(0.5 * (lo + hi))
        w = _mix_given_visibility(attributed, exposure, prior, strength * typical, new_kappa)
        if abs(math.log(new_kappa / kappa)) < 1e-4:
            break
        kappa = new_kappa
    return w


def _mix_given_visibility(attributed: np.ndarray, exposure: np.ndarray, prior: np.ndarray, a: float,
                          visible: float) -> np.ndarray:
    """The most probable mix for a known visibility ``κ``: ``w_t = (a π_t + A_t) / (κ S_t + μ)``
    with ``μ`` such that the weights sum to 1 (``a``: the prior's strength, quote). A tier swept
    often with few liquidations gets little; the weight it loses goes to the tiers price did not
    reach, in the prior's proportions."""
    num = a * prior + attributed
    cost = visible * exposure
    # Σ num / (cost + μ) falls with μ; it is > 1 just above -min(cost) and ≤ 1 at μ = Σ num
    lo, hi = -float(cost.min()), float(num.sum())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid == lo or mid == hi:
            break
        if float((num / (cost + mid)).sum()) > 1.0:
            lo = mid
        else:
            hi = mid
    w = num / (cost + hi)
    total = float(w.sum())
    return w / total if total > 0 and math.isfinite(total) else prior.copy()


def _merge_by_time(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    both = np.concatenate([old, new]) if len(old) else new.copy()
    if len(both) > 1 and np.any(both["time_ms"][1:] < both["time_ms"][:-1]):
        both = both[np.argsort(both["time_ms"], kind="stable")]
    return both
