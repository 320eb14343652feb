"""One record's failure stays with that record: it is quarantined, the rest of its page applies.

A page is applied in one store transaction, all or nothing, and its cursor moves in the same
transaction. Without a guard, a record that makes the work raise (a value the store cannot
hold, a bug of cmsync's own met by one record) would fail the whole page, every pass: the
cursor would never move, and every later record of the feed would wait behind it.

``contained`` applies a batch inside a savepoint. If it raises, the savepoint is rolled back
(nothing of the batch is half-applied) and the records are applied again one by one, each in a
savepoint of its own; the ones that still raise are undone alone and quarantined as an
"internal error" naming the exception class. Records reach this far only once they have been
validated at the boundary (``cmsync.chartmogul.records``: a malformed record is refused there
with its field and value), so what fails here is cmsync's fault, never the source's: it is
logged as such, with the traceback for the bug report, and never as the source being down.

Failures that are not a record's are re-raised, because they would fail every record alike and
the page must be replayed as a whole: the store's refusals (a stale state, a busy or broken
database) and running out of memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import OperationalError

from state import QuarantineItem, QuarantineKind, StoreError, System, Transaction

__all__ = ["INTERNAL_ERROR", "Contained", "contained", "internal_error"]

log = logging.getLogger("cmsync.contain")

INTERNAL_ERROR = "internal error"  # how every such quarantine reason starts

R = TypeVar("R")
T = TypeVar("T")

# Not a record's fault: the whole unit of work must be replayed (or the process must stop).
_NOT_A_RECORDS: tuple[type[BaseException], ...] = (StoreError, OperationalError, MemoryError)


@dataclass
class Contained(Generic[T]):
    """The results of the batches that applied, and how many records were quarantined."""

    results: list[T]
    quarantined: int = 0


def internal_error(exc: BaseException, source: System) -> str:
    """The quarantine reason for a record cmsync failed on: the class first, then what to do."""
    return (
        f"{INTERNAL_ERROR}: {type(exc).__name__}: {str(exc)[:500]}. A fault in cmsync, not in "
        f"the {source.value} record: report it with this entry; the rest of the records went on"
    )


def contained(
    tx: Transaction,
    records: Sequence[R],
    work: Callable[[Transaction, Sequence[R]], T],
    *,
    key: Callable[[R], str],
    payload: Callable[[R], Mapping[str, Any]],
    source: System = System.CHARTMOGUL,
) -> Contained[T]:
    """``work(tx, records)``, or failing that ``work`` on each record alone, quarantining the
    records it raises for (see the module doc)."""
    try:
        with tx.savepoint():
            return Contained([work(tx, records)])
    except _NOT_A_RECORDS:
        raise
    except Exception:
        if not records:  # no record to blame: the work itself is broken
            raise
    done = Contained[T]([])
    for record in records:
        try:
            with tx.savepoint():
                done.results.append(work(tx, [record]))
        except _NOT_A_RECORDS:
            raise
        except Exception as exc:
            record_key = key(record)
            log.error("%s on %s record %s", INTERNAL_ERROR, source.value, record_key, exc_info=exc)
            tx.quarantine.add(
                QuarantineItem(
                    kind=QuarantineKind.BAD_RECORD,
                    source=source,
                    record_key=record_key,
                    reason=internal_error(exc, source),
                    payload=dict(payload(record)),
                )
            )
            done.quarantined += 1
    return done
