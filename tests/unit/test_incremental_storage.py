"""The watermark's storage form and its edges: compact text, an empty watermark, old rows
without a seen list or with naive stamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=4), st.integers(0, 3_000_000), st.integers(0, 5)),
        max_size=40,
    ),
    st.integers(1, 9),
)
def test_the_stored_form_is_the_json_of_the_sorted_pairs_and_advancing_repeats_nothing(
    records: list[tuple[str, int, int]], page: int
) -> None:
    """The text written piece by piece (a page of won deals commits tens of thousands of keys)
    is exactly ``json.dumps`` of the sorted pairs, non-ASCII keys and microseconds included;
    and the set advanced without a copy per page keeps what the copying one kept."""
    stamped = [Stamped(k, T + timedelta(microseconds=us, minutes=m)) for k, us, m in records]
    mark, kept = Watermark(), set[tuple[str, datetime]]()
    for start in range(0, len(stamped), page):
        part = stamped[start : start + page]
        mark, fresh = mark.advance(part, LOOKBACK)
        expected_fresh = []  # the copying form, as it was
        for index, record in enumerate(part):
            if (record.key, record.stamp) not in kept:
                kept.add((record.key, record.stamp))
                expected_fresh.append(index)
        assert fresh == expected_fresh
        floor = max(s for _, s in kept) - LOOKBACK
        kept = {s for s in kept if s[1] >= floor}
        assert mark.seen == kept
    expected = json.dumps(
        {
            "stamp": mark.stamp.isoformat() if mark.stamp else None,
            "seen": sorted([key, stamp.isoformat()] for key, stamp in mark.seen),
        },
        separators=(",", ":"),
    )
    assert mark.dumps() == expected
    assert Watermark.loads(expected) == mark
