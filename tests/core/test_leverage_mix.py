"""The leverage mix learned from liquidations (core/leverage_mix.py and its use in the model)."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.events import EXCHANGE_ID, concat_batches, make_batch, records, slice_batch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.leverage_mix import (
    LIQ_DTYPE,
    NO_PUBLIC_LIQUIDATIONS,
    SWEEP_DTYPE,
    LeverageMix,
    MixSettings,
    _posterior,
)
from liqdesk.core.synthetic import random_walk_stream

HOURS = 3.0

#: the tests share the 3-hour stream, the fixed-prior run over it and the model that learned from it
#: in one batch (each built once per process): one worker runs them all, so each is built once
pytestmark = pytest.mark.xdist_group("leverage_mix_stream")


@pytest.fixture(scope="module")
def stream():
    # a lively walk: enough sweeps of the high tiers and a few of the middle ones in 3 h
    return random_walk_stream(hours=HOURS, seed=3, trades_per_s=20, vol_per_sqrt_s=0.0006)


def _settings(**kw):
    return ModelSettings(column_ms=60_000, window_columns=240, rows=400, **kw)


_FIXED_RUNS: dict[int, tuple] = {}


def _fixed_run(stream):
    """(swept record, {leverage: prior}) of the fixed-prior model over ``stream`` (once per stream)."""
    if id(stream) not in _FIXED_RUNS:
        fixed = LevelModel(_settings(mix=MixSettings(learn=False)))
        fixed.ingest(stream)
        fixed.flush()
        _FIXED_RUNS[id(stream)] = (stream, fixed.swept(), dict(zip(fixed.leverages.tolist(), fixed.prior.tolist())))
    return _FIXED_RUNS[id(stream)][1:]


def _liquidations_from(stream, true_mix: dict[float, float], visible: float):
    """Liquidations as a feed would show them if the market's mix were ``true_mix``: every level
    the model sweeps liquidates its tier's share of the notional, the feed shows ``visible`` of it."""
    swept, prior = _fixed_run(stream)
    share = np.array([true_mix.get(float(lev), 0.0) / prior[float(lev)] for lev in swept["leverage"]])
    notional = swept["notional"] * share * visible
    keep = notional > 0
    sw = swept[keep]
    return records("liquidations", time_ms=sw["time_ms"] + 200, exchange=sw["exchange"], side=sw["side"],
                   price=sw["price"] * (1 - 0.0005 * sw["side"]), size=notional[keep] / sw["price"],
                   notional=notional[keep])


def _with_liquidations(stream, liqs):
    return concat_batches([stream, make_batch(liquidations=liqs)])


def test_without_liquidations_the_model_is_the_fixed_prior_bit_for_bit(stream):
    learned = LevelModel(_settings())
    fixed = LevelModel(_settings(mix=MixSettings(learn=False)))
    for m in (learned, fixed):
        m.ingest(stream)
        m.flush()
    assert learned.mix.version == 0 and np.allclose(learned.mix.weights[0], learned.prior)
    assert np.array_equal(learned.image()[0], fixed.image()[0])
    assert np.array_equal(learned.level_map(), fixed.level_map())
    assert learned.mix_summary()[0]["state"] == "the prior (nothing learned yet)"


def test_learns_the_tiers_that_liquidate_and_drops_those_that_do_not(stream):
    """Liquidations only where the 25x levels are swept: 25x gains, the high tiers that price
    crossed without a liquidation lose, and the map moves with the mix."""
    truth = {25.0: 1.0}
    liqs = _liquidations_from(stream, truth, MixSettings().visible)
    assert len(liqs) > 20
    model = LevelModel(_settings())
    model.ingest(_with_liquidations(stream, liqs))
    model.flush()
    levs = model.leverages.tolist()
    w = model.mix.weights.mean(axis=0)
    prior = model.prior
    assert w[levs.index(25.0)] > 2 * prior[levs.index(25.0)]
    for lev in (75.0, 100.0, 125.0):
        assert w[levs.index(lev)] < 0.5 * prior[levs.index(lev)], lev
    assert np.allclose(model.mix.weights.sum(axis=1), 1.0)
    summary = model.mix_summary()
    assert all(v["state"] == "learned" for v in summary) and summary[0]["liquidations_matched"] > 0
    # the 25x share of the live map rose accordingly
    fixed = LevelModel(_settings(mix=MixSettings(learn=False)))
    fixed.ingest(stream)
    fixed.flush()
    share = model.level_map(tiers=[25]).sum() / model.level_map().sum()
    share_fixed = fixed.level_map(tiers=[25]).sum() / fixed.level_map().sum()
    assert share > 1.5 * share_fixed


