"""The market simulator: several perpetual-futures venues, one symbol, stepped one second at a time.

What happens in a step ``(T, T + 1 s]`` (all venues at once, numpy throughout):

1. **Takers** hit the books with market orders, in time order per venue and side:
   - informed traders and arbitrageurs send IOC orders that take a share of the depth standing
     between the touch and a common anchor (the spot index blended with the venues' average mid),
     which keeps the venues arbitraged toward each other and toward spot;
   - background takers (Poisson arrivals, Pareto sizes, a slight trend-following lean);
   - traders opening leveraged positions (a share open passively, at the touch, without a trade);
   - traders closing: by hazard (a holding time drawn at open), and the take-profit, stop-loss
     and **liquidation** orders triggered by the previous step's mark price.
   Each order walks its book (:mod:`liqdesk.sim.book`); every price level it touches prints one
   trade with the taker's side.
2. **Market makers** re-quote around the mid the takers left, at a spread that widens and with
   depth that thins when the market is busy, and refill.
3. **Spot index** (the value the informed traders trade toward) moves by a stochastic-volatility
   diffusion with jumps, and follows the perpetuals' average mid (spot traders arbitrage too), so
   sustained perpetual selling, e.g. a liquidation cascade, moves spot and the mark.
4. **Mark price** per venue, as Binance computes it: the median of
   ``index·(1 + funding·time left)``, ``index + EMA₆₀ₛ(mid − index)`` and the venue's mid.
5. **Liquidation engine** per venue: every position whose liquidation price (from the venue's
   own tier table and rule, :func:`liqdesk.core.tiers.liquidation_price`) the mark reached is
   closed by a market order sent in the next step (so a liquidation pushes price, moves the mark
   and can trigger the next one: cascades). Stop-losses and take-profits fire the same way.
6. Output: marks every second, open interest polled every ``oi_poll_ms`` per venue, predicted
   funding, book snapshots, the throttled public liquidation feed, and the truth (every
   liquidation, every position, the outstanding liquidation map per price bin).

Volatility clusters because the spot diffusion's log-volatility is an Ornstein-Uhlenbeck process
that liquidations excite; returns are fat-tailed from that mixing, the jumps and cascades.
Traders' long share wanders (OU), chases the last 30 minutes' trend and leans against funding;
their opening rate grows with activity and trend strength, so open interest rises in trends and
falls in flushes.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, KINDS, EventBatch, make_batch
from liqdesk.core.tiers import liquidation_price, load_tiers

from .book import LOT_VALUE, Books
from .errors import SimulationError
from .params import VENUE_SHARE, SimParams
from .positions import CLOSED, LIQUIDATED, STOP_LOSS, TAKE_PROFIT, Positions
from .scenarios import REBOUND_HOURS

STEP_MS = 1_000
BLOCK_STEPS = 60
BLOCK_MS = STEP_MS * BLOCK_STEPS
YEAR_S = 365.0 * 86_400.0
LEVELS = 512                     # book levels kept per side

# spot value process
# log-volatility = slow + fast Ornstein-Uhlenbeck components: (half-life s, stationary std)
VOL_SLOW = (2 * 3600.0, 0.4)
VOL_FAST = (600.0, 0.45)
VOL_VAR = VOL_SLOW[1] ** 2 + VOL_FAST[1] ** 2
EXCITE_HALF_LIFE_S = 900.0       # liquidation excitation of volatility decays with this half-life
EXCITE_PER_USD = 0.35 / 5e6      # log-volatility added per liquidated notional
EXCITE_MAX = 2.0
# news jumps: ``params.jumps_per_day`` (default 4), Laplace scale ``params.jump_scale`` (log
# return, default 0.003) ...
JUMP_SPREAD_S = (20, 120)        # ... spread over this many seconds (news is traded in, not gapped)
JUMP_VOL = 0.25                  # fast log-volatility added per jump_scale of jump
TREND_EVERY_S, TREND_PULSE_S = 600, 20   # a scenario's trend: one pulse of this length this often
SPOT_FOLLOW = 0.06               # per second: spot moves this share of its gap to the perps' mid

# takers
IOC_FRACTION = 0.3               # share of the depth up to the anchor that informed IOCs take
ARB_EDGE = 0.6e-4                # they need at least this edge (fraction of price)
INDEX_WEIGHT = 0.6               # anchor = w·index·(1 + premium) + (1 − w)·average mid, where
PREMIUM_PER_CROWDING = 0.006     # premium = this × (longs − shorts) / (longs + shorts) of the venue
NOISE_MIN_USD, NOISE_TAIL, NOISE_CAP_USD = 300.0, 1.3, 3e6
TREND_LEAN = 0.06                # background takers buy with probability 0.5 + lean·momentum

# book
DEPTH_PER_LEVEL_USD = 30_000.0   # target size of a deep level on the largest venue (quote)
BASE_SPREAD_TICKS = 1

# positions
PASSIVE_SHARE = 0.35             # positions opened by a resting order (no trade, entry at the touch)
TP_PROB, TP_ROE_MEDIAN, TP_ROE_SIGMA = 0.55, 0.6, 0.6
SL_PROB, SL_LOSS_LO, SL_LOSS_HI = 0.35, 0.25, 0.9
HOLD_MEAN_S = 4 * 3600.0         # mean holding time at 10x; scales with (10 / leverage)^0.4
POSITION_CAP_USD = 1e6
BIAS_HALF_LIFE_S = 5400.0
BIAS_STD = 0.6                   # stationary std of the long-share logit's wandering part
TREND_CHASE = 0.7                # logit of the long share per unit of momentum
FUNDING_LEAN = 1500.0            # logit of the long share per unit of funding rate
TREND_OPEN = 1.2                 # opening rate × (1 + TREND_OPEN·|momentum|) ...
FEAR_PER_PCT = 0.8               # ... × exp(−fear): fear grows by this per 1 % of open interest
FEAR_HALF_LIFE_S = 900.0         # liquidated, and fades: flushes scare traders off for a while
MOMENTUM_MIN = 30

# exchange plumbing
# Open interest = unleveraged base (hedgers, basis traders, market makers' two-sided books; a slow
# random walk) + (leveraged longs + leveraged shorts) / 2: the maker side of a trader's trade opens
# or closes with equal chance, so every leveraged open adds half its size and every close, stop or
# liquidation takes half away, whichever the side (the accounting stays consistent: the others
# hold the traders' net the other way).
BASE_OI_FRACTION = 0.6
BASE_OI_NOISE = 1e-4             # log change of the base per poll
BASIS_EMA_S = 60.0
BASIS_ALPHA = 1.0 - math.exp(-STEP_MS / 1000.0 / BASIS_EMA_S)
EXCITE_DECAY = math.exp(-math.log(2) * STEP_MS / 1000.0 / EXCITE_HALF_LIFE_S)
FEAR_DECAY = math.exp(-math.log(2) * STEP_MS / 1000.0 / FEAR_HALF_LIFE_S)
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
FUNDING_INTEREST, FUNDING_CLAMP, FUNDING_CAP = 1e-4, 5e-4, 7.5e-3
LIQ_DELAY_MS = (5, 400)          # liquidation / stop orders reach the book this long after the mark

#: Snapshots of the true outstanding liquidation map (see :meth:`Simulator.truth_map`).
TRUTH_MAP_DTYPE = np.dtype([("time_ms", "i8"), ("side", "i1"), ("bin", "i8"), ("notional", "f8")])


def _utc(ms: int) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pareto(rng: np.random.Generator, x_min: float, tail: float, cap: float, n: int) -> np.ndarray:
    return np.minimum(x_min * (1.0 + rng.pareto(tail, n)), cap)


class Simulator:
    """A deterministic multi-venue perpetual-futures market (see the module docstring).

    ``step(until_ms)`` advances simulated time in whole seconds up to ``until_ms`` and returns the
    public events of that span as a validated :class:`EventBatch`; the truth is read with
    :meth:`truth_liquidations`, :meth:`truth_map` and :meth:`positions`.

    ``keep_history=False`` is for a consumer that streams the truth out as it goes (``liqdesk
    simulate``): closed positions are dropped instead of archived, and :meth:`drain_truth` hands
    over the truth rows once, so memory stays flat however long the run. The market itself (every
    random draw, every event) is the same either way.
    """

    def __init__(self, params: SimParams | None = None, keep_history: bool = True):
        self.params = p = params or SimParams()
        self.venues = p.venues
        self.V = V = len(p.venues)
        self.tables = [load_tiers(name, p.symbol) for name in p.venues]
        self.exchange_ids = np.array([EXCHANGE_ID[name] for name in p.venues], np.uint8)
        self.size_basis = np.array([t.basis == "size" for t in self.tables])
        self.share = np.array([VENUE_SHARE.get(name, 0.35) for name in p.venues])
        self.weight = self.share / self.share.sum()
        self.levs, self.lev_weights = (np.asarray(x, float) for x in p.prior)
        self.tick = p.tick
        self.bin_width = p.bin_width
        ss = np.random.SeedSequence(p.seed)
        self.rng = np.random.Generator(np.random.PCG64(ss.spawn(1)[0]))
        self.now = int(p.start_ms)                     # end of the last simulated step
        self.end_ms = p.end_ms

        price = float(p.start_price)
        depth = DEPTH_PER_LEVEL_USD * self.share / price
        self.lot = 10.0 ** round(math.log10(LOT_VALUE / price))      # book size unit, base currency
        self.books = Books(np.full(V, price / self.tick), depth, LEVELS, self.rng, self.lot)
        self.pos = Positions(V, keep_closed=keep_history)
        # state of the spot process, activity, bias, funding, marks
        self.v = math.log(price)
        self.index = price
        self.h = 0.0
        self.hc = [0.0, 0.0]
        self._drift = np.zeros(BLOCK_STEPS)
        self.e = 0.0
        self.fear = 0.0
        self.z = 0.0
        self.mom = 0.0
        self.sig0 = p.volatility / math.sqrt(YEAR_S)
        self.basis = np.zeros(V)
        self.mark = np.full(V, price)
        self.prem_sum = np.zeros(V)
        self.prem_n = 0
        self.funding = np.full(V, FUNDING_INTEREST)
        self.ls = np.zeros(2 * V)                      # leveraged longs, shorts per venue (base)
        self.base_oi = np.zeros(V)
        self._log_mids: deque[float] = deque(maxlen=MOMENTUM_MIN + 1)
        self._block_start: int | None = None
        self._pend = None                              # orders triggered by the last mark
        self._pend_liq = None
        poll = p.oi_poll_ms
        self._next_poll = [(self.now // poll) * poll + (1000 * 7 * (v + 1)) % poll for v in range(V)]
        self._next_poll = [t if t > self.now else t + poll for t in self._next_poll]
        self._next_poll_min = min(self._next_poll)
        self._out = {k: [] for k in ("trades", "marks", "open_interest", "funding", "book")}
        self._liq_parts: list[np.ndarray] = []        # truth rows not yet emitted publicly
        self._truth_liq: list[np.ndarray] = []
        self._truth_map: list[tuple] = []
        self.stats = {"steps": 0, "orders": 0, "liquidations": 0, "opens": 0}
        self._scheduled = self._schedule()
        self._warm_start()

    # ------------------------------------------------------------------ public API
    @property
    def start_ms(self) -> int:
        return int(self.params.start_ms)

    def step(self, until_ms: int) -> EventBatch:
        """Simulate every whole second ending at or before ``until_ms`` (and the episode's end)
        and return the public events of that span (empty batch if no second completed)."""
        until = int(until_ms)
        if self.end_ms is not None:
            until = min(until, self.end_ms)
        while self.now + STEP_MS <= until:
            self._step()
        return self._flush()

    @property
    def finished(self) -> bool:
        return self.end_ms is not None and self.now + STEP_MS > self.end_ms

    def truth_liquidations(self) -> np.ndarray:
        """Every liquidation so far (LIQUIDATION_DTYPE): time and average price of the venue's
        liquidation order, side of the liquidated position, its size and notional."""
        parts = self._truth_liq
        if len(parts) > 1:
            self._truth_liq = parts = [np.concatenate(parts)]
        arr = parts[0] if parts else np.empty(0, KINDS["liquidations"])
        out = arr.copy()
        out.flags.writeable = False
        return out

    def truth_liquidations_since(self, count: int) -> np.ndarray:
        """The liquidations after the first ``count`` (for a consumer that follows them as they
        happen, e.g. an exchange emulator publishing a complete liquidation feed)."""
        out, seen = [], 0
        for part in self._truth_liq:
            if seen + len(part) > count:
                out.append(part[max(0, count - seen):])
            seen += len(part)
        return np.concatenate(out) if out else np.empty(0, KINDS["liquidations"])

    def drain_truth(self) -> tuple[np.ndarray, np.ndarray]:
        """The truth rows recorded since the last drain, handed over and forgotten here:
        ``(liquidations, truth_map)`` as ``KINDS["liquidations"]`` and :data:`TRUTH_MAP_DTYPE`
        rows in time order. After a drain, :meth:`truth_liquidations`, :meth:`truth_map` and
        :meth:`truth_liquidations_since` see only what came later."""
        liq = np.concatenate(self._truth_liq) if self._truth_liq else np.empty(0, KINDS["liquidations"])
        tmap = self._truth_map_records()
        self._truth_liq, self._truth_map = [], []
        return liq, tmap

    def truth_map(self, bin_width: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Snapshots of the true outstanding liquidation notional, every ``truth_every_ms``.

        Returns ``(time_ms, side, bin, notional)`` columns: ``side`` +1 long / -1 short, ``bin``
        absolute (bin k covers [k·w, (k+1)·w), as the level model bins), ``notional`` the open
        positions' entry notional (quote currency) whose liquidation price lies in the bin.
        ``bin_width`` must be the recorded width (``params.bin_width``) or a whole multiple of it.
        """
        base = self.bin_width
        rec = self._truth_map_records()
        if bin_width is None or bin_width == base:
            return rec["time_ms"].copy(), rec["side"].copy(), rec["bin"].copy(), rec["notional"].copy()
        ratio = float(bin_width) / base
        k = round(ratio)
        if not (bin_width > 0) or k < 1 or abs(ratio - k) > 1e-9:
            raise ValueError(f"truth_map bin width must be a whole multiple of the recorded width {base:g}, "
                             f"not {bin_width!r}")
        coarse = np.floor_divide(rec["bin"], k)
        key = np.stack([rec["time_ms"], rec["side"].astype(np.int64), coarse])
        uniq, inv = np.unique(key, axis=1, return_inverse=True)
        notional = np.bincount(inv.ravel(), rec["notional"], uniq.shape[1])
        return uniq[0], uniq[1].astype(np.int8), uniq[2], notional

    def truth_map_table(self) -> np.ndarray:
        """The truth map at the recorded bin width as :data:`TRUTH_MAP_DTYPE` rows."""
        return self._truth_map_records().copy()

    def positions(self, include_closed: bool = True) -> np.ndarray:
        """Every position (POSITION_DTYPE), open and closed, including the warm-start ones."""
        return self.pos.records(include_closed)

    def open_interest(self) -> np.ndarray:
        """Current open interest per venue in base units (what the next poll would publish)."""
        V = self.V
        return self.base_oi + 0.5 * (self.ls[:V] + self.ls[V:])

    # ------------------------------------------------------------------ scenario drift
    def _schedule(self):
        """The deterministic part of the spot value's moves a scenario adds (log return per step
        of a block starting at ``T0``): a steady drift, and a crash's selling and its rebound.
        None when there is neither (the default market: nothing is added, bit for bit)."""
        p = self.params
        # a trend comes in pulses (TREND_PULSE_S every TREND_EVERY_S): spot follows the perpetuals
        # within seconds, so a drift spread evenly would stay under the arbitrageurs' edge and never
        # reach the perpetuals; news-like steps do
        pulses_per_day = 86_400 / TREND_EVERY_S
        trend = p.drift_per_day / pulses_per_day / TREND_PULSE_S * STEP_MS / 1000
        if not trend and not p.crash_depth:
            return None
        depth = -math.log1p(-p.crash_depth)             # log return the crash takes
        c0 = p.start_ms + int(round(p.crash_at_hours * 3_600_000))
        c1 = c0 + int(round(p.crash_minutes * 60_000))
        r1 = c1 + int(round(REBOUND_HOURS * 3_600_000))
        fall = -depth * STEP_MS / (c1 - c0)
        rise = depth * p.crash_rebound * STEP_MS / (r1 - c1)
        offsets = STEP_MS * np.arange(BLOCK_STEPS)

        def scheduled(T0: int) -> np.ndarray:
            t = T0 + offsets                          # start of each step
            out = np.where((t - p.start_ms) % (TREND_EVERY_S * 1000) < TREND_PULSE_S * 1000, trend, 0.0)
            if depth:
                out += np.where((t >= c0) & (t < c1), fall, 0.0) + np.where((t >= c1) & (t < r1), rise, 0.0)
            return out

        return scheduled

    # ------------------------------------------------------------------ warm start
    def _warm_start(self) -> None:
        """Seed the market with the positions that would still be open after ``warmup_hours`` of a
        synthetic past (a random walk ending at the start price): opened along that path, minus
        those its extremes would have closed. Vectorized; nothing of the past is emitted."""
        p, rng, V = self.params, self.rng, self.V
        W = p.warmup_hours * 3600.0
        dt = 5.0
        n = int(W / dt)
        self._log_mids.append(math.log(p.start_price))
        if n < 2:
            self.base_oi = 200.0 * self.share / p.start_price * 1e3
            return
        steps = rng.standard_t(4, n - 1) * self.sig0 * math.sqrt(dt) / math.sqrt(2.0)
        logp = np.concatenate([[0.0], np.cumsum(steps)])
        path = p.start_price * np.exp(logp - logp[-1])
        smin = np.minimum.accumulate(path[::-1])[::-1]
        smax = np.maximum.accumulate(path[::-1])[::-1]
        counts = rng.poisson(p.open_rate * self.share * W)
        total = int(counts.sum())
        venue = np.repeat(np.arange(V), counts)
        i_open = rng.integers(0, n, total)
        t_open = np.rint((i_open - (n - 1)) * dt * 1000.0 - rng.integers(0, 5000, total)).astype(np.int64)
        side = np.where(rng.random(total) < p.bias, 1, -1).astype(np.int64)
        lev = self.levs[rng.choice(len(self.levs), total, p=self.lev_weights)]
        notional = _pareto(rng, p.min_notional, p.size_tail, POSITION_CAP_USD, total)
        entry = path[i_open] * (1.0 + 2e-4 * rng.standard_normal(total))
        size = np.maximum(np.rint(notional / entry / self.lot), 1.0) * self.lot
        life = (rng.exponential(HOLD_MEAN_S * (10.0 / lev) ** 0.4) * 1000.0).astype(np.int64)
        roe, loss = self._exits(rng, total)
        lp = np.empty(total)
        for v in range(V):
            sel = venue == v
            if sel.any():
                lev[sel] = self._cap_leverage(v, lev[sel], notional[sel], size[sel])
                lp[sel], _ = liquidation_price(self.tables[v], side[sel], entry[sel], lev[sel], size[sel])
        tp, sl = self._exits_from(side, entry, lev, roe, loss)
        is_long = side > 0
        down = np.where(is_long, np.fmax(lp, sl), tp)
        up = np.where(is_long, tp, np.fmin(lp, sl))
        lo, hi = smin[i_open], smax[i_open]
        s = (t_open + life > 0) & ~(lo <= down) & ~(hi >= up) & np.where(is_long, lp < entry, lp > entry)
        s = np.flatnonzero(s)
        s = s[np.argsort(t_open[s], kind="stable")]
        start = self.now
        pos = self.pos
        first = pos.reserve(venue=venue[s], exchange=self.exchange_ids[venue[s]], side=side[s], leverage=lev[s],
                            planned_close_ms=start + t_open[s] + life[s])
        ids = np.arange(first, first + len(s))
        if len(s):
            pos.activate(ids, entry[s], size[s], lp[s], tp[s], sl[s], start + t_open[s])
        self.ls += np.bincount(venue[s] + V * (side[s] < 0), size[s], 2 * V)
        pos.merge()
        floor = 200.0 * self.share / p.start_price * 1e3
        self.base_oi = np.maximum(BASE_OI_FRACTION * 0.5 * (self.ls[:V] + self.ls[V:]), floor)

    @staticmethod
    def _exits(rng, n):
        """Take-profit ROE targets and stop-loss margin losses (NaN when the trader sets none)."""
        roe = np.where(rng.random(n) < TP_PROB, TP_ROE_MEDIAN * np.exp(TP_ROE_SIGMA * rng.standard_normal(n)), np.nan)
        loss = np.where(rng.random(n) < SL_PROB, rng.uniform(SL_LOSS_LO, SL_LOSS_HI, n), np.nan)
        return roe, loss

    @staticmethod
    def _exits_from(side, entry, lev, roe, loss):
        return entry * (1.0 + side * roe / lev), entry * (1.0 - side * loss / lev)

    def _cap_leverage(self, v: int, lev: np.ndarray, notional: np.ndarray, size: np.ndarray) -> np.ndarray:
        table = self.tables[v]
        amount = size if table.basis == "size" else notional
        return np.minimum(lev, table.max_leverage[table.tier_at(amount)])

    # ------------------------------------------------------------------ one minute of plans
    def _new_block(self, T0: int) -> None:
        """Draw the next minute's exogenous randomness: spot shocks, background takers, openings
        (side, leverage, size, exits, holding time), and collect hazard closes that fall due."""
        p, rng, V = self.params, self.rng, self.V
        self._block_start = T0
        pos = self.pos
        # pool upkeep: the sorted trigger arrays take in the last minute's positions
        pos.merge()
        self._check_book(T0)
        if pos.n > 4096 and pos.n_dead > pos.n // 2:
            pos.compact()
        # slow state: volatility, bias, momentum
        for i, (half_life, std) in enumerate((VOL_SLOW, VOL_FAST)):
            a = math.exp(-math.log(2) * BLOCK_MS / 1000.0 / half_life)
            self.hc[i] = self.hc[i] * a + std * math.sqrt(1 - a * a) * float(rng.standard_normal())
        self.h = self.hc[0] + self.hc[1]
        b = math.exp(-math.log(2) * BLOCK_MS / 1000.0 / BIAS_HALF_LIFE_S)
        self.z = self.z * b + BIAS_STD * math.sqrt(1 - b * b) * float(rng.standard_normal())
        mids = self.books.mid_ticks() * self.tick
        cmid = float(self.weight @ mids)
        self._log_mids.append(math.log(cmid))
        act = math.exp(self.h + self.e)
        scale = self.sig0 * math.sqrt(60.0 * MOMENTUM_MIN)
        self.mom = math.tanh((self._log_mids[-1] - self._log_mids[0]) / scale / 2.0)
        self.books.thinning = act ** -0.4
        self.books.new_texture()
        self._spread = np.full(V, max(BASE_SPREAD_TICKS, int(round(BASE_SPREAD_TICKS * act ** 0.5))), np.int64)
        # spot shocks for each step of the block (jumps are traded in over tens of seconds)
        self._z = rng.standard_normal(BLOCK_STEPS).tolist()
        carry = self._drift[BLOCK_STEPS:]
        drift = np.zeros(BLOCK_STEPS + JUMP_SPREAD_S[1])
        drift[: len(carry)] = carry
        for _ in range(int(rng.poisson(p.jumps_per_day * BLOCK_MS / 86_400_000))):
            at = int(rng.integers(0, BLOCK_STEPS))
            size = float(rng.laplace(0.0, p.jump_scale))
            span = int(rng.integers(*JUMP_SPREAD_S))
            drift[at: at + span] += size / span
            self.hc[1] += JUMP_VOL * abs(size) / p.jump_scale
        self._drift = drift
        if self._scheduled is not None:             # a scenario's trend and crash (no draws)
            drift[:BLOCK_STEPS] += self._scheduled(T0)
        self._jump = drift[:BLOCK_STEPS].tolist()
        # background takers
        cn = rng.poisson(p.trade_rate * self.share * 60.0 * act ** 0.7)
        nn = int(cn.sum())
        nv = np.repeat(np.arange(V), cn)
        nt = T0 + 1 + rng.integers(0, BLOCK_MS, nn)
        ns = np.where(rng.random(nn) < 0.5 + TREND_LEAN * self.mom, 1, -1)
        nq = np.maximum(np.rint(_pareto(rng, NOISE_MIN_USD, NOISE_TAIL, NOISE_CAP_USD, nn) / mids[nv] / self.lot), 1.0)
        # openings
        co = rng.poisson(p.open_rate * self.share * 60.0 * math.exp(0.5 * self.h - self.fear)
                         * (1.0 + TREND_OPEN * abs(self.mom)))
        no = int(co.sum())
        ov = np.repeat(np.arange(V), co)
        ot = T0 + 1 + rng.integers(0, BLOCK_MS, no)
        f_mean = float(self.funding @ self.weight)
        logit = math.log(p.bias / (1 - p.bias)) + self.z + TREND_CHASE * self.mom - FUNDING_LEAN * f_mean
        self.long_share = 1.0 / (1.0 + math.exp(-logit))
        oside = np.where(rng.random(no) < self.long_share, 1, -1).astype(np.int64)
        olev = self.levs[rng.choice(len(self.levs), no, p=self.lev_weights)]
        oN = _pareto(rng, p.min_notional, p.size_tail, POSITION_CAP_USD, no)
        passive = rng.random(no) < PASSIVE_SHARE
        roe, loss = self._exits(rng, no)
        life_ms = np.maximum(rng.exponential(HOLD_MEAN_S * (10.0 / olev) ** 0.4) * 1000.0, 1.0).astype(np.int64)
        fixed = np.where(self.size_basis[ov], np.maximum(np.rint(oN / mids[ov] / self.lot), 1.0), np.nan)
        ratio = np.empty(no)
        exact = np.zeros(no, bool)
        for v in range(V):
            sel = ov == v
            if not sel.any():
                continue
            table = self.tables[v]
            olev[sel] = self._cap_leverage(v, olev[sel], oN[sel], fixed[sel] * self.lot)
            # liquidation price / entry: exact for any entry (the formulas are linear in the
            # entry at a fixed notional, or at a fixed size without deduction, as OKX's)
            amount = fixed[sel] * self.lot if table.basis == "size" else oN[sel]
            r, tier = liquidation_price(table, oside[sel], 1.0, olev[sel], amount)
            ratio[sel] = r
            if table.basis == "notional":
                exact[sel] = (tier > 0) | (r * oN[sel] > 0.98 * table.cap[0])
        ok = np.flatnonzero(np.where(oside > 0, ratio < 1.0, ratio > 1.0))
        # hazard closes falling due in this block
        n = pos.n
        due = np.flatnonzero(pos.alive[:n] & (pos.planned_close_ms[:n] <= T0 + BLOCK_MS))
        # the block's orders in time order: kind 0 background, 1 taker open, 2 passive open, 3 close
        t = np.concatenate([nt, ot[ok], np.maximum(pos.planned_close_ms[due], T0 + 1)])
        order = np.argsort(t, kind="stable")
        kind = np.concatenate([np.zeros(nn, np.int8), np.where(passive[ok], 2, 1).astype(np.int8),
                               np.full(len(due), 3, np.int8)])[order]
        src = np.concatenate([np.full(nn, -1), ok, due])[order]        # open: index in the draws
        is_open = (kind == 1) | (kind == 2)
        o = src[is_open]                                             # draws in opening order
        first = pos.reserve(venue=ov[o], exchange=self.exchange_ids[ov[o]], side=oside[o], leverage=olev[o],
                            planned_close_ms=ot[o] + life_ms[o])
        self._o = dict(lo=first, N=oN[o], fixed=fixed[o], ratio=ratio[o], exact=exact[o], roe=roe[o], loss=loss[o],
                       passive=passive[o])
        ref = src.copy()
        ref[is_open] = np.arange(first, first + len(o))
        self._bt = t[order]
        self._bv = np.concatenate([nv, ov[ok], pos.venue[due].astype(np.int64)])[order]
        self._bs = np.concatenate([ns, oside[ok], -pos.side[due].astype(np.int64)])[order]
        self._bq = np.concatenate([nq, np.zeros(len(ok)), np.rint(pos.size[due] / self.lot)])[order]
        self._bk = kind
        self._bref = ref
        edges = T0 + STEP_MS * np.arange(BLOCK_STEPS + 1)
        self._bb = np.searchsorted(self._bt, edges, "right").tolist()
        step_of = np.searchsorted(edges, self._bt, "left") - 1
        self._b_open = np.bincount(step_of[is_open], minlength=BLOCK_STEPS).tolist()
        self._b_close = np.bincount(step_of[kind == 3], minlength=BLOCK_STEPS).tolist()

    def _check_book(self, T: int) -> None:
        books = self.books
        if not books.ladder.min() >= 0:
            raise SimulationError(f"simulator reached an impossible state at {_utc(T)}: negative or NaN book size")
        if not books.spread_ticks().min() > 0:
            raise SimulationError(f"simulator reached an impossible state at {_utc(T)}: crossed book")

    # ------------------------------------------------------------------ one second
    def _step(self) -> None:
        T = self.now
        if self._block_start is None or T >= self._block_start + BLOCK_MS:
            self._new_block(T)
        j = (T - self._block_start) // STEP_MS
        p, V, books, pos, tick = self.params, self.V, self.books, self.pos, self.tick
        T1 = T + STEP_MS
        if not books.begin_step():
            raise SimulationError(f"simulator reached an impossible state at {_utc(T)}: negative, NaN or "
                                  "overflowing book size")
        mid = books.mid_ticks() * tick
        a, b = self._bb[j], self._bb[j + 1]

        # ---- 1. orders of this second: IOCs, last mark's triggers, the block's orders
        cmid = float(self.weight @ mid)
        # arbitrageurs hold the other side of the traders' net position for a premium
        ls = self.ls
        crowd = (ls[:V] - ls[V:]) / np.maximum(ls[:V] + ls[V:], 1e-12)
        premium = PREMIUM_PER_CROWDING * crowd
        self._premium = float(self.weight @ premium)
        anchor = INDEX_WEIGHT * self.index * (1.0 + premium) + (1.0 - INDEX_WEIGHT) * cmid
        edge = anchor * ARB_EDGE
        ioc = np.rint(books.ioc_quantities(np.floor((anchor - edge) / tick).astype(np.int64),
                                           np.ceil((anchor + edge) / tick).astype(np.int64)) * IOC_FRACTION)
        ioc_rows = np.flatnonzero(ioc)
        t_parts = [np.full(len(ioc_rows), T + 1, np.int64)]
        r_parts = [ioc_rows]
        q_parts = [ioc[ioc_rows]]
        g_parts = [np.full(len(ioc_rows), -1, np.int64)]
        if self._pend is not None:
            pt, pr, pq, pg = self._pend
            t_parts.append(pt), r_parts.append(pr), q_parts.append(pq), g_parts.append(pg)
            self._pend = None
        pend_liq, self._pend_liq = self._pend_liq, None
        opens = None
        if b > a:
            bt, bv, bs, kind, ref, qty = (self._bt[a:b], self._bv[a:b], self._bs[a:b], self._bk[a:b],
                                          self._bref[a:b], self._bq[a:b])
            walk = kind != 2
            if self._b_close[j]:
                ci = np.flatnonzero(kind == 3)
                ids = ref[ci]
                live = pos.alive[ids]
                if live.any():
                    pos.close(ids[live], bt[ci[live]], CLOSED)
                    self._sub_ls(ids[live])
                if not live.all():
                    walk[ci[~live]] = False          # closed earlier by a trigger
            tag = None
            if self._b_open[j]:
                oi = np.flatnonzero((kind == 1) | (kind == 2))
                o = self._o
                rel = ref[oi] - o["lo"]
                fixed = o["fixed"][rel]
                lots = np.where(np.isnan(fixed), np.maximum(np.rint(o["N"][rel] / mid[bv[oi]] / self.lot), 1.0), fixed)
                qty = qty.copy()
                qty[oi] = lots
                tag = np.full(b - a, -1, np.int64)
                tag[oi] = np.arange(len(oi))
                opens = (oi, rel, lots)
            if walk.all():
                t_parts.append(bt), r_parts.append(bv + V * (bs > 0)), q_parts.append(qty)
                g_parts.append(tag if tag is not None else np.full(b - a, -1, np.int64))
            else:
                w = np.flatnonzero(walk)
                t_parts.append(bt[w]), r_parts.append(bv[w] + V * (bs[w] > 0)), q_parts.append(qty[w])
                g_parts.append(tag[w] if tag is not None else np.full(len(w), -1, np.int64))
        t_o = np.concatenate(t_parts)
        filled = None
        if len(t_o):
            row = np.concatenate(r_parts)
            q = np.concatenate(q_parts)
            tag = np.concatenate(g_parts)
            order = np.argsort(row * (1 << 20) + (t_o - T), kind="stable")
            t_o, row, q, tag = t_o[order], row[order], q[order], tag[order]
            fo, ticks, lots, filled, fticks = books.walk(row, q)
            self._out["trades"].append((t_o[fo], row[fo], ticks, lots))
            self.stats["orders"] += len(q)
        # liquidation orders just executed: the truth, at their average fill price
        if pend_liq is not None:
            li = np.flatnonzero(tag <= -2)
            m = -2 - tag[li]
            lv, lside, lsize, lmark = pend_liq
            with np.errstate(invalid="ignore", divide="ignore"):
                price = np.where(filled[li] > 0, fticks[li] / filled[li] * tick, lmark[m])
            rec = np.empty(len(li), KINDS["liquidations"])
            rec["time_ms"] = t_o[li]
            rec["exchange"] = self.exchange_ids[lv[m]]
            rec["side"] = lside[m]
            rec["price"] = price
            rec["size"] = lsize[m]
            rec["notional"] = lsize[m] * price
            rec = rec[np.argsort(rec["time_ms"], kind="stable")]
            self._truth_liq.append(rec)
            self._liq_parts.append(rec)
        touch = books.best * tick                     # bids then asks, before the re-quote
        books.refresh(self._spread)

        # ---- 2. positions whose order filled open now
        if opens is not None:
            oi, rel, lots = opens
            o = self._o
            ids = rel + o["lo"]
            v_o = bv[oi]
            side = pos.side[ids].astype(np.int64)
            entry = touch[v_o + V * (side < 0)]            # passive: at the touch
            taker = np.flatnonzero(~o["passive"][rel])
            if len(taker):
                at = np.empty(len(oi), np.int64)
                k = np.flatnonzero(tag >= 0)
                at[tag[k]] = k
                at = at[taker]
                with np.errstate(invalid="ignore", divide="ignore"):
                    e_t = np.where(filled[at] > 0, fticks[at] / filled[at] * tick, mid[v_o[taker]])
                entry[taker] = e_t
            lev = pos.leverage[ids]
            size = lots * self.lot
            lp = o["ratio"][rel] * entry
            ex = o["exact"][rel]
            if ex.any():
                for v in np.unique(v_o[ex]).tolist():
                    sel = np.flatnonzero(ex & (v_o == v))
                    lp[sel], _ = liquidation_price(self.tables[v], side[sel], entry[sel], lev[sel], size[sel])
            tp, sl = self._exits_from(side, entry, lev, o["roe"][rel], o["loss"][rel])
            pos.activate(ids, entry, size, lp, tp, sl, bt[oi])
            self.ls += np.bincount(v_o + V * (side < 0), size, 2 * V)
            self.stats["opens"] += len(oi)

        # ---- 3. spot index, mark price
        mid = books.mid_ticks() * tick
        cmid = float(self.weight @ mid)
        sig = self.sig0 * math.exp(self.h + self.e - VOL_VAR)
        # spot follows the perpetuals net of the premium arbitrageurs hold them at
        self.v += sig * self._z[j] + self._jump[j] + SPOT_FOLLOW * (math.log(cmid) - self._premium - self.v)
        index = self.index = math.exp(self.v)
        self.basis += BASIS_ALPHA * (mid - index - self.basis)
        left = 1.0 - (T1 % FUNDING_INTERVAL_MS) / FUNDING_INTERVAL_MS
        p1 = index * (1.0 + self.funding * left)
        p2 = index + self.basis
        mark = np.maximum(np.minimum(p1, p2), np.minimum(np.maximum(p1, p2), mid))
        if not mark.min() > 0:
            bad = self.venues[int(np.argmin(np.nan_to_num(mark, nan=-1.0)))]
            raise SimulationError(f"simulator reached an impossible state at {_utc(T1)}: {bad} mark price is "
                                  f"{mark.min()!r}")
        self.mark = mark
        self._out["marks"].append(mark)
        self.prem_sum += (mid - index) / index
        self.prem_n += 1
        self.e *= EXCITE_DECAY
        self.fear *= FEAR_DECAY

        # ---- 4. liquidation engine, stops and take-profits
        fired = pos.fire(mark)
        if fired is not None:
            self._trigger(fired, T1, mark)

        # ---- 5. polled open interest, funding, book, truth map
        if self._next_poll_min <= T1:
            self._poll_oi(T1, mark)
        if T1 % p.funding_publish_ms == 0 or T1 % FUNDING_INTERVAL_MS == 0:
            P = self.prem_sum / max(self.prem_n, 1)
            rate = np.clip(P + np.clip(FUNDING_INTEREST - P, -FUNDING_CLAMP, FUNDING_CLAMP), -FUNDING_CAP, FUNDING_CAP)
            self.funding = rate
            self._out["funding"].append((T1, rate))
            if T1 % FUNDING_INTERVAL_MS == 0:
                self.prem_sum[:] = 0.0
                self.prem_n = 0
        if T1 % p.book_every_ms == 0:
            r, tk, sz = books.snapshot(p.book_depth)
            self._out["book"].append((T1, r, tk * tick, sz))
        if T1 % p.truth_every_ms == 0:
            self._snapshot_truth(T1)
        self.now = T1
        self.stats["steps"] += 1

    def _poll_oi(self, T1: int, mark: np.ndarray) -> None:
        V, poll = self.V, self.params.oi_poll_ms
        for v in range(V):
            if self._next_poll[v] <= T1:
                self.base_oi[v] *= math.exp(BASE_OI_NOISE * float(self.rng.standard_normal()))
                oi_base = float(self.base_oi[v] + 0.5 * (self.ls[v] + self.ls[V + v]))
                self._out["open_interest"].append((T1 - 10 * v, v, oi_base, oi_base * float(mark[v])))
                while self._next_poll[v] <= T1:
                    self._next_poll[v] += poll
        self._next_poll_min = min(self._next_poll)

    def _sub_ls(self, ids: np.ndarray) -> None:
        pos = self.pos
        v = pos.venue[ids].astype(np.int64)
        self.ls -= np.bincount(v + self.V * (pos.side[ids] < 0), pos.size[ids], 2 * self.V)
        np.maximum(self.ls, 0.0, out=self.ls)

    def _trigger(self, fired, T1: int, mark: np.ndarray) -> None:
        ids, down = fired
        pos, V = self.pos, self.V
        v = pos.venue[ids].astype(np.int64)
        side = pos.side[ids].astype(np.int64)
        mv = mark[v]
        lp = pos.liq_price[ids]
        liq = np.where(side > 0, mv <= lp, mv >= lp)
        reason = np.where(liq, LIQUIDATED, np.where(down == (side > 0), STOP_LOSS, TAKE_PROFIT))
        size = pos.size[ids]
        pos.close(ids, T1, reason, mv)
        self._sub_ls(ids)
        n = len(ids)
        lo, hi = LIQ_DELAY_MS
        t = T1 + self.rng.integers(lo, hi, n)
        tag = np.full(n, -1, np.int64)
        li = np.flatnonzero(liq)
        if len(li):
            tag[li] = -2 - np.arange(len(li))
            self._pend_liq = (v[li], side[li], size[li], mv[li])
            notional = float(size[li] @ mv[li])
            self.e = min(EXCITE_MAX, self.e + EXCITE_PER_USD * notional)
            oi_usd = float(self.open_interest() @ mark)
            self.fear = min(5.0, self.fear + FEAR_PER_PCT * notional / (0.01 * oi_usd))
            self.stats["liquidations"] += len(li)
        self._pend = (t, v + V * (side < 0), np.rint(size / self.lot), tag)

    def _snapshot_truth(self, T1: int) -> None:
        pos = self.pos
        n = pos.n
        ids = np.flatnonzero(pos.alive[:n])
        if not len(ids):
            return
        w = self.bin_width
        k = np.floor(pos.liq_price[ids] / w).astype(np.int64)
        short = (pos.side[ids] < 0).astype(np.int64)
        notional = pos.size[ids] * pos.entry[ids]
        k0 = int(k.min())
        span = int(k.max()) - k0 + 1
        h = np.bincount(short * span + (k - k0), notional, 2 * span)
        nz = np.flatnonzero(h)
        rec = np.empty(len(nz), TRUTH_MAP_DTYPE)
        rec["time_ms"] = T1
        rec["side"] = np.where(nz >= span, -1, 1)
        rec["bin"] = nz % span + k0
        rec["notional"] = h[nz]
        self._truth_map.append(rec)

    def _truth_map_records(self) -> np.ndarray:
        if len(self._truth_map) > 1:
            self._truth_map = [np.concatenate(self._truth_map)]
        return self._truth_map[0] if self._truth_map else np.empty(0, TRUTH_MAP_DTYPE)

    # ------------------------------------------------------------------ output
    def _flush(self) -> EventBatch:
        out, V, ids = self._out, self.V, self.exchange_ids
        arrays = {}
        parts = out["trades"]
        if parts:
            t, row, ticks, lots = (np.concatenate(c) for c in zip(*parts))
            order = np.argsort(t, kind="stable")
            t, row, ticks, lots = t[order], row[order], ticks[order], lots[order]
            rec = np.empty(len(t), KINDS["trades"])
            rec["time_ms"] = t
            rec["exchange"] = ids[row % V]
            rec["side"] = np.where(row >= V, 1, -1)
            rec["price"] = ticks * self.tick
            rec["size"] = lots * self.lot
            arrays["trades"] = rec
        parts = out["marks"]
        if parts:
            n = len(parts)
            rec = np.empty(n * V, KINDS["marks"])
            rec["time_ms"] = np.repeat(self.now - STEP_MS * np.arange(n - 1, -1, -1), V)
            rec["exchange"] = np.tile(ids, n)
            rec["price"] = np.concatenate(parts)
            arrays["marks"] = rec
        parts = out["open_interest"]
        if parts:
            t, v, base, notional = (np.array(c) for c in zip(*parts))
            rec = np.empty(len(t), KINDS["open_interest"])
            rec["time_ms"], rec["exchange"], rec["oi_base"], rec["oi_notional"] = t, ids[v], base, notional
            arrays["open_interest"] = rec[np.argsort(rec["time_ms"], kind="stable")]
        parts = out["funding"]
        if parts:
            rec = np.empty(len(parts) * V, KINDS["funding"])
            rec["time_ms"] = np.repeat([t for t, _ in parts], V)
            rec["exchange"] = np.tile(ids, len(parts))
            rec["rate"] = np.concatenate([r for _, r in parts])
            arrays["funding"] = rec
        parts = out["book"]
        if parts:
            n = [len(r) for _, r, _, _ in parts]
            rec = np.empty(sum(n), KINDS["book"])
            rec["time_ms"] = np.repeat([t for t, _, _, _ in parts], n)
            rows = np.concatenate([r for _, r, _, _ in parts])
            rec["exchange"] = ids[rows % V]
            rec["side"] = np.where(rows < V, 1, -1)
            rec["snapshot"] = True
            rec["price"] = np.concatenate([pr for _, _, pr, _ in parts])
            rec["size"] = np.concatenate([s for _, _, _, s in parts])
            arrays["book"] = rec
        if self._liq_parts:
            liq = np.concatenate(self._liq_parts)
            arrays["liquidations"] = self._throttle(liq)
        for k in out:
            out[k] = []
        self._liq_parts = []
        try:
            return make_batch(**arrays)
        except ValueError as exc:
            raise SimulationError(f"simulator reached an impossible state before {_utc(self.now)}: {exc}") from None

    def _throttle(self, liq: np.ndarray) -> np.ndarray:
        """The public feed: per venue, only the latest liquidation of each window (Binance
        ``forceOrder``: the latest per symbol per 1000 ms)."""
        if not len(liq):
            return liq
        win = self.params.public_liq_window_ms
        key = liq["exchange"].astype(np.int64) * (1 << 44) + liq["time_ms"] // win
        order = np.lexsort((liq["time_ms"], key))
        ks = key[order]
        last = np.empty(len(ks), bool)
        last[-1] = True
        last[:-1] = ks[1:] != ks[:-1]
        pub = liq[order[last]]
        return pub[np.argsort(pub["time_ms"], kind="stable")]


__all__ = ["TRUTH_MAP_DTYPE", "SimulationError", "Simulator"]
