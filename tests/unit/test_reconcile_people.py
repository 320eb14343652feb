"""Reconciliation's people, kept on disk until a page of customers asks for its own: the
answers are the query rows they were read from, each customer's people in the order read."""

from __future__ import annotations

from cmsync.config import PersonFieldMap
from cmsync.pipeline.reconcile import _People

CONTACT = PersonFieldMap()
LEAD = PersonFieldMap(mrr="Lead_MRR__c", status="Lead_Status__c")
CONTACT_COLUMNS = ("Id", "CM_Customer_UUID__c", "CM_MRR__c", "CM_Status__c")
LEAD_COLUMNS = ("Id", "CM_Customer_UUID__c", "Lead_MRR__c", "Lead_Status__c")


def _row(record_id: str, uuid: str, mrr: float | None, status: str | None) -> dict[str, object]:
    return {"attributes": {"type": "x"}, "Id": record_id, "CM_Customer_UUID__c": uuid,
            "CM_MRR__c": mrr, "CM_Status__c": status, "Lead_MRR__c": mrr,
            "Lead_Status__c": status}  # fmt: skip


def test_each_customer_gets_its_people_in_the_order_read_with_their_kind_and_fields() -> None:
    people = _People()
    try:
        contacts = people.kind("Contact", CONTACT, CONTACT_COLUMNS)
        leads = people.kind("Lead", LEAD, LEAD_COLUMNS)
        people.add(contacts, [_row("003B", "cus_1", 12.5, "Active"), _row("003A", "cus_2", None,
                                                                          None)])  # fmt: skip
        people.add(contacts, [_row("003C", "cus_1", 0, "Lead")])
        people.add(leads, [_row("00QA", "cus_1", 3, "Active")])

        found = people.get_many(["cus_1", "cus_2", "cus_3"])

        assert set(found) == {"cus_1", "cus_2"}  # a customer nobody carries is not there
        first = found["cus_1"]
        assert [(p.sobject, p.record_id) for p in first] == [
            ("Contact", "003B"), ("Contact", "003C"), ("Lead", "00QA"),
        ]  # fmt: skip
        assert first[0].held == {"Id": "003B", "CM_Customer_UUID__c": "cus_1",
                                 "CM_MRR__c": 12.5, "CM_Status__c": "Active"}  # fmt: skip
        assert first[0].names is CONTACT and first[2].names is LEAD
        assert first[2].held["Lead_MRR__c"] == 3 and "CM_MRR__c" not in first[2].held
        assert found["cus_2"][0].held["CM_MRR__c"] is None  # a null read stays a null
        assert people.get_many(["cus_2"]) == {"cus_2": found["cus_2"]}
    finally:
        people.close()
