"""The emulated org's store: Salesforce's write rules, derived fields, upserts, transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.sandbox.salesforce.errors import RecordError
from cmsync.sandbox.salesforce.ids import to18
from cmsync.sandbox.salesforce.store import MultipleMatchError, RecordStore
from cmsync.sandbox.salesforce.values import JsonTypeError
from tests.support.clock import FakeClock

T0 = datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(clock: FakeClock) -> RecordStore:
    store = RecordStore(DEFAULT_CATALOGUE, clock)
    store.user_id = store.insert(
        "User", {"LastName": "Integration", "Email": "i@x.example", "Username": "i@x.example"}
    )
    return store


def refused(call: Any, *args: Any, **kwargs: Any) -> RecordError:
    with pytest.raises(RecordError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_system_fields_come_from_the_clock_to_the_millisecond(
    store: RecordStore, clock: FakeClock
) -> None:
    record_id = store.insert("Account", {"Name": "Acme"})
    created = store.get("Account", record_id)
    assert (
        created.get("CreatedDate")
        == created.get("SystemModstamp")
        == T0.replace(microsecond=123000)
    )
    assert created.get("OwnerId") == store.user_id == created.get("CreatedById")
    assert created.get("IsDeleted") is False
    clock.now = T0 + timedelta(minutes=5)
    store.update("Account", record_id, {"Website": "https://acme.example"})
    updated = store.get("Account", record_id)
    assert updated.get("CreatedDate") == created.get("CreatedDate")
    assert (
        updated.get("LastModifiedDate")
        == updated.get("SystemModstamp")
        == clock.now.replace(microsecond=123000)
    )


@pytest.mark.parametrize(
    ("sobject", "fields", "code", "named"),
    [
        ("Contact", {"FirstName": "Jo"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ("Opportunity", {"Name": "x"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"]),
        ("Lead", {"LastName": "x", "Company": "y", "Nope__c": 1}, "INVALID_FIELD", []),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Contact", {"LastName": "x", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        (
            "Account",
            {"Name": "x", "CM_Lifecycle_Stage__c": "Zombie"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["CM_Lifecycle_Stage__c"],
        ),
        ("Contact", {"LastName": "x", "AccountId": "garbage"}, "MALFORMED_ID", ["AccountId"]),
        ("Account", {"Name": "x", "CM_MRR__c": 1e16}, "NUMBER_OUTSIDE_VALID_RANGE", ["CM_MRR__c"]),
        ("Account", {"Id": "001Dn0000000001IAA", "Name": "x"}, "INVALID_FIELD", ["Id"]),
        ("Account", {"Name": "x", "CM_URL__c": None, "IsDeleted": True},
         "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsDeleted"]),
    ],
)  # fmt: skip
def test_creates_are_checked_with_the_real_codes(
    store: RecordStore, sobject: str, fields: dict[str, Any], code: str, named: list[str]
) -> None:
    error = refused(store.insert, sobject, fields, api=True)
    assert error.item.code == code
    assert list(error.item.fields or ()) == named


def test_required_field_message(store: RecordStore) -> None:
    error = refused(store.insert, "Opportunity", {"Name": "x"}, api=True)
    assert error.item.message == "Required fields are missing: [StageName, CloseDate]"


def test_unknown_field_message(store: RecordStore) -> None:
    error = refused(store.insert, "Task", {"Bogus": 1}, api=True)
    assert error.item.message == "No such column 'Bogus' on sobject of type Task"


def test_mistyped_values_are_json_errors(store: RecordStore) -> None:
    for fields in ({"Name": "x", "CM_MRR__c": "lots"}, {"Name": {"nested": 1}}):
        with pytest.raises(JsonTypeError, match="Cannot deserialize instance of"):
            store.insert("Account", fields, api=True)
    user = {"LastName": "x", "Email": "u@x.example", "Username": "u@x", "IsActive": None}
    error = refused(store.insert, "User", user)
    assert error.item.code == "INVALID_TYPE_ON_FIELD_IN_RECORD"


def test_references_must_point_at_live_records_of_the_right_type(store: RecordStore) -> None:
    account = store.insert("Account", {"Name": "Acme"})
    contact = store.insert("Contact", {"LastName": "Lee"})
    wrong_type = refused(store.insert, "Contact", {"LastName": "x", "AccountId": contact})
    assert wrong_type.item.code == "FIELD_INTEGRITY_EXCEPTION"
    missing = to18("001Dn0000009999")  # well formed, never issued
    error = refused(store.insert, "Contact", {"LastName": "x", "AccountId": missing})
    assert error.item.code == "INVALID_CROSS_REFERENCE_KEY"
    store.delete("Account", account)
    gone = refused(store.insert, "Contact", {"LastName": "x", "AccountId": account})
    assert gone.item.code == "ENTITY_IS_DELETED"


def test_read_only_fields_refused_on_the_api_but_settable_when_seeding(store: RecordStore) -> None:
    account = store.insert("Account", {"Name": "Acme"})
    converted = {"LastName": "x", "Company": "y", "IsConverted": True,
                 "ConvertedAccountId": account, "ConvertedDate": "2026-11-01"}  # fmt: skip
    error = refused(store.insert, "Lead", converted, api=True)
    assert error.item.code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert set(error.item.fields or ()) == {"IsConverted", "ConvertedAccountId", "ConvertedDate"}
    lead = store.get("Lead", store.insert("Lead", converted))
    assert lead.get("IsConverted") is True and lead.get("ConvertedAccountId") == account


def test_person_names_and_defaults_are_derived(store: RecordStore) -> None:
    lead = store.insert("Lead", {"FirstName": "Ada", "LastName": "Lovelace", "Company": "AE"})
    assert store.get("Lead", lead).get("Name") == "Ada Lovelace"
    assert store.get("Lead", lead).get("Status") == "Open - Not Contacted"
    store.update("Lead", lead, {"FirstName": None})
    assert store.get("Lead", lead).get("Name") == "Lovelace"
    task = store.get("Task", store.insert("Task", {"Subject": "Call"}))
    assert (task.get("Status"), task.get("Priority")) == ("Not Started", "Normal")
    snapshot = store.insert("CM_Metric_Snapshot__c", {"CM_Period_Key__c": "month:2026-11"})
    assert store.get("CM_Metric_Snapshot__c", snapshot).get("Name") == snapshot


def test_is_won_and_is_closed_follow_the_stage(store: RecordStore) -> None:
    opp = store.insert(
        "Opportunity", {"Name": "o", "StageName": "Prospecting", "CloseDate": "2026-12-01"}
    )
    first = store.get("Opportunity", opp)
    assert (first.get("IsWon"), first.get("IsClosed"), first.get("Probability")) == (
        False, False, 10.0,
    )  # fmt: skip
    store.update("Opportunity", opp, {"StageName": "Closed Won"}, api=True)
    won = store.get("Opportunity", opp)
    assert (won.get("IsWon"), won.get("IsClosed"), won.get("Probability")) == (True, True, 100.0)
    error = refused(store.update, "Opportunity", opp, {"IsWon": False}, api=True)
    assert error.item.code == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_unique_external_ids_refuse_duplicates_case_insensitively(store: RecordStore) -> None:
    first = store.insert("Account", {"Name": "A", "CM_Customer_UUID__c": "cus_1"})
    error = refused(store.insert, "Account", {"Name": "B", "CM_Customer_UUID__c": "CUS_1"})
    assert error.item.code == "DUPLICATE_VALUE"
    assert error.item.message.endswith(first)
    # Contacts' UUID is an External ID without Unique: two may share it.
    store.insert("Contact", {"LastName": "a", "CM_Customer_UUID__c": "cus_1"})
    store.insert("Contact", {"LastName": "b", "CM_Customer_UUID__c": "cus_1"})


def test_upsert_creates_then_updates_and_refuses_ambiguity(store: RecordStore) -> None:
    created = store.upsert("Task", "CM_Sync_Key__c", "k1", {"Subject": "first"})
    assert created.created
    updated = store.upsert("Task", "cm_sync_key__c", "K1", {"Subject": "second"})
    assert (updated.id, updated.created) == (created.id, False)
    assert store.get("Task", created.id).get("Subject") == "second"
    assert store.get("Task", created.id).get("CM_Sync_Key__c") == "k1"
    for name in ("x", "y"):
        store.insert("Contact", {"LastName": name, "CM_Customer_UUID__c": "shared"})
    with pytest.raises(MultipleMatchError):
        store.upsert("Contact", "CM_Customer_UUID__c", "shared", {"Title": "CEO"})


def test_deletes_are_soft_and_final_for_writes(store: RecordStore) -> None:
    account = store.insert("Account", {"Name": "Acme"})
    store.delete("Account", account)
    stored = store.find(account)
    assert stored is not None and stored.deleted
    for call, args in ((store.get, ()), (store.update, ({"Name": "x"},)), (store.delete, ())):
        error = refused(call, "Account", account, *args)
        assert (error.item.code, error.status) == ("ENTITY_IS_DELETED", 404)
    assert store.count("Account") == 0


def test_a_transaction_rolls_every_write_back(store: RecordStore) -> None:
    keep = store.insert("Account", {"Name": "Keep"})
    with store.transaction() as transaction:
        store.insert("Account", {"Name": "New", "CM_Customer_UUID__c": "u"})
        store.update("Account", keep, {"Name": "Changed"})
        store.delete("Account", keep)
        transaction.rollback()
    assert store.get("Account", keep).get("Name") == "Keep"
    assert store.count("Account") == 1
    assert store.external_match("Account", "CM_Customer_UUID__c", "u") == []
    store.insert("Account", {"Name": "Again", "CM_Customer_UUID__c": "u"})  # index is clean


def test_a_parent_can_be_named_by_its_external_id(store: RecordStore) -> None:
    account = store.insert("Account", {"Name": "Acme", "CM_Customer_UUID__c": "cus_9"})
    by_uuid = {"CM_Customer_UUID__c": "CUS_9"}
    contact = store.insert("Contact", {"LastName": "x", "Account": by_uuid}, api=True)
    assert store.get("Contact", contact).get("AccountId") == account
    what = {"attributes": {"type": "Account"}, **by_uuid}
    task = store.insert("Task", {"Subject": "Call", "What": what}, api=True)
    assert store.get("Task", task).get("WhatId") == account
    missing = refused(store.insert, "Contact", {"LastName": "x", "Account": {"Name": "Acme"}})
    assert (missing.item.code, missing.item.message) == (
        "INVALID_FIELD", "Field Name is not an External ID field of Account",
    )  # fmt: skip
