"""Rebuilding the level model from the session journal when its settings change.

The source keeps running while a rebuild works: a background thread feeds a snapshot of the
journal to a fresh :class:`~liqdesk.core.levels.LevelModel` with the new settings, in batches of
15 minutes of events (the model's state does not depend on how events are batched, and larger
batches ingest faster); the events that arrive meanwhile go to the old model, which stays on
screen, and are kept aside. When the thread is done, the owner (the thread that ingests) feeds
those to the new model and swaps it in: the window never shows a half-built model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from liqdesk.core.events import EventBatch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.liquidity import LiquidityGrid

from .journal import MODEL_KINDS, JournalView

#: Event time per batch fed to the model during a rebuild.
REBUILD_BATCH_MS = 900_000


def rebuild_model(view: JournalView, settings: ModelSettings, progress: Callable[[float], None] | None = None,
                  cancelled: Callable[[], bool] | None = None, batch_ms: int = REBUILD_BATCH_MS
                  ) -> LevelModel | None:
    """A new model with ``settings`` fed every event of ``view`` the model reads (trades, marks,
    open interest), as the live model was fed them. ``progress(fraction)`` after each batch;
    returns None when ``cancelled()`` turned true."""
    model = LevelModel(settings)
    start, end = view.start_ms, view.end_ms
    for batch in view.iter_batches(kinds=MODEL_KINDS, merge_ms=batch_ms):
        if cancelled is not None and cancelled():
            return None
        model.ingest(batch)
        if progress is not None and start is not None:
            span = batch.time_span()
            if span:
                progress(min(1.0, (span[1] - start) / max(1, end - start)))
    return model


def rebuild_liquidity(view: JournalView, model: LevelModel, cancelled: Callable[[], bool] | None = None,
                      batch_ms: int = REBUILD_BATCH_MS) -> LiquidityGrid | None:
    """The order-book grid for ``model``'s columns and bins from the journal's book events (as
    the live grid was fed them); None when ``cancelled()`` turned true."""
    from .engine import new_liquidity

    grid = new_liquidity(model.settings)
    grid.set_bin_width(model.bin_width)
    for batch in view.iter_batches(kinds=("book",), merge_ms=batch_ms):
        if cancelled is not None and cancelled():
            return None
        span = batch.time_span()
        grid.apply(batch.book, span[1] if span else None)
    return grid


class ModelRebuild:
    """One rebuild in a background thread. ``fraction`` (0..1) for a progress bar; ``done`` when
    the thread has finished (``model`` then holds the result, or ``error`` says why not)."""

    label = "rebuilding"

    def __init__(self, view: JournalView, settings: ModelSettings, order_book_grid: bool = False):
        self.view = view
        self.settings = settings
        self.order_book_grid = order_book_grid
        self.fraction = 0.0
        self.model: LevelModel | None = None
        self.error: str | None = None
        self.started = time.perf_counter()
        self.elapsed_s: float | None = None
        #: batches ingested by the old model since the snapshot, fed to the new one at the swap
        self.tail: list[EventBatch] = []
        #: the order-book grid rebuilt for the new model's columns and bins
        self.liquidity: LiquidityGrid | None = None
        self._cancel = threading.Event()
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="liqdesk-rebuild", daemon=True)

    def start(self) -> ModelRebuild:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            model = rebuild_model(self.view, self.settings, self._progress, self._cancel.is_set)
            if model is not None and self.order_book_grid:
                self.liquidity = rebuild_liquidity(self.view, model, self._cancel.is_set)
            self.model = model
        except Exception as exc:  # a damaged spill segment, a bad setting: say so, keep the old model
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.elapsed_s = time.perf_counter() - self.started
            self._done.set()

    def _progress(self, fraction: float) -> None:
        self.fraction = fraction

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def finish(self) -> LevelModel | None:
        """Called by the owner once :attr:`done`: the new model with the tail fed to it."""
        model = self.model
        if model is None:
            return None
        for batch in self.tail:
            self.feed(batch)
        self.tail = []
        return model

    def feed(self, batch: EventBatch) -> None:
        """One batch that arrived meanwhile, to the new model and its order-book grid."""
        self.model.ingest(batch)
        if self.liquidity is not None:
            self.liquidity.set_bin_width(self.model.bin_width)
            self.liquidity.apply(batch.book, self.model.watermark)
