"""Upsert keys Salesforce takes for one never share a call (REST API Developer Guide, "Upsert
Multiple Records with Fewer Round-Trips": an External ID value given twice in one sObject
Collections upsert fails both records with DUPLICATE_VALUE; text values compare
case-insensitively unless the field is case-sensitive)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from state.writeplan import Operation, PendingWrite, key_identity, plan_writes

KEY = "CM_Sync_Key__c"


def ups(outbox_id: int, key: str, sobject: str = "Task", **fields: object) -> PendingWrite:
    return PendingWrite(outbox_id, sobject, Operation.UPSERT, key, fields or {"Subject": key}, KEY)


def test_keys_differing_by_case_go_to_separate_calls_the_older_first() -> None:
    plan = plan_writes([ups(1, "churn|ABC"), ups(2, "other"), ups(3, "churn|abc")], {})
    assert [[r.key for r in b.records] for b in plan.batches] == [
        ["churn|ABC", "other"],
        ["churn|abc"],
    ]
    # The same key, exactly, is still one record with both rows behind it.
    (batch,) = plan_writes([ups(1, "k", Subject="a"), ups(2, "k", Status="b")], {}).batches
    assert [(r.fields, r.outbox_ids) for r in batch.records] == [
        ({"Subject": "a", "Status": "b"}, (1, 2))
    ]


def test_a_case_sensitive_field_keeps_them_in_one_call() -> None:
    rows = [ups(1, "ABC"), ups(2, "abc")]
    (batch,) = plan_writes(rows, {}, case_sensitive={("task", KEY.lower())}).batches
    assert [r.key for r in batch.records] == ["ABC", "abc"]


def test_record_ids_are_compared_as_given() -> None:
    assert key_identity("Account", Operation.UPDATE, None, "001AbC") == "001AbC"
    assert key_identity("Task", Operation.UPSERT, KEY, "AbC") == "abc"
    assert key_identity("Task", Operation.UPSERT, KEY, "AbC", {("Task", KEY)}) == "AbC"


_KEYS = st.text(alphabet="aAbBßS", min_size=1, max_size=3)
_ROWS = st.lists(
    st.tuples(st.sampled_from(["Task", "Case"]), _KEYS, st.sampled_from(["x", "y"])),
    max_size=60,
)


@given(rows=_ROWS, chunk=st.integers(1, 7), sensitive=st.booleans())
def test_no_call_holds_two_equal_keys_and_every_record_is_planned_once(
    rows: list[tuple[str, str, str]], chunk: int, sensitive: bool
) -> None:
    pending = [ups(i, key, sobject, Subject=value) for i, (sobject, key, value) in enumerate(rows)]
    case_sensitive = {("Task", KEY)} if sensitive else set()
    plan = plan_writes(pending, {}, chunk, case_sensitive=case_sensitive)

    for batch in plan.batches:
        assert len(batch.records) <= chunk
        identities = [
            key_identity(batch.sobject, batch.operation, KEY, r.key, case_sensitive)
            for r in batch.records
        ]
        assert len(set(identities)) == len(identities)
    planned = Counter((b.sobject, r.key) for b in plan.batches for r in b.records)
    assert planned == Counter(dict.fromkeys({(o, k) for o, k, _ in rows}, 1))
    covered = sorted(i for b in plan.batches for r in b.records for i in r.outbox_ids)
    assert covered == list(range(len(rows)))
    # Of two spellings of one key, the older record's call comes first.
    position: dict[tuple[str, str], int] = {}
    for n, batch in enumerate(plan.batches):
        for record in batch.records:
            position[(batch.sobject, record.key)] = n
    first_row = {(o, k): min(i for i, r in enumerate(rows) if r[:2] == (o, k)) for o, k, _ in rows}
    for (sobject, a), (other, b) in ((x, y) for x in position for y in position):
        same = key_identity(sobject, Operation.UPSERT, KEY, a, case_sensitive) == key_identity(
            other, Operation.UPSERT, KEY, b, case_sensitive
        )
        if sobject == other and a != b and same and first_row[(sobject, a)] < first_row[(other, b)]:
            assert position[(sobject, a)] < position[(other, b)]
