"""Headless work on sessions: run the model over a session, export its grid, score its accuracy.

Accuracy (PRODUCT.md §3). For every real liquidation (time t, price p, notional n, liquidated
side): take the model's outstanding level map for that side as it stood ``lead_s`` before t (at
that whole second), over
the bins whose centre lies within ±``band_pct`` % of that exchange's mark (or last) price at that
moment. The *hot* bins are the non-empty bins at or above the (1 − ``top``) quantile of the
estimated notional of all bins in the band (empty ones counting as zero). The event is captured
when p falls in a hot bin. ``capture`` = captured notional / total notional; ``baseline`` = mean
over events of hot bins / bins in band (what a random pick of as many bins catches);
``lift`` = capture / baseline. Events with no estimate before them count as missed.

A forced order fills at the market price, so nearness to price alone wins that lift. In the same
pass :mod:`liqdesk.app.comparison` adds the swept-level score (:mod:`liqdesk.app.swept`: which of
the bins price crossed held the liquidations) and scores three trivial baselines
(:mod:`liqdesk.app.baselines`) with the same code, with bootstrap intervals over liquidation
clusters, overall and per venue.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, EXCHANGES, EventBatch, concat_batches, slice_batch
from liqdesk.core.levels import LONG, SHORT, LevelModel, ModelSettings
from liqdesk.store import SessionReader

from .comparison import Comparison, ModelWindow, ScoreOptions, band_window, hot_bins
from .heap import release_free_heap

Progress = Callable[[float], None] | None


def session_exchanges(reader: SessionReader) -> tuple[str, ...]:
    """Exchanges with trades or marks in the session, in id order."""
    counts = reader.counts()
    names = set(counts.get("trades", {})) | set(counts.get("marks", {}))
    names = {n for n in names if counts.get("trades", {}).get(n) or counts.get("marks", {}).get(n)}
    found = tuple(n for n in EXCHANGES if n in names)
    if not found:
        raise ValueError(f"session {reader.path} has no trades or mark prices to estimate from")
    return found


def settings_for(reader: SessionReader, **overrides) -> ModelSettings:
    """Model settings matching a session: its exchanges and symbol, and for a simulated session
    the bin width its ground truth was stored with."""
    kw = {"exchanges": session_exchanges(reader), "symbol": _ccxt_symbol(reader.symbol)}
    truth = reader.meta.get("truth") if isinstance(reader.meta, dict) else None
    truth_w = truth.get("bin_width") if isinstance(truth, dict) else None
    if truth_w is not None:
        if isinstance(truth_w, bool) or not isinstance(truth_w, int | float) or not 0 < truth_w < math.inf:
            raise ValueError(f"session {reader.path}: meta truth.bin_width is not a positive number ({truth_w!r})")
        kw["bin_width"] = float(truth_w)
    kw["liquidation_feeds"] = tuple(n for n, kind in liquidation_feeds(reader).items() if kind != "absent")
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return ModelSettings(**kw)


def _ccxt_symbol(symbol: str) -> str:
    s = (symbol or "BTC/USDT:USDT").upper()
    if "/" in s:
        return s
    for quote in ("USDT", "USDC"):
        if s.replace("-SWAP", "").replace("-", "").endswith(quote):
            base = s.replace("-SWAP", "").replace("-", "")[: -len(quote)]
            return f"{base}/{quote}:{quote}"
    return f"{s}/USDT:USDT"


def run_model(reader: SessionReader, settings: ModelSettings, chunk_ms: int = 900_000,
              until_ms: int | None = None, progress: Progress = None) -> LevelModel:
    """The model after every event of the session (or those before ``until_ms``)."""
    model = LevelModel(settings)
    start, end = reader.start_ms, reader.end_ms
    if start is None:
        raise ValueError(f"session {reader.path} holds no events")
    stop = end + 1 if until_ms is None else min(until_ms, end + 1)
    for batch in reader.iter_batches(chunk_ms, start, stop):
        model.ingest(batch)
        if progress:
            progress((batch.time_span()[1] - start) / max(1, stop - start))
    if until_ms is None:
        model.flush()
    return model


def auto_column_ms(span_ms: int, max_columns: int = 2_000) -> int:
    """The narrowest standard column width (1 s … 1 h) that fits the span in ``max_columns``."""
    for width in (1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000):
        if span_ms / width <= max_columns:
            return width
    return 3_600_000


@dataclass(frozen=True)
class GridExport:
    """A session's estimated grid: ``long``/``short`` ``[rows, columns]`` notional (quote), the
    time each column stands for (its end; the last one the session's end), bin lower edges."""

    time_ms: np.ndarray
    price_low: np.ndarray
    bin_width: float
    long: np.ndarray
    short: np.ndarray


def check_filters(settings: ModelSettings, exchanges=None, tiers=None) -> None:
    """ValueError (one line) naming an exchange or tier filter the session's model does not have."""
    if exchanges:
        unknown = [e for e in exchanges if e not in settings.exchanges]
        if unknown:
            raise ValueError(f"exchange(s) {', '.join(unknown)} not in the session; it has {', '.join(settings.exchanges)}")
    if tiers:
        unknown = [t for t in tiers if float(t) not in settings.leverages]
        if unknown:
            raise ValueError(f"tier(s) {', '.join(map(str, unknown))} not in the model; it has "
                             f"{', '.join(f'{x:g}' for x in settings.leverages)}")


def grid_for_session(reader: SessionReader, exchanges=None, tiers=None, column_ms: int | None = None,
                     rows: int = 600, bin_width_pct: float | None = None, progress: Progress = None,
                     prior: dict | None = None, ages=None) -> GridExport:
    """Replay the session and return its whole estimated grid, filtered. ``prior``: the model's
    ``leverages`` and ``weights`` when not the default; ``ages``: position-age buckets (None: all)."""
    if reader.start_ms is None:
        raise ValueError(f"session {reader.path} holds no events: nothing to export")
    span = reader.end_ms - reader.start_ms + 1
    column_ms = column_ms or auto_column_ms(span)
    n_cols = int(reader.end_ms // column_ms - reader.start_ms // column_ms) + 1
    settings = settings_for(reader, column_ms=column_ms, window_columns=max(2, n_cols), rows=rows,
                            bin_width_pct=bin_width_pct, **(prior or {}))
    check_filters(settings, exchanges, tiers)
    model = run_model(reader, settings, progress=progress)
    long, cols, origin = model.image(exchanges, tiers, long=True, short=False, ages=ages)
    short, _, _ = model.image(exchanges, tiers, long=False, short=True, ages=ages)
    times = (cols + 1) * column_ms
    times[-1] = model.watermark
    first = reader.start_ms // column_ms
    keep = cols >= first
    return GridExport(times[keep], model.bin_prices(origin, rows), model.bin_width,
                      long[:, keep], short[:, keep])


# ---------------------------------------------------------------------------------- accuracy

@dataclass
class Accuracy:
    events: int = 0
    liquidation_usd: float = 0.0
    captured_usd: float = 0.0
    baseline_sum: float = 0.0

    def add(self, notional: float, captured: bool, hot_fraction: float) -> None:
        self.events += 1
        self.liquidation_usd += notional
        self.captured_usd += notional if captured else 0.0
        self.baseline_sum += hot_fraction

    def result(self) -> dict:
        capture = self.captured_usd / self.liquidation_usd if self.liquidation_usd > 0 else float("nan")
        baseline = self.baseline_sum / self.events if self.events else float("nan")
        lift = capture / baseline if baseline > 0 else float("nan")
        return {"events": self.events, "liquidation_usd": self.liquidation_usd, "captured_usd": self.captured_usd,
                "capture": capture, "baseline": baseline, "lift": lift}


def evaluate(reader: SessionReader, lead_s: float = 60, band_pct: float = 5, top: float = 0.1,
             liquidations: np.ndarray | None = None, settings: ModelSettings | None = None,
             progress: Progress = None, compare: bool = True, options: ScoreOptions | None = None,
             truth: bool = False) -> dict:
    """Score the model against real liquidations (the session's own, or ``liquidations``), each
    with the model as it stood at the whole second ``lead_s`` (or up to 1 s more) before it.

    With ``truth`` and a simulated session, the ground-truth scores of :mod:`liqdesk.app.truth`
    come from the same pass (``truth_lift``, ``truth_correlation``, ...).

    With ``compare`` (the default), in the same pass: the swept-level score, the baselines scored
    by the same code, cluster counts and bootstrap intervals, overall and per venue
    (:mod:`liqdesk.app.comparison`; ``options`` its horizon, columns, cluster gap, resamples)."""
    if not lead_s >= 0:
        raise ValueError("--lead-s must be >= 0")
    if not 0 < band_pct <= 100:
        raise ValueError("--band-pct must be in (0, 100]")
    if not 0 < top <= 1:
        raise ValueError("--top must be in (0, 1]")
    options = options or ScoreOptions()
    options = ScoreOptions(options.horizon_ms, options.column_ms, options.gap_ms, options.resamples, top, band_pct)
    settings = settings or settings_for(reader, window_columns=2, rows=64)
    if liquidations is None:
        liquidations = reader.read(kinds=["liquidations"]).liquidations
    ids = [EXCHANGE_ID[n] for n in settings.exchanges]
    liq = liquidations[np.isin(liquidations["exchange"], ids)]
    if not len(liq):
        raise ValueError(f"session {reader.path} has no liquidation events on {', '.join(settings.exchanges)}")
    lead_ms = int(lead_s * 1000)
    # look-ups at whole seconds: liquidations of one second share the model's state (a cascade
    # is hundreds of them), which keeps one pass over a day to a few thousand stops
    query = (liq["time_ms"] - lead_ms) // 1000 * 1000
    order = np.argsort(query, kind="stable")
    liq, query = liq[order], query[order]
    model = LevelModel(settings)
    acc = Accuracy()
    events = _ChunkedEvents(reader)
    comparison = Comparison(liq, ids, reader.start_ms, options) if compare else None
    columns = _column_times(reader, options, liq["time_ms"]) if compare else np.empty(0, np.int64)
    truth_acc, truth_liq, truth_query, agreement = None, liq[:0], query[:0], None
    if truth:
        from .truth import MapAgreement, has_truth, truth_liquidations

        if has_truth(reader):
            truth_acc = Accuracy()
            truth_liq = truth_liquidations(reader)
            truth_liq = truth_liq[np.isin(truth_liq["exchange"], ids)]
            truth_query = (truth_liq["time_ms"] - lead_ms) // 1000 * 1000
            o = np.argsort(truth_query, kind="stable")
            truth_liq, truth_query = truth_liq[o], truth_query[o]
            agreement = MapAgreement(reader, band_pct, top)
    snapshots = agreement.times.astype(np.int64) if agreement is not None else np.empty(0, np.int64)
    stops = np.union1d(np.union1d(query, columns), np.union1d(truth_query, snapshots))
    at = {name: np.searchsorted(times, stops, side="left").tolist() + [len(times)]
          for name, times in (("ev", query), ("col", columns), ("truth", truth_query), ("snap", snapshots))}
    for n, q in enumerate(stops.tolist()):
        batch = events.take(q)
        model.ingest(batch)
        if comparison is not None:
            comparison.add_events(batch, model.bin_width, q)
        for i in range(at["ev"][n], at["ev"][n + 1]):
            window = _score_event(model, liq[i], band_pct, top, acc, q)
            if comparison is not None:
                comparison.add_event(i, window)
        for i in range(at["truth"][n], at["truth"][n + 1]):
            _score_event(model, truth_liq[i], band_pct, top, truth_acc, q)
        if comparison is not None and at["col"][n + 1] > at["col"][n]:
            comparison.add_column(q, model)
        if agreement is not None and at["snap"][n + 1] > at["snap"][n]:
            agreement.add(model, q)
        if progress and n % 64 == 0:
            progress(n / len(stops))
    out = acc.result()
    out.update({"bin_width_pct": round(100 * model.bin_width / model.mark_price(), 5) if model.bin_width and
                not math.isnan(model.mark_price()) else None,
                "lead_s": lead_s, "band_pct": band_pct, "top": top, "mode": model.mode,
                "mix_learned": model.mix.settings.learn, "leverage_mix": model.mix_summary()})
    if truth_acc is not None:
        out["truth_lift"] = truth_acc.result()["lift"]
        out.update(agreement.result())
    if comparison is not None:
        last_s = reader.end_ms // 1000 + 1     # the last horizon's prices, to the session's last whole second
        comparison.add_events(events.take(reader.end_ms + 1), model.bin_width, last_s * 1000)
        scored = comparison.result(liquidation_feeds(reader))
        scored.pop("lift")  # the same figure as ``out["lift"]``, recomputed per cluster
        out.update(scored)
        out.update({"horizon_min": options.horizon_ms / 60_000, "column_s": options.column_ms / 1000,
                    "cluster_gap_s": options.gap_ms / 1000, "resamples": options.resamples, "interval_level": 0.95})
    return out


def _column_times(reader: SessionReader, options: ScoreOptions, liquidation_ms: np.ndarray) -> np.ndarray:
    """Column times of the swept score: multiples of the column width within the session whose
    whole horizon lies in it and holds a liquidation (a column without one adds nothing to any
    figure: skipping it changes no result, and keeps a month's session small)."""
    step = options.column_ms
    first = (reader.start_ms // step + 1) * step
    last = reader.end_ms - options.horizon_ms
    if last < first:
        return np.empty(0, np.int64)
    times = np.arange(first, last + 1, step, dtype=np.int64)
    liq = np.sort(np.asarray(liquidation_ms, dtype=np.int64))
    # a liquidation in (t, t + horizon]
    has = np.searchsorted(liq, times + options.horizon_ms, side="right") > np.searchsorted(liq, times, side="right")
    return times[has]


MODEL_KINDS = ("trades", "marks", "open_interest", "liquidations")


class _ChunkedEvents:
    """The session's events read an hour at a time, handed out up to successive times."""

    def __init__(self, reader: SessionReader, chunk_ms: int = 3_600_000):
        self.reader, self.chunk_ms = reader, chunk_ms
        self.cursor = reader.start_ms
        self.loaded_to = reader.start_ms
        self.end = reader.end_ms + 1
        self.buffer = EventBatch()

    def take(self, until_ms: int) -> EventBatch:
        """Events in [previous until, ``until_ms``): the kinds the model and the baselines read
        (not the order book, most of a session's rows)."""
        end = self.end
        while self.loaded_to < min(until_ms, end):
            nxt = min(self.loaded_to + self.chunk_ms, end)
            chunk = self.reader.read(self.loaded_to, nxt, kinds=MODEL_KINDS)
            self.buffer = concat_batches([slice_batch(self.buffer, self.cursor, None), chunk])
            self.loaded_to = nxt
            release_free_heap()   # an hour's churn, given back: the peak then stays that of one hour
        out = slice_batch(self.buffer, self.cursor, until_ms)
        self.cursor = max(self.cursor, until_ms)
        return out


def _score_event(model: LevelModel, ev, band_pct: float, top: float, acc: Accuracy, at_ms: int) -> ModelWindow | None:
    """Score one liquidation against the model as it stands (at ``at_ms``, its look-up time);
    return the model's window there (None when it had no estimate yet: the event counts as missed)."""
    notional = float(ev["notional"])
    name = EXCHANGES[int(ev["exchange"])]
    mark = model.mark_price(name) if name in model.settings.exchanges else math.nan
    if math.isnan(mark):
        mark = model.mark_price()
    if not model.bin_width or math.isnan(mark):
        acc.add(notional, False, 0.0)  # no estimate yet: missed
        return None
    w = model.bin_width
    origin, rows, in_band = band_window(mark, w, band_pct, margin=1)
    level_maps = model.level_map(origin=origin, rows=rows)
    values = level_maps[LONG if ev["side"] > 0 else SHORT][in_band]
    hot = hot_bins(values, top)
    k = math.floor(float(ev["price"]) / w) - origin
    band_idx = np.flatnonzero(in_band)
    captured = bool(0 <= k < rows and in_band[k] and hot[np.searchsorted(band_idx, k)])
    acc.add(notional, captured, float(hot.sum()) / max(1, len(values)))
    return ModelWindow(at_ms, origin, rows, mark, level_maps, in_band)


def liquidation_feeds(reader) -> dict:
    """Per exchange, whether the session's liquidations are the complete feed, a sample or
    absent (a live recording says so in its meta; a simulated session's public feed is sampled)."""
    feeds = reader.meta.get("liquidation_feeds")
    if isinstance(feeds, dict):
        return {str(k): str(v) for k, v in feeds.items()}
    if "sim" in reader.meta:
        return dict.fromkeys(session_exchanges(reader), "sampled")
    return {}
