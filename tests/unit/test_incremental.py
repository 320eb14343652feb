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
        stamp = T0 + timedelta(seconds=draw(st.integers(0, 600)))
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
    records: list[tuple[str, datetime, datetime]], watermark: Watermark, now: datetime, size: int
) -> tuple[Watermark, list[str]]:
    window = watermark.window(LOOKBACK, now)
    visible = sorted(
        (stamp, key)
        for key, stamp, commit in records
        if commit <= now and stamp <= window.end and (window.start is None or stamp >= window.start)
    )
    read: list[str] = []
    for start in range(0, len(visible), size):
        page = [Stamped(key, stamp) for stamp, key in visible[start : start + size]]
        watermark, fresh = watermark.advance(page, LOOKBACK)
        read.extend(page[i].key for i in fresh)
        watermark = Watermark.loads(watermark.dumps())  # stored and reloaded between pages
    return watermark, read


@settings(max_examples=300, deadline=None)
@given(traffic())
def test_every_record_is_read_exactly_once(
    case: tuple[list[tuple[str, datetime, datetime]], list[datetime], int],
) -> None:
    records, polls, page_size = case
    watermark = Watermark()
    read: list[str] = []
    for now in polls:
        watermark, got = _poll(records, watermark, now, page_size)
        read.extend(got)
    assert sorted(read) == sorted(key for key, _, _ in records)


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
