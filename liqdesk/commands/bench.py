"""``liqdesk bench``: performance figures, each against a baseline measured in the same run.

Absolute times vary from machine to machine, so every figure comes with a baseline doing the
simplest equivalent work on the same data in the same process (plain numpy binning for the
model, plain ``json.loads`` for importers, a bare pyqtgraph image for frames). Sections whose
parts are not installed yet are reported as skipped with the reason.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HELP = "measure ingest, filter, import, seek, frame, rebuild and startup speed against same-run baselines"
SECTION_NAMES = ("ingest", "filter", "import", "seek", "sim", "frame", "rebuild", "startup", "memory", "live")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="a smaller run (under 30 s) for CI smoke")
    parser.add_argument("--only", default=None,
                        help="comma-separated sections to run (" + ",".join(SECTION_NAMES) + "; live only when named: "
                             "a full run of it takes about 35 minutes)")
    parser.add_argument("--live-realistic", default=None, metavar="DURATION",
                        help="how long the live section measures CPU and memory at a realistic rate "
                             "(default 30m, 30s with --quick), e.g. 10m")
    parser.add_argument("--startup-command", type=_executable, metavar="EXE", default=None,
                        help="the startup section also times this liqdesk executable (the desktop bundle, "
                             "dist/liqdesk/liqdesk) in the same run: startup_command_ms beside startup_ms")
    parser.add_argument("--memory-long", default=None, metavar="DURATION",
                        help="the memory section's long session (default 48h, 4h with --quick), measured "
                             "beside the short one (6h, 1h): e.g. 7d")
    parser.add_argument("--in-process", action="store_true",
                        help="run sections in this process (default: one child process per section, so "
                             "each section's peak memory is its own)")


def _executable(text: str) -> str:
    """An executable file's absolute path (``--startup-command``), else a one-line argparse error."""
    import os

    path = os.path.abspath(text)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise argparse.ArgumentTypeError(f"{text} is not an executable file")
    return path


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_ingest(quick: bool) -> dict:
    """Trades + OI + marks through the full level model and grid vs np.bincount of the trades."""
    from liqdesk.core.events import slice_batch
    from liqdesk.core.levels import LevelModel, ModelSettings
    from liqdesk.core.synthetic import random_walk_stream
    from liqdesk.sources.replay import MAX_CHUNK_MS as REPLAY_CHUNK_MS

    hours = 0.5 if quick else 4.0
    stream = random_walk_stream(hours=hours, seed=7)
    settings = ModelSettings(column_ms=60_000, window_columns=1440, rows=2000)
    start, end = stream.time_span()
    n_events = len(stream.trades) + len(stream.marks) + len(stream.open_interest)
    # The model is built once (as the app does: its grid memory is committed then) and reset
    # between runs; the timed part is ingest alone.
    model = LevelModel(settings)

    def events_per_s(chunk_ms: int) -> float:
        batches = [slice_batch(stream, t, t + chunk_ms) for t in range(start, end + 1, chunk_ms)]
        times = []
        for _ in range(4):  # the first run warms caches and is not counted
            model.reset()
            t0 = time.perf_counter()
            for b in batches:
                model.ingest(b)
            model.flush()
            times.append(time.perf_counter() - t0)
        return n_events / float(np.median(times[1:]))

    # 5-minute batches: what replay at full speed, export and evaluate feed the model
    rate = events_per_s(REPLAY_CHUNK_MS)
    rate_1min = events_per_s(60_000)
    tr = stream.trades
    w, origin, rows = model.bin_width, model.display_origin or model.origin, settings.rows
    n_cols = settings.window_columns

    def run_baseline():
        t = np.ascontiguousarray(tr["time_ms"])
        p = np.ascontiguousarray(tr["price"])
        col = ((t - start) // settings.column_ms) % n_cols
        row = np.clip(np.floor(p / w).astype(np.int64) - origin, 0, rows - 1)
        return np.bincount(col * rows + row, weights=p * tr["size"], minlength=n_cols * rows)

    run_baseline()
    base_s = _median_time(run_baseline, 5)
    return {
        "ingest_events_per_s": round(rate),
        "ingest_baseline_per_s": round(len(tr) / base_s),
        "ingest_ratio": round(rate / (len(tr) / base_s), 3),
        "ingest_events_per_s_1min_batches": round(rate_1min),
        "ingest_ratio_1min_batches": round(rate_1min / (len(tr) / base_s), 3),
        "ingest_events": n_events,
        "ingest_mix": {"trades": len(tr), "marks": len(stream.marks), "open_interest": len(stream.open_interest),
                       "hours": hours, "exchanges": 3, "batch_ms": REPLAY_CHUNK_MS},
    }


def bench_filter(quick: bool) -> dict:
    """24 h window of 1-minute columns, 2,000 rows, 3 exchanges x 5 tiers x 2 sides (the shape
    the figure is defined on; the default prior has 6): switch one exchange off and rebuild the
    whole displayed grid (median of 5); peak RSS of that state."""
    import psutil

    from liqdesk.core.levels import LevelModel, ModelSettings
    from liqdesk.core.synthetic import random_walk_stream

    rss0 = psutil.Process().memory_info().rss
    settings = ModelSettings(column_ms=60_000, window_columns=1440, rows=2000,
                             leverages=(10.0, 20.0, 25.0, 50.0, 100.0), weights=(0.2,) * 5)
    model = LevelModel(settings)
    hours = 2.0 if quick else 24.0
    step_h = 1.0
    for i in range(int(hours / step_h)):
        b = random_walk_stream(hours=step_h, start_ms=1_700_000_000_000 + int(i * step_h * 3_600_000),
                               seed=100 + i, trades_per_s=20.0, price=60_000.0 * (1 + 0.002 * np.sin(i)))
        model.ingest(b)
    model.flush()
    gc.collect()
    rss_state = psutil.Process().memory_info().rss
    on = model.settings.exchanges
    off = on[1:]
    model.image(exchanges=on)
    times = []
    for k in range(5):
        t0 = time.perf_counter()
        img, _, _ = model.image(exchanges=off if k % 2 == 0 else on)
        times.append(time.perf_counter() - t0)
    peak = _peak_rss_mb()
    return {
        "filter_recompute_ms": round(1000 * float(np.median(times)), 2),
        "filter_grid_shape": list(img.shape),
        "filter_state_mb": round(model.grid.nbytes / 2**20, 1),
        "state_rss_mb": round((rss_state - rss0) / 2**20, 1),
        "peak_rss_mb": peak,
    }


def _peak_rss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024, 1)


