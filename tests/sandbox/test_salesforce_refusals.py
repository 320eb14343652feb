"""Refusals of the Salesforce emulator, over TLS, with the bodies pinned.

- A converted Lead cannot be updated: CANNOT_UPDATE_CONVERTED_LEAD, "cannot reference
  converted lead" (Salesforce Help article 000384333; the code is in the REST/SOAP API
  Developer Guide's StatusCode list), unless the user has "View and Edit Converted Leads".
- An External ID value given twice in one sObject Collections upsert fails both records with
  DUPLICATE_VALUE, "Duplicate external id specified: <value>", compared case-insensitively;
  the call's other records are written (REST API Developer Guide, "Upsert Multiple Records
  with Fewer Round-Trips").
- A value its field cannot hold fails the record, naming the field (SOAP API Developer Guide,
  "StatusCode", in Core Data Types Used in API Calls; the REST API answers the same codes,
  "Status Codes and Error Responses"): text longer than the field, STRING_TOO_LONG "<label>:
  data value too large: <value> (max length=<n>)"; a number with more digits before the
  point than precision - scale allows, NUMBER_OUTSIDE_VALID_RANGE "<label>: value outside of
  valid range on numeric field: <value>"; a value a restricted picklist lacks,
  INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST "<label>: bad value for restricted picklist field:
  <value>". A single update answers 400 with the error list; in a collection only that
  record fails (allOrNone false), the others are written.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.serve import LoopThread, Site, start_site
from cmsync.sandbox.tls import SandboxTLS

CONFIG = SalesforceEmulatorConfig(api_version="62.0")
REFUSED = {
    "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
    "message": "cannot reference converted lead",
    "fields": [],
}


@dataclass
class Org:
    emulator: SalesforceEmulator
    http: requests.Session
    base: str
    lead: str  # a converted Lead, made by the system path as convertLead would
    contact: str  # the Contact it was converted into

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.emulator.issue_token()}"}
        return self.http.request(method, self.base + path, json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def start_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[SalesforceEmulatorConfig], Org]]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("refusals-tls"))
    sites: list[Site] = []
    sessions: list[requests.Session] = []

    def start(config: SalesforceEmulatorConfig) -> Org:
        emulator = SalesforceEmulator(SandboxContext(), config)
        site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
        sites.append(site)
        http = requests.Session()
        http.verify, http.trust_env = str(Path(tls.ca_bundle)), False
        sessions.append(http)
        store = emulator.store
        account = store.insert("Account", {"Name": "Converted Co"})
        contact = store.insert("Contact", {"LastName": "Won", "AccountId": account})
        lead = store.insert(
            "Lead",
            {"LastName": "Won", "Company": "Converted Co", "Status": "Closed - Converted",
             "IsConverted": True, "ConvertedDate": "2026-11-01", "ConvertedAccountId": account,
             "ConvertedContactId": contact},
        )  # fmt: skip
        return Org(emulator, http, f"{site.url}/services/data/v62.0", lead, contact)

    yield start
    for session in sessions:
        session.close()
    gc.collect()
    for site in sites:
        sandbox_loop.call(site.stop())


@pytest.fixture(scope="module")
def org(start_org: Callable[[SalesforceEmulatorConfig], Org]) -> Org:
    return start_org(CONFIG)


def _modified(org: Org, record: str) -> Any:
    return org.emulator.store.find(record).values["LastModifiedDate"]  # type: ignore[union-attr]


def test_a_converted_lead_refuses_a_single_update(org: Org) -> None:
    before = _modified(org, org.lead)
    answer = org.call("PATCH", f"/sobjects/Lead/{org.lead}", {"CM_MRR__c": 10})
    assert answer.status_code == 400
    assert answer.json() == [REFUSED]
    # Even a harmless field is refused: the record, not the value, is what is locked.
    assert org.call("PATCH", f"/sobjects/Lead/{org.lead}", {"FirstName": "x"}).json() == [REFUSED]
    assert _modified(org, org.lead) == before
    # An open Lead and the converted Contact are updated as usual.
    open_lead = org.call("POST", "/sobjects/Lead", {"LastName": "Open", "Company": "C"}).json()
    for path in (f"/sobjects/Lead/{open_lead['id']}", f"/sobjects/Contact/{org.contact}"):
        assert org.call("PATCH", path, {"FirstName": "x"}).status_code == 204


def test_a_collection_refuses_each_converted_lead_on_its_own(org: Org) -> None:
    open_lead = org.call("POST", "/sobjects/Lead", {"LastName": "Open", "Company": "C"}).json()
    records = [
        {"attributes": {"type": "Lead"}, "id": org.lead, "CM_MRR__c": 10},
        {"attributes": {"type": "Lead"}, "id": open_lead["id"], "CM_MRR__c": 20},
    ]
    answer = org.call("PATCH", "/composite/sobjects", {"allOrNone": False, "records": records})
    assert answer.status_code == 200
    assert answer.json() == [
        {"success": False, "errors": [{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                                       "message": "cannot reference converted lead",
                                       "fields": []}]},
        {"id": open_lead["id"], "success": True, "errors": []},
    ]  # fmt: skip


def test_an_upsert_that_would_update_a_converted_lead_is_refused(org: Org) -> None:
    org.emulator.store.update("Lead", org.lead, {"CM_Customer_UUID__c": "cus_converted"})
    by_uuid = "/sobjects/Lead/CM_Customer_UUID__c/cus_converted"
    single = org.call("PATCH", by_uuid, {"FirstName": "x"})
    assert (single.status_code, single.json()) == (400, [REFUSED])
    records = [{"attributes": {"type": "Lead"}, "CM_Customer_UUID__c": "cus_converted"}]
    answer = org.call("PATCH", "/composite/sobjects/Lead/CM_Customer_UUID__c", {"records": records})
    [result] = answer.json()
    assert result["success"] is False and result["created"] is False
    assert result["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_with_view_and_edit_converted_leads_the_update_is_allowed(
    start_org: Callable[[SalesforceEmulatorConfig], Org],
) -> None:
    org = start_org(replace(CONFIG, edit_converted_leads=True))
    assert org.call("PATCH", f"/sobjects/Lead/{org.lead}", {"FirstName": "Vi"}).status_code == 204
    records = [{"attributes": {"type": "Lead"}, "id": org.lead, "CM_MRR__c": 10}]
    [result] = org.call("PATCH", "/composite/sobjects", {"records": records}).json()
    assert result == {"id": org.lead, "success": True, "errors": []}
    assert org.emulator.store.find(org.lead).values["FirstName"] == "Vi"  # type: ignore[union-attr]


def test_an_external_id_twice_in_one_upsert_fails_both_and_only_them(org: Org) -> None:
    def task(key: str, subject: str) -> dict[str, Any]:
        return {"attributes": {"type": "Task"}, "CM_Sync_Key__c": key, "Subject": subject}

    records = [task("dup|Key", "first"), task("alone", "kept"), task("DUP|key", "second")]
    answer = org.call(
        "PATCH", "/composite/sobjects/Task/CM_Sync_Key__c", {"allOrNone": False, "records": records}
    )
    assert answer.status_code == 200
    [first, alone, second] = answer.json()
    assert first == {"success": False, "created": False, "errors": [
        {"statusCode": "DUPLICATE_VALUE", "message": "Duplicate external id specified: dup|Key",
         "fields": []}]}  # fmt: skip
    assert second["errors"][0]["message"] == "Duplicate external id specified: DUP|key"
    assert alone["success"] is True and alone["created"] is True
    tasks = org.emulator.store.external_match("Task", "CM_Sync_Key__c", "dup|key")
    assert tasks == []  # neither spelling was written
    assert len(org.emulator.store.external_match("Task", "CM_Sync_Key__c", "alone")) == 1
    # One of them alone is written, and the other spelling then updates that same record.
    once = org.call("PATCH", "/composite/sobjects/Task/CM_Sync_Key__c", {"records": records[:1]})
    again = org.call("PATCH", "/composite/sobjects/Task/CM_Sync_Key__c", {"records": records[2:]})
    assert once.json()[0]["created"] is True and again.json()[0]["created"] is False
    assert once.json()[0]["id"] == again.json()[0]["id"]


FIELD_REFUSALS = [
    ({"CM_Plan__c": "p" * 256}, {
        "errorCode": "STRING_TOO_LONG", "fields": ["CM_Plan__c"],
        "message": f"CM Plan: data value too large: {'p' * 256} (max length=255)"}),
    ({"CM_MRR__c": 1e14}, {
        "errorCode": "NUMBER_OUTSIDE_VALID_RANGE", "fields": ["CM_MRR__c"],
        "message": "CM MRR: value outside of valid range on numeric field: 100000000000000.0"}),
    ({"CM_Lifecycle_Stage__c": "Dormant"}, {
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "fields": ["CM_Lifecycle_Stage__c"],
        "message": "CM Lifecycle Stage: bad value for restricted picklist field: Dormant"}),
]  # fmt: skip


@pytest.mark.parametrize(("body", "error"), FIELD_REFUSALS)
def test_a_value_its_field_cannot_hold_refuses_the_record(
    org: Org, body: dict[str, Any], error: dict[str, Any]
) -> None:
    account = org.emulator.store.insert("Account", {"Name": "Limits Co", "CM_ARR__c": 1.0})
    answer = org.call("PATCH", f"/sobjects/Account/{account}", {**body, "CM_ARR__c": 2.0})
    assert answer.status_code == 400
    assert answer.json() == [error]
    # Nothing of the record was written: the one field sinks the whole update.
    assert org.emulator.store.find(account).values["CM_ARR__c"] == 1.0  # type: ignore[union-attr]

    fine = org.emulator.store.insert("Account", {"Name": "Fine Co"})
    records = [
        {"attributes": {"type": "Account"}, "Id": account, **body},
        {"attributes": {"type": "Account"}, "Id": fine, "CM_ARR__c": 3.0},
    ]
    answer = org.call("PATCH", "/composite/sobjects", {"allOrNone": False, "records": records})
    assert answer.status_code == 200
    refused, written = answer.json()
    assert refused == {"success": False, "errors": [
        {"statusCode": error["errorCode"], "message": error["message"], "fields": error["fields"]}
    ]}  # fmt: skip
    assert written == {"id": fine, "success": True, "errors": []}


def test_the_largest_value_a_field_holds_is_accepted(org: Org) -> None:
    """Currency(16, 2) holds 14 digits before the point; Text(255) 255 characters."""
    account = org.emulator.store.insert("Account", {"Name": "Edge Co"})
    body = {"CM_MRR__c": 99_999_999_999_999.99, "CM_Plan__c": "p" * 255}
    assert org.call("PATCH", f"/sobjects/Account/{account}", body).status_code == 204
