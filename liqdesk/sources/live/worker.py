"""The live feed in a process of its own, for the window: ccxt parses exchange JSON in pure Python,
and at flood rates (tens of thousands of messages a second) a parsing thread in the window's
process takes the interpreter lock from the frame timer (measured: 700 ms frame gaps). Here the
adapters run in a child process (``python -m liqdesk.sources.live.worker CONFIG``) and send their
batches over a pipe as raw numpy bytes; the window's process only copies them into arrays.

Wire format on the child's stdout, one frame after another: a 4-byte big-endian header length,
a UTF-8 JSON header, then the payload bytes the header announces. Headers:

- ``{"type": "batch", "kinds": {"trades": N, ...}, "created": wall s}`` followed by each kind's
  ``N × itemsize`` bytes in the dtypes of :mod:`liqdesk.core.events`, in ``KINDS`` order;
- ``{"type": "status", ...}``: what :class:`~.source.LiveSource` reports (per-exchange status lines
  and counts, backfill progress and span, tier notes and fetched tier tables, market lists);
- ``{"type": "error", "text": ...}``.

Nothing but numbers and JSON crosses the pipe: no pickle, no code. The parent stops the child by
closing its stdin.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time

import numpy as np

from liqdesk.core.events import KINDS, EventBatch, concat_batches

_HEAD = struct.Struct(">I")


def _write_frame(out, header: dict, payload: bytes = b"") -> None:
    data = json.dumps(header, separators=(",", ":")).encode()
    out.write(_HEAD.pack(len(data)) + data + payload)
    out.flush()


def _read_exact(stream, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _tables_json() -> list:
    from liqdesk.core import tiers

    out = []
    for table in tiers._FETCHED.values():
        out.append({"exchange": table.exchange, "symbol": table.symbol, "rule": table.rule, "basis": table.basis,
                    "uses_deduction": bool(table.cum.any()), "taker_fee": table.taker_fee, "source": table.source,
                    "as_of": table.as_of,
                    "bands": [{"floor": float(f), "cap": float(c), "max_leverage": float(lv), "mmr": float(m)}
                              for f, c, lv, m in zip(table.floor, table.cap, table.max_leverage, table.mmr)]})
    return out


def _status(source) -> dict:
    markets = {name: symbols[:3000] for name, symbols in source.market_symbols.items()}
    return {"type": "status", "state": source.state(),
            "statuses": [_status_json(s) for s in source.statuses()],
            "busy": source.busy(), "backfill_span": source.backfill_span,
            "backfill_notes": source.backfill_notes, "tier_notes": source.tier_notes,
            "tiers_version": source.tiers_version, "tables": _tables_json(), "markets": markets,
            "error": source.error}


def _status_json(st) -> dict:
    return {"exchange": st.exchange, "state": st.state.value, "liquidations": st.liquidations,
            "rate_per_s": st.rate_per_s, "lag_ms": st.lag_ms, "retries": st.retries,
            "next_retry_s": st.next_retry_s, "error": st.error, "counts": st.counts,
            "gaps": [], "line": st.line()}


def main(argv: list[str]) -> int:
    """The child: run a LiveSource and stream its batches and status to stdout until stdin closes."""
    from .source import LiveSource

    cfg = json.loads(argv[0])
    out = sys.stdout.buffer
    source = LiveSource(tuple(cfg["exchanges"]), cfg["symbol"], emulator=cfg.get("emulator"),
                        backfill_ms=int(cfg["backfill_ms"])).start()
    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()      # returns when the parent closes the pipe (or dies)
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    last_status = 0.0
    try:
        while not stop.is_set():
            batch = source.poll()
            if batch is not None and len(batch):
                arrays = [(k, a) for k, a in batch.arrays().items() if len(a)]
                _write_frame(out, {"type": "batch", "kinds": {k: len(a) for k, a in arrays},
                                   "created": time.time()},
                             b"".join(np.ascontiguousarray(a).tobytes() for _, a in arrays))
            now = time.monotonic()
            if now - last_status >= 0.25:
                last_status = now
                _write_frame(out, _status(source))
            stop.wait(0.01)
    except BrokenPipeError:
        pass
    finally:
        source.stop()
        try:
            gaps = {a.name: list(a.gaps) for a in source.adapters.values()}
            st = _status(source)
            st["final"] = True
            st["gaps"] = gaps
            _write_frame(out, st)
        except (BrokenPipeError, OSError):
            pass
    return 0


class ProcessLiveSource:
    """A live source whose adapters run in a child process (same interface as
    :class:`~.source.LiveSource` for the window: ``start``, ``poll``, ``state``, ``busy``,
    ``statuses``, ``stop``, ``backfill_span``, ``tiers_version``, ``liquidation_feeds``)."""

    kind = "live"

    def __init__(self, exchanges, symbol: str = "BTC/USDT:USDT", emulator: str | None = None,
                 backfill_ms: int = 24 * 3_600_000):
        from .source import adapter_class

        self.exchanges = tuple(dict.fromkeys(exchanges))
        self.liquidation_feeds = {n: adapter_class(n).liquidations for n in self.exchanges}
        self.symbol, self.emulator, self.backfill_ms = symbol, emulator, int(backfill_ms)
        self.proc: subprocess.Popen | None = None
        self._batches: list[tuple[EventBatch, float]] = []
        self._lock = threading.Lock()
        self._status: dict = {}
        self.backfill_span = None
        self.tiers_version = 0
        self.tier_notes: dict = {}
        self.market_symbols: dict = {}
        self.last_created: float | None = None
        self.error: str | None = None
        self.final_status: dict | None = None

    def start(self) -> ProcessLiveSource:
        if self.proc is not None:
            return self
        cfg = json.dumps({"exchanges": list(self.exchanges), "symbol": self.symbol, "emulator": self.emulator,
                          "backfill_ms": self.backfill_ms})
        self.proc = subprocess.Popen([sys.executable, "-m", "liqdesk.sources.live.worker", cfg],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ))
        threading.Thread(target=self._read, name="liqdesk-live-pipe", daemon=True).start()
        return self

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            head = _read_exact(stream, _HEAD.size)
            if head is None:
                if self.proc.poll() not in (None, 0) and self.error is None:
                    self.error = f"the live feed process ended (exit {self.proc.returncode})"
                return
            header = json.loads(_read_exact(stream, _HEAD.unpack(head)[0]))
            if header["type"] == "batch":
                arrays = {}
                for kind in KINDS:
                    n = header["kinds"].get(kind)
                    if n:
                        raw = _read_exact(stream, n * KINDS[kind].itemsize)
                        if raw is None:
                            return
                        arr = np.frombuffer(raw, dtype=KINDS[kind])
                        arrays[kind] = arr
                batch = EventBatch(**arrays, checked=True)
                # the pipe's time to here is part of the latency: stamp it on this clock
                with self._lock:
                    self._batches.append((batch, time.perf_counter() - max(0.0, time.time() - header["created"])))
            elif header["type"] == "status":
                self._apply_status(header)
            elif header["type"] == "error":
                self.error = header.get("text")

    def _apply_status(self, st: dict) -> None:
        from liqdesk.core.tiers import TierTable, use_fetched_tiers

        for t in st.get("tables", []):
            use_fetched_tiers(TierTable.from_bands(t["exchange"], t["symbol"], t["rule"], t["bands"], basis=t["basis"],
                                                   uses_deduction=t["uses_deduction"], taker_fee=t["taker_fee"],
                                                   source=t["source"], as_of=t["as_of"]))
        self._status = st
        span = st.get("backfill_span")
        self.backfill_span = tuple(span) if span else None
        self.tier_notes = st.get("tier_notes", {})
        self.market_symbols = st.get("markets", {})
        self.tiers_version = st.get("tiers_version", 0)
        if st.get("error"):
            self.error = st["error"]
        if st.get("final"):
            self.final_status = st

    def poll(self, now_wall_s: float | None = None) -> EventBatch | None:
        with self._lock:
            items, self._batches = self._batches, []
        if not items:
            return None
        self.last_created = min(c for _, c in items)
        batches = [b for b, _ in items]
        return batches[0] if len(batches) == 1 else concat_batches(batches)

    def busy(self):
        b = self._status.get("busy")
        return tuple(b) if b else None

    def state(self) -> str:
        if self.error:
            return f"error ({self.error})"
        return self._status.get("state") or "starting the feed process"

    def statuses(self) -> list:
        """Per exchange :class:`~.contract.AdapterStatus`, as the child last reported them."""
        from .contract import AdapterStatus, LiveState

        return [AdapterStatus(d["exchange"], LiveState(d["state"]), d["liquidations"], d["rate_per_s"], d["lag_ms"],
                              d["retries"], d["next_retry_s"], d["error"], {}, d["counts"])
                for d in self._status.get("statuses", [])]

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
