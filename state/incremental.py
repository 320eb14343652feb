"""Incremental-read cursor semantics, written once (after dlt's ``Incremental``).

Theory of operation. A source hands out records stamped with a modification time
(Salesforce ``SystemModstamp``, a ChartMogul activity ``date``). Stamps are not commit order:
a Salesforce record's stamp is taken when its transaction starts, so a record can become
visible after records with later stamps were already read. So each read

- starts at ``stamp - lookback`` (a closed start: ``>=``), re-reading a trailing window in
  which late commits can still appear;
- ends at a cap taken before the run's first request (``end``), so a run never chases records
  written while it runs (the next run picks them up, from its own start). The cap is the
  source's own "now" (``state.serverclock``): stamps are the server's, so a cap from a local
  clock behind it would leave its newest records out until the local clock caught up;
- drops what it already saw: the watermark keeps the keys of records whose stamp lies inside
  the trailing window, so the re-read window yields each record once. A record changed again
  gets a new stamp and so a new key, and is read again, as it should be;
- moves the window's start up to what was settled when the read began, if the caller says
  (``advance(settled=...)``: the cap minus the lookback). The lookback is the longest a
  transaction may run before its records show; at the cap, every record stamped more than
  that earlier has shown, and the read, in stamp order, has taken each one up to the newest
  it returned. So none of them can come late, and no key of theirs needs keeping: a first
  read of records made in bulk long ago (200,000 Contacts of an import, stamped within
  seconds of each other) keeps no key, where "inside the trailing window of the newest"
  kept all of them and wrote them with every page.

Everything here is pure: the clock is passed in, nothing is stored; the caller commits the new
watermark in the same transaction as the state the records produced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from json.encoder import encode_basestring_ascii as _quote  # what json.dumps quotes with

__all__ = ["ReadWindow", "Stamped", "Watermark"]


@dataclass(frozen=True)
class Stamped:
    """What the cursor needs of a record: a stable key and its stamp."""

    key: str
    stamp: datetime


@dataclass(frozen=True)
class ReadWindow:
    start: datetime | None  # inclusive; None reads from the beginning
    end: datetime  # inclusive cap, taken before the first request
    settled: datetime | None = None  # every record stamped before it had shown at ``end``


@dataclass(frozen=True)
class Watermark:
    """Highest stamp read so far, and the keys already read inside the trailing window."""

    stamp: datetime | None = None
    seen: frozenset[tuple[str, datetime]] = field(default_factory=frozenset)
    settled: datetime | None = None  # every record stamped before it has been read

    def window(self, lookback: timedelta, now: datetime) -> ReadWindow:
        """The window for a run started at ``now``."""
        start = None if self.stamp is None else self.stamp - lookback
        if start is not None and self.settled is not None and self.settled > start:
            start = self.settled
        return ReadWindow(start=start, end=now, settled=now - lookback)

    def advance(
        self,
        records: Sequence[Stamped],
        lookback: timedelta,
        settled: datetime | None = None,
        *,
        last: bool = False,
    ) -> tuple[Watermark, list[int]]:
        """The watermark after ``records`` (one page), and the indices of the new ones.

        Records already seen (same key and stamp) are not new. The seen set keeps only what
        the next window can re-read, so it stays as small as the traffic inside ``lookback``.
        ``settled``: a time before which every record had shown when the read began (the
        read's cap minus the lookback), for a read in stamp order; the next window starts no
        earlier than it, or than the newest stamp of this page if that is earlier (the read's
        later pages may hold that stamp and any after it), unless the page is the read's
        ``last``: then every record stamped before ``settled`` has been read.
        """
        # No copy of the old set: a first read of a large window (84,000 won deals stamped
        # within seconds of each other) keeps every key, and a copy per page was a second
        # set of them; equal stamps share one object, as they do on the way out (``loads``).
        seen = self.seen
        stamps: dict[datetime, datetime] = {}
        added: list[tuple[str, datetime]] = []
        page: set[tuple[str, datetime]] = set()
        fresh: list[int] = []
        top = self.stamp
        for index, record in enumerate(records):
            ident = (record.key, stamps.setdefault(record.stamp, record.stamp))
            if ident in seen or ident in page:
                continue
            page.add(ident)
            added.append(ident)
            fresh.append(index)
            if top is None or record.stamp > top:
                top = record.stamp
        floor = None if top is None else top - lookback
        done = self.settled
        if settled is not None and (last or stamps):
            # The read is in stamp order: its later pages hold nothing before this page's
            # newest stamp, the previous watermark's newest is no bound on them.
            reached = settled if last else min(settled, max(stamps))
            done = reached if done is None else max(done, reached)
        if floor is not None and done is not None and done > floor:
            floor = done
        if floor is not None:  # a window's start is sent in whole seconds: it re-reads from there
            floor = floor.replace(microsecond=0)
        kept = frozenset(s for s in chain(seen, added) if floor is None or s[1] >= floor)
        return Watermark(stamp=top, seen=kept, settled=done), fresh

    # --- storage form (the store keeps cursors as text) ---------------------------------

    def dumps(self, **members: str) -> str:
        """The stored form, ``{"stamp": ..., "seen": [[key, stamp], ...]}`` sorted, compact,
        then ``"settled"`` if known (a version that does not know it starts its window at the
        stamp less the lookback, and reads again, once, what was settled in between);
        ``members``: a caller's own, after the watermark's (strings), in the same object.

        Written piece by piece, and joined once: ``json.dumps`` of the list of pairs made a
        list and a string per pair and a few encoder pieces each, about 0.5 KB a key while it
        ran, for a text a tenth of that (a page of won deals commits it, with tens of
        thousands of keys)."""
        iso: dict[datetime, str] = {}  # a stamp's text, once per distinct stamp
        for _, moment in self.seen:
            if moment not in iso:
                iso[moment] = moment.isoformat()
        # Ordered as the pairs' texts sort (key, then stamp text), two stable sorts that make
        # no tuple per pair.
        pairs = sorted(self.seen, key=lambda s: iso[s[1]])
        pairs.sort(key=lambda s: s[0])
        quoted = {moment: _quote(text) for moment, text in iso.items()}
        stamp = json.dumps(self.stamp.isoformat() if self.stamp else None)
        parts = [f'{{"stamp":{stamp},"seen":[']
        for i in range(0, len(pairs), 1000):
            batch = ",".join(f"[{_quote(k)},{quoted[m]}]" for k, m in pairs[i : i + 1000])
            parts.append(f",{batch}" if i else batch)
        parts.append("]")
        if self.settled is not None:
            parts.append(f',"settled":{_quote(self.settled.isoformat())}')
        parts.extend(f",{_quote(name)}:{_quote(value)}" for name, value in members.items())
        parts.append("}")
        return "".join(parts)

    @classmethod
    def loads(cls, text: str | None) -> Watermark:
        if not text:
            return cls()
        raw = json.loads(text)
        stamp = _parse(raw.get("stamp"))
        moments: dict[str | None, datetime] = {}  # one object per distinct stamp text

        def moment(text: str | None) -> datetime:
            found = moments.get(text)
            if found is None:
                found = moments[text] = _parse(text) or _EPOCH
            return found

        seen = frozenset((str(k), moment(s)) for k, s in raw.get("seen", []))
        return cls(stamp=stamp, seen=seen, settled=_parse(raw.get("settled")))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
