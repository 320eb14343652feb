"""Where the Salesforce emulator is as strict as Salesforce: SOQL it refuses, and request size.

Against the whole sandbox over loopback TLS. SOQL: "COUNT() and COUNT(fieldName)" (no ORDER
BY with COUNT()), "Quoted String Escape Sequences" (SOQL and SOSL Reference), a field selected
twice (INVALID_FIELD "duplicate field selected: Id"), and valid SOQL the sandbox does not
implement, which it must call a sandbox limitation rather than a malformed query. Request
size: help article 000386264 and "Status Codes and Error Responses" (REST API Developer
Guide): the request line and headers together up to 16,384 bytes, 414 when the URI alone is
longer, 431 when the two together are. Then cmsync's side: the dry run's preview looks up
keys whose one query would pass that limit, and a whole pass sends no query the stricter
parser refuses.
"""

from __future__ import annotations

import gc
import http.client
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from cmsync.pipeline.dispatch.preview import build_preview
from cmsync.pipeline.once import run_once
from cmsync.retry import RetryPolicy
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import REQUEST_LIMIT, encoded_length, soql
from cmsync.sandbox.runner import RunningSandbox
from state import OutboxItem, Store, System
from tests.support.invariants import load_world_settings

QUERY_PATH = "/services/data/v{version}/query/"
QUERY_CALLS = "GET /services/data/v{version}/query{slash}"


@pytest.fixture(scope="module")
def sf(full_sandbox: RunningSandbox) -> Iterator[Salesforce]:
    session = requests.Session()
    session.verify = str(full_sandbox.tls.ca_bundle)
    session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would otherwise win
    info = full_sandbox.info["salesforce"]
    yield Salesforce(
        instance_url=info["instance_url"],
        session_id=full_sandbox.salesforce.issue_token(),
        version=info["api_version"],
        session=session,
    )
    session.close()
    gc.collect()  # no response caught in a traceback may keep a socket to the emulator


def refusal(sf: Salesforce, query: str) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(query)
    assert caught.value.status == 400
    [error] = caught.value.content
    assert isinstance(error, dict) and set(error) == {"message", "errorCode"}
    return error


# --- SOQL ----------------------------------------------------------------------------


def test_count_with_order_by_is_malformed(sf: Salesforce) -> None:
    error = refusal(sf, "SELECT COUNT() FROM Account WHERE Name != null ORDER BY Name")
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert error["message"].endswith(
        "ERROR at Row:1:Column:48\nORDER BY cannot be used with COUNT()"
    )
    assert sf.query("SELECT COUNT() FROM Account WHERE Name != null")["totalSize"] > 0


def test_a_field_selected_twice_is_an_invalid_field(sf: Salesforce) -> None:
    error = refusal(sf, "SELECT Id, Name, Id FROM Account")
    assert error == {
        "message": "\nId, Name, Id FROM Account\n          ^\n"  # four tokens either side
        "ERROR at Row:1:Column:18\nduplicate field selected: Id",
        "errorCode": "INVALID_FIELD",
    }
    assert refusal(sf, "SELECT Name, name FROM Account")["message"].endswith(
        "duplicate field selected: name"
    )


def test_every_escape_of_the_reference_reads_as_its_character(sf: Salesforce) -> None:
    name = 'Café\tBar "日" 5% O\'Neil \\ ok'
    created = sf.Account.create({"Name": name})["id"]
    written = r"'Caf\u00e9\TBar \"\u65E5\" 5% O\'Neil \\ ok'"
    [row] = sf.query(f"SELECT Id, Name FROM Account WHERE Name = {written}")["records"]  # noqa: S608
    assert (row["Id"], row["Name"]) == (created, name)
    like = r"'Caf\u00e9\tBar%5\%%'"
    rows = sf.query(f"SELECT Id FROM Account WHERE Name LIKE {like}")["records"]  # noqa: S608
    assert [r["Id"] for r in rows] == [created]


