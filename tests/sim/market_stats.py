"""Market statistics the simulator is tested for (shared by the tests and the README figures)."""

from __future__ import annotations

import numpy as np


def minute_returns(marks: np.ndarray) -> np.ndarray:
    """1-minute log returns of one venue's mark price (sampled every 60th second)."""
    price = marks["price"][59::60]
    return np.diff(np.log(price))


def kurtosis(x: np.ndarray) -> float:
    """Plain (not excess) kurtosis: 3 for a normal distribution."""
    d = x - x.mean()
    return float((d**4).mean() / (d**2).mean() ** 2)


def abs_return_acf(r: np.ndarray, lags=range(1, 6)) -> float:
    """Mean autocorrelation of |returns| over ``lags`` (volatility clustering)."""
    a = np.abs(r - r.mean())
    return float(np.mean([np.corrcoef(a[:-k], a[k:])[0, 1] for k in lags]))


def liquidation_dispersion(liq: np.ndarray, start_ms: int, minutes: int) -> float:
    """Variance over mean of liquidations per minute (1 for a Poisson stream; bursts: >> 1)."""
    counts = np.bincount((liq["time_ms"] - start_ms) // 60_000, minlength=minutes)[:minutes]
    return float(counts.var() / counts.mean())


def oi_windows(batch, liq: np.ndarray, start_ms: int, end_ms: int, window_ms: int, venue_id: int):
    """Per window: relative change of total open interest (notional, all venues), absolute log
    return of ``venue_id``'s mark, and liquidated notional over open interest."""
    edges = np.arange(start_ms, end_ms + 1, window_ms)
    oi = batch.open_interest
    total = np.zeros(len(edges))
    for e in np.unique(oi["exchange"]):
        o = oi[oi["exchange"] == e]
        idx = np.searchsorted(o["time_ms"], edges, "right") - 1
        total += o["oi_notional"][np.maximum(idx, 0)]
    m = batch.marks[batch.marks["exchange"] == venue_id]
    price = m["price"][np.maximum(np.searchsorted(m["time_ms"], edges, "right") - 1, 0)]
    d_oi = np.diff(total) / total[:-1]
    ret = np.abs(np.diff(np.log(price)))
    liq_share = np.bincount((liq["time_ms"] - start_ms) // window_ms, liq["notional"],
                            len(edges))[: len(edges) - 1] / total[:-1]
    return d_oi, ret, liq_share


def oi_trend_flush(d_oi, ret, liq_share):
    """Mean OI change in flush windows (top decile of liquidations), in trend windows (top third
    of |return| among windows with at most median liquidations) and in quiet ones (bottom third)."""
    flush = liq_share >= np.quantile(liq_share, 0.9)
    calm = liq_share <= np.median(liq_share)
    trend = calm & (ret >= np.quantile(ret[calm], 2 / 3))
    quiet = calm & (ret <= np.quantile(ret[calm], 1 / 3))
    return float(d_oi[flush].mean()), float(d_oi[trend].mean()), float(d_oi[quiet].mean())


def oi_regression(d_oi, ret, liq_share):
    """Least-squares fit ``ΔOI = a + b·|return| + c·liquidated share`` (all per window) and the
    t-statistics of b and c: open interest should grow with trends (b > 0) and shrink with
    liquidations (c < 0)."""
    X = np.column_stack([np.ones_like(ret), ret, liq_share])
    coef, *_ = np.linalg.lstsq(X, d_oi, rcond=None)
    resid = d_oi - X @ coef
    dof = max(len(d_oi) - 3, 1)
    cov = np.linalg.inv(X.T @ X) * (resid @ resid) / dof
    t = coef / np.sqrt(np.diag(cov))
    return coef, t
