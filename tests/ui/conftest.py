"""Window tests: pytest-qt on Qt's offscreen platform, with a synthetic session (test data)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from .helpers import write_session  # noqa: E402


@pytest.fixture(scope="session")
def session_path(tmp_path_factory):
    """A 40-minute three-exchange session with books and liquidations."""
    return write_session(tmp_path_factory.mktemp("ui") / "walk.liqs", hours=40 / 60, seed=3)


@pytest.fixture
def themed(qapp):
    from liqdesk.ui import theme

    theme.apply(qapp)
    return qapp


@pytest.fixture
def store(tmp_path):
    """Layouts in a private file (never the user's)."""
    from liqdesk.ui.chart_window import LayoutStore

    return LayoutStore(tmp_path / "layouts.json")


#: (session, order_book_grid) -> the engine after the first 30 minutes, built once per worker
_INGESTED: dict = {}


def ingested_engine(session_path, order_book_grid: bool = False):
    """(engine, reader) with the first 30 minutes of the session ingested, directly: a copy of
    one engine ingested once per worker (ingesting took half of each window test's setup)."""
    import copy

    from liqdesk.app.engine import Engine
    from liqdesk.main import open_reader, replay_settings

    key = (str(session_path), order_book_grid)
    if key not in _INGESTED:
        reader = open_reader(session_path)
        engine = Engine(replay_settings(reader, window="1h"), order_book_grid=order_book_grid)
        start = reader.start_ms
        for batch in reader.iter_batches(600_000, start, start + 30 * 60_000):
            engine.ingest(batch)
        _INGESTED[key] = engine
    return copy.deepcopy(_INGESTED[key]), open_reader(session_path)


@pytest.fixture
def replay_engine(session_path):
    """(engine, reader) with the first 30 minutes of the session ingested (no order-book grid)."""
    return ingested_engine(session_path)


@pytest.fixture
def book_engine(session_path):
    """As ``replay_engine``, keeping the order-book heatmap's grid as the window's sessions do."""
    return ingested_engine(session_path, order_book_grid=True)


@pytest.fixture
def window(themed, qtbot, replay_engine, store):
    """A chart window (not threaded, no frame timer) on the ingested engine."""
    return chart_window(qtbot, replay_engine, store)


@pytest.fixture
def book_window(themed, qtbot, book_engine, store):
    """A chart window on an engine that keeps the order-book grid."""
    return chart_window(qtbot, book_engine, store)


def chart_window(qtbot, ingested, store):
    from liqdesk.app.session import Session
    from liqdesk.sources.replay import ReplaySource
    from liqdesk.ui.chart_window import ChartWindow

    engine, reader = ingested
    source = ReplaySource(reader)
    session = Session(engine, source, "replay", label="test", threaded=False)
    win = ChartWindow(session, None, store, restore=False)
    qtbot.addWidget(win)
    win.resize(1600, 900)
    win.on_frame(force=True)
    return win



@pytest.fixture(autouse=True)
def _delete_widgets_after_each_test(qapp):
    """Delete every top-level widget a test left (pytest-qt closes them and asks for a deferred
    delete that nothing then runs): left alive, each test's windows stayed in memory with their
    engines (GBs per worker) and every later ``theme.apply`` re-styled all of them (most of the
    window tests' time)."""
    yield
    import gc

    from PySide6 import QtCore, QtWidgets

    for widget in QtWidgets.QApplication.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()

