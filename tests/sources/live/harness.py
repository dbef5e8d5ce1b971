"""What the per-exchange live tests share: one adapter run on its own asyncio loop in a thread
against the emulator, its batches collected, and the emulator's ledger of what it published."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from liqdesk.sources.emulator.server import EmulatorThread


class AdapterRun:
    """One adapter (``adapter_cls(symbol, emulator=url)``) on its own asyncio loop in a thread, its
    batches collected by the test. ``attrs`` override the adapter's timings (``defaults`` first)."""

    adapter_cls: type
    symbol = "BTC/USDT:USDT"
    #: short watchdogs, so stalls are seen within a test
    defaults: dict = {"silence_s": 2.0, "trade_silence_s": 2.0}
    #: what ``settle`` waits for, in words (``adapter.trades_pending`` true meanwhile)
    pending = "trade holes still unfilled"

    def __init__(self, emu: EmulatorThread, **attrs):
        self.emu = emu
        self.adapter = self.adapter_cls(self.symbol, emulator=emu.url)
        for k, v in {**self.defaults, **attrs}.items():
            setattr(self.adapter, k, v)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self.adapter.start(), self.loop)
        self.got: dict[str, list] = {}

    def call(self, fn):
        """``fn()`` on the adapter's loop (its state is only touched there)."""
        async def run():
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def collect(self) -> None:
        batch = self.adapter.take_batch()
        if batch is not None:
            for kind, arr in batch.arrays().items():
                if len(arr):
                    self.got.setdefault(kind, []).append(arr)

    def wait(self, seconds: float = 0.0, until=None, timeout: float = 15.0) -> bool:
        """Collect for ``seconds``, or until ``until()`` after them (False past ``timeout``)."""
        t0 = time.monotonic()
        while True:
            self.collect()
            elapsed = time.monotonic() - t0
            if until is None and elapsed >= seconds:
                return True
            if until is not None and elapsed >= seconds and until():
                return True
            if elapsed > max(seconds, timeout):
                return False
            time.sleep(0.05)

    def pending_state(self) -> str:
        """What the adapter still has pending, for a failed ``settle`` (subclasses add detail)."""
        return ""

    def settle(self, timeout: float = 10.0) -> None:
        """Wait (the emulator's faults calmed) until nothing is pending on the trades, then stop
        and take the rest."""
        self.emu.call(self.emu.server.faults.calm)
        ok = self.wait(until=lambda: not self.call(lambda: self.adapter.trades_pending), timeout=timeout)
        state = "" if ok else self.pending_state()
        self.stop()
        assert ok, f"{self.pending} {state}".strip()

    def stop(self) -> None:
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.adapter.stop(), self.loop).result(20)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.collect()

    def rows(self, kind: str) -> np.ndarray:
        parts = self.got.get(kind, [])
        return np.concatenate(parts) if parts else np.empty(0)


def ledger(emu: EmulatorThread, venue: str, kind: str) -> np.ndarray:
    """What the emulator published of ``kind`` on ``venue`` (liqdesk exchange name)."""
    return emu.call(emu.market.sent, venue, kind)


def sort_rows(arr: np.ndarray, fields) -> np.ndarray:
    return arr[np.lexsort([arr[f] for f in reversed(fields)])]


def check_live_book(run: AdapterRun, venue: str, depth: int, ccxt_symbol: str | None = None,
                    by: str = "nonce", timeout: float = 8.0) -> None:
    """ccxt's book (what the adapter reads) equals the emulator's at the same update: matched by
    update id (``by="nonce"``) or by book time (``by="timestamp"``)."""
    symbol = ccxt_symbol or run.symbol
    emu = run.emu

    def ours():
        ob = run.adapter.exchange.orderbooks.get(symbol) if run.adapter.exchange else None
        if ob is None or ob[by] is None:
            return None
        return ob[by], [tuple(x[:2]) for x in list(ob["bids"])[:depth]], [tuple(x[:2]) for x in list(ob["asks"])[:depth]]

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        last_id, book_ms, bids, asks = emu.call(emu.market.book_snapshot, venue, depth)
        mine = run.call(ours)
        if mine is not None and mine[0] == (last_id if by == "nonce" else book_ms):
            assert mine[1] == bids and mine[2] == asks
            return
        time.sleep(0.02)
    raise AssertionError("the adapter's book never caught up with the emulator's")