def _real_capture() -> Path | None:
    """The real Binance BTC capture beside the checkout (../shared/data/real), if present."""
    env = os.environ.get("LIQDESK_REAL_DATA")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd().parent / "shared" / "data" / "real",
                   Path(__file__).resolve().parents[3] / "shared" / "data" / "real"]
    for base in candidates:
        path = base / "binance-usdm-ws" / "btcusdt_20240808.gz"
        if path.is_file():
            return path
    return None


def bench_import(quick: bool) -> dict:
    """The binance-ws importer on the real BTC capture vs plain json.loads of the same lines."""
    from liqdesk.sources.importers.bench import measure_import

    path = _real_capture()
    if path is None:
        return {"import_skipped": "real capture ../shared/data/real/binance-usdm-ws/btcusdt_20240808.gz not found "
                                  "(set LIQDESK_REAL_DATA)"}
    out = measure_import(path, rounds=2 if quick else 5)
    out["import_ratio"] = round(out["import_ratio"], 3)
    return out


def bench_seek(quick: bool) -> dict:
    """Seek in a 24 h session: median time to read one minute at random points."""
    import tempfile

    from liqdesk.store.bench import measure_seek_ms

    with tempfile.TemporaryDirectory() as tmp:
        return measure_seek_ms(tmp, points=10 if quick else 20, trades=1_000_000 if quick else 5_000_000)


def bench_sim(quick: bool) -> dict:
    from liqdesk.sim.bench import measure_sim

    return measure_sim(hours=0.5 if quick else 2.0)


def bench_frame(quick: bool) -> dict:
    from liqdesk.ui.bench import measure_frames

    return measure_frames(quick)


def bench_rebuild(quick: bool) -> dict:
    from liqdesk.app.bench import measure_rebuild

    return measure_rebuild(quick)


