"""The catalogue of objects and fields cmsync touches: lookups, rules, and derived copies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE, FieldType
from cmsync.sandbox.salesforce.errors import RecordError
from cmsync.sandbox.salesforce.soql import SoqlError, parse
from cmsync.sandbox.salesforce.soql.binder import bind
from cmsync.sandbox.salesforce.store import RecordStore

SYSTEM = {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
          "LastModifiedById", "SystemModstamp"}  # fmt: skip


def test_lookups_ignore_case_as_salesforce_does() -> None:
    account = DEFAULT_CATALOGUE.get("account")
    assert account is not None and account is DEFAULT_CATALOGUE["ACCOUNT"]
    field = account.field("cm_customer_uuid__c")
    assert field is not None and field.name == "CM_Customer_UUID__c"
    owner = DEFAULT_CATALOGUE["Contact"].relationship("account")
    assert owner is not None and owner.name == "AccountId"
    assert DEFAULT_CATALOGUE.by_key_prefix("00Q") is DEFAULT_CATALOGUE["Lead"]
    assert DEFAULT_CATALOGUE.get("Nope") is None


def test_every_object_has_the_system_fields_read_only() -> None:
    for sobject in DEFAULT_CATALOGUE:
        for name in SYSTEM:
            field = sobject.field(name)
            assert field is not None, (sobject.name, name)
            assert not field.createable and not field.updateable


@pytest.mark.parametrize(
    ("sobject", "required"),
    [
        ("Account", {"Name"}),
        ("Contact", {"LastName"}),
        ("Lead", {"LastName", "Company"}),
        ("Opportunity", {"Name", "StageName", "CloseDate"}),
        ("Task", set()),
        ("CM_Metric_Snapshot__c", set()),
    ],
)
def test_required_fields(sobject: str, required: set[str]) -> None:
    assert {f.name for f in DEFAULT_CATALOGUE[sobject].fields if f.required} == required


def test_cmsync_keys_are_external_ids() -> None:
    for sobject in ("Task", "Case", "Opportunity"):
        key = DEFAULT_CATALOGUE[sobject].field("CM_Sync_Key__c")
        assert key is not None and key.external_id and key.unique and key.length == 80
    account_uuid = DEFAULT_CATALOGUE["Account"].field("CM_Customer_UUID__c")
    contact_uuid = DEFAULT_CATALOGUE["Contact"].field("CM_Customer_UUID__c")
    assert account_uuid is not None and account_uuid.unique
    assert contact_uuid is not None and contact_uuid.external_id and not contact_uuid.unique
    period = DEFAULT_CATALOGUE["CM_Metric_Snapshot__c"].field("CM_Period_Key__c")
    assert period is not None and period.external_id and period.unique


def test_custom_fields_are_what_an_admin_deploys() -> None:
    deployed = {(o.name, f.name) for o, f in DEFAULT_CATALOGUE.custom_fields()}
    assert ("Account", "CM_Success_Manager__c") in deployed
    assert ("CM_Metric_Snapshot__c", "CM_MRR_Churn_Rate__c") in deployed
    assert all(name.endswith("__c") for _, name in deployed)
    manager = DEFAULT_CATALOGUE["Account"].field("CM_Success_Manager__c")
    assert manager is not None and manager.type is FieldType.REFERENCE
    assert (manager.reference_to, manager.relationship_name) == (("User",), "CM_Success_Manager__r")


def test_a_copy_without_a_field_is_what_an_org_missing_it_answers() -> None:
    missing = DEFAULT_CATALOGUE.without_field("Account", "CM_Customer_UUID__c")
    assert missing["Account"].field("CM_Customer_UUID__c") is None
    assert DEFAULT_CATALOGUE["Account"].field("CM_Customer_UUID__c") is not None
    with pytest.raises(KeyError):
        missing.without_field("Account", "CM_Customer_UUID__c")
    store = RecordStore(missing, lambda: datetime(2026, 11, 24, tzinfo=UTC))
    with pytest.raises(RecordError) as refused:
        store.insert("Account", {"Name": "x", "CM_Customer_UUID__c": "cus_1"})
    assert refused.value.item.code == "INVALID_FIELD"
    query = "SELECT CM_Customer_UUID__c FROM Account"
    with pytest.raises(SoqlError) as unknown:
        bind(parse(query), missing, store.find, store.clock())
    assert unknown.value.code == "INVALID_FIELD"
