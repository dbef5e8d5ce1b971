"""The seek benchmark helper runs and reports its keys (times are not asserted)."""

from liqdesk.store.bench import measure_seek_ms


def test_measure_seek_ms_keys(tmp_path):
    result = measure_seek_ms(tmp_path, points=5, trades=20_000)
    assert {"seek_ms", "seek_ms_max", "seek_session_events"} <= set(result)
    assert result["seek_session_events"] > 20_000
    assert 0 <= result["seek_ms"] <= result["seek_ms_max"]
