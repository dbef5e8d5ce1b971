"""Parameters of a simulated market (:class:`SimParams`), checked once, on construction.

An episode is its parameters plus the seed: the same ``SimParams`` give bit-identical events.
Every invalid value raises ``ValueError`` with a one-line message naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from liqdesk.core.events import EXCHANGE_ID, EXCHANGES
from liqdesk.core.levels import nice_bin_width, parse_prior
from liqdesk.core.markets import MarketProfile, market_profile

from .scenarios import DEFAULT_LEVERAGE_PRIOR, SCENARIO_NAMES, resolved_values, scenario

__all__ = ["DEFAULT_LEVERAGE_PRIOR", "DEFAULT_VENUES", "SCENARIO_NAMES", "VENUE_ORDER", "SimParams", "venues_for"]

#: Venues in the order ``--venues N`` takes them. The first three are the default market.
VENUE_ORDER: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid", "bitget")
DEFAULT_VENUES: tuple[str, ...] = VENUE_ORDER[:3]


#: Relative size of each venue (trade and position flow, book depth, background open interest).
VENUE_SHARE: dict[str, float] = {"binance": 1.0, "bybit": 0.7, "okx": 0.5, "hyperliquid": 0.4, "bitget": 0.35}

#: Activity of the BTC market (the largest): new positions and background taker orders per second on
#: the largest venue, smallest position notional (USD). Another symbol's market scales them by the
#: square root of its open interest relative to BTC's (:mod:`liqdesk.core.markets`): a smaller
#: market has both fewer and smaller orders, so its traded notional scales with its size.
BTC_OPEN_RATE = 0.8
BTC_TRADE_RATE = 2.0
BTC_MIN_NOTIONAL = 1_000.0

#: 2024-01-01 00:00:00 UTC, the default start of an episode (a fixed time keeps episodes identical).
DEFAULT_START_MS = 1_704_067_200_000


def venues_for(count: int) -> tuple[str, ...]:
    """The first ``count`` venues of :data:`VENUE_ORDER` (``--venues N``)."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= len(VENUE_ORDER):
        raise ValueError(f"venue count must be an integer from 1 to {len(VENUE_ORDER)}, not {count!r}")
    return VENUE_ORDER[:count]


