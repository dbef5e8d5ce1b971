"""The alert engine: rules (:mod:`.alert_rules`) evaluated on the model's state as events are
ingested, at checkpoints of market time (no Qt). The kinds are defined in :mod:`.alert_kinds`.

**When rules are evaluated.** Market time is cut into steps of :data:`STEP_MS` (1 s). A step
end ``T`` is a *checkpoint* when the step before it held at least one event. The engine hands
every batch to :meth:`AlertMonitor.ingest`, which cuts it at the checkpoints it crosses, feeds
the model the events before ``T``, evaluates every rule on that state, then goes on. The state a
rule sees at ``T`` is therefore the model after exactly the events with times before ``T``, and
the level model's state does not depend on how events were batched: the same session gives the
same alerts whether it arrives as one batch (``liqdesk alerts``), a frame at a time in a replay
window, or from the live feed — deterministic. Checkpoint ``T`` is evaluated in the ``ingest``
call that brings the first event at or after ``T``, so the frame that paints it shows the alert.

While the session is catching up (a replay's seek, the simulator's opening history) the monitor
is paused: nothing fires for a span jumped over, and when it resumes every rule starts afresh
(cooldowns are kept).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from liqdesk.core.events import EXCHANGES, LIQUIDATION_DTYPE, EventBatch, slice_batch, validate_level_kinds

from . import alert_kinds
from .alert_kinds import Moment, RuleState, VenueView
from .alert_rules import Rule

#: Length of a step of market time (ms); a rule is evaluated at most once per step.
STEP_MS = 1_000
#: Real liquidations kept for the burst and swept kinds (ms of market time).
LIQUIDATION_MEMORY_MS = 900_000
#: Fired alerts kept in memory (the log file has them all).
MAX_KEPT = 5_000
#: The kinds of event the rules read (the model's inputs and the real liquidations): only these
#: make a step a checkpoint, so order-book rows or funding never change when rules are evaluated.
RULE_KINDS = ("trades", "marks", "open_interest", "liquidations")


@dataclass(frozen=True)
class Alert:
    """One firing. ``time_ms``: the checkpoint (market time, ms); ``price``: the rule's price
    then (quote); ``side``: whose levels or liquidations it is about (``long``/``short``)."""

    time_ms: int
    symbol: str
    rule: str
    kind: str
    side: str
    price: float
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line: time, symbol, rule, price, detail (the log file and the command)."""
        from liqdesk.core.timefmt import format_time

        return (f"{format_time(self.time_ms)}  {self.symbol}  {self.rule} [{self.kind}]  "
                f"{alert_kinds.price_text(self.price)}  {self.detail}")


class MapHistory:
    """Level maps of past checkpoints per venue set, for ``new_cluster`` (at most ``keep_ms``)."""

    def __init__(self, keep_ms: int):
        self.keep_ms = keep_ms
        self.maps: dict[tuple, list[tuple[int, VenueView]]] = {}

    def add(self, venues: tuple, time_ms: int, view: VenueView) -> None:
        seq = self.maps.setdefault(venues, [])
        seq.append((time_ms, view))
        cut = 0
        while cut < len(seq) - 1 and seq[cut + 1][0] <= time_ms - self.keep_ms:
            cut += 1
        if cut:
            del seq[:cut]

    def at(self, venues: tuple, time_ms: int) -> VenueView | None:
        """The map of the latest checkpoint at or before ``time_ms`` (None if none is kept)."""
        best = None
        for t, view in self.maps.get(venues, ()):
            if t > time_ms:
                break
            best = view
        return best