def test_live_column_image_and_levels_agree_under_a_learned_mix(stream):
    liqs = _liquidations_from(stream, {50.0: 0.5, 25.0: 0.5}, MixSettings().visible)
    model = LevelModel(_settings())
    model.ingest(_with_liquidations(stream, liqs))
    assert model.mix.version > 0
    img, _, origin = model.image(include_live=True)
    live = model.level_map(origin=origin)
    assert np.allclose(img[:, -1], live.sum(axis=0), rtol=1e-5)
    assert np.isclose(model.levels()["notional"].sum(), model.total_notional(), rtol=1e-9)
    # a stored column re-weighted by the mix equals the per-slice cells times the mix
    c = int(model.grid.last_column)
    col = model.grid.image(np.ones(model.E, bool), np.ones(model.T, bool), display_origin=origin, end_column=c,
                           weights=model.mix_multipliers())[0][:, -1]
    row = int(np.argmax(col))
    cell = model.grid.cell(c, row, origin, model.mix_multipliers())
    assert np.isclose(cell.sum(), col[row], rtol=1e-4)


_LEARNED_IN_ONE_BATCH: dict[int, tuple] = {}


def _learned_in_one_batch(stream):
    """(``stream`` with liquidations from a 25x/100x market, the model fed it in one batch); built
    once for every example below."""
    if id(stream) not in _LEARNED_IN_ONE_BATCH:
        full = _with_liquidations(stream, _liquidations_from(stream, {25.0: 0.6, 100.0: 0.4}, 0.15))
        one = LevelModel(_settings())
        one.ingest(full)
        _LEARNED_IN_ONE_BATCH[id(stream)] = (stream, full, one)
    return _LEARNED_IN_ONE_BATCH[id(stream)][1:]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 179), min_size=1, max_size=6, unique=True))
def test_how_events_are_batched_does_not_change_what_is_learned(stream, stream_cuts):
    full, one = _learned_in_one_batch(stream)
    start, end = full.time_span()
    cuts = [start] + sorted(start + c * 60_000 + 17 for c in stream_cuts) + [end + 1]
    split = LevelModel(_settings())
    for a, b in zip(cuts[:-1], cuts[1:]):
        split.ingest(slice_batch(full, a, b))
    assert one.mix.version > 0
    assert np.array_equal(one.mix.weights, split.mix.weights)
    assert np.array_equal(one.level_map(), split.level_map())


def test_fixed_prior_never_learns(stream):
    liqs = _liquidations_from(stream, {25.0: 1.0}, 0.15)
    model = LevelModel(_settings(mix=MixSettings(learn=False)))
    model.ingest(_with_liquidations(stream, liqs))
    assert model.mix.version == 0 and model.mix_multipliers() is None
    assert model.mix_summary()[0]["state"] == "fixed"


def test_a_prior_without_weight_on_a_tier_is_not_learned():
    # stored levels carry the prior: a tier stored at zero could never be given weight
    model = LevelModel(ModelSettings(leverages=(10.0, 50.0), weights=(1.0, 0.0)))
    assert not model.mix.settings.learn


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e8)), min_size=2, max_size=12),
       st.floats(0.1, 1e4), st.floats(0.5, 100), st.floats(0.01, 1))
def test_posterior_is_a_mix(evidence, events, strength, visible):
    attributed = np.array([a for a, _ in evidence])
    exposure = np.array([s for _, s in evidence])
    prior = np.full(len(evidence), 1 / len(evidence))
    w = _posterior(attributed, exposure, prior, strength, 1e3, visible, 1.0)
    assert np.all(w >= 0) and np.isclose(w.sum(), 1.0)
    # tiers without any evidence keep the prior's proportions among themselves
    blank = np.flatnonzero((attributed == 0) & (exposure == 0))
    if len(blank) >= 2 and w[blank[0]] > 0:
        assert w[blank[1]] / w[blank[0]] == pytest.approx(prior[blank[1]] / prior[blank[0]], rel=1e-6)
    # a tier with more liquidations for the same exposure never gets less weight
    i, j = 0, 1
    if exposure[i] == exposure[j] and attributed[i] > attributed[j]:
        assert w[i] >= w[j]


