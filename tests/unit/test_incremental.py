"""The incremental cursor: late commits are not missed and the overlap repeats nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from state.incremental import Stamped, Watermark

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LOOKBACK = timedelta(seconds=60)


@st.composite
def traffic(draw: st.DrawFn) -> tuple[list[tuple[str, datetime, datetime]], list[datetime], int]:
    """Records (key, stamp, commit time) with commits up to LOOKBACK late, and poll times."""
    count = draw(st.integers(1, 60))
    records = []
    for i in range(count):
        # Stamps in milliseconds, as Salesforce's; a window's start is sent in whole seconds.
        millis = draw(st.sampled_from([0, 1, 500, 999]))
        stamp = T0 + timedelta(seconds=draw(st.integers(0, 600)), milliseconds=millis)
        delay = timedelta(seconds=draw(st.integers(0, int(LOOKBACK.total_seconds()))))
        records.append((f"r{i}", stamp, stamp + delay))
    polls = sorted(
        {T0 + timedelta(seconds=s) for s in draw(st.lists(st.integers(0, 700), max_size=25))}
    )
    last_commit = max(r[2] for r in records)
    polls.append(last_commit + timedelta(seconds=1))  # a final poll after everything landed
    page_size = draw(st.integers(1, 7))
    return records, polls, page_size


def _poll(
    records: list[tuple[str, datetime, datetime]],
    watermark: Watermark,
    now: datetime,
    size: int,
    settle: bool = False,
) -> tuple[Watermark, list[str]]:
    window = watermark.window(LOOKBACK, now)
    # What a Salesforce read says: every record stamped before its cap less the lookback shows.
    settled = window.end - LOOKBACK if settle else None
    # The query's bounds as ``build_query`` sends them: whole seconds, the end rounded up.
    start = None if window.start is None else window.start.replace(microsecond=0)
    end = (window.end + timedelta(seconds=1)).replace(microsecond=0)
    visible = sorted(
        (stamp, key)
        for key, stamp, commit in records
        if commit <= now and stamp <= end and (start is None or stamp >= start)
    )
    read: list[str] = []
    starts = range(0, len(visible), size)
    for start in starts:
        page = [Stamped(key, stamp) for stamp, key in visible[start : start + size]]
        last = start == starts[-1]
        watermark, fresh = watermark.advance(page, LOOKBACK, settled, last=last)
        read.extend(page[i].key for i in fresh)
        watermark = Watermark.loads(watermark.dumps())  # stored and reloaded between pages
    return watermark, read


@settings(max_examples=300, deadline=None)
@given(traffic(), st.booleans())
def test_every_record_is_read_exactly_once(
    case: tuple[list[tuple[str, datetime, datetime]], list[datetime], int], settle: bool
) -> None:
    """With or without the settled time: records commit up to the lookback late."""
    records, polls, page_size = case
    watermark = Watermark()
    read: list[str] = []
    for now in polls:
        watermark, got = _poll(records, watermark, now, page_size, settle)
        read.extend(got)
    assert sorted(read) == sorted(key for key, _, _ in records)


def test_records_settled_when_the_read_began_keep_no_key() -> None:
    """A bulk import long ago: 500 records stamped within 5 s, all inside the lookback of the
    newest. Without the settled time every key is kept (and stored with every page); with it,
    a read's last page keeps none, and the next window starts where the read's had settled."""
    records = [Stamped(f"k{i:03}", T0 + timedelta(milliseconds=10 * i)) for i in range(500)]
    now = T0 + timedelta(hours=2)
    kept, _ = Watermark().advance(records, LOOKBACK)
    assert len(kept.seen) == 500
    # Mid-read, a later page may hold the newest stamp's second (the start is sent in seconds).
    mid, fresh = Watermark().advance(records, LOOKBACK, now - LOOKBACK)
    assert fresh == list(range(500))
    assert mid.seen == {(r.key, r.stamp) for r in records[400:]}
    done, fresh = Watermark().advance(records, LOOKBACK, now - LOOKBACK, last=True)
    assert fresh == list(range(500)) and done.seen == frozenset()
    assert done.settled == now - LOOKBACK and done.stamp == records[-1].stamp
    stored = Watermark.loads(done.dumps())
    assert stored == done
    assert stored.window(LOOKBACK, now + timedelta(minutes=5)).start == now - LOOKBACK


def test_the_settled_time_never_passes_the_newest_record_read() -> None:
    """Mid-read (page one of several), a later page can hold any stamp after the newest read
    so far: the window may not start past it, whatever the read's settled time."""
    page = [Stamped("a", T0), Stamped("b", T0 + timedelta(seconds=1))]
    watermark, _ = Watermark().advance(page, LOOKBACK, T0 + timedelta(days=1))
    assert watermark.settled == T0 + timedelta(seconds=1)
    assert watermark.window(LOOKBACK, T0 + timedelta(days=1)).start == T0 + timedelta(seconds=1)
    # A later page without one keeps what was settled.
    later, _ = watermark.advance([Stamped("c", T0 + timedelta(seconds=30))], LOOKBACK)
    assert later.settled == watermark.settled


def test_a_cursor_stored_without_the_settled_time_still_loads() -> None:
    text = '{"stamp":"2026-11-01T00:00:00+00:00","seen":[["a","2026-11-01T00:00:00+00:00"]]}'
    watermark = Watermark.loads(text)
    assert watermark.settled is None and watermark.seen == frozenset({("a", T0)})
    assert watermark.window(LOOKBACK, T0).start == T0 - LOOKBACK
    assert watermark.dumps() == text


def test_a_record_changed_again_is_read_again() -> None:
    first = Stamped("001A", T0)
    watermark, fresh = Watermark().advance([first], LOOKBACK)
    assert fresh == [0]
    again, fresh = watermark.advance([first, Stamped("001A", T0 + timedelta(seconds=5))], LOOKBACK)
    assert fresh == [1]
    assert again.stamp == T0 + timedelta(seconds=5)


def test_the_seen_set_only_keeps_the_trailing_window() -> None:
    records = [Stamped(f"k{i}", T0 + timedelta(seconds=10 * i)) for i in range(100)]
    watermark, _ = Watermark().advance(records, LOOKBACK)
    assert len(watermark.seen) == 7  # stamps within 60 s of the newest, both ends included
    window = watermark.window(LOOKBACK, T0 + timedelta(days=1))
    assert window.start == T0 + timedelta(seconds=990 - 60)


def test_an_empty_watermark_reads_from_the_beginning() -> None:
    window = Watermark().window(LOOKBACK, T0)
    assert window.start is None and window.end == T0
    assert Watermark.loads(None) == Watermark()
