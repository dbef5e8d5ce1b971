"""Scenario presets of the simulator: market regimes and trader populations a user can pick by name.

A preset only fills the :class:`~liqdesk.sim.params.SimParams` fields left at None: a value passed
explicitly (``--leverage-prior``, ``--bias``, ...) wins over the preset's. Presets combine with the
seed, the venues and the symbol like the default market does. What each preset is calibrated on,
and its measured statistics beside its targets, are in ``liqdesk/sim/README.md`` (measured by
:mod:`liqdesk.sim.calibration`).

Field units: ``volatility`` annualized; ``jumps_per_day`` a rate; ``jump_scale`` the Laplace scale
of a jump's log return; ``drift_per_day`` the spot value's log return per day; ``crash_depth`` the
fraction of price the exogenous crash selling takes (liquidations add to it), over
``crash_minutes`` starting ``crash_at_hours`` after the episode's start, of which
``crash_rebound`` is given back over the next ``REBOUND_HOURS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The simulator's TRUE leverage distribution (share of newly opened positions per leverage).
#: Deliberately not the level model's default prior (even weights on 10, 20, 25, 50, 75 and 100x):
#: it leans to high leverage (half the positions at 25x or more) and uses leverages the model does
#: not list (3x, 5x), as real traders do. Each venue caps a leverage at its tier table's maximum for
#: the position's notional (Hyperliquid: 40x), so the realized mix differs per venue.
DEFAULT_LEVERAGE_PRIOR = "3:0.04,5:0.08,10:0.2,20:0.13,25:0.15,50:0.17,75:0.06,100:0.17"

#: Values of the preset-controlled fields when no scenario (and no explicit value) sets them: the
#: default market, unchanged by the presets' arrival.
MARKET_DEFAULTS: dict[str, object] = {
    "leverage_prior": DEFAULT_LEVERAGE_PRIOR,
    "bias": 0.55,
    "volatility": 0.6,
    "jumps_per_day": 4.0,
    "jump_scale": 0.003,
    "drift_per_day": 0.0,
    "crash_at_hours": 1.0,
    "crash_depth": 0.0,
    "crash_minutes": 12.0,
    "crash_rebound": 0.0,
}

#: Hours over which a crash gives back ``crash_rebound`` of its depth.
REBOUND_HOURS = 2.0


@dataclass(frozen=True)
class Scenario:
    """A named preset: the SimParams values it sets and a one-line description."""

    name: str
    description: str
    values: dict = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("calm", "a quiet market: half the volatility, one small news jump a day",
             {"volatility": 0.3, "jumps_per_day": 1.0, "jump_scale": 0.0015}),
    Scenario("trend", "an up-trend: news-like pushes worth 8 % a day (about 0.3 % an hour) that traders chase",
             {"drift_per_day": 0.08}),
    Scenario("crash", "a crowded long market hit by a cascade one hour in: 8 % of exogenous selling over "
                      "12 min (about 6 % shows in the mark), a burst of liquidations, a third given back over 2 h",
             {"bias": 0.65, "crash_depth": 0.08, "crash_minutes": 12.0, "crash_at_hours": 1.0,
              "crash_rebound": 0.33}),
    Scenario("lowlev", "traders at 3-30x, most at 10x or less",
             {"leverage_prior": "3:0.2,5:0.25,10:0.3,20:0.15,30:0.1"}),
    Scenario("highlev", "traders at 10-125x, half at 50x or more (each venue caps at its tier maximum)",
             {"leverage_prior": "10:0.1,20:0.15,25:0.15,50:0.25,75:0.1,100:0.15,125:0.1"}),
)}

SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)


def scenario(name: str) -> Scenario:
    """The preset called ``name`` (case-insensitive); ValueError with the known names otherwise."""
    key = str(name).strip().lower() if isinstance(name, str) else None
    if key not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIO_NAMES)}")
    return SCENARIOS[key]


def resolved_values(name: str | None) -> dict[str, object]:
    """The preset-controlled fields' values for scenario ``name`` (None: the default market)."""
    out = dict(MARKET_DEFAULTS)
    if name is not None:
        out.update(scenario(name).values)
    return out