def test_a_liquidation_matches_only_levels_of_its_exchange_side_time_and_price():
    mix = LeverageMix(np.array([0.5, 0.5]), 2, MixSettings(update_ms=60_000))
    sweeps = np.zeros(4, SWEEP_DTYPE)
    #                time     exchange side tier price   unit
    sweeps[:] = [(10_000, 0, 1, 0, 100.0, 1e6),    # matches
                 (10_000, 1, 1, 1, 100.0, 1e6),    # other exchange
                 (10_000, 0, -1, 1, 100.0, 1e6),   # other side
                 (10_000, 0, 1, 1, 110.0, 1e6)]    # too far in price
    liqs = np.zeros(1, LIQ_DTYPE)
    liqs[:] = [(20_000, 0, 1, 100.1, 5_000.0)]
    mix.add_sweeps(sweeps)
    mix.add_liquidations(liqs)
    assert mix.advance(200_000)
    # (evidence is forgotten with a 24 h half-life: a few minutes later it is worth a little less)
    assert mix.attributed[0, 0] == pytest.approx(5_000.0, rel=0.01) and mix.attributed[1:].sum() == 0
    assert mix.attributed[0, 1] == 0
    assert mix.weights[0, 0] > 0.5 > mix.weights[0, 1]
    assert mix.events[0] == pytest.approx(1, rel=0.01) and mix.unmatched.sum() == 0


def test_exchange_without_liquidations_follows_the_others(stream):
    liqs = _liquidations_from(stream, {25.0: 1.0}, 0.15)
    liqs = liqs[liqs["exchange"] != EXCHANGE_ID["okx"]]
    model = LevelModel(_settings())
    model.ingest(_with_liquidations(stream, liqs))
    summary = {v["exchange"]: v for v in model.mix_summary()}
    assert summary["okx"]["state"] == "no liquidation feed: the others' mix"
    levs = model.leverages.tolist()
    assert summary["okx"]["weights"][levs.index(25.0)] > 2 * model.prior[levs.index(25.0)]


def test_mix_settings_refuse_nonsense():
    with pytest.raises(ValueError):
        MixSettings(strength=0)
    with pytest.raises(ValueError):
        replace(MixSettings(), update_ms=10)


def test_levels_crossed_without_a_liquidation_teach_only_where_a_feed_exists(stream):
    """A feed that shows nothing while price keeps crossing the high tiers says they are empty;
    a stream that carries no liquidation feed (an imported trade file) says nothing."""
    quiet = LevelModel(_settings(liquidation_feeds=("binance", "bybit", "okx")))
    unknown = LevelModel(_settings())
    for m in (quiet, unknown):
        m.ingest(stream)
    levs = quiet.leverages.tolist()
    assert unknown.mix.version == 0
    assert quiet.mix.version > 0
    assert quiet.mix_summary()[0]["state"] == "learned from crossed levels (no liquidation yet)"
    w = quiet.mix.weights[0]
    for lev in (100.0, 125.0):
        assert w[levs.index(lev)] < 0.5 * quiet.prior[levs.index(lev)]
    # what they lose goes to the tiers price never reached (10x here)
    never = np.flatnonzero(quiet.mix.exposure.sum(axis=0) == 0)
    assert len(never) >= 1, "the stream should leave a tier unreached"
    assert all(w[t] > quiet.prior[t] for t in never)


def test_exchanges_without_public_liquidations_agree_with_the_live_adapters():
    from liqdesk.sources.live.contract import ABSENT
    from liqdesk.sources.live.source import ADAPTER_MODULES, adapter_class

    absent = {name for name in ADAPTER_MODULES if adapter_class(name).liquidations == ABSENT}
    assert absent == set(NO_PUBLIC_LIQUIDATIONS)