class AlertMonitor:
    """Evaluates ``rules`` for one market (``symbol``) as its engine ingests events.

    ``alerts``: every firing so far (the newest :data:`MAX_KEPT`), ``fired``: how many in all;
    ``listeners``: called with each new :class:`Alert` (the alert log, the command). ``paused``:
    a callable saying the session is catching up. ``eval_s``: seconds spent evaluating rules.
    """

    def __init__(self, rules: list[Rule], symbol: str, step_ms: int = STEP_MS):
        self.symbol = symbol
        self.step_ms = int(step_ms)
        self.listeners: list[Callable[[Alert], None]] = []
        self.paused: Callable[[], bool] | None = None
        self.alerts: list[Alert] = []
        self.fired = 0
        self.eval_s = 0.0
        self.checkpoints = 0
        self._was_paused = False
        self.log = None          # the AlertLog appending to the alert log file, when the window has one
        #: told (one line) when a listener fails; the ingest goes on, the alert stays listed
        self.on_error: Callable[[str], None] | None = None
        self.set_rules(rules)

    # ------------------------------------------------------------------ rules and state
    def set_rules(self, rules: list[Rule]) -> None:
        """New rules (from the editor): each starts afresh; a kept rule keeps its cooldown."""
        old = getattr(self, "states", {})
        self.rules = [r for r in rules if r.enabled and r.applies_to(self.symbol)]
        self.states = {r.name: RuleState(last_fired_ms=old[r.name].last_fired_ms if r.name in old else None)
                       for r in self.rules}
        keep = max([r.within_s or 0 for r in self.rules if r.kind == "new_cluster"], default=0)
        self.history = MapHistory(int(keep * 1000) + self.step_ms)
        self.band_pct = min(alert_kinds.MAX_BAND_PCT, max(
            [max(r.band_pct, r.within_pct or 0) for r in self.rules], default=5.0))
        self.restart()

    def restart(self) -> None:
        """Start every rule afresh (after a seek or a reset; cooldowns are kept)."""
        for name, st in self.states.items():
            self.states[name] = RuleState(last_fired_ms=st.last_fired_ms)
        self.history.maps.clear()
        self.next_checkpoint: int | None = None
        self.step_has_events = False
        self.liquidations = np.empty(0, LIQUIDATION_DTYPE)
        self._new_path()
        self._seen_mark = np.zeros(len(EXCHANGES), bool)

    def _new_path(self) -> None:
        n = len(EXCHANGES)
        self._mark_low, self._mark_high = np.full(n, np.inf), np.full(n, -np.inf)
        self._trade_low, self._trade_high = np.full(n, np.inf), np.full(n, -np.inf)

    @property
    def active(self) -> bool:
        return bool(self.rules)

    # ------------------------------------------------------------------ ingest
    def ingest(self, model, batch: EventBatch) -> None:
        """Feed ``batch`` to ``model``, cut at the checkpoints it crosses, evaluating the rules at
        each. A malformed batch raises ValueError before the model changed (as the model does)."""
        paused = self.paused is not None and self.paused()
        if paused or not self.rules:
            if paused and not self._was_paused:
                self._was_paused = True
            model.ingest(batch)
            return
        if self._was_paused:
            self._was_paused = False
            self.restart()
        span = _rule_span(batch)
        if span is None:   # nothing the rules read (order book, funding)
            model.ingest(batch)
            return
        if self.next_checkpoint is None:
            self.next_checkpoint = (span[0] // self.step_ms + 1) * self.step_ms
        if span[1] < self.next_checkpoint:
            model.ingest(batch)
            self._observe(batch)
            return
        # the pieces go to the model and the rules only: check the model's kinds whole first (a
        # bad row must change nothing), so the model need not check every piece again
        if batch.checked:
            batch = EventBatch(trades=batch.trades, marks=batch.marks, open_interest=batch.open_interest,
                               liquidations=batch.liquidations, checked=True)
        else:
            checked = validate_level_kinds(batch, model.watermark)
            batch = EventBatch(**checked, liquidations=batch.liquidations, checked=True)
        start = None
        while True:
            cut = self.next_checkpoint
            piece = slice_batch(batch, start, cut)
            if len(piece):
                model.ingest(piece)
                self._observe(piece)
            rest_first = _first_time_from(batch, cut)
            if rest_first is None:
                return
            if self.step_has_events:
                self._evaluate(model, cut)
            # the next checkpoint is the end of the step holding the next event
            self.next_checkpoint = (rest_first // self.step_ms + 1) * self.step_ms
            start = cut

    def _observe(self, piece: EventBatch) -> None:
        """Keep the step's price path and the real liquidations of a piece just ingested."""
        if not any(len(getattr(piece, k)) for k in RULE_KINDS):
            return
        self.step_has_events = True
        marks, trades = piece.marks, piece.trades
        if len(marks):
            np.minimum.at(self._mark_low, marks["exchange"], marks["price"])
            np.maximum.at(self._mark_high, marks["exchange"], marks["price"])
            self._seen_mark[marks["exchange"]] = True
        if len(trades):
            np.minimum.at(self._trade_low, trades["exchange"], trades["price"])
            np.maximum.at(self._trade_high, trades["exchange"], trades["price"])
        if len(piece.liquidations):
            self.liquidations = np.concatenate([self.liquidations, piece.liquidations])

    def _evaluate(self, model, at_ms: int) -> None:
        t0 = time.perf_counter()
        self.checkpoints += 1
        # an exchange with a mark feed is swept by its mark; one without, by its trades
        low = np.where(self._seen_mark, self._mark_low, self._trade_low)
        high = np.where(self._seen_mark, self._mark_high, self._trade_high)
        liq = self.liquidations
        if len(liq) and liq["time_ms"][0] <= at_ms - LIQUIDATION_MEMORY_MS:
            liq = self.liquidations = liq[liq["time_ms"] > at_ms - LIQUIDATION_MEMORY_MS]
        moment = Moment(at_ms, model, self.band_pct, low, high, liq)
        fired = []
        for rule in self.rules:
            state = self.states[rule.name]
            if rule.kind == "new_cluster":
                found = alert_kinds.new_cluster(rule, moment, state, self.history)
            else:
                found = alert_kinds.EVALUATORS[rule.kind](rule, moment, state)
            state.primed = True
            cooled = state.last_fired_ms is None or at_ms - state.last_fired_ms >= rule.cooldown_s * 1000
            if found is not None and cooled:
                state.last_fired_ms = at_ms
                view = moment.view(moment.venues_of(rule))
                fired.append(Alert(at_ms, self.symbol, rule.name, rule.kind, found[0],
                                   float(view.price) if view is not None else float("nan"), found[1]))
        for rule in self.rules:
            if rule.kind == "new_cluster":
                venues = moment.venues_of(rule)
                view = moment.view(venues)
                if view is not None:
                    self.history.add(venues, at_ms, view)
        self._new_path()
        self.step_has_events = False
        self.eval_s += time.perf_counter() - t0
        for alert in fired:
            self.alerts.append(alert)
            self.fired += 1
            for fn in list(self.listeners):
                try:
                    fn(alert)
                except Exception as exc:  # noqa: BLE001 - a notification must never stop the ingest
                    if self.on_error is not None:
                        self.on_error(f"alert '{alert.rule}': could not deliver it ({exc})")
        if len(self.alerts) > MAX_KEPT:
            del self.alerts[: len(self.alerts) - MAX_KEPT]


def _rule_span(batch: EventBatch) -> tuple[int, int] | None:
    """(first, last) time of the events the rules read, None if there are none."""
    arrays = [getattr(batch, k) for k in RULE_KINDS if len(getattr(batch, k))]
    if not arrays:
        return None
    return min(int(a["time_ms"][0]) for a in arrays), max(int(a["time_ms"][-1]) for a in arrays)


def _first_time_from(batch: EventBatch, t_ms: int) -> int | None:
    """The earliest time at or after ``t_ms`` of an event the rules read (None if none)."""
    best = None
    for kind in RULE_KINDS:
        arr = getattr(batch, kind)
        if len(arr):
            i = int(np.searchsorted(arr["time_ms"], t_ms))
            if i < len(arr):
                v = int(arr["time_ms"][i])
                best = v if best is None else min(best, v)
    return best


def replay_alerts(reader, rules: list[Rule], settings, chunk_ms: int = 600_000,
                  progress: Callable[[float], None] | None = None) -> list[Alert]:
    """Every alert ``rules`` fire over a recorded session, replayed through the same engine the
    window uses, with model ``settings`` (the replay window's: ``liqdesk.main.replay_settings``).
    Deterministic."""
    from .engine import Engine

    engine = Engine(settings)
    monitor = AlertMonitor(rules, settings.symbol)
    engine.alerts = monitor
    start, end = reader.start_ms, reader.end_ms
    if start is None:
        raise ValueError(f"session {reader.path} holds no events")
    for t in range(start, end + 1, chunk_ms):
        batch = reader.read(t, min(t + chunk_ms, end + 1), kinds=RULE_KINDS)
        engine.ingest(batch)
        if progress:
            progress((min(t + chunk_ms, end) - start) / max(1, end - start))
    return list(monitor.alerts)
