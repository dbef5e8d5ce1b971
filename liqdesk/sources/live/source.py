"""The live source: one adapter per exchange on an asyncio loop in a dedicated I/O thread, their
records turned into numpy batches there, merged and handed to the ingesting thread by
:meth:`LiveSource.poll` (non-blocking). The UI thread never parses exchange JSON.

**Warm start.** Before any live event is released, every adapter backfills ``backfill_ms`` of
history by REST (1-minute candles as coarse trades, open-interest history where the exchange has
it) so the heatmap is populated within seconds; :meth:`busy` gives the progress, and
:attr:`backfill_span` the span that is coarser than the live data. Live events that arrive
meanwhile wait in the adapters' buffers, so everything is released in time order.

**Order.** Streams of several exchanges interleave with small clock differences and delays. The
released stream is made non-decreasing in time per kind: an event a little older than what was
already released (up to :data:`LATE_MS`) is released at the time already reached (counted as
``reordered``); an older one is dropped (``late``). So a recording holds exactly what the model
was fed, in the order it was fed, and replaying it gives the same model state as the live run.
"""

from __future__ import annotations

import asyncio
import importlib
import queue
import threading
import time

import numpy as np

from liqdesk.core.events import KINDS, EventBatch, concat_batches

from .adapter import VenueAdapter
from .contract import AdapterStatus, LiveState
from .tiers import refresh_tiers

#: liqdesk exchange name -> adapter module
ADAPTER_MODULES = {"binance": "binance", "bybit": "bybit", "okx": "okx", "bitget": "bitget",
                   "hyperliquid": "hyperliquid"}
DEFAULT_EXCHANGES = ("binance", "bybit", "okx")
#: how late (ms) an event may be behind what was already released before it is dropped
LATE_MS = 4_000
#: the kinds the level model reads: released in one time order, as the model applies them
MODEL_KINDS = ("trades", "marks", "open_interest")


def adapter_class(name: str) -> type[VenueAdapter]:
    if name not in ADAPTER_MODULES:
        raise ValueError(f"no live adapter for {name!r}; liqdesk has {', '.join(ADAPTER_MODULES)}")
    try:
        module = importlib.import_module(f"liqdesk.sources.live.{ADAPTER_MODULES[name]}")
    except ImportError as exc:
        raise ValueError(f"the {name} adapter is not available ({exc})") from None
    return module.Adapter


