"""The watermark's storage form and its edges: compact text, an empty watermark, old rows
without a seen list or with naive stamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

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
        # The window's start is sent in whole seconds, so the keys of that whole second stay.
        floor = (max(s for _, s in kept) - LOOKBACK).replace(microsecond=0)
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


def test_a_large_seen_set_is_stored_as_its_json_with_a_callers_members_last() -> None:
    """Thousands of keys (a first pass's won deals, stamped within seconds): the text is
    written a thousand pairs at a time, and a caller's members follow the watermark's."""
    pages = [
        [Stamped(f"006{n:012d}AAA", T + timedelta(milliseconds=n // 40)) for n in range(p, p + 900)]
        for p in range(0, 2_700, 900)
    ]
    mark = Watermark()
    for page in pages:
        mark, fresh = mark.advance(page, LOOKBACK)
        assert fresh == list(range(900))
    assert len(mark.seen) == 2_700
    seen = sorted([key, stamp.isoformat()] for key, stamp in mark.seen)
    plain = {"stamp": mark.stamp.isoformat() if mark.stamp else None, "seen": seen}
    assert mark.dumps() == json.dumps(plain, separators=(",", ":"))
    members = {"since": "2026-12-01", "n\u00e9e": 'a "quoted" \u00e9'}
    assert mark.dumps(**members) == json.dumps({**plain, **members}, separators=(",", ":"))
    assert Watermark.loads(mark.dumps(**members)) == mark


def test_equal_stamps_share_one_object_and_a_record_twice_on_a_page_is_new_once() -> None:
    """A seen set of tens of thousands of keys holds a stamp object per distinct stamp, not
    per key: when advanced and when read back."""
    page = [
        Stamped(k, T + timedelta(seconds=s)) for k, s in [("a", 0), ("b", 0), ("a", 0), ("c", 1)]
    ]
    mark, fresh = Watermark().advance(page, LOOKBACK)
    assert fresh == [0, 1, 3]
    for shown in (mark, Watermark.loads(mark.dumps())):
        stamps = dict(shown.seen)
        assert stamps["a"] is stamps["b"] and stamps["a"] is not stamps["c"]


def test_one_key_at_two_zoned_stamps_is_stored_in_the_order_of_their_texts() -> None:
    """The pairs are sorted as their texts sort, as ``json.dumps`` of the sorted pairs did:
    12:30 UTC before 13:00+01:00, though the second is the earlier moment."""
    zoned = datetime(2026, 12, 7, 13, tzinfo=timezone(timedelta(hours=1)))
    later = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    mark = Watermark(stamp=later, seen=frozenset({("a", zoned), ("a", later), ("0", zoned)}))
    assert mark.dumps() == (
        '{"stamp":"2026-12-07T12:30:00+00:00","seen":[["0","2026-12-07T13:00:00+01:00"],'
        '["a","2026-12-07T12:30:00+00:00"],["a","2026-12-07T13:00:00+01:00"]]}'
    )
