"""``import_lines_per_s``: the binance-ws importer against plain ``json.loads`` of the same lines.

Both are timed in the same run, alternately, best of several rounds (the machine's other load
hits both alike). The importer's time is the whole :func:`import_files` call: reading and
decompressing the file, parsing, building and validating the batches. The baseline is only
``json.loads`` of every line's JSON part, the lines already decompressed and in memory, results
discarded; so the ratio understates the importer rather than flatters it.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path

from .api import import_files
from .reader import line_chunks


def _baseline(lines: list[bytes]) -> None:
    loads = json.loads
    for line in lines:
        i = line.find(b"{")
        if i >= 0:
            loads(line[i:])


def measure_import(path: str | Path, rounds: int = 5) -> dict:
    """{"import_lines_per_s", "import_baseline_lines_per_s", "import_ratio"} for one capture."""
    path = Path(path)
    lines = [ln for block in line_chunks(path, lambda _w: None, lambda: None) for ln in block
             if ln.strip()]
    n = len(lines)
    best_import = best_base = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        import_files([path], fmt="binance-ws")
        best_import = min(best_import, time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        _baseline(lines)
        best_base = min(best_base, time.perf_counter() - t0)
    ips = n / best_import
    base = n / best_base
    return {
        "import_lines_per_s": round(ips, 1),
        "import_baseline_lines_per_s": round(base, 1),
        "import_ratio": round(ips / base, 3),
    }