def _finite(name: str, value, lo: float | None = None, hi: float | None = None, *, open_lo: bool = False,
            open_hi: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    bad = not math.isfinite(x)
    if lo is not None:
        bad = bad or (x <= lo if open_lo else x < lo)
    if hi is not None:
        bad = bad or (x >= hi if open_hi else x > hi)
    if bad:
        lo_s = "" if lo is None else (f"> {lo:g}" if open_lo else f">= {lo:g}")
        hi_s = "" if hi is None else (f"< {hi:g}" if open_hi else f"<= {hi:g}")
        rule = " and ".join(s for s in (lo_s, hi_s) if s)
        raise ValueError(f"{name} must be a finite number {rule}, not {value!r}")
    return x


def _int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class SimParams:
    """One simulated episode. Prices in quote currency, times in ms since the epoch, rates per second.

    ``leverage_prior`` is the TRUE leverage distribution, ``"LEV:WEIGHT,..."`` (weights are
    normalized; they must sum to a positive number; any leverage > 1, each venue caps it at its
    tier table's maximum for the position's notional, e.g. Binance BTC 150x under $300k).
    ``bias`` is the long-run share of new positions that are long (the share itself wanders around
    it, follows trends and leans against funding).

    ``scenario`` names a preset (:mod:`liqdesk.sim.scenarios`: calm, trend, crash, lowlev,
    highlev). The market fields it controls (``leverage_prior``, ``bias``, ``volatility``, the
    jumps, the drift and the crash) are left at None to take the preset's value, or the default
    market's without a scenario; a value passed explicitly wins over the preset.

    The market comes from ``symbol`` (:func:`liqdesk.core.markets.market_profile`): ``start_price``,
    the book step and the activity (``open_rate``, ``trade_rate``, ``min_notional``) left at None
    are taken from its profile in ``__post_init__``; a value passed explicitly is kept. Each venue
    uses its own tier table for the symbol (generic, approximate, where none is shipped).
    """

    venues: tuple[str, ...] = DEFAULT_VENUES
    symbol: str = "BTC/USDT:USDT"
    #: first price (quote currency); None: the symbol profile's price
    start_price: float | None = None
    start_ms: int = DEFAULT_START_MS
    seed: int = 0
    #: episode length for headless runs; None = unbounded (the live source)
    hours: float | None = None
    #: a preset's name (None: the default market); see the class docstring
    scenario: str | None = None
    leverage_prior: str | None = None
    bias: float | None = None
    #: annualized volatility of the value process before order-flow feedback (default 0.6)
    volatility: float | None = None
    #: news jumps of the value process: a rate per day (default 4) and the Laplace scale of their
    #: log return (default 0.003)
    jumps_per_day: float | None = None
    jump_scale: float | None = None
    #: log return per day the value process drifts by (a trend; default 0)
    drift_per_day: float | None = None
    #: a crash: exogenous selling that takes ``crash_depth`` (fraction of price; default 0, none)
    #: over ``crash_minutes`` starting ``crash_at_hours`` after the start; ``crash_rebound`` of the
    #: depth comes back over the next two hours
    crash_at_hours: float | None = None
    crash_depth: float | None = None
    crash_minutes: float | None = None
    crash_rebound: float | None = None
    #: open interest polled like a REST endpoint, per venue
    oi_poll_ms: int = 5_000
    #: predicted funding rate published this often per venue (settled every 8 h)
    funding_publish_ms: int = 60_000
    #: book snapshots (top ``book_depth`` levels per side) this often per venue
    book_every_ms: int = 5_000
    book_depth: int = 20
    #: public liquidation feed: the latest liquidation per venue per this window (Binance: 1 s)
    public_liq_window_ms: int = 1_000
    #: ground truth: outstanding liquidation map snapshots this often, at this bin width
    truth_every_ms: int = 60_000
    truth_bin_width: float | None = None
    #: book price step (None: about 0.4 bp of the start price, rounded to 1/2/2.5/5 x 10^k, and not
    #: finer than the profile's published venue step)
    tick_size: float | None = None
    #: new positions per second on the largest venue (scaled by venue share and activity);
    #: None: BTC_OPEN_RATE scaled by the symbol's size (see BTC_OPEN_RATE)
    open_rate: float | None = None
    #: background taker orders per second on the largest venue (None: from the symbol, as open_rate)
    trade_rate: float | None = None
    #: smallest position notional (USD; None: from the symbol, as open_rate); sizes are
    #: Pareto-distributed above it with this tail index
    min_notional: float | None = None
    size_tail: float = 1.5
    #: positions opened over this many hours of a synthetic past seed the market at the start
    warmup_hours: float = 12.0

    def __post_init__(self):
        venues = self.venues
        if isinstance(venues, str):
            venues = tuple(v.strip() for v in venues.split(",") if v.strip())
        venues = tuple(str(v).lower() for v in venues)
        if not venues:
            raise ValueError("at least one venue is needed")
        for name in venues:
            if name not in EXCHANGE_ID:
                raise ValueError(f"unknown venue {name!r}; expected one of {', '.join(EXCHANGES)}")
        if len(set(venues)) != len(venues):
            raise ValueError("a venue is listed twice")
        object.__setattr__(self, "venues", venues)
        if self.scenario is not None:
            object.__setattr__(self, "scenario", scenario(self.scenario).name)
        for name, value in resolved_values(self.scenario).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise ValueError("symbol must be a non-empty string")
        market = market_profile(self.symbol)
        object.__setattr__(self, "_market", market)
        scale = math.sqrt(market.size_vs_btc)
        for name, value in (("start_price", market.price), ("open_rate", BTC_OPEN_RATE * scale),
                            ("trade_rate", BTC_TRADE_RATE * scale),
                            ("min_notional", max(1.0, BTC_MIN_NOTIONAL * scale))):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        _finite("start_price", self.start_price, 0, open_lo=True)
        _int("start_ms", self.start_ms, 0)
        _int("seed", self.seed, 0)
        if self.hours is not None:
            _finite("hours", self.hours, 0, open_lo=True)
        if not isinstance(self.leverage_prior, str):
            raise ValueError("leverage_prior must be text like '5:0.1,10:0.25,25:0.3,50:0.2,100:0.15'")
        parse_prior(self.leverage_prior)  # raises ValueError with the reason
        _finite("bias", self.bias, 0, 1, open_lo=True, open_hi=True)
        _finite("volatility", self.volatility, 0, 5, open_lo=True)
        _finite("jumps_per_day", self.jumps_per_day, 0, 1000)
        _finite("jump_scale", self.jump_scale, 0, 0.2, open_lo=True)
        _finite("drift_per_day", self.drift_per_day, -1, 1)
        _finite("crash_at_hours", self.crash_at_hours, 0, 24 * 365)
        _finite("crash_depth", self.crash_depth, 0, 0.5)
        _finite("crash_minutes", self.crash_minutes, 1, 24 * 60)
        _finite("crash_rebound", self.crash_rebound, 0, 1)
        for name in ("oi_poll_ms", "funding_publish_ms", "book_every_ms", "public_liq_window_ms",
                     "truth_every_ms"):
            value = _int(name, getattr(self, name), 1000)
            if value % 1000:
                raise ValueError(f"{name} must be a whole number of seconds (a multiple of 1000), not {value}")
        _int("book_depth", self.book_depth, 1)
        if self.book_depth > 200:
            raise ValueError(f"book_depth must be at most 200, not {self.book_depth}")
        if self.truth_bin_width is not None:
            _finite("truth_bin_width", self.truth_bin_width, 0, open_lo=True)
        if self.tick_size is not None:
            _finite("tick_size", self.tick_size, 0, self.start_price / 100, open_lo=True)
        _finite("open_rate", self.open_rate, 0, 100, open_lo=True)
        _finite("trade_rate", self.trade_rate, 0, 200)
        _finite("min_notional", self.min_notional, 1, 1e7)
        _finite("size_tail", self.size_tail, 1, 5, open_lo=True)
        _finite("warmup_hours", self.warmup_hours, 0, 240)

    # ------------------------------------------------------------------ derived values
    @property
    def prior(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(leverages, normalized weights) of the true leverage distribution."""
        return parse_prior(self.leverage_prior)

    @property
    def market(self) -> MarketProfile:
        """The profile of :attr:`symbol` the defaults were taken from."""
        return self._market

    @property
    def tick(self) -> float:
        """Book price step in quote currency: ``tick_size``, or about 0.4 bp of the start price but
        not finer than the venue step the symbol's profile publishes (when that fits the price)."""
        if self.tick_size:
            return self.tick_size
        step = nice_bin_width(self.start_price * 4e-5)
        venue = self._market.tick
        return max(step, venue) if venue and venue <= self.start_price * 1e-3 else step

    @property
    def bin_width(self) -> float:
        """Width of the truth map's absolute price bins (the level model's default rule:
        0.1 % of the first price, rounded down to 1/2/2.5/5 x 10^k)."""
        return self.truth_bin_width or nice_bin_width(self.start_price * 0.001)

    @property
    def end_ms(self) -> int | None:
        return None if self.hours is None else self.start_ms + int(round(self.hours * 3_600_000))

    def to_meta(self) -> dict:
        """JSON-ready description (for a session's meta)."""
        out = asdict(self)
        out["venues"] = list(self.venues)
        out["tick"] = self.tick
        out["bin_width"] = self.bin_width
        out["market"] = asdict(self._market)
        return out
