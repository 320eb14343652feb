"""The Salesforce emulator over TLS, driven by simple-salesforce unmodified (and plain requests
for the token endpoint, which simple-salesforce only reaches on *.salesforce.com)."""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.faults import FaultInjector, FaultProfile
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.serve import LoopThread, Site, start_site
from cmsync.sandbox.tls import SandboxTLS

VERSION = "62.0"
ACCOUNTS = 2150  # more than one 2,000-row page
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
CONFIG = SalesforceEmulatorConfig(
    api_version=VERSION,
    client_id="3MVG9test-consumer-key",
    client_secret="test-consumer-secret",
    username="integration@cmsync-test.example",
    password="s3cret-pass",
    jwt_public_key_pem=_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
    token_ttl_seconds=7200,
    daily_api_limit=100_000,
)


@dataclass
class Org:
    ctx: SandboxContext
    emulator: SalesforceEmulator
    url: str
    ca_bundle: Path
    sessions: list[requests.Session] = field(default_factory=list)  # closed at teardown

    def http(self) -> requests.Session:
        session = requests.Session()
        session.verify = str(self.ca_bundle)
        session.trust_env = False  # REQUESTS_CA_BUNDLE on this machine would otherwise win
        self.sessions.append(session)
        return session

    def client(self, token: str | None = None) -> Salesforce:
        return Salesforce(
            instance_url=self.url,
            session_id=token or self.emulator.issue_token(),
            version=VERSION,
            session=self.http(),
        )

    def advance_clock(self, seconds: float) -> None:
        answer = self.http().post(
            self.url + "/__sandbox/clock", json={"advance_seconds": seconds}, timeout=10
        )
        answer.raise_for_status()

    def token(self, **form: str) -> requests.Response:
        return self.http().post(self.url + "/services/oauth2/token", data=form, timeout=10)


@pytest.fixture(scope="module")
def start_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Org]]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("salesforce-tls"))
    sites: list[Site] = []
    orgs: list[Org] = []

    def start(
        config: SalesforceEmulatorConfig = CONFIG, faults: FaultInjector | None = None
    ) -> Org:
        ctx = SandboxContext(faults=faults or FaultInjector())
        emulator = SalesforceEmulator(ctx, config)
        site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
        sites.append(site)
        orgs.append(Org(ctx, emulator, site.url, tls.ca_bundle))
        return orgs[-1]

    yield start
    for org in orgs:
        for session in org.sessions:
            session.close()
    # Responses caught in exception tracebacks keep their sockets open until collected; the
    # server must see them close before it stops, or its TLS transports outlive the loop.
    gc.collect()
    for site in sites:
        sandbox_loop.call(site.stop())


@pytest.fixture(scope="module")
def org(start_org: Callable[..., Org]) -> Org:
    org = start_org()
    store = org.emulator.store
    owner = store.insert(
        "User", {"FirstName": "Rita", "LastName": "Rep", "Email": "rita@acme.example",
                 "Username": "rita@acme.example"},
    )  # fmt: skip
    first = store.insert(
        "Account", {"Name": "Acme Corp", "OwnerId": owner, "Website": "https://acme.example"}
    )
    for i in range(1, ACCOUNTS):
        store.insert("Account", {"Name": f"Account {i:05d}", "BillingCountry": "DE"})
    ann = {"FirstName": "Ann", "LastName": "O'Hara", "AccountId": first,
           "Email": "ann@acme.example", "CM_Customer_UUID__c": "cus_shared"}  # fmt: skip
    store.insert("Contact", ann)
    store.insert("Contact", {"LastName": "Twin", "CM_Customer_UUID__c": "cus_shared"})
    converted = {"LastName": "Converted", "Company": "Acme", "IsConverted": True,
                 "ConvertedAccountId": first, "ConvertedDate": "2026-11-01"}  # fmt: skip
    store.insert("Lead", converted)  # a read-only field set by seeding, as the runner does
    return org


@pytest.fixture(scope="module")
def sf(org: Org) -> Salesforce:
    return org.client()


