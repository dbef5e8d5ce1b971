"""The engine: one symbol's live state — level model, order books, candles, real liquidations,
recent trades and feed statistics — fed from any source. No Qt: the window reads it each frame.

Sources implement ``poll(now_wall_s) -> EventBatch | None`` and never block. :meth:`Engine.pump`
takes what they have within a time budget, so a flood never starves the frame timer.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from liqdesk.core.book import OrderBooks
from liqdesk.core.candles import CandleSeries
from liqdesk.core.context import ContextSeries
from liqdesk.core.events import LIQUIDATION_DTYPE, TRADE_DTYPE, EventBatch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.liquidity import LiquidityGrid


@dataclass
class FeedStats:
    """Message counts and rates for the status bar."""

    events: int = 0
    batches: int = 0
    rate_window: deque = field(default_factory=lambda: deque(maxlen=64))   # (wall s, events)
    last_latency_ms: float = float("nan")

    def add(self, n: int, wall: float) -> None:
        self.events += n
        self.batches += 1
        self.rate_window.append((wall, n))

    def rate(self, now: float, span_s: float = 5.0) -> float:
        """Events per second over the last ``span_s`` seconds of wall time."""
        recent = [n for t, n in self.rate_window if now - t <= span_s]
        return sum(recent) / span_s if recent else 0.0


def new_liquidity(settings: ModelSettings, books: OrderBooks | None = None) -> LiquidityGrid:
    """An order-book grid on the columns of ``settings`` (bins: the model's, once it has one),
    applying rows to ``books`` (None: books of its own)."""
    from liqdesk.core.events import EXCHANGE_ID

    return LiquidityGrid(settings.column_ms, settings.window_columns,
                         [EXCHANGE_ID[e] for e in settings.exchanges if e in EXCHANGE_ID], books)


class Engine:
    """Everything one chart shows, updated from event batches. Times in ms, prices in quote."""

    RECENT_TRADES = 200

    def __init__(self, settings: ModelSettings | None = None, order_book_grid: bool = False):
        self.settings = settings or ModelSettings()
        #: keep the order-book heatmap's grid (the window's sessions do; headless tools, which
        #: never draw it, spare the cost: the books applied and sampled at every column end)
        self.order_book_grid = order_book_grid
        self.model = LevelModel(self.settings)
        self.books = OrderBooks()
        self.candles = CandleSeries()
        #: open interest, funding, taker delta and liquidations for the context panes
        self.context = ContextSeries()
        #: resting bid/ask notional per price bin at each column end (the order-book heatmap);
        #: it applies the book rows to ``books`` (cut at the column ends)
        self.liquidity = new_liquidity(self.settings, self.books)
        self.liquidations = np.empty(0, LIQUIDATION_DTYPE)
        self.recent_trades = np.empty(0, TRADE_DTYPE)
        self.stats = FeedStats()
        self.version = 0          # bumps on every change, so the view redraws only when needed
        self.source = None
        #: called with every batch after it was ingested (the session's journal and recorder)
        self.sinks: list = []
        #: per exchange, what its public liquidation feed gives: "complete", "sampled" or "absent"
        self.liquidation_feeds: dict[str, str] = {}
        #: (start, end) ms of history backfilled by REST at a coarser resolution (live warm start)
        self.backfill_span: tuple[int, int] | None = None
        #: the alert rules watching this market (:class:`~liqdesk.app.alerts.AlertMonitor`), or None
        self.alerts = None

    def reset(self, settings: ModelSettings | None = None) -> None:
        """Forget all state (for a seek or new settings); the model's grid memory is reused."""
        if settings is not None and settings != self.settings:
            self.settings = settings
            self.model = LevelModel(settings)
        else:
            self.model.reset()
        if self.alerts is not None:
            self.alerts.restart()
        self.books = OrderBooks()
        self.liquidity = new_liquidity(self.settings, self.books)
        self.candles = CandleSeries()
        self.context = ContextSeries()
        self.liquidations = np.empty(0, LIQUIDATION_DTYPE)
        self.recent_trades = np.empty(0, TRADE_DTYPE)
        self.version += 1

    def replace_model(self, model: LevelModel, liquidity: LiquidityGrid | None = None) -> None:
        """Show ``model`` (rebuilt from the journal with new settings) from now on, with the
        order-book grid rebuilt for its columns and bins (``liquidity``; None: a new one). Books,
        candles, the context series and real liquidations do not depend on the model settings and are kept."""
        old = self.model
        self.model = model
        self.settings = model.settings
        if liquidity is None:
            same_grid = (model.bin_width == old.bin_width
                         and (model.settings.column_ms, model.settings.window_columns, model.settings.exchanges)
                         == (old.settings.column_ms, old.settings.window_columns, old.settings.exchanges))
            liquidity = self.liquidity if same_grid else new_liquidity(model.settings, self.books)
        # (a rebuilt grid replayed the same book rows into books of its own: the engine's, the
        # same state, go on serving it and the ladder)
        liquidity.books = self.books
        self.liquidity = liquidity
        if self.alerts is not None:
            self.alerts.restart()
        self.version += 1

    def ingest(self, batch: EventBatch, wall: float | None = None) -> None:
        """Apply one batch to every part of the state (the model first: a malformed batch raises
        ValueError before anything changed), then hand it to the sinks."""
        if not len(batch):
            return
        if self.alerts is not None:   # the model takes the batch cut at the alert checkpoints
            self.alerts.ingest(self.model, batch)
        else:
            self.model.ingest(batch)
        if self.order_book_grid:
            # the books take the rows cut at the column ends, the grid sampling them at each end
            self.liquidity.set_bin_width(self.model.bin_width)
            self.liquidity.apply(batch.book, self.model.watermark)
        else:
            self.books.apply(batch.book)
        self.candles.update(batch.trades)
        self.context.update(batch)
        if len(batch.liquidations):
            self.liquidations = np.concatenate([self.liquidations, batch.liquidations])
        if len(batch.trades):
            self.recent_trades = np.concatenate([self.recent_trades, batch.trades[-self.RECENT_TRADES:]])[
                -self.RECENT_TRADES:]
        self.stats.add(len(batch), time.monotonic() if wall is None else wall)
        self.version += 1
        for sink in self.sinks:
            sink(batch)

    def pump(self, now_wall_s: float | None = None, budget_s: float = 0.010) -> int:
        """Poll the source and ingest until it has nothing more or ``budget_s`` is spent.
        Returns the number of events taken."""
        if self.source is None:
            return 0
        now = time.monotonic() if now_wall_s is None else now_wall_s
        deadline = time.perf_counter() + budget_s
        taken = 0
        while True:
            batch = self.source.poll(now)
            if batch is None:
                break
            self.ingest(batch, now)
            taken += len(batch)
            if time.perf_counter() >= deadline or not getattr(self.source, "playing", True):
                break
        return taken

    @property
    def now_ms(self) -> int | None:
        """The newest event time seen."""
        return self.model.watermark
