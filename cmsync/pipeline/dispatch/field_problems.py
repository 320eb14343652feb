"""Values left out of writes, as problems an operator can act on: one per field and cause.

A value a field cannot hold (``state.fieldfit``) is left out of every write that carries it,
pass after pass, until the org or the data changes. Each would be the same problem, so there
is one open quarantine entry (kind ``field_limit``) per object, field and cause, keyed
``<Object>.<Field>:<cause>``: its reason says what was refused, why and the fix, and its
payload lists the records the value was left out of (the first ``RECORDS_KEPT``, and how many
in all; past that many, a record is counted each time it comes back). Resolving it (after
the fix) closes it; the next refusal opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from state import QuarantineItem, QuarantineKind, System, Transaction
from state.writeplan import LeftOut

__all__ = ["RECORDS_KEPT", "report_left_out"]

log = logging.getLogger("cmsync.dispatch")

RECORDS_KEPT = 200  # record keys listed on one problem; ``count`` has them all


def report_left_out(tx: Transaction, left_out: Sequence[LeftOut]) -> None:
    """Open or add to the problem of each (object, field, cause) in ``left_out``."""
    by_problem: dict[str, list[LeftOut]] = {}
    for item in left_out:
        by_problem.setdefault(item.unfit.problem_key, []).append(item)
    for key, items in by_problem.items():
        unfit = items[-1].unfit
        known = tx.quarantine.open_entry(key, QuarantineKind.FIELD_LIMIT)
        old = known.payload if known is not None else {}
        old_records = old.get("records")
        records = list(old_records) if isinstance(old_records, list) else []
        old_count = old.get("count")
        count = old_count if isinstance(old_count, int) else len(records)
        listed = set(records)
        new = list(dict.fromkeys(i.key for i in items if i.key not in listed))
        count += len(new)
        records = (records + new)[:RECORDS_KEPT]
        if new:
            log.warning("%s: left out of %d more writes: %s", key, len(new), unfit.reason)
        noun = "record" if count == 1 else "records"
        tx.quarantine.add(
            QuarantineItem(
                kind=QuarantineKind.FIELD_LIMIT,
                source=System.SALESFORCE,
                record_key=key,
                reason=f"{unfit.reason}; left out of the write of {count} {noun}. Fix: {unfit.fix}",
                payload={
                    "object": unfit.sobject,
                    "field": unfit.field,
                    "cause": unfit.cause.value,
                    "value": unfit.value,
                    "fix": unfit.fix,
                    "count": count,
                    "records": records,
                },
            )
        )
