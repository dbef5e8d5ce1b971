"""liqdesk.sim: the built-in multi-venue perpetual-futures market (numpy only).

The default source of the app and the ground truth the level model is scored against: it knows
every position. See :mod:`liqdesk.sim.market` for the mechanics and ``liqdesk/sim/README.md`` for
the defaults and the market statistics it is tested for.

    sim = Simulator(SimParams(seed=7, hours=24))
    batch = sim.step(sim.start_ms + 60_000)     # public events of the first minute
    sim.truth_liquidations(); sim.truth_map(); sim.positions()
"""

from .errors import SimulationError
from .market import TRUTH_MAP_DTYPE, Simulator
from .params import DEFAULT_LEVERAGE_PRIOR, DEFAULT_VENUES, VENUE_ORDER, SimParams, venues_for
from .positions import POSITION_DTYPE, REASONS
from .scenarios import SCENARIO_NAMES, SCENARIOS, scenario

__all__ = [
    "DEFAULT_LEVERAGE_PRIOR",
    "DEFAULT_VENUES",
    "POSITION_DTYPE",
    "REASONS",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "TRUTH_MAP_DTYPE",
    "VENUE_ORDER",
    "SimParams",
    "SimulationError",
    "Simulator",
    "scenario",
    "venues_for",
]
