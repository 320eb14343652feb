"""SOQL semantics over the sandbox store: binding errors, comparisons, dates, order, projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.soql import soql
from cmsync.sandbox.salesforce.soql import SoqlError, parse
from cmsync.sandbox.salesforce.soql.binder import bind
from cmsync.sandbox.salesforce.soql.evaluate import project, run
from cmsync.sandbox.salesforce.store import RecordStore

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def store() -> RecordStore:
    clock = [NOW - timedelta(days=10)]
    store = RecordStore(DEFAULT_CATALOGUE, lambda: clock[0])
    store.user_id = store.insert(
        "User", {"LastName": "Integration", "Email": "i@x.example", "Username": "i@x.example"}
    )
    rep = store.insert(
        "User", {"FirstName": "Ann", "LastName": "Rep", "Email": "ann@x.example",
                 "Username": "ann@x.example"},
    )  # fmt: skip
    acme = store.insert(
        "Account", {"Name": "Acme", "OwnerId": rep, "CM_MRR__c": 100, "CM_Customer_UUID__c": "c1"}
    )
    store.insert("Account", {"Name": "acme labs", "CM_MRR__c": 50, "Website": "https://a.example"})
    store.insert("Account", {"Name": "50% Off Ltd", "CM_Customer_UUID__c": "C2"})
    clock[0] = NOW - timedelta(hours=1)
    store.insert("Account", {"Name": "Zeta", "CM_MRR__c": 75, "Website": "https://z.example"})
    gone = store.insert("Account", {"Name": "Gone"})
    store.delete("Account", gone)
    store.insert("Contact", {"LastName": "Lee", "AccountId": acme, "Email": "Lee@Acme.example"})
    store.insert("Contact", {"LastName": "Orphan"})
    store.insert("Opportunity", {"Name": "o1", "StageName": "Closed Won",
                                 "CloseDate": "2026-11-20", "AccountId": acme})  # fmt: skip
    store.insert("Opportunity", {"Name": "o2", "StageName": "Prospecting",
                                 "CloseDate": "2026-12-20"})  # fmt: skip
    store.insert("Task", {"Subject": "Call", "WhatId": acme})
    return store


def rows(store: RecordStore, query: str, deleted: bool = False) -> list[dict[str, Any]]:
    plan = bind(parse(query), store.catalogue, store.find, NOW)
    found = run(plan, store, include_deleted=deleted)
    out = [project(plan, r, store, "62.0") for r in found]
    for row in out:
        row.pop("attributes")
    return out


def names(store: RecordStore, query: str, deleted: bool = False) -> list[str]:
    return [r["Name"] for r in rows(store, query, deleted)]


def refusal(store: RecordStore, query: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        bind(parse(query), store.catalogue, store.find, NOW)
    return caught.value


def test_text_equality_is_case_insensitive(store: RecordStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE Name = 'ACME'") == ["Acme"]
    assert names(store, "SELECT Name FROM Account WHERE CM_Customer_UUID__c = 'c2'") == [
        "50% Off Ltd"
    ]


def test_not_equal_and_not_in_include_nulls(store: RecordStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE CM_MRR__c != 100") == [
        "acme labs", "50% Off Ltd", "Zeta",
    ]  # fmt: skip
    assert names(store, "SELECT Name FROM Account WHERE Website NOT IN ('https://a.example')") == [
        "Acme", "50% Off Ltd", "Zeta",
    ]  # fmt: skip
    assert names(store, "SELECT Name FROM Account WHERE Website = null") == ["Acme", "50% Off Ltd"]


def test_like(store: RecordStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE Name LIKE 'acme%'") == ["Acme", "acme labs"]
    assert names(store, "SELECT Name FROM Account WHERE Name LIKE '_eta'") == ["Zeta"]
    assert names(store, r"SELECT Name FROM Account WHERE Name LIKE '50\% %'") == ["50% Off Ltd"]
    assert names(store, r"SELECT Name FROM Account WHERE Name LIKE '5\%%'") == []


def test_numbers_and_boolean_logic(store: RecordStore) -> None:
    query = (
        "SELECT Name FROM Account WHERE (CM_MRR__c >= 75 OR Name = 'Zeta') AND NOT Name = 'Acme'"
    )
    assert names(store, query) == ["Zeta"]


def test_ids_match_in_15_or_18_characters(store: RecordStore) -> None:
    acme = rows(store, "SELECT Id FROM Account WHERE Name = 'Acme'")[0]["Id"]
    assert names(store, soql("SELECT Name FROM Account WHERE Id = {i}", i=acme[:15])) == ["Acme"]
    by_list = soql("SELECT Name FROM Account WHERE Id IN {i}", i=[acme.lower()])
    assert names(store, by_list) == ["Acme"]
    by_parent = soql("SELECT LastName FROM Contact WHERE AccountId = {i}", i=acme)
    assert rows(store, by_parent) == [{"LastName": "Lee"}]


def test_date_literals_follow_the_clock(store: RecordStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE CreatedDate = TODAY") == ["Zeta"]
    assert names(store, "SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:3") == ["Zeta"]
    assert len(names(store, "SELECT Name FROM Account WHERE CreatedDate < YESTERDAY")) == 3
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate = LAST_N_DAYS:7") == ["o1"]
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate > TODAY") == ["o2"]
    stamp = "SELECT Name FROM Account WHERE CreatedDate > 2026-11-24T14:00:00Z"
    assert names(store, stamp) == ["Zeta"]


def test_order_by_with_nulls_and_case(store: RecordStore) -> None:
    assert names(store, "SELECT Name FROM Account ORDER BY CM_MRR__c") == [
        "50% Off Ltd", "acme labs", "Zeta", "Acme",
    ]  # fmt: skip
    assert names(store, "SELECT Name FROM Account ORDER BY CM_MRR__c DESC") == [
        "Acme", "Zeta", "acme labs", "50% Off Ltd",
    ]  # fmt: skip
    assert names(store, "SELECT Name FROM Account ORDER BY CM_MRR__c ASC NULLS LAST LIMIT 1") == [
        "acme labs"
    ]
    assert names(store, "SELECT Name FROM Account ORDER BY Name") == [
        "50% Off Ltd", "Acme", "acme labs", "Zeta",
    ]  # fmt: skip
    assert names(store, "SELECT Name FROM Account ORDER BY Name DESC LIMIT 2 OFFSET 1") == [
        "acme labs", "Acme",
    ]  # fmt: skip


def test_deleted_records_only_in_query_all(store: RecordStore) -> None:
    query = "SELECT Name FROM Account WHERE Name = 'Gone'"
    assert names(store, query) == []
    assert rows(store, "SELECT Name, IsDeleted FROM Account WHERE Name = 'Gone'", True) == [
        {"Name": "Gone", "IsDeleted": True}
    ]


def test_parent_fields_nest_and_null_parents_are_null(store: RecordStore) -> None:
    found = rows(
        store,
        "SELECT LastName, Account.Name, Account.Owner.Email FROM Contact ORDER BY LastName",
    )
    assert found[0]["Account"]["Name"] == "Acme"
    assert found[0]["Account"]["Owner"]["Email"] == "ann@x.example"
    assert found[0]["Account"]["Owner"]["attributes"]["type"] == "User"
    assert list(found[0]) == ["LastName", "Account"]
    assert found[1] == {"LastName": "Orphan", "Account": None}
    filtered = "SELECT LastName FROM Contact WHERE Account.Owner.FirstName = 'ann'"
    assert rows(store, filtered) == [{"LastName": "Lee"}]


def test_polymorphic_relationships_read_the_name_object(store: RecordStore) -> None:
    [task] = rows(store, "SELECT Subject, What.Name, What.Type FROM Task")
    assert task["What"]["Name"] == "Acme" and task["What"]["Type"] == "Account"


def test_derived_fields_are_queryable(store: RecordStore) -> None:
    query = "SELECT Name, IsWon, IsClosed, Probability FROM Opportunity ORDER BY Name"
    assert rows(store, query) == [
        {"Name": "o1", "IsWon": True, "IsClosed": True, "Probability": 100.0},
        {"Name": "o2", "IsWon": False, "IsClosed": False, "Probability": 10.0},
    ]


def test_the_same_field_through_different_paths_is_not_a_duplicate(store: RecordStore) -> None:
    query = "SELECT Id, AccountId, Account.Id, Name, Account.Name FROM Contact"
    plan = bind(parse(query), store.catalogue, store.find, NOW)
    assert plan.select is not None and len(plan.select) == 5


def test_values_serialize_like_the_api(store: RecordStore) -> None:
    [row] = rows(store, "SELECT CreatedDate, CloseDate FROM Opportunity WHERE Name = 'o1'")
    assert row == {"CreatedDate": "2026-11-24T14:30:00.000+0000", "CloseDate": "2026-11-20"}


@pytest.mark.parametrize(
    ("query", "code", "detail"),
    [
        ("SELECT Id FROM Acount", "INVALID_TYPE", "sObject type 'Acount' is not supported."),
        ("SELECT Nme FROM Account", "INVALID_FIELD", "No such column 'Nme' on entity 'Account'."),
        ("SELECT Acount.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship"),
        ("SELECT Account.Nme FROM Contact", "INVALID_FIELD", "No such column 'Nme' on entity"),
        ("SELECT What.Email FROM Task", "INVALID_FIELD", "on entity 'Name'"),
        (
            "SELECT Id FROM Account WHERE CM_MRR__c = '5'",
            "MALFORMED_QUERY",
            "field 'CM_MRR__c' must be of type double and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "MALFORMED_QUERY",
            "field 'Name' must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2026-01-01",
            "MALFORMED_QUERY",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z",
            "MALFORMED_QUERY",
            "must be of type date and",
        ),
        ("SELECT Id FROM Account WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID"),
        ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        ("SELECT Id FROM Account ORDER BY Description", "INVALID_FIELD", "can not be sorted"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "offset"),
        # a field selected twice, named as the second mention writes it, in any spelling
        ("SELECT Id, Name, Id FROM Account", "INVALID_FIELD", "duplicate field selected: Id"),
        ("SELECT Name, NAME FROM Account", "INVALID_FIELD", "duplicate field selected: NAME"),
        ("SELECT Name, Account.Name FROM Account", "INVALID_FIELD", "selected: Account.Name"),
        ("SELECT Account.Name, account.name FROM Contact", "INVALID_FIELD", "account.name"),
    ],
)
def test_what_binding_refuses(store: RecordStore, query: str, code: str, detail: str) -> None:
    error = refusal(store, query)
    assert error.code == code
    assert detail in error.message(query)
