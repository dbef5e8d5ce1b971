"""Shared fixtures. Real exchange captures live in ../shared/data/real beside the checkout
(never in the repository); tests that need them skip with the reason when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("LIQDESK_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (pyproject's default): two workers per core. Half the suite's wall time is live
    tests waiting on loopback sockets and watchdogs, so a core runs one worker's CPU while the
    other waits (3m20s instead of 4m45s on the 2-core CI machine)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(2 * cores, 8)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real captures; skips the test when it is not there."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real exchange captures not found at {REAL_DATA} (set LIQDESK_REAL_DATA)")
    return REAL_DATA


@pytest.fixture(autouse=True, scope="session")
def private_config_dir(tmp_path_factory):
    """liqdesk's config folder (saved layouts) in a temporary folder, for this process and the
    commands tests start: a test never reads or writes the user's own."""
    CONFIG_DIR_ENV = "LIQDESK_CONFIG_DIR"  # liqdesk.app.config_files.CONFIG_DIR_ENV
    before = os.environ.get(CONFIG_DIR_ENV)
    os.environ[CONFIG_DIR_ENV] = str(tmp_path_factory.mktemp("config"))
    yield Path(os.environ[CONFIG_DIR_ENV])
    if before is None:
        os.environ.pop(CONFIG_DIR_ENV, None)
    else:
        os.environ[CONFIG_DIR_ENV] = before
