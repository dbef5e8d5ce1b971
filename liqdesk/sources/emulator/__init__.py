"""The loopback exchange emulator: each exchange's REST endpoints and websocket streams, in its
own wire format, on 127.0.0.1, fed by the simulator (``liqdesk emulate``; tests start it
themselves). See :mod:`.server` and :mod:`.market`."""