def content(error: Exception) -> list[dict[str, Any]]:
    body = getattr(error, "content", None)
    assert isinstance(body, list), body
    return body


# --- query ---------------------------------------------------------------------------


def test_query_returns_records_with_attributes_and_nested_parents(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT Id, Name, Account.Name, Account.Owner.Email FROM Contact "
        "WHERE Email = 'ANN@acme.example'"
    )
    assert result["totalSize"] == 1 and result["done"] is True
    [record] = result["records"]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v{VERSION}/sobjects/Contact/{record['Id']}",
    }
    assert record["Name"] == "Ann O'Hara"
    assert record["Account"]["Name"] == "Acme Corp"
    assert record["Account"]["Owner"]["Email"] == "rita@acme.example"
    orphan = sf.query("SELECT LastName, Account.Name FROM Contact WHERE LastName = 'Twin'")
    assert orphan["records"][0]["Account"] is None


def test_query_all_follows_next_records_url_past_2000(sf: Salesforce) -> None:
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
    assert (first["totalSize"], first["done"], len(first["records"])) == (ACCOUNTS, False, 2000)
    assert re.fullmatch(
        rf"/services/data/v{VERSION}/query/01g[A-Za-z0-9]{{15}}-2000", first["nextRecordsUrl"]
    )
    everything = sf.query_all("SELECT Id, Name FROM Account ORDER BY Name")
    assert everything["totalSize"] == ACCOUNTS
    assert len({r["Id"] for r in everything["records"]}) == ACCOUNTS
    assert everything["records"][0]["Name"] == "Account 00001"
    small = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(small["records"]) == 500


def test_count_and_query_all_with_deleted_rows(sf: Salesforce) -> None:
    assert sf.query("SELECT COUNT() FROM Account WHERE BillingCountry = 'DE'") == {
        "totalSize": ACCOUNTS - 1, "done": True, "records": [],
    }  # fmt: skip
    doomed = sf.Lead.create({"LastName": "Doomed", "Company": "Gone Inc"})["id"]
    sf.Lead.delete(doomed)
    query = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{doomed}'"  # noqa: S608 (an Id)
    assert sf.query(query)["totalSize"] == 0
    assert sf.query_all(query, include_deleted=True)["records"][0]["IsDeleted"] is True


