"""The live tests run the adapters against the emulator over real loopback websockets: each waits
seconds on watchdogs, stalls and reconnects, so all of them count as ``slow`` (CI runs them; a
quick loop can leave them out with ``-m 'not slow'``)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.slow)