class LiveSource:
    """Live market data of ``symbol`` from ``exchanges`` (liqdesk names). ``emulator``: base URL
    of a loopback emulator to talk to instead of the exchanges. ``backfill_ms``: history fetched
    by REST on connect (0: none)."""

    kind = "live"

    def __init__(self, exchanges=DEFAULT_EXCHANGES, symbol: str = "BTC/USDT:USDT", emulator: str | None = None,
                 backfill_ms: int = 24 * 3_600_000, flush_s: float = 0.025):
        exchanges = tuple(dict.fromkeys(exchanges))
        if not exchanges:
            raise ValueError("at least one exchange is needed")
        self.adapters: dict[str, VenueAdapter] = {n: adapter_class(n)(symbol, emulator) for n in exchanges}
        self.symbol = symbol
        self.emulator = emulator
        self.backfill_ms = int(backfill_ms)
        self.flush_s = flush_s
        self.out: queue.Queue = queue.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.backfill_span: tuple[int, int] | None = None
        self.backfill_fraction: float | None = None
        self.backfill_notes: dict[str, str] = {}
        #: per exchange, which tier table its levels use (fetched, cached or shipped); the version
        #: bumps when a fetched one replaces a shipped one, and the session rebuilds its model
        self.tier_notes: dict[str, str] = {}
        self.tiers_version = 0
        self.last_created: float | None = None
        # the kinds the level model reads share one watermark (the model's own is over all of
        # them); the others each have their own
        self._watermark = {k: None for k in KINDS}
        self._model_mark: int | None = None
        self._released = False
        self._stop = False
        self.error: str | None = None

    @property
    def exchanges(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    @property
    def liquidation_feeds(self) -> dict[str, str]:
        """Per exchange: "complete", "sampled" or "absent"."""
        return {a.name: a.liquidations for a in self.adapters.values()}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LiveSource:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="liqdesk-live-io", daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except Exception as exc:  # noqa: BLE001 - the source reports, the window goes on
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()

    async def _main(self) -> None:
        tasks = [asyncio.ensure_future(a.start()) for a in self.adapters.values()]
        if self.backfill_ms > 0:
            await self._backfill()
        self._released = True
        flusher = asyncio.ensure_future(self._flush_loop())
        while not self._stop:
            await asyncio.sleep(0.1)
        flusher.cancel()
        await asyncio.gather(*(a.stop() for a in self.adapters.values()), return_exceptions=True)
        for t in tasks:
            t.cancel()
        # what the adapters took in since the last flush (up to flush_s of it, or a refill that
        # just landed) goes out too: a recording stopped by SIGTERM keeps it
        self._flush_once()

    def _flush_once(self) -> None:
        batches = [b for b in (a.take_batch() for a in self.adapters.values()) if b is not None]
        if batches:
            self._release(concat_batches(batches) if len(batches) > 1 else batches[0])

    async def _backfill(self) -> None:
        until = int(time.time() * 1000)
        since = until - self.backfill_ms
        self.backfill_fraction = 0.0
        done = 0

        async def one(adapter: VenueAdapter):
            nonlocal done
            # wait (briefly) for its markets: backfill needs the market id
            for _ in range(300):
                if adapter.market is not None or adapter.state == LiveState.ERROR or self._stop:
                    break
                await asyncio.sleep(0.05)
            if adapter.market is not None:
                note = await refresh_tiers(adapter)
                self.tier_notes[adapter.name] = note
                if note.startswith(("fetched", "cached")):
                    self.tiers_version += 1
            adapter.state = LiveState.BACKFILL if adapter.market is not None else adapter.state
            try:
                batch = await adapter.backfill(since, until) if adapter.market is not None else None
            except Exception as exc:  # noqa: BLE001 - a failed backfill is not a failed feed
                self.backfill_notes[adapter.name] = f"backfill failed ({type(exc).__name__}: {exc})"
                batch = None
            if adapter.state == LiveState.BACKFILL:
                adapter.state = LiveState.CONNECTING
            done += 1
            self.backfill_fraction = done / len(self.adapters)
            return batch

        batches = [b for b in await asyncio.gather(*(one(a) for a in self.adapters.values())) if b is not None and len(b)]
        if batches:
            merged = concat_batches(batches)
            span = merged.time_span()
            self.backfill_span = (span[0], until) if span else None
            self._release(merged)
        self.backfill_fraction = None

    async def _flush_loop(self) -> None:
        while True:
            self._flush_once()
            await asyncio.sleep(self.flush_s)

    def _release(self, batch: EventBatch) -> None:
        """Drop what is too late for the model, then queue the batch for :meth:`poll`."""
        out = {}
        model_top = None
        for kind, arr in batch.arrays().items():
            if not len(arr):
                continue
            shared = kind in MODEL_KINDS
            mark = self._model_mark if shared else self._watermark[kind]
            if mark is not None:
                late = arr["time_ms"] < mark - LATE_MS
                if late.any():
                    self._count(arr["exchange"][late], "late")
                    arr = arr[~late]
                behind = arr["time_ms"] < mark
                if behind.any():
                    self._count(arr["exchange"][behind], "reordered")
                    arr = arr.copy()
                    arr["time_ms"][behind] = mark
                    arr = arr[np.argsort(arr["time_ms"], kind="stable")]
                    arr.flags.writeable = False
            if len(arr):
                top = int(arr["time_ms"].max())
                if shared:
                    model_top = top if model_top is None else max(model_top, top)
                else:
                    self._watermark[kind] = top if mark is None else max(mark, top)
                out[kind] = arr
        if model_top is not None:
            self._model_mark = model_top if self._model_mark is None else max(self._model_mark, model_top)
        if out:
            self.out.put((EventBatch(**out, checked=batch.checked), time.perf_counter()))

    def _count(self, exchange_ids: np.ndarray, what: str) -> None:
        ids, n = np.unique(exchange_ids, return_counts=True)
        for gid, count in zip(ids.tolist(), n.tolist()):
            for a in self.adapters.values():
                if a.gid == gid:
                    a.counts[what] = a.counts.get(what, 0) + count

    def stop(self) -> None:
        self._stop = True
        if self.thread is not None:
            self.thread.join(15)

    # ------------------------------------------------------------------ the ingesting thread
    def poll(self, now_wall_s: float | None = None) -> EventBatch | None:
        """Everything released since the last poll, as one batch (None when nothing)."""
        items = []
        while True:
            try:
                items.append(self.out.get_nowait())
            except queue.Empty:
                break
        if not items:
            return None
        self.last_created = min(created for _, created in items)
        batches = [b for b, _ in items]
        return batches[0] if len(batches) == 1 else concat_batches(batches)

    @property
    def market_symbols(self) -> dict[str, list[str]]:
        """Per exchange, the linear perpetuals it lists (once its markets are loaded)."""
        out = {}
        for a in self.adapters.values():
            ms = getattr(a.exchange, "markets", None) or {}
            out[a.name] = sorted(s for s, m in ms.items() if m.get("swap") and m.get("linear"))
        return out

    def busy(self) -> tuple[str, float] | None:
        """("backfill", fraction) while the warm start runs."""
        if self.backfill_fraction is not None:
            return "backfill", self.backfill_fraction
        return None

    def statuses(self) -> list[AdapterStatus]:
        return [a.status() for a in self.adapters.values()]

    def state(self) -> str:
        """One line for the status bar: each exchange's state and message rate."""
        parts = [s.line() for s in self.statuses()]
        if self.backfill_fraction is not None:
            parts.insert(0, f"backfilling {self.backfill_fraction:.0%}")
        return " · ".join(parts)