@pytest.mark.parametrize(
    ("soql", "code", "detail"),
    [
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE Name = 'x' OR", "MALFORMED_QUERY", "ERROR at Row:1"),
        ("SELECT Nope FROM Account", "INVALID_FIELD", "No such column 'Nope' on entity 'Account'"),
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported"),
    ],
)
def test_bad_queries_raise_malformed_request(
    sf: Salesforce, soql: str, code: str, detail: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    [error] = content(caught.value)
    assert error["errorCode"] == code
    assert detail in error["message"]


# --- sObjects ------------------------------------------------------------------------


def test_create_retrieve_update_delete(sf: Salesforce) -> None:
    created = sf.Contact.create({"FirstName": "Bo", "LastName": "Diddley"})
    assert created["success"] is True and created["errors"] == []
    record_id = created["id"]
    assert record_id.startswith("003") and len(record_id) == 18
    assert sf.Contact.update(record_id, {"Title": "CTO", "Email": "bo@d.example"}) == 204
    fetched = sf.Contact.get(record_id)
    assert (fetched["Name"], fetched["Title"], fetched["CM_MRR__c"]) == ("Bo Diddley", "CTO", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", fetched["CreatedDate"])
    assert sf.Contact.get(record_id[:15], params={"fields": "Id,title"}) == {
        "attributes": fetched["attributes"], "Id": record_id, "Title": "CTO",
    }  # fmt: skip
    assert sf.Contact.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(record_id)


@pytest.mark.parametrize(
    ("sobject", "body", "code"),
    [
        ("Opportunity", {"Name": "No stage"}, "REQUIRED_FIELD_MISSING"),
        ("Account", {"Name": "x", "Bogus__c": 1}, "INVALID_FIELD"),
        ("Opportunity", {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-01",
                         "IsWon": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ("Account", {"Name": "x" * 300}, "STRING_TOO_LONG"),
        ("Account", {"Name": "x", "CM_MRR__c": "many"}, "JSON_PARSER_ERROR"),
        ("Contact", {"LastName": "x", "AccountId": "001xx"}, "MALFORMED_ID"),
        ("Account", {"Name": "x", "OwnerId": "005Dn0000000999IAA"}, "INVALID_CROSS_REFERENCE_KEY"),
    ],
)  # fmt: skip
def test_invalid_writes_are_refused_with_real_codes(
    sf: Salesforce, sobject: str, body: dict[str, Any], code: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        getattr(sf, sobject).create(body)
    assert content(caught.value)[0]["errorCode"] == code


def test_unknown_objects_and_bad_ids_are_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Nonexistent__c.create({"Name": "x"})
    assert content(caught.value) == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get("not-an-id")
    assert "Provided external ID field does not exist" in content(caught.value)[0]["message"]


def test_upsert_creates_then_updates_by_external_id(sf: Salesforce) -> None:
    created = sf.Task.upsert("CM_Sync_Key__c/welcome-1", {"Subject": "Welcome call"}, True)
    assert created.status_code == 201
    body = created.json()
    assert body["created"] is True and body["success"] is True
    again = sf.Task.upsert("CM_Sync_Key__c/welcome-1", {"Subject": "Welcome call (2)"}, True)
    assert again.status_code == 200
    assert again.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    fetched = sf.Task.get_by_custom_id("CM_Sync_Key__c", "welcome-1")
    assert (fetched["Id"], fetched["Subject"]) == (body["id"], "Welcome call (2)")


def test_upsert_on_a_shared_value_answers_300(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Contact.upsert("CM_Customer_UUID__c/cus_shared", {"Title": "CEO"})
    urls = caught.value.content
    assert isinstance(urls, list) and len(urls) == 2
    assert all(u.startswith(f"/services/data/v{VERSION}/sobjects/Contact/003") for u in urls)
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.upsert("LastName/Twin", {"Title": "CEO"})


def test_describe(sf: Salesforce) -> None:
    described = sf.Account.describe()
    assert described["name"] == "Account" and described["keyPrefix"] == "001"
    fields = {f["name"]: f for f in described["fields"]}
    uuid = fields["CM_Customer_UUID__c"]
    assert (uuid["type"], uuid["length"], uuid["externalId"], uuid["unique"], uuid["custom"]) == (
        "string", 64, True, True, True,
    )  # fmt: skip
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    stages = [p["value"] for p in fields["CM_Lifecycle_Stage__c"]["picklistValues"]]
    assert stages == ["Lead", "Trial", "New", "Active", "At Risk", "Churned"]
    assert fields["CM_MRR__c"]["type"] == "currency" and fields["CM_MRR__c"]["scale"] == 2
    names = {s["name"]: s for s in sf.describe()["sobjects"]}
    assert names["CM_Metric_Snapshot__c"]["custom"] is True
    assert {"Account", "Contact", "Lead", "Opportunity", "Task", "Case", "User"} <= set(names)
    assert sf.Opportunity.metadata()["objectDescribe"]["keyPrefix"] == "006"


# --- sObject Collections -------------------------------------------------------------


def test_collections_create_with_partial_failure(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Coll One"},
                {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
                {"attributes": {"type": "Case"}, "Subject": "Help", "Origin": "Web"},
            ],
        },
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1] == {
        "success": False,
        "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                    "message": "Required fields are missing: [LastName]",
                    "fields": ["LastName"]}],
    }  # fmt: skip
    assert results[0]["id"].startswith("001") and results[2]["id"].startswith("500")


def test_collections_all_or_none_rolls_everything_back(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Atomic One"},
                {"attributes": {"type": "Account"}, "Name": "Atomic Two", "Bad__c": 1},
            ],
        },
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Atomic%'")["totalSize"] == 0


def test_collections_update_upsert_and_delete(sf: Salesforce) -> None:
    batch = [{"attributes": {"type": "Account"}, "Name": f"Batch {i}"} for i in range(3)]
    ids = [
        r["id"] for r in sf.restful("composite/sobjects", method="POST", json={"records": batch})
    ]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [
            {"attributes": {"type": "Account"}, "id": ids[0], "Industry": "Banking"},
            {"attributes": {"type": "Account"}, "id": "001Dn0000000zzzIAA", "Name": "Ghost"},
            {"attributes": {"type": "Account"}, "Name": "No id"},
        ]},
    )  # fmt: skip
    assert [r["success"] for r in updated] == [True, False, False]
    assert updated[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert sf.Account.get(ids[0])["Industry"] == "Banking"

    records = [{"attributes": {"type": "Task"}, "CM_Sync_Key__c": k, "Subject": k}
               for k in ("batch-a", "batch-b")]  # fmt: skip
    first = sf.restful("composite/sobjects/Task/CM_Sync_Key__c", method="PATCH",
                       json={"allOrNone": False, "records": records})  # fmt: skip
    second = sf.restful("composite/sobjects/Task/CM_Sync_Key__c", method="PATCH",
                        json={"allOrNone": False, "records": records})  # fmt: skip
    assert [r["created"] for r in first] == [True, True]
    assert [r["created"] for r in second] == [False, False]
    assert [r["id"] for r in first] == [r["id"] for r in second]

    fetched = sf.restful(
        "composite/sobjects/Account", params={"ids": ",".join(ids), "fields": "Id,Name"}
    )
    assert [r["Name"] for r in fetched] == ["Batch 0", "Batch 1", "Batch 2"]
    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": ",".join(ids[:2]), "allOrNone": "false"},
    )
    assert [r["success"] for r in deleted] == [True, True]
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": ids[0]})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_collections_refuse_more_than_200_records(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"Big {i}"} for i in range(450)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert content(caught.value)[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Big %'")["totalSize"] == 0
    for start in range(0, 450, 200):
        chunk = sf.restful(
            "composite/sobjects", method="POST", json={"records": records[start : start + 200]}
        )
        assert all(r["success"] for r in chunk)
    assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Big %'")["totalSize"] == 450


