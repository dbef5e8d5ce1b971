"""Measured statistics of the simulator's scenario presets, beside the targets they are calibrated on.

``python -m liqdesk.sim.calibration [--hours H] [--seeds 11,12] [--real DIR]`` prints the table of
``liqdesk/sim/README.md`` (Scenarios): for each preset (and the default market) and seed, the
hourly ranges of the Binance mark, the largest fall within 15 minutes, the liquidation burst, the
net move, and the leverage mix of the positions opened during the episode. With ``--real`` (the
shared real-data folder) it also measures the real hourly ranges the ``calm`` preset is set against.

Prices are in quote currency, ranges and moves in percent, times in ms since the epoch.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

#: Window of the "fall within minutes" statistic and of the liquidation burst (seconds).
FALL_WINDOW_S = 15 * 60


def hourly_ranges(price: np.ndarray, step_s: float = 1.0) -> np.ndarray:
    """(high − low) / first price of each whole hour of a price series sampled every ``step_s``
    seconds, in percent."""
    per = int(round(3600 / step_s))
    n = len(price) // per
    if n == 0:
        return np.empty(0)
    p = np.asarray(price[: n * per], float).reshape(n, per)
    return (p.max(1) - p.min(1)) / p[:, 0] * 100.0


def largest_fall(price: np.ndarray, window: int = FALL_WINDOW_S) -> tuple[float, int]:
    """The largest fall from a running high to a later low within ``window`` samples, in percent
    of the high, and the index of that low."""
    p = np.asarray(price, float)
    if len(p) < 2:
        return 0.0, 0
    w = min(window, len(p))
    pad = np.concatenate([np.full(w - 1, p[0]), p])
    highs = np.lib.stride_tricks.sliding_window_view(pad, w).max(axis=1)   # high of the last w samples
    fall = 1.0 - p / highs
    i = int(np.argmax(fall))
    return float(fall[i] * 100.0), i


def liquidation_burst(liq_ms: np.ndarray, liq_notional: np.ndarray, start_ms: int, end_ms: int,
                      window_ms: int = FALL_WINDOW_S * 1000) -> float:
    """Liquidated notional of the busiest ``window_ms`` window over the median window's (the
    median floored at 1 % of the mean, so that a quiet market gives a finite ratio)."""
    n = max(1, (end_ms - start_ms) // window_ms)
    k = np.clip((np.asarray(liq_ms) - start_ms) // window_ms, 0, n - 1)
    per = np.bincount(k, np.asarray(liq_notional, float), n)
    if not per.sum() > 0:
        return 0.0
    return float(per.max() / max(np.median(per), 0.01 * per.mean()))


def leverage_mix(leverage: np.ndarray) -> dict:
    """Median leverage and the shares at 10x or less, at 50x or more, and above 100x."""
    lev = np.asarray(leverage, float)
    if not len(lev):
        return {"median": math.nan, "le10": math.nan, "ge50": math.nan, "gt100": math.nan, "max": math.nan}
    return {"median": float(np.median(lev)), "le10": float((lev <= 10).mean()), "ge50": float((lev >= 50).mean()),
            "gt100": float((lev > 100).mean()), "max": float(lev.max())}


def measure(scenario: str | None, seed: int, hours: float, venues: int = 3) -> dict:
    """Simulate one episode and measure it (see the module docstring)."""
    from liqdesk.sim import SimParams, Simulator, venues_for

    params = SimParams(scenario=scenario, seed=seed, hours=hours, venues=venues_for(venues))
    sim = Simulator(params)
    marks = []
    while not sim.finished:
        batch = sim.step(sim.now + 3_600_000)
        m = batch.marks
        marks.append(m["price"][m["exchange"] == sim.exchange_ids[0]])
    price = np.concatenate(marks)
    liq = sim.truth_liquidations()
    pos = sim.positions()
    opened = pos[pos["open_ms"] >= params.start_ms]
    ranges = hourly_ranges(price)
    r20 = hourly_ranges(price, step_s=3.0)      # 1 s samples, 1200 to a window: 20-minute ranges
    fall, at = largest_fall(price)
    hourly = price[3599::3600]
    return {
        "scenario": scenario or "default", "seed": seed, "hours": hours,
        "range_median": float(np.median(ranges)) if len(ranges) else math.nan,
        "range_mean": float(ranges.mean()) if len(ranges) else math.nan,
        "range_max": float(ranges.max()) if len(ranges) else math.nan,
        "range20_median": float(np.median(r20)) if len(r20) else math.nan,
        "fall_15m": fall, "fall_at_h": at / 3600.0,
        "move": float((price[-1] / params.start_price - 1.0) * 100.0),
        "up_hours": float((np.diff(np.concatenate([[params.start_price], hourly])) > 0).mean()) if len(hourly) else math.nan,
        "liquidations": int(len(liq)), "liq_notional": float(liq["notional"].sum()),
        "burst": liquidation_burst(liq["time_ms"], liq["notional"], params.start_ms, params.end_ms),
        "long_share_liq": float((liq["side"] > 0).mean()) if len(liq) else math.nan,
        "leverage": leverage_mix(opened["leverage"]),
        "leverage_by_venue": {name: leverage_mix(opened["leverage"][opened["venue"] == v])
                              for v, name in enumerate(params.venues)},
    }


def covered_ranges(t_ms: np.ndarray, price: np.ndarray, window_ms: int, max_gap_ms: int = 120_000) -> np.ndarray:
    """(high − low) / first price, in percent, of each ``window_ms`` window (counted from the first
    sample) whose samples cover it with no gap over ``max_gap_ms`` (a series with holes)."""
    t, p = np.asarray(t_ms, np.int64), np.asarray(price, float)
    k = (t - t[0]) // window_ms
    out = []
    for w in np.unique(k):
        sel = k == w
        tw, pw = t[sel], p[sel]
        lo, hi = t[0] + w * window_ms, t[0] + (w + 1) * window_ms
        if tw[0] - lo <= max_gap_ms and hi - tw[-1] <= max_gap_ms and (len(tw) < 2 or np.diff(tw).max() <= max_gap_ms):
            out.append((pw.max() - pw.min()) / pw[0] * 100.0)
    return np.array(out)


#: The real price series the calm preset is set against, in the shared real-data folder.
REAL_ETH_PRICES = Path("liquidations") / "multi-venue-eth-2026-04" / "price_5s.csv"


def real_ranges(real_dir: Path, window_ms: int = 20 * 60_000) -> np.ndarray | None:
    """Ranges (percent) of the whole ``window_ms`` windows of the real ETHUSDT price (every ~5 s,
    2026-04-03 08:56-14:39 UTC, with holes) in the shared folder; None when it is absent."""
    path = Path(real_dir) / REAL_ETH_PRICES
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = [(int(r["report_ts"]), float(r["price"])) for r in csv.DictReader(f)]
    return covered_ranges(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), window_ms)


#: Real positions of the top Hyperliquid wallets, by leverage bucket (shared real-data folder).
REAL_HYPERLIQUID = Path("hyperliquid-positions") / "snapshots.jsonl.gz"


def real_hyperliquid_leverage(real_dir: Path) -> dict[str, float] | None:
    """Share of notional per leverage bucket (``10x`` = 1-10x, ``25x`` = 11-25x, ``50x`` = 26-50x,
    ``100x`` = 51-100x) of the top-200 Hyperliquid wallets' positions whose liquidation price lies
    within ±30 % of the mark, summed over every snapshot and coin; None when the file is absent."""
    import gzip
    import json

    path = Path(real_dir) / REAL_HYPERLIQUID
    if not path.is_file():
        return None
    total: dict[str, float] = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            for coin in json.loads(line)["data"]["data"].values():
                for bucket in coin["longLiquidations"] + coin["shortLiquidations"]:
                    for key in ("10x", "25x", "50x", "100x"):
                        total[key] = total.get(key, 0.0) + float(bucket.get(key) or 0.0)
    whole = sum(total.values())
    return {k: v / whole for k, v in total.items()} if whole > 0 else None


def _row(m: dict) -> str:
    lev = m["leverage"]
    return (f"| {m['scenario']} | {m['seed']} | {m['range_median']:.2f} / {m['range_mean']:.2f} / {m['range_max']:.2f} "
            f"| {m['range20_median']:.2f} "
            f"| {m['fall_15m']:.1f} (h {m['fall_at_h']:.2f}) | {m['move']:+.1f} | {m['up_hours']:.2f} "
            f"| {m['liquidations']:,} (${m['liq_notional'] / 1e6:.1f}M, long {m['long_share_liq']:.2f}) | {m['burst']:.0f} "
            f"| {lev['median']:g} / {lev['le10']:.2f} / {lev['ge50']:.2f} / {lev['gt100']:.3f} / {lev['max']:g} |")


def main(argv=None) -> int:
    from liqdesk.sim.scenarios import SCENARIO_NAMES

    ap = argparse.ArgumentParser(prog="python -m liqdesk.sim.calibration", description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seeds", default="11,12")
    ap.add_argument("--scenarios", default=",".join(("default", *SCENARIO_NAMES)))
    ap.add_argument("--real", type=Path, default=None, help="the shared real-data folder (data/real)")
    args = ap.parse_args(argv)
    if args.real is not None:
        r = real_ranges(args.real)
        print("real ETHUSDT 2026-04-03: absent" if r is None else
              f"real ETHUSDT 2026-04-03: 20-min ranges % {np.round(r, 2).tolist()}, median {np.median(r):.2f}")
        mix = real_hyperliquid_leverage(args.real)
        print("real Hyperliquid top wallets: absent" if mix is None else
              "real Hyperliquid top wallets, notional by leverage: "
              + ", ".join(f"{k} {v:.3f}" for k, v in mix.items()))
    print("| scenario | seed | hourly range % median / mean / max | 20-min range % median | largest 15-min fall % (at hour) | move % "
          "| up hours | liquidations (truth) | burst | leverage opened: median / ≤10x / ≥50x / >100x / max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.scenarios.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            print(_row(measure(None if name == "default" else name, seed, args.hours)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
