"""Simulator speed for ``liqdesk bench``: simulated hours per wall-clock minute.

The target is 24 simulated hours (default market: three venues) in at most 60 s, i.e.
``sim_hours_per_minute >= 24``. A shorter episode is simulated and extrapolated; the figure
covers the simulator alone (writing a session adds the store's share, measured by
``liqdesk simulate``'s own summary line).
"""

from __future__ import annotations

import time


def measure_sim(hours: float = 2.0, seed: int = 0, venues: int = 3) -> dict:
    """Simulate ``hours`` and report ``sim_hours_per_minute`` with the events produced."""
    from liqdesk.sim import SimParams, Simulator, venues_for

    params = SimParams(seed=seed, hours=hours, venues=venues_for(venues))
    t0 = time.perf_counter()
    sim = Simulator(params)
    events = 0
    while not sim.finished:
        events += len(sim.step(sim.now + 15 * 60_000))
    elapsed = time.perf_counter() - t0
    return {
        "sim_hours_per_minute": round(hours / elapsed * 60.0, 2),
        "sim_events_per_s": round(events / elapsed),
        "sim_bench_hours": hours,
        "sim_venues": venues,
        "sim_liquidations": int(sim.stats["liquidations"]),
    }