def _locked_positions(org: Org) -> list[int]:
    records = [
        {"attributes": {"type": "Task"}, "CM_Sync_Key__c": f"lock-{i}", "Subject": "x"}
        for i in range(100)
    ]
    results = org.client().restful(
        "composite/sobjects/Task/CM_Sync_Key__c", method="PATCH", json={"records": records}
    )
    locked = [i for i, r in enumerate(results) if not r["success"]]
    for i in locked:
        [error] = results[i]["errors"]
        assert error["statusCode"] == "UNABLE_TO_LOCK_ROW"
        assert error["message"].startswith("unable to obtain exclusive access to this record")
    return locked


def test_lock_row_faults_are_deterministic_from_the_seed(start_org: Callable[..., Org]) -> None:
    first = _locked_positions(start_org(faults=FaultInjector("locks", seed=11)))
    again = _locked_positions(start_org(faults=FaultInjector("locks", seed=11)))
    other = _locked_positions(start_org(faults=FaultInjector("locks", seed=12)))
    assert first == again
    assert 0 < len(first) < 100
    assert other != first


# --- limits, sessions, faults --------------------------------------------------------


def test_limit_info_header_and_limits_resource(org: Org) -> None:
    client = org.client()
    client.query("SELECT Id FROM User LIMIT 1")
    usage = client.api_usage["api-usage"]
    assert usage.total == 100_000 and usage.used >= 1
    limits = client.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - usage.used - 1