#: another liqdesk executable the startup section times too (``--startup-command``)
STARTUP_COMMAND: str | None = None


def bench_startup(quick: bool) -> dict:
    from liqdesk.ui.startup_bench import measure_startup

    return measure_startup(quick, STARTUP_COMMAND)


def bench_alerts(quick: bool) -> dict:
    from liqdesk.app.alert_bench import measure_alerts

    return measure_alerts(quick)


#: the memory section's long session (hours); None: its default (``--memory-long``)
MEMORY_LONG_H: float | None = None


def bench_memory(quick: bool) -> dict:
    """Peak RSS of simulate, evaluate, export and replay, each in its own child process, on a
    6 h and a 48 h simulated session (1 h and 4 h with --quick; ``--memory-long`` another long
    one), and the long / short ratio."""
    from liqdesk.app.memory_bench import measure_memory

    return measure_memory(quick, long_hours=MEMORY_LONG_H)


#: the live section's realistic phase (s); None: its default (``--live-realistic``)
LIVE_REALISTIC_S: float | None = None


def bench_live(quick: bool) -> dict:
    from liqdesk.ui.live_bench import measure_live

    return measure_live(quick, realistic_s=LIVE_REALISTIC_S)


SECTIONS = {"ingest": bench_ingest, "filter": bench_filter, "import": bench_import, "seek": bench_seek,
            "sim": bench_sim, "frame": bench_frame, "rebuild": bench_rebuild, "startup": bench_startup,
            "alerts": bench_alerts, "memory": bench_memory, "live": bench_live}


def _child(name: str, quick: bool) -> dict:
    """Run one section in a fresh interpreter and return its figures (peak RSS is its own)."""
    import subprocess

    cmd = [sys.executable, "-m", "liqdesk", "bench", "--json", "--only", name] + (["--quick"] if quick else [])
    if name == "live" and LIVE_REALISTIC_S is not None:
        cmd += ["--live-realistic", f"{LIVE_REALISTIC_S:g}s"]
    if name == "memory" and MEMORY_LONG_H is not None:
        cmd += ["--memory-long", f"{MEMORY_LONG_H:g}h"]
    if name == "startup" and STARTUP_COMMAND:
        cmd += ["--startup-command", STARTUP_COMMAND]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"bench section {name} failed: {tail}")
    out = json.loads(proc.stdout)
    out.pop("quick", None)
    rss = out.pop("peak_rss_mb", None)
    if rss is not None:
        out[f"{name}_peak_rss_mb"] = rss
    return out


def run(args: argparse.Namespace) -> int:
    global LIVE_REALISTIC_S, MEMORY_LONG_H, STARTUP_COMMAND
    from liqdesk.core.timefmt import parse_duration

    sections = SECTIONS
    STARTUP_COMMAND = getattr(args, "startup_command", None)
    if getattr(args, "live_realistic", None):
        LIVE_REALISTIC_S = parse_duration(args.live_realistic) / 1000
    if getattr(args, "memory_long", None):
        MEMORY_LONG_H = parse_duration(args.memory_long) / 3_600_000
        if not MEMORY_LONG_H > (1.0 if args.quick else 6.0):
            raise ValueError(f"--memory-long must be longer than the short session ({'1h' if args.quick else '6h'})")
    # the live section runs the window on an emulator for 30 minutes in a full run: only on request
    wanted = ([n for n in sections if n != "live"] if not args.only
              else [s.strip() for s in args.only.split(",") if s.strip()])
    unknown = [s for s in wanted if s not in sections]
    if unknown:
        raise ValueError(f"unknown bench section(s) {', '.join(unknown)}; known: {', '.join(sections)}")
    result: dict = {"quick": bool(args.quick)}
    for name in wanted:
        if not args.json:
            print(f"bench {name} ...", file=sys.stderr, flush=True)
        if args.in_process or len(wanted) == 1:
            try:
                result.update(sections[name](args.quick))
            except ImportError as exc:
                result[f"{name}_skipped"] = f"not available: {exc}"
            gc.collect()
        else:
            result.update(_child(name, args.quick))
    result["peak_rss_mb"] = result.get("peak_rss_mb", result.get("filter_peak_rss_mb", _peak_rss_mb()))
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0