@pytest.mark.parametrize(
    ("literal", "sequence"),
    [(r"'a\qb'", r"\q"), (r"'50\%'", r"\%"), (r"'a\u12'", r"\u"), (r"'a\x41'", r"\x")],
)
def test_any_other_backslash_is_an_illegal_sequence(
    sf: Salesforce, literal: str, sequence: str
) -> None:
    error = refusal(sf, f"SELECT Id FROM Account WHERE Name = {literal}")  # noqa: S608
    assert error["errorCode"] == "MALFORMED_QUERY"
    body = literal[1:-1]
    assert error["message"].endswith(
        f"Invalid string literal '{body}'. Illegal character sequence '{sequence}' in string "
        "literal."
    )


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry", "aggregate function COUNT()"),
        ("SELECT Industry FROM Account GROUP BY Industry HAVING COUNT(Id) > 1", "GROUP BY"),
        ("SELECT SUM(Amount) FROM Opportunity", "aggregate function SUM()"),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Task", "TYPEOF"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subqueries in SELECT"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "subqueries"),
        ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "WITH SECURITY_ENFORCED"),
        ("SELECT Id FROM Account LIMIT 1 FOR VIEW", "FOR VIEW"),
        ("SELECT Id FROM Account LIMIT 1 FOR UPDATE", "FOR UPDATE"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = THIS_FISCAL_QUARTER", "the date literal"),
        ("SELECT FORMAT(Amount) FROM Opportunity", "function FORMAT()"),
        ("SELECT convertCurrency(Amount) FROM Opportunity", "function convertCurrency()"),
        ("SELECT toLabel(StageName) FROM Opportunity", "function toLabel()"),
    ],
)
def test_valid_soql_the_sandbox_does_not_implement_says_so(
    sf: Salesforce, query: str, construct: str
) -> None:
    error = refusal(sf, query)
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert f"The sandbox does not support {construct}" in error["message"]
    assert "unexpected token" not in error["message"]


# --- request size --------------------------------------------------------------------


def raw_get(
    sandbox: RunningSandbox, target: str, headers: dict[str, str]
) -> tuple[int, str, bytes]:
    """GET ``target`` with exactly these headers: the request line and headers as counted."""
    url = urlsplit(sandbox.info["salesforce"]["instance_url"])
    context = ssl.create_default_context(cafile=str(sandbox.tls.ca_bundle))
    connection = http.client.HTTPSConnection(url.hostname or "", url.port, context=context)
    try:
        connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type", ""), answer.read()
    finally:
        connection.close()


def sent_size(target: str, headers: dict[str, str]) -> int:
    line = f"GET {target} HTTP/1.1\r\n"
    return len(line) + sum(len(f"{k}: {v}\r\n") for k, v in headers.items())


def padded_query(sandbox: RunningSandbox, headers: dict[str, str], total: int) -> str:
    """A query target making the request line and ``headers`` exactly ``total`` bytes."""
    path = QUERY_PATH.format(version=sandbox.info["salesforce"]["api_version"])
    head = path + "?q=" + quote_plus("SELECT Id FROM Account WHERE Name = '")  # noqa: S608
    tail = quote_plus("'")
    room = total - sent_size(head + tail, headers)
    return head + "x" * room + tail


def test_up_to_16384_bytes_of_request_line_and_headers_are_served(
    full_sandbox: RunningSandbox,
) -> None:
    headers = {
        "Host": "sandbox",
        "Authorization": "Bearer " + full_sandbox.salesforce.issue_token(),
    }
    target = padded_query(full_sandbox, headers, REQUEST_LIMIT)
    assert sent_size(target, headers) == REQUEST_LIMIT and len(target) > 8_190
    status, _, body = raw_get(full_sandbox, target, headers)
    assert status == 200, body
    assert json.loads(body) == {"totalSize": 0, "done": True, "records": []}