def test_limits_needs_view_setup_the_header_does_not(start_org: Callable[..., Org]) -> None:
    # REST API Developer Guide, "Limits": /limits needs "View Setup and Configuration";
    # "Limit Info Header": Sforce-Limit-Info is on every answer, refusals included here.
    org = start_org(replace(CONFIG, view_setup=False))
    client = org.client()
    client.query("SELECT Id FROM User LIMIT 1")
    assert tuple(client.api_usage["api-usage"]) == (1, 100_000)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        client.limits()
    assert caught.value.status == 403
    assert content(caught.value) == [
        {
            "message": "Insufficient Privileges: the View Setup and Configuration permission "
            "is required",
            "errorCode": "INSUFFICIENT_ACCESS",
        }
    ]
    raw = org.http().get(
        f"{org.url}/services/data/v{VERSION}/limits",
        headers={"Authorization": "Bearer " + org.emulator.issue_token()},
        timeout=10,
    )
    assert raw.status_code == 403 and raw.headers["Sforce-Limit-Info"] == "api-usage=3/100000"


def test_daily_limit_then_reset_at_midnight(start_org: Callable[..., Org]) -> None:
    org = start_org(replace(CONFIG, daily_api_limit=3, token_ttl_seconds=3 * 86400))
    client = org.client()
    for used in (1, 2, 3):
        client.query("SELECT COUNT() FROM Account")
        assert tuple(client.api_usage["api-usage"]) == (used, 3)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        client.query("SELECT COUNT() FROM Account")
    assert content(caught.value) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    now = org.ctx.clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    org.advance_clock((midnight - now).total_seconds() + 1)
    client.query("SELECT COUNT() FROM Account")
    assert tuple(client.api_usage["api-usage"]) == (1, 3)
    org.http().post(org.url + "/__sandbox/faults", json={"profile": "budget"}, timeout=10)
    assert client.limits()["DailyApiRequests"]["Max"] == 300


def test_tokens_expire_on_the_emulated_clock(start_org: Callable[..., Org]) -> None:
    org = start_org()
    client = org.client()
    client.query("SELECT COUNT() FROM User")
    org.advance_clock(CONFIG.token_ttl_seconds + 1)
    with pytest.raises(SalesforceExpiredSession) as caught:
        client.query("SELECT COUNT() FROM User")
    assert content(caught.value) == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    with pytest.raises(SalesforceExpiredSession):
        org.client("00Dbogus!token").query("SELECT COUNT() FROM User")


def test_token_expiry_and_server_error_faults(start_org: Callable[..., Org]) -> None:
    expiring = start_org(faults=FaultInjector(FaultProfile("always-expire", token_expiry=1.0)))
    with pytest.raises(SalesforceExpiredSession):
        expiring.client().query("SELECT COUNT() FROM User")
    failing = start_org(faults=FaultInjector(FaultProfile("always-fail", server_error=1.0)))
    with pytest.raises(SalesforceGeneralError) as caught:
        failing.client().query("SELECT COUNT() FROM User")
    assert caught.value.status in (500, 503)
    assert content(caught.value)[0]["errorCode"] in ("UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE")


def test_versions_and_unknown_versions(org: Org, sf: Salesforce) -> None:
    versions = org.http().get(org.url + "/services/data/", timeout=10).json()
    assert versions[-1] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}
    other = org.http().get(
        org.url + "/services/data/v58.0/limits",
        headers={"Authorization": "Bearer " + org.emulator.issue_token()},
        timeout=10,
    )
    assert other.status_code == 404 and other.json()[0]["errorCode"] == "NOT_FOUND"
    assert "sobjects" in sf.restful("")


# --- logins --------------------------------------------------------------------------


PRODUCTION_AUD = "https://login.salesforce.com"
SANDBOX_AUD = "https://test.salesforce.com"
AUDIENCE_INVALID = {"error": "invalid_grant", "error_description": "audience is invalid"}


def _assertion(**claims: Any) -> str:
    body = {
        "iss": CONFIG.client_id, "sub": CONFIG.username, "aud": PRODUCTION_AUD,
        "exp": int(time.time()) + 120,
    }  # fmt: skip
    body.update(claims)
    return jwt.encode(body, PRIVATE_PEM, algorithm="RS256")


