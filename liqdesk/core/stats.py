"""What traders read off a level map: totals and asymmetry near price, the cumulative liquidation
map, clusters and staircases.

All functions take a level map as two arrays over the same price bins, ``long`` and ``short``
(notional in quote currency per bin), the bins' lower edges ``edges`` (quote currency, equally
spaced, ``width`` apart) and the current ``price``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def centres(edges: np.ndarray, width: float) -> np.ndarray:
    """Bin centres (quote currency)."""
    return edges + width / 2.0


@dataclass(frozen=True)
class BandTotals:
    """Estimated liquidation notional within ``band_pct`` of ``price``.

    ``long_below``: long levels under price (liquidated by a drop); ``short_above``: short levels
    over it. ``ratio``: long/short (inf when no shorts, nan when neither).
    """

    price: float
    band_pct: float
    long_below: float
    short_above: float

    @property
    def ratio(self) -> float:
        if self.short_above > 0:
            return self.long_below / self.short_above
        return float("inf") if self.long_below > 0 else float("nan")

    @property
    def dominant(self) -> str:
        """``"long"``, ``"short"`` or ``"balanced"`` (within 10 %)."""
        r = self.ratio
        if np.isnan(r) or 1 / 1.1 <= r <= 1.1:
            return "balanced"
        return "long" if r > 1 else "short"


def band_totals(long: np.ndarray, short: np.ndarray, edges: np.ndarray, width: float, price: float,
                band_pct: float = 5.0) -> BandTotals:
    """Totals of long levels below and short levels above ``price`` within ±``band_pct`` %."""
    c = centres(edges, width)
    lo, hi = price * (1 - band_pct / 100), price * (1 + band_pct / 100)
    below = (c >= lo) & (c < price)
    above = (c > price) & (c <= hi)
    return BandTotals(price, band_pct, float(long[below].sum()), float(short[above].sum()))


def cumulative_map(long: np.ndarray, short: np.ndarray, edges: np.ndarray, width: float,
                   price: float) -> tuple[np.ndarray, np.ndarray]:
    """Running totals from price outward: ``cum_long[i]`` = long notional between bin i and price
    (bins below price), ``cum_short[i]`` = short notional between price and bin i (bins above);
    zero on the other side of price. What a move to that bin would liquidate."""
    c = centres(edges, width)
    below = c < price
    above = c > price
    cum_long = np.where(below, np.cumsum((long * below)[::-1])[::-1], 0.0)
    cum_short = np.where(above, np.cumsum(short * above), 0.0)
    return cum_long, cum_short


@dataclass(frozen=True)
class Cluster:
    """A run of adjacent bins at or above the threshold on one side. Prices in quote currency."""

    side: str                # "long" or "short"
    price_low: float
    price_high: float
    peak_price: float        # centre of the densest bin
    notional: float          # total over the run
    distance_pct: float      # from the current price to the nearest edge, signed (below < 0)
    far_pct: float           # from the current price to the farthest edge, signed


def cluster_threshold(values: np.ndarray, quantile: float = 0.9) -> float:
    """Default threshold: the ``quantile`` of the non-empty bins (0 when all are empty)."""
    nz = values[values > 0]
    return float(np.quantile(nz, quantile)) if len(nz) else 0.0


def find_clusters(values: np.ndarray, edges: np.ndarray, width: float, price: float, side: str,
                  threshold: float | None = None, band_pct: float | None = None) -> list[Cluster]:
    """Clusters on one side: maximal runs of adjacent bins whose value is >= ``threshold`` (and > 0).

    Long clusters are looked for below price, short ones above. Ordered from price outward.
    ``threshold`` defaults to :func:`cluster_threshold` over that side's bins (in band).
    """
    if side not in ("long", "short"):
        raise ValueError("side must be 'long' or 'short'")
    c = centres(edges, width)
    mask = c < price if side == "long" else c > price
    if band_pct is not None:
        mask &= np.abs(c / price - 1) <= band_pct / 100
    v = np.where(mask, values, 0.0)
    if threshold is None:
        threshold = cluster_threshold(v)
    hot = (v >= threshold) & (v > 0)
    if not hot.any():
        return []
    padded = np.concatenate([[False], hot, [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    starts, stops = change[::2], change[1::2]
    out = []
    for a, b in zip(starts, stops):
        seg = v[a:b]
        peak = a + int(np.argmax(seg))
        lo, hi = float(edges[a]), float(edges[b - 1] + width)
        near, far = (hi, lo) if side == "long" else (lo, hi)
        out.append(Cluster(side, lo, hi, float(c[peak]), float(seg.sum()),
                           (near / price - 1) * 100, (far / price - 1) * 100))
    out.sort(key=lambda cl: abs(cl.distance_pct))
    return out


def find_staircases(clusters: list[Cluster], max_step_pct: float = 1.0, min_steps: int = 3) -> list[list[Cluster]]:
    """Staircases: runs of ``min_steps`` or more clusters on one side in a row, each starting within
    ``max_step_pct`` (of price) of where the previous one ended, so that one cascade can run into
    the next. ``clusters`` as from :func:`find_clusters` (one side); nearest staircase first."""
    stairs, run, reach = [], [], None
    for cl in sorted(clusters, key=lambda c: abs(c.distance_pct)):
        if run and abs(cl.distance_pct) - reach > max_step_pct + 1e-9:
            if len(run) >= min_steps:
                stairs.append(run)
            run = []
        run.append(cl)
        reach = abs(cl.far_pct)
    if len(run) >= min_steps:
        stairs.append(run)
    return stairs


@dataclass(frozen=True)
class Summary:
    """Everything the stats panel shows for one level map."""

    totals: BandTotals
    long_clusters: list[Cluster]
    short_clusters: list[Cluster]
    long_staircases: list[list[Cluster]]
    short_staircases: list[list[Cluster]]

    @property
    def nearest_above(self) -> Cluster | None:
        return self.short_clusters[0] if self.short_clusters else None

    @property
    def nearest_below(self) -> Cluster | None:
        return self.long_clusters[0] if self.long_clusters else None


def summarize(long: np.ndarray, short: np.ndarray, edges: np.ndarray, width: float, price: float,
              band_pct: float = 5.0, threshold: float | None = None, max_step_pct: float = 1.0) -> Summary:
    """Band totals, clusters per side (within the band) and staircases, in one call."""
    totals = band_totals(long, short, edges, width, price, band_pct)
    if threshold is None:
        c = centres(edges, width)
        in_band = np.abs(c / price - 1) <= band_pct / 100
        threshold = cluster_threshold(np.concatenate([long[in_band & (c < price)], short[in_band & (c > price)]]))
    lc = find_clusters(long, edges, width, price, "long", threshold, band_pct)
    sc = find_clusters(short, edges, width, price, "short", threshold, band_pct)
    return Summary(totals, lc, sc, find_staircases(lc, max_step_pct), find_staircases(sc, max_step_pct))
