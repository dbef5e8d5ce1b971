"""The views besides the plain heatmap as tables, for ``liqdesk export --view`` (no Qt).

Each view is computed by the same code the window and ``render --view`` draw with: the delta
from :func:`liqdesk.app.views.delta_image` over the model's filtered image, the order-book grid
from the engine's :class:`~liqdesk.core.liquidity.LiquidityGrid`, the context panes from
:class:`~liqdesk.core.context.ContextSeries`, the hot lines from
:func:`liqdesk.app.views.hot_lines` over the live level map. A :class:`ViewTable` holds a
view as named columns (one row per non-empty cell, per time bucket or per line) and, for the
grid views, as dense arrays for ``.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liqdesk.app.analysis import auto_column_ms, check_filters, run_model, settings_for
from liqdesk.app.views import DELTA_PERIODS, delta_image, hot_lines, period_columns
from liqdesk.core.context import ContextSeries
from liqdesk.store import SessionReader


@dataclass
class ViewTable:
    """One view as columns of equal length (``columns``: name -> 1-D array, in output order) and,
    for ``.npz``, the arrays to store (dense grids with their axes). ``what`` says in a few words
    what a row is (for the command's last line)."""

    columns: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    what: str = "rows"


def _span_settings(reader: SessionReader, column_ms: int | None, rows: int, prior: dict | None,
                   exchanges=None):
    """Settings covering the whole session in one window (as ``export`` uses for the heatmap)."""
    span = reader.end_ms - reader.start_ms + 1
    column_ms = column_ms or auto_column_ms(span)
    n_cols = int(reader.end_ms // column_ms - reader.start_ms // column_ms) + 1
    return settings_for(reader, column_ms=column_ms, window_columns=max(2, n_cols), rows=rows, **(prior or {}))


def _column_times(cols: np.ndarray, column_ms: int, watermark: int | None) -> np.ndarray:
    """Each column's time: its end, the newest one the session's last event (as the heatmap export)."""
    times = (cols + 1) * column_ms
    if watermark is not None and len(times):
        times[-1] = min(int(times[-1]), int(watermark))
    return times


def _cells(time_ms: np.ndarray, price_low: np.ndarray, width: float, values: dict[str, np.ndarray],
           keep: np.ndarray) -> dict[str, np.ndarray]:
    """One row per kept cell of ``[rows, columns]`` grids, ordered by time then price."""
    r, c = np.nonzero(keep)
    out = {"time_ms": time_ms[c], "price_low": price_low[r], "price_high": price_low[r] + width}
    out.update({name: grid[r, c].astype(float) for name, grid in values.items()})
    order = np.lexsort((out["price_low"], out["time_ms"]))
    return {k: v[order] for k, v in out.items()}


def delta_table(reader: SessionReader, period: str, exchanges=None, tiers=None, column_ms: int | None = None,
                rows: int = 600, prior: dict | None = None, progress=None, ages=None) -> ViewTable:
    """Each level's change over ``period`` (a key of :data:`DELTA_PERIODS`), long and short
    together, filtered, in dollars: rows only where there was something to compare with and the
    level changed."""
    settings = _span_settings(reader, column_ms, rows, prior)
    check_filters(settings, exchanges, tiers)
    k = period_columns(DELTA_PERIODS[period], settings.column_ms, settings.window_columns)
    model = run_model(reader, settings, progress=progress)
    image, cols, origin = model.image(exchanges, tiers, ages=ages)
    first = int(np.searchsorted(cols, reader.start_ms // settings.column_ms))
    delta = delta_image(image, k, first)
    times = _column_times(cols, settings.column_ms, model.watermark)
    price_low = model.bin_prices(origin, settings.rows)
    keep = np.isfinite(delta) & (delta != 0)
    keep[:, :first] = False
    return ViewTable(_cells(times, price_low, model.bin_width, {"delta_usd": delta}, keep),
                     {"time_ms": times[first:], "price_low": price_low, "bin_width": np.float64(model.bin_width),
                      "delta_usd": delta[:, first:], "period_ms": np.int64(DELTA_PERIODS[period])},
                     f"changed cells over {period}")


def age_table(reader: SessionReader, exchanges=None, tiers=None, column_ms: int | None = None, rows: int = 600,
              prior: dict | None = None, progress=None) -> ViewTable:
    """Each cell's notional split by when its positions were opened (the position-age buckets of
    :mod:`liqdesk.core.position_age`, one ``<bucket>_usd`` column each, summing to the heatmap's
    cell), long and short together, filtered."""
    from liqdesk.app.age_view import age_buckets
    from liqdesk.core.position_age import BUCKET_KEYS

    settings = _span_settings(reader, column_ms, rows, prior)
    check_filters(settings, exchanges, tiers)
    model = run_model(reader, settings, progress=progress)
    buckets, cols, origin = age_buckets(model, exchanges, tiers)
    first = int(np.searchsorted(cols, reader.start_ms // settings.column_ms))
    buckets, cols = buckets[:, :, first:], cols[first:]
    times = _column_times(cols, settings.column_ms, model.watermark)
    price_low = model.bin_prices(origin, settings.rows)
    values = {f"{key}_usd": buckets[i] for i, key in enumerate(BUCKET_KEYS)}
    return ViewTable(_cells(times, price_low, model.bin_width, values, buckets.sum(axis=0) > 0),
                     {"time_ms": times, "price_low": price_low, "bin_width": np.float64(model.bin_width),
                      **values}, "non-empty cells")


def liquidity_table(reader: SessionReader, exchanges=None, column_ms: int | None = None, rows: int = 600,
                    progress=None) -> ViewTable:
    """Resting bid and ask notional (quote) by price bin at each column's end, merged over the
    chosen exchanges' books, as the order-book heatmap draws it."""
    from liqdesk.app.engine import Engine

    counts = reader.counts().get("book", {})
    if not any(counts.values()):
        raise ValueError(f"session {reader.path} holds no order-book events: no resting liquidity to export")
    settings = _span_settings(reader, column_ms, rows, None)
    check_filters(settings, exchanges, None)
    engine = Engine(settings, order_book_grid=True)
    start, end = reader.start_ms, reader.end_ms + 1
    for batch in reader.iter_batches(900_000, start, end):
        engine.ingest(batch)
        if progress:
            progress((batch.time_span()[1] - start) / max(1, end - start))
    engine.model.flush()
    engine.liquidity.sample_now()
    model = engine.model
    first, last = start // settings.column_ms, (end - 1) // settings.column_ms
    cols = np.arange(first, last + 1)
    origin = model.image(long=False, short=False)[2]      # the heatmap's own rows
    bid = engine.liquidity.image(origin, settings.rows, cols, "bid", exchanges)
    ask = engine.liquidity.image(origin, settings.rows, cols, "ask", exchanges)
    times = _column_times(cols, settings.column_ms, model.watermark)
    price_low = model.bin_prices(origin, settings.rows)
    return ViewTable(_cells(times, price_low, model.bin_width, {"bid_usd": bid, "ask_usd": ask}, (bid > 0) | (ask > 0)),
                     {"time_ms": times, "price_low": price_low, "bin_width": np.float64(model.bin_width),
                      "bid_usd": bid, "ask_usd": ask}, "non-empty cells")


def context_table(reader: SessionReader, exchanges=None, interval_ms: int | None = None, progress=None) -> ViewTable:
    """The context panes per time bucket: taker buy/sell notional, their delta and its running
    sum (CVD), long/short liquidations (quote), open interest (quote notional) in total and per
    exchange, funding rate per exchange (the last value known at each bucket's end; empty before
    the first)."""
    start, end = reader.start_ms, reader.end_ms + 1
    if exchanges:
        have = set(reader.counts().get("trades", {})) | set(reader.counts().get("open_interest", {}))
        unknown = [e for e in exchanges if e not in have]
        if unknown:
            raise ValueError(f"exchange(s) {', '.join(unknown)} not in the session")
    interval = interval_ms or max(60_000, auto_column_ms(end - start))
    series = ContextSeries(keep_ms=max(end - start + interval, 1))
    for batch in reader.iter_batches(3_600_000, start, end):
        series.update(batch)
        if progress:
            progress((batch.time_span()[1] - start) / max(1, end - start))
    win = series.window(start, end, interval, exchanges)
    cols = {"time_ms": win.time_ms, "buy_usd": win.buy, "sell_usd": win.sell, "delta_usd": win.delta,
            "cvd_usd": win.cvd, "liq_long_usd": win.liq_long, "liq_short_usd": win.liq_short,
            "open_interest_usd": win.open_interest_total}
    for name, values in win.open_interest.items():
        cols[f"open_interest_{name}_usd"] = values
    for name, values in win.funding.items():
        cols[f"funding_rate_{name}"] = values
    return ViewTable(cols, dict(cols, interval_ms=np.int64(win.interval_ms)),
                     f"buckets of {win.interval_ms / 1000:g} s")


def hot_lines_table(reader: SessionReader, at_ms: int | None = None, n: int = 10, exchanges=None, tiers=None,
                    rows: int = 600, prior: dict | None = None, progress=None, ages=None) -> ViewTable:
    """The ``n`` strongest levels (as the hot lines draw them) at ``at_ms`` (default: the
    session's end): rank, price (the bin's middle), side, dollars, distance from the price (%)."""
    settings = _span_settings(reader, None, rows, prior)
    check_filters(settings, exchanges, tiers)
    model = run_model(reader, settings, until_ms=at_ms, progress=progress)
    origin = model.image(long=False, short=False)[2]      # the heatmap's own rows
    level_map = model.level_map(exchanges, tiers, origin, settings.rows, ages=ages)
    lines = hot_lines(level_map, origin, model.bin_width, n)
    price = model.mark_price()
    time_ms = model.watermark if model.watermark is not None else reader.end_ms
    cols = {
        "time_ms": np.full(len(lines), int(time_ms), np.int64),
        "rank": np.arange(1, len(lines) + 1),
        "price": np.array([x.price for x in lines], float),
        "side": np.array(["long" if x.side > 0 else "short" for x in lines], dtype=object),
        "notional_usd": np.array([x.notional for x in lines], float),
        "distance_pct": np.array([100 * (x.price / price - 1) for x in lines], float),
    }
    arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in cols.items()}
    return ViewTable(cols, arrays, "levels")
