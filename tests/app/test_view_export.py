"""``liqdesk export --view``: each view's table holds what the session and the window's own view
code say, for a small hand-made session whose answers can be read off its events."""

import csv

import numpy as np
import pytest

from liqdesk.app.analysis import grid_for_session, run_model
from liqdesk.app.view_export import _span_settings
from liqdesk.app.views import hot_lines
from liqdesk.cli import main
from liqdesk.core.events import make_batch, records
from liqdesk.store import SessionReader, SessionWriter

T0 = 1_699_999_200_000       # on the hour: buckets and columns start with the session
HOURS = 3
COLUMN_S = 60


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Three hours of one exchange: a trade every 5 s on a slow random walk around 60,000, marks,
    OI rising every minute, hourly funding, a few liquidations, a book snapshot and updates."""
    path = tmp_path_factory.mktemp("views") / "views.liqs"
    rng = np.random.default_rng(3)
    t = T0 + np.arange(0, HOURS * 3_600_000, 5_000)
    price = 60_000 * np.exp(np.cumsum(rng.normal(0, 3e-4, len(t))))
    side = rng.choice([-1, 1], len(t))
    size = rng.uniform(0.1, 2.0, len(t))
    trades = records("trades", time_ms=t, exchange="binance", side=side, price=price, size=size)
    marks = records("marks", time_ms=t + 1, exchange="binance", price=price)
    t_oi = T0 + np.arange(0, HOURS * 3_600_000, 60_000) + 2
    oi_base = 1_000 + 2.0 * np.arange(len(t_oi))
    oi = records("open_interest", time_ms=t_oi, exchange="binance", oi_base=oi_base,
                 oi_notional=oi_base * 60_000)
    funding = records("funding", time_ms=T0 + np.arange(HOURS) * 3_600_000 + 3, exchange="binance",
                      rate=[1e-4, -2e-4, 3e-4])
    t_liq = T0 + np.array([1_800_000, 4_000_000, 9_000_000]) + 4
    liqs = records("liquidations", time_ms=t_liq, exchange="binance", side=[1, -1, 1],
                   price=[59_000.0, 61_000.0, 59_500.0], size=[1.0, 2.0, 0.5], notional=[59_000.0, 122_000.0, 29_750.0])
    t_book = T0 + np.arange(0, HOURS * 3_600_000, 600_000) + 5
    book_rows = []
    for i, tb in enumerate(t_book):
        p = round(float(np.interp(tb, t, price)))
        for s, off in ((1, -10.0), (1, -60.0), (-1, 10.0), (-1, 60.0)):
            book_rows.append((tb, s, p + off, 1.0 + i, i == 0))
    bt, bs, bp, bz, snap = map(np.array, zip(*book_rows, strict=True))
    book = records("book", time_ms=bt, exchange="binance", side=bs, price=bp, size=bz, snapshot=snap)
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(make_batch(trades=trades, marks=marks, open_interest=oi, funding=funding, liquidations=liqs,
                           book=book))
    return path


def export(tmp_path, session, *args) -> list[dict]:
    out = tmp_path / "v.csv"
    assert main(["export", str(session), "--out", str(out), "--column-s", str(COLUMN_S), *args]) == 0
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def test_delta_rows_are_the_heatmap_grid_minus_itself_one_period_earlier(tmp_path, session):
    rows = export(tmp_path, session, "--view", "delta", "--period", "1h")
    assert rows, "a three-hour session has levels that changed over an hour"
    grid = grid_for_session(SessionReader(session), column_ms=COLUMN_S * 1000)
    total = grid.long + grid.short
    k = 3_600 // COLUMN_S
    col = {int(t): i for i, t in enumerate(grid.time_ms)}
    row = {round(float(p), 6): i for i, p in enumerate(grid.price_low)}
    times = {int(r["time_ms"]) for r in rows}
    assert min(times) >= int(grid.time_ms[k]), "no delta before a whole period of data"
    for r in rows[:: max(1, len(rows) // 400)]:
        c, i = col[int(r["time_ms"])], row[round(float(r["price_low"]), 6)]
        assert float(r["delta_usd"]) == pytest.approx(float(total[i, c]) - float(total[i, c - k]), rel=1e-5, abs=1e-2)


def test_age_rows_split_each_heatmap_cell_by_position_age(tmp_path, session):
    rows = export(tmp_path, session, "--view", "age")
    assert rows
    grid = grid_for_session(SessionReader(session), column_ms=COLUMN_S * 1000)
    total = grid.long + grid.short
    col = {int(t): i for i, t in enumerate(grid.time_ms)}
    row = {round(float(p), 6): i for i, p in enumerate(grid.price_low)}
    buckets = ("hour_usd", "day_usd", "week_usd", "older_usd")
    assert set(buckets) <= set(rows[0])
    for r in rows[:: max(1, len(rows) // 400)]:
        cell = float(total[row[round(float(r["price_low"]), 6)], col[int(r["time_ms"])]])
        assert sum(float(r[b]) for b in buckets) == pytest.approx(cell, rel=1e-4, abs=1e-2)
    # a three-hour session: the newest column holds positions from the last hour and older ones
    last = max(int(x["time_ms"]) for x in rows)
    newest = [r for r in rows if int(r["time_ms"]) == last]
    assert sum(float(r["hour_usd"]) for r in newest) > 0 and sum(float(r["day_usd"]) for r in newest) > 0
    assert sum(float(r["week_usd"]) + float(r["older_usd"]) for r in rows) == 0


def test_context_rows_hold_the_sessions_trades_liquidations_oi_and_funding(tmp_path, session):
    rows = export(tmp_path, session, "--view", "context")
    batch = SessionReader(session).read()
    tr = batch.trades
    assert len(rows) == HOURS * 3_600 // COLUMN_S
    buy = sum(float(r["buy_usd"]) for r in rows)
    assert buy == pytest.approx(float(np.sum((tr["price"] * tr["size"])[tr["side"] > 0])), rel=1e-9)
    assert float(rows[-1]["cvd_usd"]) == pytest.approx(
        float(np.sum(tr["price"] * tr["size"] * tr["side"])), rel=1e-9)
    assert sum(float(r["liq_long_usd"]) for r in rows) == pytest.approx(59_000 + 29_750)
    assert sum(float(r["liq_short_usd"]) for r in rows) == pytest.approx(122_000)
    # the bucket starting 90 min in: the last OI at or before its end, the funding set at 1 h
    r = next(r for r in rows if int(r["time_ms"]) == T0 + 5_400_000)
    oi = batch.open_interest
    last = oi[oi["time_ms"] < T0 + 5_400_000 + COLUMN_S * 1000][-1]
    assert float(r["open_interest_binance_usd"]) == pytest.approx(float(last["oi_notional"]))
    assert float(r["open_interest_usd"]) == pytest.approx(float(last["oi_notional"]))
    assert float(r["funding_rate_binance"]) == pytest.approx(-2e-4)


def test_liquidity_rows_hold_the_books_resting_notional(tmp_path, session):
    rows = export(tmp_path, session, "--view", "liquidity")
    book = SessionReader(session).read().book
    last_t = int(book["time_ms"][-1])
    after = [r for r in rows if int(r["time_ms"]) > last_t]
    assert after, "columns after the last book update hold the book as it stood"
    newest = max(int(r["time_ms"]) for r in after)
    held = {(float(r["price_low"]), float(r["price_high"])): (float(r["bid_usd"]), float(r["ask_usd"]))
            for r in after if int(r["time_ms"]) == newest}
    # every level of the session's book (as last set) is in the bin holding its price
    from liqdesk.core.book import OrderBooks

    books = OrderBooks()
    books.apply(book)
    bk = next(iter(books.books.values()))
    expected_bid = float(np.sum(bk.bids.price[bk.bids.size > 0] * bk.bids.size[bk.bids.size > 0]))
    assert sum(b for b, _ in held.values()) == pytest.approx(expected_bid, rel=1e-6)
    for (lo, hi), got in held.items():
        for side, value in zip((bk.bids, bk.asks), got, strict=True):
            live = (side.price >= lo) & (side.price < hi) & (side.size > 0)
            assert value == pytest.approx(float(np.sum(side.price[live] * side.size[live])), rel=1e-6)


def test_hot_lines_are_the_strongest_levels_of_the_model_at_the_time(tmp_path, session):
    at = T0 + 7_200_000
    rows = export(tmp_path, session, "--view", "hotlines", "--lines", "5", "--at", str(at))
    reader = SessionReader(session)
    settings = _span_settings(reader, None, 600, None)
    model = run_model(reader, settings, until_ms=at)
    origin = model.image()[2]
    want = hot_lines(model.level_map(None, None, origin, settings.rows), origin, model.bin_width, 5)
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [float(r["price"]) for r in rows] == pytest.approx([x.price for x in want])
    assert [float(r["notional_usd"]) for r in rows] == pytest.approx([x.notional for x in want], rel=1e-6)
    notional = [float(r["notional_usd"]) for r in rows]
    assert notional == sorted(notional, reverse=True)
    for r in rows:
        assert (r["side"] == "long") == (float(r["distance_pct"]) < 0)


def test_at_keeps_one_column_and_npz_parquet_hold_the_same(tmp_path, session):
    at = T0 + 9_000_000
    rows = export(tmp_path, session, "--view", "delta", "--period", "1h", "--at", str(at))
    assert len({r["time_ms"] for r in rows}) == 1 and int(rows[0]["time_ms"]) <= at
    npz = tmp_path / "d.npz"
    assert main(["export", str(session), "--out", str(npz), "--column-s", str(COLUMN_S), "--view", "delta",
                 "--period", "1h", "--at", str(at)]) == 0
    with np.load(npz) as z:
        assert z["delta_usd"].shape[1] == 1
        got = z["delta_usd"][:, 0]
    assert np.nansum(got) == pytest.approx(sum(float(r["delta_usd"]) for r in rows), rel=1e-5)
    import pyarrow.parquet as pq

    pq_path = tmp_path / "c.parquet"
    assert main(["export", str(session), "--out", str(pq_path), "--view", "context"]) == 0
    assert "cvd_usd" in pq.read_table(pq_path).column_names


@pytest.mark.parametrize("args, needle", [
    (["--view", "context", "--tiers", "50"], "--tiers does not apply"),
    (["--view", "delta", "--period", "24h"], "needs a time window longer"),
    (["--view", "hotlines", "--lines", "0"], "--lines must be"),
    (["--view", "delta", "--exchanges", "okx"], "not in the session"),
    (["--view", "context", "--age", "hour"], "--age does not apply"),
    (["--view", "age", "--age", "hour"], "--age does not apply"),
])
def test_bad_view_options_give_one_line(tmp_path, session, capsys, args, needle):
    out = tmp_path / "x.csv"
    assert main(["export", str(session), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()


def test_liquidity_of_a_session_without_books_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "nobook.liqs"
    trades = records("trades", time_ms=T0 + np.arange(0, 600_000, 1_000), exchange="binance", side=1,
                     price=60_000.0, size=1.0)
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(make_batch(trades=trades))
    assert main(["export", str(path), "--out", str(tmp_path / "l.csv"), "--view", "liquidity"]) == 2
    assert "no order-book events" in capsys.readouterr().err
