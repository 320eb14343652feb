"""The account-wide activity feed: every customer's movements, ordered by date, pageable in
O(log n + page).

An activity's *position* is ``(epoch seconds << 32) | sequence``: ordering by position is
ordering by date, ties broken by a feed-wide sequence number handed out in insertion order.
When a customer's history is rebuilt, its activities are removed and the recomputed ones are
inserted with fresh sequence numbers, hence fresh uuids (``ids.PositionCodec``); an old-dated
activity therefore lands behind positions that clients may already have paged past, which is
how the real feed behaves.

Cursors and ``start-after`` both carry a position, never a stored uuid: paging resumes strictly
after that position whether or not the activity that held it still exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from sortedcontainers import SortedKeyList

from cmsync.sandbox.chartmogul.engine import Kind
from cmsync.sandbox.chartmogul.records import Activity

__all__ = ["ActivityFeed", "position_of"]

_SEQ_BITS = 32
_SEQ_MASK = (1 << _SEQ_BITS) - 1


def position_of(ts: int, seq: int) -> int:
    return (ts << _SEQ_BITS) | (seq & _SEQ_MASK)


def _position(activity: Activity) -> int:
    return activity.position


class ActivityFeed:
    """Sorted indexes of all activities, and one per activity type for ``type=`` filters."""

    def __init__(self) -> None:
        self._all: SortedKeyList[Activity, int] = SortedKeyList(key=_position)
        self._by_kind: dict[Kind, SortedKeyList[Activity, int]] = {
            kind: SortedKeyList(key=_position) for kind in Kind
        }
        self._seq = 0

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Activity]:
        return iter(self._all)

    def next_position(self, ts: int) -> int:
        self._seq += 1
        if self._seq > _SEQ_MASK:
            raise OverflowError("the activity feed ran out of sequence numbers")
        return position_of(ts, self._seq)

    def replace(self, old: Iterable[Activity], new: Iterable[Activity]) -> None:
        """Retire ``old`` and index ``new`` (a customer's rebuilt history)."""
        for activity in old:
            self._all.remove(activity)
            self._by_kind[activity.kind].remove(activity)
        for activity in new:
            self._all.add(activity)
            self._by_kind[activity.kind].add(activity)

    def page(
        self,
        *,
        kind: Kind | None = None,
        start: int | None = None,
        end: int | None = None,
        after: int | None = None,
        descending: bool = False,
        limit: int = 200,
    ) -> tuple[list[Activity], bool]:
        """Up to ``limit`` activities dated within [start, end], strictly past ``after`` in
        the requested order; and whether more follow."""
        index = self._all if kind is None else self._by_kind[kind]
        low = None if start is None else position_of(start, 0)
        high = None if end is None else position_of(end, _SEQ_MASK)
        if after is not None:
            if descending:
                high = after - 1 if high is None else min(high, after - 1)
            else:
                low = after + 1 if low is None else max(low, after + 1)
        if low is not None and high is not None and low > high:
            return [], False
        found = list(
            islice(index.irange_key(min_key=low, max_key=high, reverse=descending), limit + 1)
        )
        return found[:limit], len(found) > limit
