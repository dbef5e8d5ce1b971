"""``liqdesk simulate``: write a simulated session headless, as fast as the machine allows.

The session holds the public events (what a user of the exchanges would see: trades, marks,
polled open interest, funding, book snapshots and the throttled liquidation feed) and the ground
truth as two extra tables: ``truth_liquidations`` (every liquidation, liquidation columns) and
``truth_map`` (``time_ms, side, bin, notional``: true outstanding liquidation notional per
absolute price bin of width ``meta.sim.bin_width`` and side, every ``truth_every_ms``).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from liqdesk.commands import positive_float

HELP = "write a simulated multi-exchange session (public events plus the true liquidation map)"

#: simulated time per chunk handed to the session writer
CHUNK_MS = 15 * 60_000
#: rows per write of a spooled truth table: the store's log batch size, so the table's batches,
#: row groups and Parquet bytes are the same as a single write of the whole table would give
TRUTH_WRITE_ROWS = 65_536


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text!r}")
    return value


def _venues(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def scenario_name(text: str) -> str:
    """An argparse type: a scenario preset's name (case-insensitive), or a one-line error that lists
    the names."""
    from liqdesk.sim.scenarios import scenario

    try:
        return scenario(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scenario_help() -> str:
    from liqdesk.sim.scenarios import SCENARIOS

    text = ("market preset: " + "; ".join(f"{s.name}: {s.description}" for s in SCENARIOS.values())
            + " (default: the default market); --leverage-prior and --bias override a preset's")
    return text.replace("%", "%%")      # argparse formats help with %


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from liqdesk.sim.params import DEFAULT_LEVERAGE_PRIOR

    parser.add_argument("--hours", type=positive_float("a number of hours"), required=True, help="simulated hours (> 0)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0); same seed, same session")
    parser.add_argument("--out", required=True, metavar="SESSION", help="session directory to create (NAME.liqs)")
    parser.add_argument("--venues", type=_venues, default=3,
                        help="number of venues: binance, bybit, okx, hyperliquid, bitget in that order (default 3)")
    parser.add_argument("--scenario", type=scenario_name, default=None, metavar="NAME", help=scenario_help())
    parser.add_argument("--leverage-prior", default=None,
                        help="TRUE leverage distribution LEV:WEIGHT,..., any leverage > 1 (each venue caps it at "
                             f"its tier maximum, e.g. Binance BTC 150x); default: the scenario's, else "
                             f"{DEFAULT_LEVERAGE_PRIOR}")
    parser.add_argument("--bias", type=float, default=None,
                        help="long-run share of new positions that are long, in (0, 1) (default: the scenario's, else 0.55)")
    parser.add_argument("--symbol", default="BTC/USDT:USDT",
                        help="market to simulate, any spelling (BTC/USDT:USDT, SOLUSDT, ETH-USDT-SWAP); its price level, "
                             "step, activity and each venue's tier table come from it; a symbol without a profile "
                             "gets the generic (approximate) market (default BTC/USDT:USDT)")
    parser.add_argument("--start-price", type=float, default=None,
                        help="first price (default: the symbol's profile price)")
    parser.add_argument("--bin-width", type=float, default=None,
                        help="truth map bin width in quote currency (default 0.1%% of the start price, rounded)")
    parser.add_argument("--truth-every", type=float, default=None, metavar="SECONDS",
                        help="truth map snapshot interval in seconds (default 60)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing session at --out")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (shown only when stderr is a terminal anyway)")


def build_params(args: argparse.Namespace):
    """SimParams from the parsed arguments (ValueError with one line on bad values)."""
    from liqdesk.sim.params import SimParams, venues_for

    kw = dict(venues=venues_for(args.venues), seed=args.seed, hours=args.hours,
              symbol=getattr(args, "symbol", None) or "BTC/USDT:USDT", scenario=getattr(args, "scenario", None))
    if args.leverage_prior is not None:
        kw["leverage_prior"] = args.leverage_prior
    if args.bias is not None:
        kw["bias"] = args.bias
    if args.start_price is not None:
        kw["start_price"] = args.start_price
    if args.bin_width is not None:
        kw["truth_bin_width"] = args.bin_width
    if args.truth_every is not None:
        if not (args.truth_every > 0 and math.isfinite(args.truth_every)):
            raise ValueError(f"--truth-every must be a number of seconds > 0, not {args.truth_every!r}")
        kw["truth_every_ms"] = int(round(args.truth_every * 1000))
    return SimParams(**kw)


def run(args: argparse.Namespace) -> int:
    from liqdesk.commands.progress import Progress
    from liqdesk.core.events import KINDS
    from liqdesk.errors import UserError
    from liqdesk.sim import SimulationError, Simulator
    from liqdesk.sim.market import TRUTH_MAP_DTYPE

    params = build_params(args)
    try:
        from liqdesk.store import SessionWriter
        from liqdesk.store.atomic import atomic_dir, check_target, one_line
        from liqdesk.store.spool import RowSpool
    except ImportError as exc:  # the store layer is being built alongside
        raise UserError(f"the session store is not available: {exc}") from None
    try:  # before the work, not after it
        check_target(Path(args.out), args.overwrite, is_dir=True)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    # the truth is streamed out as it is made (to spools on disk), not kept for the whole run
    sim = Simulator(params, keep_history=False)
    from liqdesk.core.tiers import load_tiers

    tables = {v: load_tiers(v, params.symbol) for v in params.venues}
    meta = {
        "source": "sim",
        "tiers": {v: {"symbol": t.symbol, "approximate": t.approximate, "as_of": t.as_of} for v, t in tables.items()},
        "sim": params.to_meta(),
        "seed": params.seed,
        "scenario": params.scenario,
        "bin_width": params.bin_width,
        "truth_every_ms": params.truth_every_ms,
        "truth_tables": {
            "truth_liquidations": "every liquidation: time_ms, exchange, side (+1 long liquidated), price, "
                                  "size, notional (the public 'liquidations' are the throttled feed)",
            "truth_map": "time_ms, side (+1 long, -1 short), bin (absolute: [bin*bin_width, (bin+1)*bin_width)), "
                         "notional (entry notional of open positions whose liquidation price lies in the bin)",
        },
    }
    t0 = time.perf_counter()
    end = params.end_ms
    total_ms = end - params.start_ms
    written = 0
    # the share of the simulated span done, events/s written (on a terminal, unless --quiet)
    progress = Progress("simulate", enabled=False if args.quiet else None)
    stopped: SimulationError | None = None
    tmp = out = Path(args.out)
    liqs_count = 0
    try:
        # written to a temporary directory beside --out, renamed to it once closed; the truth
        # waits in spools (unnamed temporary files there) until the run is complete
        with (atomic_dir(out, overwrite=args.overwrite) as tmp,
              RowSpool(KINDS["liquidations"], tmp.parent) as liq_spool,
              RowSpool(TRUTH_MAP_DTYPE, tmp.parent) as map_spool):
            writer = SessionWriter(tmp, symbol=params.symbol, meta=meta)
            try:
                try:
                    while not sim.finished:
                        batch = sim.step(min(sim.now + CHUNK_MS, end))
                        writer.write(batch)
                        written += len(batch)
                        truth_liq, truth_map = sim.drain_truth()
                        liq_spool.append(truth_liq)
                        map_spool.append(truth_map)
                        progress((sim.now - params.start_ms) / total_ms, written)
                except SimulationError as exc:
                    # what was written is valid (every batch is validated): the session is kept,
                    # closed, and says where and why it stops
                    writer.update_meta(complete=False, sim_error=" ".join(str(exc).split()), sim_stopped_ms=sim.now)
                    stopped = exc
                if stopped is None:
                    liqs_count = len(liq_spool)
                    notional = _write_spooled(writer, "truth_liquidations", liq_spool, "notional")
                    _write_spooled(writer, "truth_map", map_spool)
                    writer.update_meta(complete=True,
                                       sim_stats={**sim.stats, "truth_liquidations": liqs_count,
                                                  "truth_liquidation_notional": notional,
                                                  "wall_s": round(time.perf_counter() - t0, 3)})
            except BaseException:
                writer.abort()
                raise
            writer.close()
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"could not write {out}: {one_line(exc, tmp, out)}; nothing was written there") from None
    finally:
        progress.close()
    if stopped is not None:
        raise UserError(f"{stopped}; {args.out} keeps the events before it (meta 'complete': false)")
    elapsed = time.perf_counter() - t0
    approx = [v for v, t in tables.items() if t.approximate]
    market = "approximate market (generic profile)" if params.market.approximate else f"market as of {params.market.as_of}"
    print(f"{params.symbol}: {market}, start price {params.start_price:g}; "
          + (f"approximate tiers (generic table) on {', '.join(approx)}" if approx else "published tier tables"))
    print(f"wrote {args.out}: {args.hours:g} simulated hours, {len(params.venues)} venues, seed {params.seed}, "
          + (f"scenario {params.scenario}, " if params.scenario else "") +
          f"{written:,} events, {liqs_count:,} liquidations (truth), {elapsed:.1f} s "
          f"({args.hours / elapsed * 60:.1f} simulated h/min)")
    return 0


def _write_spooled(writer, name: str, spool, sum_field: str | None = None) -> float | None:
    """Write a spooled table into the session ``TRUTH_WRITE_ROWS`` at a time (an empty table when
    nothing was spooled, so the table always exists); return the sum of ``sum_field`` over all
    rows, or None.

    The sum is taken over the rows joined into one array, so it is bit for bit what numpy gives
    for the whole table in memory; only ask it of a small table (the liquidations: ~0.2 MB a day)."""
    import numpy as np

    if not len(spool):
        writer.write_table(name, np.empty(0, spool.dtype))
        return 0.0 if sum_field else None
    kept = []
    for rows in spool.chunks(TRUTH_WRITE_ROWS):
        writer.write_table(name, rows)
        if sum_field:
            kept.append(rows)
    return float(np.concatenate(kept)[sum_field].sum()) if sum_field else None
