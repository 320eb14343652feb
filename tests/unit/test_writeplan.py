"""Write planning: coalesce per record, drop what was already written, batch by 200."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from state.writeplan import Operation, PendingWrite, plan_writes

ACC = "001000000000001AAA"


def upd(outbox_id: int, key: str, **fields: object) -> PendingWrite:
    return PendingWrite(outbox_id, "Account", Operation.UPDATE, key, fields)


def test_newest_row_wins_per_field_and_all_rows_are_covered() -> None:
    plan = plan_writes(
        [upd(1, ACC, CM_MRR__c=10.0, CM_Plan__c="a"), upd(2, ACC, CM_MRR__c=20.0)], {}
    )
    (batch,) = plan.batches
    (record,) = batch.records
    assert record.fields == {"CM_MRR__c": 20.0, "CM_Plan__c": "a"}
    assert record.outbox_ids == (1, 2)
    assert record.body() == {"Id": ACC, "CM_MRR__c": 20.0, "CM_Plan__c": "a"}


def test_fields_equal_to_the_last_write_are_dropped() -> None:
    last = {("Account", ACC, "CM_MRR__c"): 20.0, ("Account", ACC, "CM_Plan__c"): "a"}
    plan = plan_writes([upd(1, ACC, CM_MRR__c=20.0, CM_Plan__c="b")], last)
    assert plan.batches[0].records[0].fields == {"CM_Plan__c": "b"}
    nothing = plan_writes([upd(3, ACC, CM_MRR__c=20.0)], last)
    assert nothing.batches == () and nothing.unchanged == (3,)


def test_upserts_batch_per_object_and_external_id_field() -> None:
    rows = [
        PendingWrite(i, "Task", Operation.UPSERT, f"k{i}", {"Subject": "s"}, "CM_Sync_Key__c")
        for i in range(3)
    ] + [upd(10, ACC, CM_MRR__c=1.0)]
    plan = plan_writes(rows, {})
    kinds = [(b.sobject, b.operation, len(b.records)) for b in plan.batches]
    assert kinds == [("Account", Operation.UPDATE, 1), ("Task", Operation.UPSERT, 3)]
    assert plan.batches[1].records[0].body() == {"CM_Sync_Key__c": "k0", "Subject": "s"}


@given(
    records=st.integers(1, 1_000),
    rows_per_record=st.integers(1, 3),
)
def test_calls_are_the_floor_per_kind(records: int, rows_per_record: int) -> None:
    rows = [
        upd(n * rows_per_record + r, f"001{n:015d}", CM_MRR__c=float(r))
        for n in range(records)
        for r in range(rows_per_record)
    ]
    plan = plan_writes(rows, {})
    assert len(plan.batches) == math.ceil(records / 200)
    assert all(len(b.records) <= 200 for b in plan.batches)
    assert sorted(i for b in plan.batches for rec in b.records for i in rec.outbox_ids) == sorted(
        row.outbox_id for row in rows
    )
