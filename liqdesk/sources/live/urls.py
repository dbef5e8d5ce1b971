"""Pointing a ccxt exchange at another server (the loopback emulator, or a relay): every REST and
websocket URL of ``exchange.urls['api']`` keeps its path and gets ``BASE/<ccxt id>`` as its
scheme and host. Generic: no adapter knows which server it talks to."""

from __future__ import annotations

import re

_URL = re.compile(r"^(https?|wss?)://[^/]+")


def point_at(exchange, base_url: str) -> None:
    """Rewrite ``exchange``'s API URLs onto ``base_url`` (``http://127.0.0.1:PORT``), in place."""
    base = base_url.rstrip("/")
    if not re.match(r"^https?://[^/]+$", base):
        raise ValueError(f"--emulator must be a URL like http://127.0.0.1:8700, not {base_url!r}")
    ws_base = "ws" + base[4:]   # http -> ws, https -> wss

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            m = _URL.match(value)
            if m:
                root = ws_base if m.group(1).startswith("ws") else base
                return f"{root}/{exchange.id}{value[m.end():]}"
        return value

    exchange.urls["api"] = walk(exchange.urls["api"])
    for key in ("test", "demo"):
        if key in exchange.urls:
            exchange.urls[key] = walk(exchange.urls[key])