def test_one_byte_more_of_headers_is_431(full_sandbox: RunningSandbox) -> None:
    headers = {
        "Host": "sandbox",
        "Authorization": "Bearer " + full_sandbox.salesforce.issue_token(),
    }
    target = padded_query(full_sandbox, headers, REQUEST_LIMIT)
    headers["Host"] += "1"
    status, content_type, body = raw_get(full_sandbox, target, headers)
    assert (status, content_type.split(";")[0]) == (431, "application/json")
    assert json.loads(body) == [
        {
            "message": "The combined length of the URI and headers exceeds the 16384 byte limit",
            "errorCode": "REQUEST_HEADER_FIELDS_TOO_LARGE",
        }
    ]


def test_a_uri_longer_than_16384_bytes_is_414_whatever_the_session(
    full_sandbox: RunningSandbox,
) -> None:
    headers = {"Host": "sandbox"}  # no session: the size is refused before it is checked
    target = padded_query(full_sandbox, {}, REQUEST_LIMIT + len("GET  HTTP/1.1\r\n") + 1)
    assert len(target) == REQUEST_LIMIT + 1
    status, content_type, body = raw_get(full_sandbox, target, headers)
    assert (status, content_type.split(";")[0]) == (414, "application/json")
    assert json.loads(body) == [
        {
            "message": "The length of the URI exceeds the 16384 byte limit",
            "errorCode": "URI_TOO_LONG",
        }
    ]


# --- cmsync's side -------------------------------------------------------------------


@pytest.fixture
async def gateway(full_sandbox: RunningSandbox) -> AsyncIterator[SalesforceGateway]:
    settings = load_world_settings(full_sandbox.options.directory).salesforce
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    gw = SalesforceGateway(settings, policy=policy, budget=ApiBudget(share=1.0))
    try:
        yield gw
    finally:
        await gw.close()
        gc.collect()


def task_row(key: str, account: str) -> OutboxItem:
    payload = {"Subject": "Churn risk", "Status": "Not Started", "WhatId": account}
    return OutboxItem(
        f"strict|task|{key}", "upsert", System.SALESFORCE, "Task", key, payload,
        f"churn:{key}", key_field="CM_Sync_Key__c",
    )  # fmt: skip


async def test_the_preview_looks_up_keys_one_query_could_not_carry(
    full_sandbox: RunningSandbox, sf: Salesforce, gateway: SalesforceGateway, tmp_path: Path
) -> None:
    # 200 keys of 77 characters (the field holds 80), most of 3 UTF-8 bytes: 9 once encoded
    keys = [f"{i:03d}-" + "日本語キー" * 14 + "-'x" for i in range(200)]
    whole = soql("SELECT Id, CM_Sync_Key__c FROM Task WHERE CM_Sync_Key__c IN {k}", k=keys)
    assert encoded_length(whole) > 7 * REQUEST_LIMIT  # one query would be refused, 414
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    for key in keys[-2:]:  # two exist already, found by the last lookup
        sf.Task.create({"CM_Sync_Key__c": key, "Subject": "Earlier", "WhatId": account})
    with Store.open(tmp_path / "cmsync.db") as store:
        with store.transaction() as tx:
            tx.outbox.enqueue([task_row(k, account) for k in keys])
        full_sandbox.salesforce.stats.reset()
        preview = await build_preview(store, gateway)
    actions = {p.key: p.action for p in preview.records}
    assert actions == dict.fromkeys(keys[:-2], "create") | dict.fromkeys(keys[-2:], "update")
    assert full_sandbox.salesforce.stats.by_endpoint[QUERY_CALLS] >= 8
    assert set(full_sandbox.salesforce.stats.by_status) == {200}


@pytest.mark.slow  # about 4 s; the integration suites' passes meet the same parser anyway
async def test_a_whole_pass_sends_only_queries_the_strict_parser_accepts(
    full_sandbox: RunningSandbox,
) -> None:
    settings = load_world_settings(full_sandbox.options.directory)
    full_sandbox.salesforce.stats.reset()
    report = await run_once(settings, dry_run=True)  # every read of a pass, and the preview's
    assert report.ok, report.summary()
    stats = full_sandbox.salesforce.stats
    assert stats.by_endpoint[QUERY_CALLS] > 0
    assert set(stats.by_status) <= {200, 201, 204}, stats.snapshot()
