"""What every emulated exchange shares: its REST routes, its websocket clients and their
subscriptions, a writer per client (a slow client never blocks the others), and the faults that
touch every message (``dup``, ``malformed``, ``truncated``, ``drop``, ``stall``, ``refuse``,
``http429``). A venue module (``binance.py``, ``bybit.py``, ...) subclasses :class:`VenueEmulator`
and speaks its exchange's own wire format: it answers the REST calls ccxt makes and the
subscription protocol of its websocket, and turns each :class:`~.market.VenueUpdate` into the
messages its exchange would send.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from .faults import FaultPlan
from .market import MarketFeed, VenueUpdate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WsClient:
    """One websocket connection: its path, its topics and the queue its writer drains."""

    def __init__(self, ws: web.WebSocketResponse, path: str):
        self.ws = ws
        self.path = path
        self.topics: set[str] = set()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=100_000)
        self.sent = 0
        self.dropped_full = 0
        self.state: dict = {}      # per-connection protocol state for the venue module

    def put(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped_full += 1


class VenueEmulator:
    """Base of one emulated exchange. ``name``: liqdesk's exchange name; ``ccxt_id``: the ccxt
    class its URLs belong to (the server serves it under ``/<ccxt_id>/...``)."""

    name = ""
    ccxt_id = ""

    def __init__(self, market: MarketFeed, faults: FaultPlan):
        self.market = market
        self.faults = faults
        self.clients: set[WsClient] = set()
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests = 0
        #: websocket messages sent, over every connection this venue ever had
        self.sent_total = 0
        self.setup()

    # ------------------------------------------------------------------ for subclasses
    def setup(self) -> None:
        """Register REST routes with :meth:`route`."""

    async def on_message(self, client: WsClient, data) -> None:
        """A message from a websocket client (decoded JSON, or the raw text if not JSON)."""

    def publish(self, update: VenueUpdate) -> None:
        """Send ``update`` to the subscribed clients in the exchange's wire format (:meth:`send`)."""

    # ------------------------------------------------------------------ helpers
    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def send(self, client: WsClient, payload) -> None:
        """Queue one message (a dict/list is JSON-encoded), with the per-message faults applied."""
        if self.faults.active("stall", self.name):
            return
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        if self.faults.take("malformed", self.name) is not None:
            client.put('{"broken": [1, 2,, "' + text[:20])
            return
        if self.faults.take("truncated", self.name) is not None:
            client.put(text[: max(1, len(text) // 2)])
            return
        client.put(text)
        if self.faults.take("dup", self.name) is not None:
            client.put(text)

    def subscribers(self, topic: str):
        return [c for c in self.clients if topic in c.topics]

    @staticmethod
    def json(data, status: int = 200) -> web.Response:
        return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                            content_type="application/json")

    # ------------------------------------------------------------------ serving
    async def handle_http(self, request: web.Request, path: str) -> web.StreamResponse:
        self.requests += 1
        if self.faults.active("refuse", self.name):
            raise web.HTTPServiceUnavailable(text="refused (emulated fault)")
        if self.faults.active("http429", self.name):
            return web.Response(status=429, headers={"Retry-After": "1"}, text='{"code":-1003,"msg":"Too many requests"}',
                                content_type="application/json")
        handler = self.routes.get((request.method, path))
        if handler is None:
            return self.json({"code": -1, "msg": f"emulator: no route {request.method} {path}"}, status=404)
        return await handler(request)

    async def handle_ws(self, request: web.Request, path: str) -> web.WebSocketResponse:
        if self.faults.active("refuse", self.name):
            raise web.HTTPServiceUnavailable(text="refused (emulated fault)")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        client = WsClient(ws, path)
        self.clients.add(client)
        writer = asyncio.ensure_future(self._writer(client))
        try:
            await self.on_connect(client, request)
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if not self.faults.active("stall", self.name):
                        await ws.pong(msg.data)
                    continue
                if msg.type != WSMsgType.TEXT:
                    continue
                if self.faults.active("stall", self.name):
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    data = msg.data
                await self.on_message(client, data)
        finally:
            self.clients.discard(client)
            writer.cancel()
        return ws

    async def on_connect(self, client: WsClient, request: web.Request) -> None:
        """A client connected (Binance combined streams subscribe in the URL)."""

    async def _writer(self, client: WsClient) -> None:
        ws = client.ws
        try:
            while not ws.closed:
                text = await client.queue.get()
                await ws.send_str(text)
                client.sent += 1
                self.sent_total += 1
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            return

    async def drop_all(self) -> None:
        """Close every websocket (the ``drop`` fault)."""
        for client in list(self.clients):
            await client.ws.close()

    def tick_faults(self) -> list[Awaitable]:
        """Time-driven faults due now; the server awaits what they return."""
        todo = []
        if self.faults.take("drop", self.name) is not None:
            todo.append(self.drop_all())
        return todo


def now_ms() -> int:
    return int(time.time() * 1000)
