"""Exports from the window: a panel to PNG, the displayed grid (filtered as shown) to CSV or
Parquet in the same columns as ``liqdesk export``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liqdesk.app.view_state import ViewState


def grid_table(model, view: ViewState) -> dict[str, np.ndarray]:
    """Non-empty cells of the displayed window (live column included), filtered by ``view``:
    time_ms (the time each column stands for: its end; the live column the newest event),
    price_low, price_high, long_usd, short_usd."""
    exchanges = view.model_exchanges(model)
    long, cols, origin = model.image(exchanges, view.tiers, long=view.long, short=False, ages=view.ages)
    short, _, _ = model.image(exchanges, view.tiers, long=False, short=view.short, ages=view.ages)
    if not view.long:
        long = np.zeros_like(long)
    if not view.short:
        short = np.zeros_like(short)
    cm = model.settings.column_ms
    times = (cols + 1) * cm
    if model.watermark is not None:
        times[-1] = model.watermark
    low = model.bin_prices(origin, model.settings.rows)
    r, c = np.nonzero((long > 0) | (short > 0))
    table = {
        "time_ms": times[c].astype(np.int64),
        "price_low": low[r],
        "price_high": low[r] + model.bin_width,
        "long_usd": long[r, c].astype(float),
        "short_usd": short[r, c].astype(float),
    }
    order = np.lexsort((table["price_low"], table["time_ms"]))
    return {k: v[order] for k, v in table.items()}


def write_grid(path, model, view: ViewState) -> int:
    """Write the displayed grid to ``path`` (.csv or .parquet); returns the number of rows."""
    return write_table(path, grid_table(model, view))


def write_table(path, table: dict[str, np.ndarray]) -> int:
    """Write a :func:`grid_table` to ``path`` (.parquet, else CSV); returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(table), path, compression="zstd")
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("time_ms,price_low,price_high,long_usd,short_usd\n")
            for t, lo, hi, lu, su in zip(*(table[k].tolist() for k in table)):
                fh.write(f"{t},{lo:.10g},{hi:.10g},{lu:.6f},{su:.6f}\n")
    return len(table["time_ms"])
