"""Shared fixtures. Real exchange captures live in ../shared/data/real beside the checkout
(never in the repository); tests that need them skip with the reason when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("LIQDESK_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real captures; skips the test when it is not there."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real exchange captures not found at {REAL_DATA} (set LIQDESK_REAL_DATA)")
    return REAL_DATA
