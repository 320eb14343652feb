"""Writes Salesforce refuses for what became of a record: merged or deleted Accounts, inactive
owners, validation rules. The emulator over TLS, driven with simple-salesforce.

What is pinned, and where it comes from:

- a merge keeps the winner, re-parents the losers' Contacts, Opportunities, Cases and Tasks to
  it, and deletes the losers, each with ``MasterRecordId`` = the winner, seen only through
  ``queryAll`` (Salesforce Help, "Merge Duplicate Accounts"; SOAP API Developer Guide,
  "merge()"); at most three records merge at once (a winner and two losers);
- a write to a deleted record fails with ``ENTITY_IS_DELETED`` / "entity is deleted": a
  single-record PATCH answers 404 with that error list, a collection's record carries it as its
  ``statusCode`` (SOAP API Developer Guide, "StatusCode"; REST API Developer Guide, "Status
  Codes and Error Responses");
- a Task or Case whose owner is a deactivated user (``IsActive`` false, set through ``PATCH
  /sobjects/User/{Id}``) is refused ``INACTIVE_OWNER_OR_USER``, "operation performed with
  inactive user [Id] as owner of task"; an owner Id that names no user,
  ``INVALID_CROSS_REFERENCE_KEY`` (SOAP API Developer Guide, "StatusCode");
- a validation rule refuses a write with ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` and the rule's
  own error message (Salesforce Help, "Validation Rules"), stood in for by
  ``/__sandbox/reject``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.serve import LoopThread, start_site
from cmsync.sandbox.tls import SandboxTLS

VERSION = "62.0"
CONFIG = SalesforceEmulatorConfig(
    api_version=VERSION,
    client_id="3MVG9merge-test",
    client_secret="secret",
    username="integration@merge-test.example",
    password="pass",
    jwt_public_key_pem=b"",
    token_ttl_seconds=7200,
    daily_api_limit=100_000,
)


@dataclass
class Org:
    emulator: SalesforceEmulator
    url: str
    http: requests.Session
    sf: Salesforce

    def merge(self, body: object) -> requests.Response:
        return self.http.post(self.url + "/__sandbox/merge", json=body, timeout=10)


@pytest.fixture(scope="module")
def org(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("merge-tls"))
    emulator = SalesforceEmulator(SandboxContext(), CONFIG)
    site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
    http = requests.Session()
    http.verify = str(tls.ca_bundle)
    http.trust_env = False
    sf = Salesforce(
        instance_url=site.url, session_id=emulator.issue_token(), version=VERSION, session=http
    )
    yield Org(emulator, site.url, http, sf)
    http.close()
    gc.collect()
    sandbox_loop.call(site.stop())


def _family(sf: Salesforce, name: str) -> dict[str, str]:
    """An Account with one child of each kind that a merge moves."""
    account = sf.Account.create({"Name": name})["id"]
    return {
        "Account": account,
        "Contact": sf.Contact.create({"LastName": name, "AccountId": account})["id"],
        "Opportunity": sf.Opportunity.create(
            {
                "Name": name,
                "StageName": "Prospecting",
                "CloseDate": "2026-12-31",
                "AccountId": account,
            }
        )["id"],
        "Case": sf.Case.create({"Subject": name, "AccountId": account})["id"],
        "Task": sf.Task.create({"Subject": name, "WhatId": account})["id"],
    }


def _parent(sf: Salesforce, sobject: str, record_id: str) -> Any:
    field = "WhatId" if sobject == "Task" else "AccountId"
    return getattr(sf, sobject).get(record_id)[field]


def test_merge_moves_children_and_leaves_the_losers_only_in_query_all(org: Org) -> None:
    winner, first, second = (_family(org.sf, n) for n in ("Keep", "Lose A", "Lose B"))
    answer = org.merge(
        {"object": "Account", "winner": winner["Account"],
         "losers": [first["Account"], second["Account"]]}
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["mergedRecordIds"] == [first["Account"], second["Account"]]

    for family in (winner, first, second):
        for sobject, record_id in family.items():
            if sobject != "Account":
                assert _parent(org.sf, sobject, record_id) == winner["Account"], sobject
    ids = ", ".join(f"'{f['Account']}'" for f in (winner, first, second))
    soql = f"SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE Id IN ({ids})"  # noqa: S608
    assert [r["Id"] for r in org.sf.query(soql)["records"]] == [winner["Account"]]
    every = {r["Id"]: r for r in org.sf.query_all(soql, include_deleted=True)["records"]}
    assert every[winner["Account"]]["IsDeleted"] is False
    assert every[winner["Account"]]["MasterRecordId"] is None
    for loser in (first, second):
        assert every[loser["Account"]]["IsDeleted"] is True
        assert every[loser["Account"]]["MasterRecordId"] == winner["Account"]
    described = {f["name"]: f for f in org.sf.Account.describe()["fields"]}
    master = described["MasterRecordId"]
    assert (master["type"], master["referenceTo"], master["updateable"]) == (
        "reference", ["Account"], False,
    )  # fmt: skip


def test_writes_to_a_merged_loser_fail_with_entity_is_deleted(org: Org) -> None:
    winner, loser = (
        org.sf.Account.create({"Name": "W"})["id"],
        org.sf.Account.create({"Name": "L"})["id"],
    )
    assert org.merge({"object": "Account", "winner": winner, "losers": [loser]}).ok

    with pytest.raises(SalesforceResourceNotFound) as single:
        org.sf.Account.update(loser, {"CM_MRR__c": 10})
    assert single.value.status == 404
    assert single.value.content == [
        {"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
    ]

    results = org.sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, "id": loser, "CM_MRR__c": 10},
            {"attributes": {"type": "Account"}, "id": winner, "CM_MRR__c": 10},
        ]},
    )  # fmt: skip
    assert results[0] == {
        "success": False,
        "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted",
                    "fields": []}],
    }  # fmt: skip
    assert results[1] == {"id": winner, "success": True, "errors": []}
    # A Task still aimed at the loser is refused the same way.
    task = org.sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Task"}, "Subject": "x", "WhatId": loser}]},
    )
    assert task[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize(
    ("losers", "status", "code"),
    [
        (["001000000000000AAA", "001000000000001AAA", "001000000000002AAA"], 400,
         "INVALID_OPERATION"),  # a winner and at most two losers
        (["<winner>"], 400, "INVALID_OPERATION"),
        (["001000000000000AAA"], 404, "NOT_FOUND"),
        (["not-an-id"], 400, "MALFORMED_ID"),
        ([], 400, "JSON_PARSER_ERROR"),
    ],
)  # fmt: skip
def test_bad_merges_are_refused_and_change_nothing(
    org: Org, losers: list[str], status: int, code: str
) -> None:
    winner = org.sf.Account.create({"Name": "Refused"})["id"]
    named = [winner if loser == "<winner>" else loser for loser in losers]
    answer = org.merge({"object": "Account", "winner": winner, "losers": named})
    assert answer.status_code == status, answer.text
    assert answer.json()[0]["errorCode"] == code
    assert org.sf.Account.get(winner)["IsDeleted"] is False


def test_merging_a_deleted_record_is_refused(org: Org) -> None:
    winner, gone = (org.sf.Account.create({"Name": n})["id"] for n in ("Stays", "Gone"))
    org.sf.Account.delete(gone)
    answer = org.merge({"object": "Account", "winner": winner, "losers": [gone]})
    assert answer.status_code == 400
    assert answer.json() == [
        {"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
    ]
    unknown = org.merge({"object": "Widget", "winner": winner, "losers": [gone]})
    assert unknown.status_code == 400


# --- inactive owners and validation rules ----------------------------------------------------


def _collection(org: Org, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = org.sf.restful(
        "composite/sobjects", method=method, json={"allOrNone": False, "records": records}
    )
    return answer


def test_a_task_or_case_for_a_deactivated_user_is_refused(org: Org) -> None:
    rep = org.emulator.store.insert(
        "User", {"LastName": "Gone", "Email": "gone@x.example", "Username": "gone@x.example"}
    )
    account = org.sf.Account.create({"Name": "Owned"})["id"]
    org.sf.User.update(rep, {"IsActive": False})  # deactivating a user is a plain REST update
    assert org.sf.User.get(rep)["IsActive"] is False

    task = {"attributes": {"type": "Task"}, "Subject": "Call", "WhatId": account, "OwnerId": rep}
    case = {"attributes": {"type": "Case"}, "Subject": "Risk", "AccountId": account,
            "OwnerId": rep}  # fmt: skip
    free = {"attributes": {"type": "Task"}, "Subject": "Call", "WhatId": account}
    results = _collection(org, "POST", [task, case, free])
    assert results[0] == {
        "success": False,
        "errors": [{"statusCode": "INACTIVE_OWNER_OR_USER",
                    "message": f"operation performed with inactive user [{rep}] as owner of task",
                    "fields": []}],
    }  # fmt: skip
    assert results[1]["errors"][0]["statusCode"] == "INACTIVE_OWNER_OR_USER"
    assert results[2]["success"] is True  # no owner given: the integration user owns it

    nobody = "005" + "0" * 12 + "AAA"
    unknown = _collection(org, "POST", [{**task, "OwnerId": nobody}])
    assert unknown[0]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"

    org.sf.User.update(rep, {"IsActive": True})
    assert _collection(org, "POST", [task])[0]["success"] is True


def test_rejected_records_fail_every_update_until_lifted(org: Org) -> None:
    doomed, fine = (org.sf.Account.create({"Name": n})["id"] for n in ("Ruled", "Free"))
    rule = {"ids": [doomed], "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "MRR cannot be set on a partner account"}  # fmt: skip
    answer = org.http.post(org.url + "/__sandbox/reject", json=rule, timeout=10)
    assert answer.status_code == 200, answer.text

    with pytest.raises(SalesforceMalformedRequest) as single:
        org.sf.Account.update(doomed, {"CM_MRR__c": 5})
    assert single.value.status == 400
    assert single.value.content == [
        {"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
         "message": "MRR cannot be set on a partner account", "fields": []}
    ]  # fmt: skip
    results = _collection(
        org,
        "PATCH",
        [{"attributes": {"type": "Account"}, "id": i, "CM_MRR__c": 5} for i in (doomed, fine)],
    )
    assert results[0]["errors"] == [
        {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
         "message": "MRR cannot be set on a partner account", "fields": []}
    ]  # fmt: skip
    assert results[1]["success"] is True

    bad = org.http.post(org.url + "/__sandbox/reject", json={"ids": "x"}, timeout=10)
    assert bad.status_code == 400
    assert org.http.delete(org.url + "/__sandbox/reject", timeout=10).json() == {"rejected": {}}
    org.sf.Account.update(doomed, {"CM_MRR__c": 5})
    assert org.sf.Account.get(doomed)["CM_MRR__c"] == 5