def test_jwt_bearer_login(org: Org) -> None:
    answer = org.token(grant_type=JWT_GRANT, assertion=_assertion(aud=PRODUCTION_AUD))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope",
    }  # fmt: skip
    assert body["instance_url"] == org.url and body["token_type"] == "Bearer"
    assert body["id"].startswith(org.url + "/id/00D")
    assert org.client(body["access_token"]).query("SELECT COUNT() FROM User")["totalSize"] >= 1


# Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": the audience
# is https://login.salesforce.com for production and Developer Edition orgs,
# https://test.salesforce.com for sandboxes, never the org's My Domain (forcedotcom/sfdx-core,
# src/util/sfdcUrl.ts, getJwtAudienceUrl, signs the same way).
@pytest.mark.parametrize(
    ("kind", "accepted", "refused"),
    [("production", PRODUCTION_AUD, SANDBOX_AUD), ("sandbox", SANDBOX_AUD, PRODUCTION_AUD)],
)
def test_jwt_audience_is_the_org_kinds_login_host_never_its_own_url(
    start_org: Callable[..., Org], kind: str, accepted: str, refused: str
) -> None:
    org = start_org(replace(CONFIG, org_kind=kind))
    ok = org.token(grant_type=JWT_GRANT, assertion=_assertion(aud=accepted))
    assert ok.status_code == 200, ok.text
    for aud in (org.url, org.url + "/", refused, "https://elsewhere.example"):
        answer = org.token(grant_type=JWT_GRANT, assertion=_assertion(aud=aud))
        assert answer.status_code == 400, aud
        assert answer.json() == AUDIENCE_INVALID


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "https://elsewhere.example"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(time.time()) - 10}, "invalid_grant", "expired authorization code"),
        ({"iss": "someone-else"}, "invalid_client_id", "client identifier invalid"),
        ({"sub": "nobody@nowhere.example"}, "invalid_grant", "user hasn't approved this consumer"),
    ],
)
def test_jwt_bearer_refusals(
    org: Org, claims: dict[str, Any], error: str, description: str
) -> None:
    assertion = _assertion(**claims)
    answer = org.token(grant_type=JWT_GRANT, assertion=assertion)
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


def test_jwt_signed_with_another_key_is_invalid(org: Org) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": CONFIG.client_id, "sub": CONFIG.username, "aud": PRODUCTION_AUD,
         "exp": int(time.time()) + 60},
        other, algorithm="RS256",
    )  # fmt: skip
    answer = org.token(grant_type=JWT_GRANT, assertion=forged)
    assert answer.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_client_credentials_and_password_logins(org: Org) -> None:
    app = {"client_id": CONFIG.client_id, "client_secret": CONFIG.client_secret}
    assert org.token(grant_type="client_credentials", **app).status_code == 200
    user = {"username": CONFIG.username, "password": CONFIG.password}
    assert org.token(grant_type="password", **app, **user).status_code == 200
    with_token = {**user, "password": CONFIG.password + "AbCdEfGhIjKlMnOpQrStUvWx"}
    token = org.token(grant_type="password", **app, **with_token).json()["access_token"]
    assert org.client(token).query("SELECT COUNT() FROM Account")["done"] is True


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        ({"grant_type": "client_credentials", "client_id": CONFIG.client_id,
          "client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
        ({"grant_type": "client_credentials", "client_id": "unknown",
          "client_secret": CONFIG.client_secret}, "invalid_client_id", "client identifier invalid"),
        ({"grant_type": "password", "client_id": CONFIG.client_id,
          "client_secret": CONFIG.client_secret, "username": CONFIG.username,
          "password": "wrong"}, "invalid_grant", "authentication failure"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type",
         "grant type not supported"),
    ],
)  # fmt: skip
def test_wrong_credentials(org: Org, form: dict[str, str], error: str, description: str) -> None:
    answer = org.token(**form)
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}
