"""Fuzz: 100,000 broken frames per exchange through the adapters' own ccxt clients (the real decode
path), made from real frames of that exchange's emulator (cut short at random places, or
garbage): nothing escapes, each is counted once as malformed, and the connection keeps reading."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

pytest.importorskip("ccxt.pro")

from liqdesk.sources.live.source import ADAPTER_MODULES, adapter_class  # noqa: E402

N_BROKEN = 100_000


def _available() -> list[str]:
    out = []
    for name in ADAPTER_MODULES:
        try:
            adapter_class(name)
            from liqdesk.sources.emulator.server import venue_class

            venue_class(name)
        except ValueError:
            continue
        out.append(name)
    return out


@pytest.mark.parametrize("venue", _available())
def test_broken_frames_are_counted_and_never_stop_the_reader(venue):
    from liqdesk.sources.emulator.server import EmulatorThread

    rng = np.random.default_rng(11)
    with EmulatorThread(venues=(venue,), history_ms=5 * 60_000, speed=20, seed=4) as emu:
        adapter = adapter_class(venue)("BTC/USDT:USDT", emu.url)

        async def main():
            task = asyncio.ensure_future(adapter.start())
            frames: list[str] = []
            deadline = time.monotonic() + 30
            # record real frames as the clients receive them
            hooked = set()
            while time.monotonic() < deadline and (len(frames) < 300 or adapter.events < 50):
                for client in list((adapter.exchange.clients or {}).values()) if adapter.exchange else []:
                    if id(client) in hooked:
                        continue
                    hooked.add(id(client))
                    inner = client.handle_text_or_binary_message

                    def spy(data, inner=inner):
                        if isinstance(data, str | bytes) and len(frames) < 2_000:
                            frames.append(data if isinstance(data, str) else data.decode())
                        inner(data)
                    client.handle_text_or_binary_message = spy
                await asyncio.sleep(0.05)
                adapter.take_batch()
            assert len(frames) >= 100, f"{venue}: only {len(frames)} frames seen"
            texts = [f for f in frames if f.startswith(("{", "["))]
            client = next(iter(adapter.exchange.clients.values()))
            before = adapter.counts["malformed"]
            for i in range(N_BROKEN):
                if i % 10 == 9:
                    bad = "{" + "".join(map(chr, rng.integers(32, 127, 30)))
                else:
                    text = texts[i % len(texts)]
                    bad = text[: int(rng.integers(1, len(text) - 1))]
                client.handle_text_or_binary_message(bad)
            counted = adapter.counts["malformed"] - before
            # the adapter goes on reading real frames after the storm
            events = adapter.events
            t_end = time.monotonic() + 10
            while adapter.events == events and time.monotonic() < t_end:
                await asyncio.sleep(0.05)
                adapter.take_batch()
            alive = adapter.events > events
            await adapter.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return counted, alive

        counted, alive = asyncio.run(main())
    assert counted == N_BROKEN, f"{venue}: {counted} of {N_BROKEN} broken frames counted"
    assert alive, f"{venue}: the adapter stopped reading after the broken frames"
