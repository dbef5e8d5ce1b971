"""``liqdesk export``: a session's estimated heatmap grid as CSV, Parquet or NPZ."""

from __future__ import annotations

import argparse
from pathlib import Path

from liqdesk.commands import PRIOR_HELP, Omissions, add_age, add_strict, leverage_prior

HELP = "write a session's estimated heatmap grid (or another view) to .csv, .parquet or .npz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session folder (NAME.liqs)")
    parser.add_argument("--out", required=True, help="output file; the extension picks the format")
    from liqdesk.app.views import DELTA_PERIODS, EXPORT_VIEWS

    parser.add_argument("--view", default="heatmap", choices=("heatmap",) + EXPORT_VIEWS,
                        help="heatmap: the estimated grid, long and short (default); delta: each level's "
                             "change over --period; age: each cell split by when its positions were opened (one "
                             "column per age bucket); liquidity: resting bid/ask notional by price over "
                             "time (sessions with order-book events); context: per time bucket taker "
                             "buy/sell, CVD, liquidations, open interest and funding; hotlines: the "
                             "--lines strongest levels at --at or the end")
    parser.add_argument("--period", default="4h", choices=tuple(DELTA_PERIODS),
                        help="the delta view's period (default 4h)")
    parser.add_argument("--lines", type=int, default=10, help="hotlines: how many levels (default 10)")
    parser.add_argument("--at", help="only the column in force at this time (ms since epoch or ISO 8601); "
                                     "hotlines: the state at this time")
    parser.add_argument("--exchanges", nargs="+", help="exchanges to include (default all)")
    parser.add_argument("--tiers", nargs="+", type=float, help="leverage tiers to include, e.g. 50 100")
    add_age(parser)
    parser.add_argument("--column-s", type=float, help="column width in seconds (default: fit the session in 2,000)")
    parser.add_argument("--rows", type=int, default=600, help="price rows around the price (default 600)")
    parser.add_argument("--prior", type=leverage_prior, metavar="LEV:WEIGHT,...", help=PRIOR_HELP)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_strict(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from liqdesk.app.analysis import grid_for_session
    from liqdesk.commands.progress import Progress, TrackedReader
    from liqdesk.core.timefmt import format_time, parse_time
    from liqdesk.errors import UserError
    from liqdesk.store import SessionReader
    from liqdesk.store.atomic import check_target

    out = Path(args.out)
    fmt = out.suffix.lower()
    if fmt not in (".csv", ".parquet", ".npz"):
        raise UserError(f"--out must end in .csv, .parquet or .npz, not {out.name!r}")
    try:
        check_target(out, args.overwrite)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    if args.rows < 8:
        raise UserError("--rows must be at least 8")
    ages = args.age
    column_ms = None
    if args.column_s is not None:
        if not args.column_s >= 0.001:
            raise UserError("--column-s must be > 0")
        column_ms = int(round(args.column_s * 1000))
    if not 1 <= args.lines <= 1000:
        raise UserError("--lines must be 1..1000")
    reader = SessionReader(args.session)
    reader.read_in_time_order()          # every export is one pass forward in time
    omissions = Omissions(reader, args.strict)
    omissions.check()
    if args.view != "heatmap":
        return _export_view(args, reader, omissions, out, fmt, column_ms, ages)
    with Progress("export") as progress:
        grid = grid_for_session(TrackedReader(reader, progress), args.exchanges, args.tiers, column_ms, args.rows,
                                prior=args.prior, ages=ages)
    omissions.check()  # damaged row groups are found while reading: refused (--strict) before writing
    cols = np.arange(len(grid.time_ms))
    if args.at is not None:
        at = parse_time(args.at)
        idx = int(np.searchsorted(grid.time_ms, at, "right")) - 1
        if idx < 0:
            raise UserError(f"--at {format_time(at)} is before the first column ({format_time(int(grid.time_ms[0]))})")
        cols = cols[idx: idx + 1]
    if fmt == ".npz":
        arrays = {"time_ms": grid.time_ms[cols], "price_low": grid.price_low, "bin_width": grid.bin_width,
                  "long_usd": grid.long[:, cols], "short_usd": grid.short[:, cols]}
        write_output(out, args.overwrite, lambda fh: np.savez_compressed(fh, **arrays))
        omissions.say()
        print(f"wrote {out}: {len(grid.price_low)} price rows x {len(cols)} columns")
        return 0
    long, short = grid.long[:, cols], grid.short[:, cols]
    r, c = np.nonzero((long > 0) | (short > 0))
    table = {
        "time_ms": grid.time_ms[cols][c],
        "price_low": grid.price_low[r],
        "price_high": grid.price_low[r] + grid.bin_width,
        "long_usd": long[r, c].astype(float),
        "short_usd": short[r, c].astype(float),
    }
    order = np.lexsort((table["price_low"], table["time_ms"]))
    table = {k: v[order] for k, v in table.items()}
    if fmt == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        write_output(out, args.overwrite, lambda fh: pq.write_table(pa.table(table), fh, compression="zstd"))
    else:
        write_output(out, args.overwrite, lambda fh: _write_csv(fh, table))
    omissions.say()
    print(f"wrote {out}: {len(order)} non-empty cells over {len(cols)} column(s)")
    return 0


def _export_view(args, reader, omissions: Omissions, out: Path, fmt: str, column_ms: int | None, ages) -> int:
    """``export --view`` for the views besides the heatmap (see :mod:`liqdesk.app.view_export`)."""
    import numpy as np

    from liqdesk.app import view_export
    from liqdesk.commands.progress import Progress, TrackedReader
    from liqdesk.core.timefmt import format_time, parse_time
    from liqdesk.errors import UserError

    if reader.start_ms is None:
        raise UserError(f"session {reader.path} holds no events: nothing to export")
    at = parse_time(args.at) if args.at is not None else None
    if (args.tiers or ages) and args.view in ("liquidity", "context"):
        raise UserError(f"--{'tiers' if args.tiers else 'age'} does not apply to --view {args.view} "
                        "(it holds no estimated levels)")
    if ages and args.view == "age":
        raise UserError("--age does not apply to --view age (it holds every age bucket, one column each)")
    if at is not None and at <= reader.start_ms:
        raise UserError(f"--at {format_time(at)} is before the session starts ({format_time(reader.start_ms)})")
    with Progress("export") as progress:
        tracked = TrackedReader(reader, progress)
        try:
            if args.view == "delta":
                table = view_export.delta_table(tracked, args.period, args.exchanges, args.tiers, column_ms,
                                                args.rows, args.prior, progress, ages)
            elif args.view == "age":
                table = view_export.age_table(tracked, args.exchanges, args.tiers, column_ms, args.rows, args.prior,
                                              progress)
            elif args.view == "liquidity":
                table = view_export.liquidity_table(tracked, args.exchanges, column_ms, args.rows, progress)
            elif args.view == "context":
                table = view_export.context_table(tracked, args.exchanges, column_ms, progress)
            else:
                table = view_export.hot_lines_table(tracked, at, args.lines, args.exchanges, args.tiers, args.rows,
                                                    args.prior, progress, ages)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    omissions.check()
    if at is not None and args.view != "hotlines":
        table = _at_time(table, at)
    if fmt == ".npz":
        write_output(out, args.overwrite, lambda fh: np.savez_compressed(fh, **table.arrays))
    elif fmt == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        write_output(out, args.overwrite, lambda fh: pq.write_table(pa.table(table.columns), fh, compression="zstd"))
    else:
        write_output(out, args.overwrite, lambda fh: _write_csv(fh, table.columns))
    omissions.say()
    n = len(next(iter(table.columns.values()))) if table.columns else 0
    print(f"wrote {out}: {args.view}, {n} {table.what}")
    return 0


def _at_time(table, at: int):
    """The rows of the column (grid views: the last one ending at or before ``at``, as the
    heatmap's ``--at``) or time bucket (context: the one holding ``at``) in force at ``at``."""
    import numpy as np

    from liqdesk.app.view_export import ViewTable
    from liqdesk.core.timefmt import format_time
    from liqdesk.errors import UserError

    times = np.asarray(table.arrays["time_ms"])
    idx = int(np.searchsorted(times, at, "right")) - 1
    if idx < 0:
        raise UserError(f"--at {format_time(at)} is before the first column ({format_time(int(times[0]))})")
    keep = table.columns["time_ms"] == times[idx]
    arrays = {}
    for name, v in table.arrays.items():
        v = np.asarray(v)
        if v.ndim == 2:                                  # [rows, columns]
            v = v[:, idx:idx + 1]
        elif v.ndim == 1 and name not in ("price_low",) and len(v) == len(times):
            v = v[idx:idx + 1]
        arrays[name] = v
    return ViewTable({k: v[keep] for k, v in table.columns.items()}, arrays, table.what)


#: CSV rows formatted and written at a time
CSV_ROWS = 65_536


def _csv_spec(name: str, values) -> str:
    """A column's format: integers as they are, dollars with 6 decimals, other numbers with 10
    significant digits (NaN, nothing known yet, as ``nan``)."""
    if values.dtype == object or values.dtype.kind in "USiu":
        return "{}"
    return "{:.6f}" if name.endswith("_usd") else "{:.10g}"


def _write_csv(fh, table: dict) -> None:
    """Columns in order under a header line (formats: :func:`_csv_spec`)."""
    names = list(table)
    fh.write((",".join(names) + "\n").encode("utf-8"))
    row = ",".join(_csv_spec(name, table[name]) for name in names) + "\n"
    columns = [table[name] for name in names]
    for i in range(0, len(columns[0]) if columns else 0, CSV_ROWS):
        rows = zip(*(col[i:i + CSV_ROWS].tolist() for col in columns))
        fh.write("".join(row.format(*r) for r in rows).encode("utf-8"))


def write_output(out: Path, overwrite: bool, write) -> None:
    """``write(fh)`` into a temporary file beside ``out``, renamed to ``out`` once complete; on
    any failure the temporary is removed and ``out`` left as it was (a one-line error)."""
    from liqdesk.errors import UserError
    from liqdesk.store.atomic import atomic_file, one_line

    tmp = out
    try:
        with atomic_file(out, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
            write(fh)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        kept = "it is unchanged" if out.exists() else "nothing was written there"
        raise UserError(f"could not write {out}: {one_line(exc, tmp, out)}; {kept}") from None
