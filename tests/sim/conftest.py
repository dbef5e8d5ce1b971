"""A shared simulated session for the statistical and truth tests (built once per test run)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from liqdesk.core.events import EventBatch, concat_batches
from liqdesk.sim import SimParams, Simulator

#: The episode the market statistics are tested on (fixed seed; one simulated day).
MARKET_SEED = 11
MARKET_HOURS = 24.0


@dataclass
class Episode:
    sim: Simulator
    batch: EventBatch
    positions: np.ndarray

    def marks(self, venue: int = 0) -> np.ndarray:
        m = self.batch.marks
        return m[m["exchange"] == self.sim.exchange_ids[venue]]


def run_episode(params: SimParams, chunk_ms: int = 30 * 60_000) -> Episode:
    sim = Simulator(params)
    parts = []
    while not sim.finished:
        parts.append(sim.step(sim.now + chunk_ms))
    return Episode(sim, concat_batches(parts), sim.positions())


@pytest.fixture(scope="session")
def market() -> Episode:
    return run_episode(SimParams(seed=MARKET_SEED, hours=MARKET_HOURS))
