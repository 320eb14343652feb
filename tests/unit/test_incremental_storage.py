"""The watermark's storage form and its edges: compact text, an empty watermark, old rows
without a seen list or with naive stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.incremental import Stamped, Watermark

T = datetime(2026, 12, 7, 12, tzinfo=UTC)
LOOKBACK = timedelta(minutes=5)


def test_the_stored_form_is_compact_and_reads_back() -> None:
    mark, _ = Watermark().advance([Stamped("a", T)], LOOKBACK)
    text = mark.dumps()
    assert (
        text == '{"stamp":"2026-12-07T12:00:00+00:00","seen":[["a","2026-12-07T12:00:00+00:00"]]}'
    )
    assert Watermark.loads(text) == mark


def test_an_empty_watermark_stores_and_advances_empty() -> None:
    assert Watermark().dumps() == '{"stamp":null,"seen":[]}'
    assert Watermark().advance([], LOOKBACK) == (Watermark(), [])


def test_a_stored_form_without_seen_keys_or_zones_reads_as_utc() -> None:
    mark = Watermark.loads('{"stamp": "2026-12-07T12:00:00"}')
    assert mark == Watermark(stamp=T)
    assert mark.stamp is not None and mark.stamp.tzinfo is UTC
    zoned = Watermark.loads('{"stamp": "2026-12-07T13:00:00+01:00", "seen": [["a", null]]}')
    assert zoned.stamp == T and zoned.stamp is not None and zoned.stamp.utcoffset()
    assert zoned.seen == frozenset({("a", datetime(1970, 1, 1, tzinfo=UTC))})
