"""The loopback exchange emulator: one aiohttp server on 127.0.0.1 serving each venue under
``/<ccxt id>/...`` (REST and websockets, in that exchange's own format), fed by
:class:`~.market.MarketFeed` every ``tick_s``.

``EmulatorServer`` runs on the caller's asyncio loop (``liqdesk emulate``); ``EmulatorThread``
runs one in a background thread with its own loop (tests and ``liqdesk bench``), exposing
``url`` once it listens. Nothing listens on any other interface.
"""

from __future__ import annotations

import asyncio
import importlib
import threading

from aiohttp import web

from .faults import FaultPlan
from .market import MarketFeed
from .venue import VenueEmulator

#: liqdesk exchange name -> module of its emulated venue
VENUE_MODULES = {"binance": "binance", "bybit": "bybit", "okx": "okx", "bitget": "bitget",
                 "hyperliquid": "hyperliquid"}


def venue_class(name: str) -> type[VenueEmulator]:
    if name not in VENUE_MODULES:
        raise ValueError(f"the emulator has no venue {name!r}; it has {', '.join(VENUE_MODULES)}")
    try:
        module = importlib.import_module(f"liqdesk.sources.emulator.{VENUE_MODULES[name]}")
    except ImportError as exc:
        raise ValueError(f"the emulator cannot serve {name} yet ({exc})") from None
    return module.Venue


class EmulatorServer:
    """The emulator. ``venues``: liqdesk exchange names; ``faults``: a spec (see :mod:`.faults`)."""

    def __init__(self, venues=("binance", "bybit", "okx"), symbol: str = "BTC/USDT:USDT", seed: int = 0,
                 speed: float = 1.0, history_ms: int = 2 * 3_600_000, faults: str | None = None,
                 port: int = 0, tick_s: float = 0.05, now_ms: int | None = None, send_log: str | None = None):
        classes = [venue_class(v) for v in venues]
        # now_ms: where the market's history ends (default: the wall clock); a fixed value makes a
        # run reproducible (the simulated market depends on the seed and on its start time)
        self.market = MarketFeed(venues, symbol, seed, speed, history_ms, now_ms)
        self.faults = FaultPlan(faults, seed)
        self.venues: dict[str, VenueEmulator] = {cls.ccxt_id: cls(self.market, self.faults) for cls in classes}
        self.port = port
        self.tick_s = tick_s
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self.ticks = 0
        #: for benchmarks: a JSON line per tick, {"wall": ms, "newest": newest event time sent
        #: (ms), "sent": websocket messages sent so far}, so a client can time its latency
        self.send_log = open(send_log, "a", encoding="utf-8") if send_log else None  # noqa: SIM115

    async def start(self) -> str:
        """Build the history, listen, start publishing; returns ``http://127.0.0.1:PORT``."""
        await asyncio.get_running_loop().run_in_executor(None, self.market.build_history)
        app = web.Application()
        app.router.add_route("*", "/{venue}/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.faults.start()
        self._task = asyncio.ensure_future(self._publish_loop())
        return self.url

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        venue = self.venues.get(request.match_info["venue"])
        if venue is None:
            raise web.HTTPNotFound(text=f"no emulated exchange {request.match_info['venue']!r}")
        path = "/" + request.match_info["tail"]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await venue.handle_ws(request, path)
        return await venue.handle_http(request, path)

    async def _publish_loop(self) -> None:
        while True:
            updates = self.market.tick()
            for venue in self.venues.values():
                for todo in venue.tick_faults():
                    await todo
                update = updates.get(venue.name)
                if update is not None and len(update):
                    venue.publish(update)
            if self.send_log is not None:
                self._log_send(updates)
            self.ticks += 1
            await asyncio.sleep(self.tick_s)

    def _log_send(self, updates) -> None:
        import json
        import time

        newest = [int(a["time_ms"].max()) for u in updates.values()
                  for a in (u.trades, u.marks) if len(a)]
        if not newest:
            return
        sent = sum(v.sent_total for v in self.venues.values())
        self.send_log.write(json.dumps({"wall": time.time() * 1000, "newest": max(newest), "sent": sent}) + "\n")
        self.send_log.flush()

    async def stop(self) -> None:
        if self.send_log is not None:
            self.send_log.close()
            self.send_log = None
        if self._task is not None:
            self._task.cancel()
        for venue in self.venues.values():
            await venue.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()


class EmulatorThread:
    """An :class:`EmulatorServer` in a background thread. ``with EmulatorThread(...) as emu:``
    gives ``emu.url``; the server stops when the block ends."""

    def __init__(self, **kw):
        self.server = EmulatorServer(**kw)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="liqdesk-emulator", daemon=True)

    @property
    def url(self) -> str | None:
        return self.server.url

    @property
    def market(self) -> MarketFeed:
        return self.server.market

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self, timeout: float = 120.0) -> EmulatorThread:
        self.thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the emulator did not start in time")
        if self.error is not None:
            raise self.error
        return self

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the emulator's loop and return its result (for tests)."""
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)
        try:
            fut.result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
