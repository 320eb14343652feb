"""The ChartMogul emulator over real sockets and TLS, driven by the official ``chartmogul``
client (unmodified) and by raw HTTP where the client cannot show the wire.

Pointing the official client at the sandbox: ``chartmogul.Config`` 4.11 takes no base URL
(``api_base`` does not exist in this version); its requests go to ``config.uri + path``, so the
tests set ``uri`` on the Config instance (the public attribute every request is built from), not a
patch of its code. It builds a fresh ``requests`` session per call, with ``trust_env`` on, so it
trusts the CA named by ``REQUESTS_CA_BUNDLE``: the tests point that at the sandbox CA.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chartmogul
import pytest
import requests

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.scenario.generate import generate
from cmsync.sandbox.scenario.seed import SeedResult, seed
from cmsync.sandbox.serve import LoopThread, start_site
from cmsync.sandbox.tls import SandboxTLS

API_KEY = "cm-test-key"
# Written out rather than imported: these are the recorded real bodies the emulator must match.
UNAUTHORISED = {"code": 401, "message": "No valid API key provided", "param": None}
DUPLICATE_INVOICE = "The external ID for this invoice already exists in our system."
DUPLICATE_LINE_ITEM = "The external ID for this line item already exists in our system."


def _paced() -> None:
    """Stay under the real 40 requests/second limit (always on) when sending many requests."""
    time.sleep(0.03)


@pytest.fixture(autouse=True)
def _breathe() -> None:
    """A pause between tests, so that one test's burst does not count against the next."""
    time.sleep(0.2)


class _NoSalesforce:
    """The seeder also fills Salesforce; these tests only need ids back."""

    def __init__(self) -> None:
        self.count = 0

    def insert(self, sobject: str, fields: dict[str, Any]) -> str:
        self.count += 1
        return f"001{self.count:015d}"

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        return None


@dataclass
class Sandbox:
    url: str
    ca_bundle: Path
    emulator: ChartMogulEmulator
    seeded: SeedResult
    loop: LoopThread

    def http(self) -> requests.Session:
        session = requests.Session()
        session.verify = str(self.ca_bundle)
        session.trust_env = False
        return session

    def get(self, path: str, **params: Any) -> requests.Response:
        _paced()
        with self.http() as session:
            return session.get(self.url + path, params=params, auth=(API_KEY, ""), timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        _paced()
        with self.http() as session:
            return session.post(self.url + path, json=body, auth=(API_KEY, ""), timeout=10)


@pytest.fixture(scope="module")
def cm(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("chartmogul-tls"))
    ctx = SandboxContext(faults=FaultInjector("none", seed=7))
    emulator = ChartMogulEmulator(ctx, API_KEY)
    seeded = seed(generate(3, 30, ctx.clock.now()), emulator.store, _NoSalesforce())
    site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
    try:
        yield Sandbox(site.url, tls.ca_bundle, emulator, seeded, sandbox_loop)
    finally:
        sandbox_loop.call(site.stop())


@pytest.fixture(scope="module")
def config(cm: Sandbox) -> Iterator[chartmogul.Config]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(cm.ca_bundle))
        client_config = chartmogul.Config(API_KEY, request_timeout=10)
        client_config.uri = cm.url + "/v1"
        yield client_config


# the official client ---------------------------------------------------------------------


def test_ping(config: chartmogul.Config, cm: Sandbox) -> None:
    assert chartmogul.Ping.ping(config).get().data == "pong!"
    answer = cm.get("/v1/ping")
    assert answer.json() == {"data": "pong!"} and answer.headers["x-request-id"]


def test_customers_page_with_cursor(config: chartmogul.Config, cm: Sandbox) -> None:
    first = chartmogul.Customer.all(config, per_page=5).get()
    assert len(first.entries) == 5 and first.has_more and first.cursor
    seen = [c.uuid for c in first.entries]
    page = first
    while page.has_more:
        page = chartmogul.Customer.all(config, per_page=5, cursor=page.cursor).get()
        seen += [c.uuid for c in page.entries]
    assert len(seen) == len(set(seen)) == len(cm.emulator.store.registry.customers)
    raw = cm.get("/v1/customers", per_page=5).json()
    assert raw["current_page"] == 1 and raw["total_pages"] == -(-len(seen) // 5)
    later = cm.get("/v1/customers", per_page=5, cursor=raw["cursor"]).json()
    assert set(later) == {"entries", "cursor", "has_more"}  # legacy fields: first page only


def test_search_by_email_and_the_404(config: chartmogul.Config, cm: Sandbox) -> None:
    customer = next(
        c for c in cm.emulator.store.registry.customers.values() if c.email and c.timeline
    )
    found = chartmogul.Customer.search(config, email=customer.email).get()
    assert customer.uuid in [c.uuid for c in found.entries]
    shown = cm.emulator.store.customers.retrieve(found.entries[0].uuid)
    assert (found.entries[0].mrr, found.entries[0].status) == (shown["mrr"], shown["status"])
    with pytest.raises(chartmogul.APIError) as missing:
        chartmogul.Customer.search(config, email="nobody@nowhere.example").get()
    assert json.loads(missing.value.args[0]) == {
        "code": 404,
        "message": 'Can\'t find any customers with email: "nobody@nowhere.example"',
        "param": "email",
    }


def test_create_customer_and_the_duplicate(config: chartmogul.Config, cm: Sandbox) -> None:
    body = {
        "data_source_uuid": cm.seeded.data_source_uuid,
        "external_id": "sf-001-new",
        "name": "Brand New Ltd",
        "email": "billing@brand-new.example",
        "country": "DE",
        "attributes": {"tags": ["closed-won"], "custom": [{"type": "String", "key": "sf_id",
                                                           "value": "001AAA"}]},
    }  # fmt: skip
    created = chartmogul.Customer.create(config, data=body).get()
    assert created.uuid.startswith("cus_") and created.status == "New Lead"
    assert created.attributes.custom == {"sf_id": "001AAA"} and created.address.country == "Germany"
    with pytest.raises(chartmogul.APIError) as duplicate:
        chartmogul.Customer.create(config, data=body).get()
    assert duplicate.value.__cause__.response.status_code == 422
    assert duplicate.value.__cause__.response.json() == {
        "errors": {"external_id": "The external ID for this customer already exists in our system."}
    }


def _plan_uuid(config: chartmogul.Config) -> str:
    plans = chartmogul.Plan.all(config, external_id="growth_monthly").get().plans
    return str(plans[0].uuid)


def test_import_an_invoice_and_the_duplicate(config: chartmogul.Config, cm: Sandbox) -> None:
    customer = chartmogul.Customer.create(
        config,
        data={"data_source_uuid": cm.seeded.data_source_uuid, "external_id": "sf-002-won"},
    ).get()
    invoice = {
        "external_id": "SFOPP-002-1",
        "date": "2025-01-01 00:00:00",
        "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": "sf-opp-002",
             "plan_uuid": _plan_uuid(config), "service_period_start": "2025-01-01 00:00:00",
             "service_period_end": "2025-02-01 00:00:00", "amount_in_cents": 79_000,
             "quantity": 10, "external_id": "SFOPP-002-1-li"}
        ],
        "transactions": [
            {"type": "payment", "date": "2025-01-01 00:10:00", "result": "successful"}
        ],
    }  # fmt: skip
    created = chartmogul.Invoice.create(config, uuid=customer.uuid, data={"invoices": [invoice]})
    line = created.get().invoices[0].line_items[0]
    assert line.subscription_uuid.startswith("sub_") and line.amount_in_cents == 79_000
    with pytest.raises(chartmogul.APIError) as duplicate:
        chartmogul.Invoice.create(config, uuid=customer.uuid, data={"invoices": [invoice]}).get()
    refused = duplicate.value.__cause__.response
    assert refused.status_code == 422
    assert refused.json()["invoices"][0]["errors"] == {
        "external_id": DUPLICATE_INVOICE,
        "line_items.external_id": DUPLICATE_LINE_ITEM,
    }
    shown = chartmogul.Customer.retrieve(config, uuid=customer.uuid).get()
    assert (shown.mrr, shown.arr, shown.status) == (79_000, 948_000, "Past Due")
    activities = chartmogul.CustomerActivity.all(config, uuid=customer.uuid).get().entries
    assert [(a.type, a.activity_mrr) for a in activities] == [("new_biz", 79_000)]


def test_activities_page_with_cursor(config: chartmogul.Config, cm: Sandbox) -> None:
    first = chartmogul.Activity.all(config, per_page=7).get()
    assert len(first.entries) == 7 and first.has_more
    second = chartmogul.Activity.all(config, per_page=7, cursor=first.cursor).get()
    dates = [a.date for a in first.entries + second.entries]
    assert dates == sorted(dates)
    assert not {a.uuid for a in first.entries} & {a.uuid for a in second.entries}
    newest = chartmogul.Activity.all(config, per_page=3, order="-date").get().entries
    assert [a.date for a in newest] == sorted((a.date for a in newest), reverse=True)


def test_metrics_all_and_mrr(config: chartmogul.Config, cm: Sandbox) -> None:
    report = chartmogul.Metrics.all(
        config, start_date="2025-01-01", end_date="2025-03-31", interval="month"
    ).get()
    assert [str(e.date) for e in report.entries] == ["2025-01-31", "2025-02-28", "2025-03-31"]
    assert all(e.arr == 12 * e.mrr for e in report.entries)
    store = cm.emulator.store
    mrr_now = sum(store.customers.retrieve(u)["mrr"] for u in store.registry.customers)
    assert report.summary.current_mrr == mrr_now
    movements = chartmogul.Metrics.mrr(
        config, start_date="2025-01-01", end_date="2025-03-31", interval="month"
    ).get()
    for month in movements.entries:
        assert isinstance(month.mrr_new_business, int) and month.mrr_churn <= 0


# raw HTTP ----------------------------------------------------------------------------------


def test_a_wrong_key_gets_the_real_401(cm: Sandbox) -> None:
    with cm.http() as session:
        for auth in [("wrong", ""), None]:
            answer = session.get(cm.url + "/v1/customers", auth=auth, timeout=10)
            assert answer.status_code == 401
            assert answer.json() == UNAUTHORISED
        same_key_twice = session.get(cm.url + "/v1/ping", auth=(API_KEY, API_KEY), timeout=10)
    assert same_key_twice.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "answer"),
    [
        # [REAL] both data source refusals, and the not-found shape of the import side
        ("POST", "/v1/data_sources", {}, 400,
         {"code": 400, "message": 'Parameter "name" is missing', "param": "name"}),
        ("POST", "/v1/data_sources", {"name": None}, 422,
         {"errors": {"name": "A name is required for each data source."}}),
        ("POST", "/v1/data_sources", {"name": "cmsync sandbox billing"}, 422,
         {"errors": {"name": "Has already been taken."}}),
        ("GET", "/v1/data_sources/ds_00000000-0000-4000-8000-000000000000", None, 404,
         {"error": "Data source not found"}),
        ("GET", "/v1/metrics/mrr?end-date=2025-01-31", None, 400,
         {"code": 400, "message": 'Parameter "start-date" is missing', "param": "start-date"}),
        ("POST", "/v1/plans", {"data_source_uuid": "DS", "name": "Growth again",
                               "interval_count": 1, "interval_unit": "month",
                               "external_id": "growth_monthly"}, 422,
         {"errors": {"external_id": "A plan with this identifier already exists in our system."}}),
    ],
)  # fmt: skip
def test_refusals_have_the_real_shapes(
    cm: Sandbox, method: str, path: str, body: Any, status: int, answer: dict[str, Any]
) -> None:
    if isinstance(body, dict) and body.get("data_source_uuid") == "DS":
        body = {**body, "data_source_uuid": cm.seeded.data_source_uuid}
    _paced()
    with cm.http() as session:
        got = session.request(method, cm.url + path, json=body, auth=(API_KEY, ""), timeout=10)
    assert (got.status_code, got.json()) == (status, answer)


def test_delete_an_invoice_takes_its_subscription_and_mrr_and_then_answers_404(
    config: chartmogul.Config, cm: Sandbox
) -> None:
    """ChartMogul API reference, "Delete an Invoice" (https://dev.chartmogul.com/reference/
    delete-an-invoice): ``DELETE /v1/invoices/{uuid}`` deletes the invoice with its line items
    and transactions, and its subscription when it was the subscription's only invoice; the
    customer's metrics are recalculated from what remains. The answer is 204, no body."""
    customer = chartmogul.Customer.create(
        config,
        data={"data_source_uuid": cm.seeded.data_source_uuid, "external_id": "sf-003-void"},
    ).get()
    invoice = {
        "external_id": "SFOPP-003-1", "date": "2025-03-01 00:00:00", "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": "sf-opp-003",
             "plan_uuid": _plan_uuid(config), "service_period_start": "2025-03-01 00:00:00",
             "service_period_end": "2025-04-01 00:00:00", "amount_in_cents": 12_000,
             "quantity": 1, "external_id": "SFOPP-003-1-li"}
        ],
        "transactions": [{"type": "payment", "date": "2025-03-01 00:10:00",
                          "result": "successful"}],
    }  # fmt: skip
    made = chartmogul.Invoice.create(config, uuid=customer.uuid, data={"invoices": [invoice]})
    uuid = made.get().invoices[0].uuid
    assert chartmogul.Customer.retrieve(config, uuid=customer.uuid).get().mrr == 12_000

    _paced()
    with cm.http() as session:
        deleted = session.delete(f"{cm.url}/v1/invoices/{uuid}", auth=(API_KEY, ""), timeout=10)
        again = session.delete(f"{cm.url}/v1/invoices/{uuid}", auth=(API_KEY, ""), timeout=10)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert again.status_code == 404
    assert cm.get(f"/v1/invoices/{uuid}").status_code == 404
    shown = chartmogul.Customer.retrieve(config, uuid=customer.uuid).get()
    assert (shown.mrr, shown.arr) == (0, 0)
    subscriptions = chartmogul.Customer.subscriptions(config, uuid=customer.uuid).get().entries
    assert [s for s in subscriptions if s.external_id == "sf-opp-003"] == []
    # The invoice's external ids are free again: the same deal can be imported anew.
    again_made = chartmogul.Invoice.create(
        config, uuid=customer.uuid, data={"invoices": [invoice]}
    ).get()
    assert again_made.invoices[0].uuid != uuid


def test_an_invalid_invoice_is_refused_with_its_errors(cm: Sandbox) -> None:
    customer = next(iter(cm.seeded.customer_uuids.values()))
    bad = {
        "external_id": "bad-1",
        "date": "not a date",
        "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": "s", "amount_in_cents": 100,
             "plan_uuid": "pl_unknown", "service_period_start": "2025-01-01",
             "service_period_end": "2025-02-01"}
        ],
    }  # fmt: skip
    refused = cm.post(f"/v1/import/customers/{customer}/invoices", {"invoices": [bad]})
    assert refused.status_code == 422
    assert refused.json()["invoices"][0]["errors"] == {
        "date": "is invalid",
        "line_items.plan_uuid": "is invalid",
    }
    unknown = cm.post("/v1/import/customers/cus_unknown/invoices", {"invoices": [bad]})
    assert unknown.status_code == 404 and unknown.json()["error"] == "Invoice not found"


def test_cancel_with_the_client_churns_the_customer(config: chartmogul.Config, cm: Sandbox) -> None:
    active = chartmogul.Customer.all(config, status="Active", per_page=200).get().entries
    assert active and all(c.status == "Active" for c in active)
    customer = active[0]
    imported = chartmogul.CustomerSubscription.list_imported  # the import view (deprecated)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        listed = imported(config, uuid=customer.uuid).get().subscriptions
    metrics_view = chartmogul.Customer.subscriptions(config, uuid=customer.uuid).get().entries
    assert sum(s.mrr for s in metrics_view if s.status == "active") == customer.mrr
    now = cm.emulator.ctx.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    for subscription in listed:
        cancelled = chartmogul.CustomerSubscription.cancel(
            config, uuid=subscription.uuid, data={"cancelled_at": now}
        ).get()
        assert cancelled is None  # 202: the client keeps no body
    shown = chartmogul.Customer.retrieve(config, uuid=customer.uuid).get()
    assert (shown.status, shown.mrr) == ("Cancelled", 0)
    latest = chartmogul.CustomerActivity.all(config, uuid=customer.uuid, per_page=1).get()
    assert latest.entries[0].type == "churn" and latest.entries[0].activity_mrr == 0


def _customer_activity_uuids(cm: Sandbox, customer: str) -> set[str]:
    feed = cm.get("/v1/activities", per_page=200).json()["entries"]
    return {e["uuid"] for e in feed if e["customer-uuid"] == customer}


def test_backfill_over_http_renews_that_customers_activity_uuids(cm: Sandbox) -> None:
    store = cm.emulator.store
    target = next(c for c in store.registry.customers.values() if c.activities)
    others = {
        c.uuid: _customer_activity_uuids(cm, c.uuid)
        for c in list(store.registry.customers.values())[:5]
        if c is not target
    }
    before = _customer_activity_uuids(cm, target.uuid)
    first = min(i.service_period_start or 0 for s in target.subscriptions.values()
                for i in s.line_items)  # fmt: skip
    plan = next(iter(target.subscriptions.values())).plan
    backfill = {
        "external_id": f"backfill-{target.external_id}",
        "date": "2020-01-01T00:00:00Z",
        "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": "backfilled-sub",
             "plan_uuid": plan.uuid, "service_period_start": "2020-01-01T00:00:00Z",
             "service_period_end": "2020-02-01T00:00:00Z", "amount_in_cents": 1_000}
        ],
    }  # fmt: skip
    assert first > 1_577_836_800  # the backfill is older than anything the customer had
    answer = cm.post(f"/v1/import/customers/{target.uuid}/invoices", {"invoices": [backfill]})
    assert answer.status_code == 201, answer.text
    after = _customer_activity_uuids(cm, target.uuid)
    assert after and after.isdisjoint(before)
    for customer, uuids in others.items():
        assert _customer_activity_uuids(cm, customer) == uuids
    oldest = cm.get("/v1/activities", per_page=1).json()["entries"][0]
    assert (oldest["customer-uuid"], oldest["date"]) == (target.uuid, "2020-01-01T00:00:00+00:00")


def test_start_after_survives_a_rebuild_of_that_activity(cm: Sandbox) -> None:
    page = cm.get("/v1/activities", **{"per-page": 4}).json()
    anchor = page["entries"][-1]
    owner = anchor["customer-uuid"]
    before = cm.get("/v1/activities", **{"per-page": 4, "start-after": anchor["uuid"]}).json()
    # A failed payment on one of the anchor customer's invoices reprocesses that customer.
    invoices = cm.get("/v1/invoices", customer_uuid=owner).json()["invoices"]
    failed = {"type": "payment", "result": "failed", "date": "2025-01-05 00:00:00"}
    added = cm.post(f"/v1/import/invoices/{invoices[0]['uuid']}/transactions", failed)
    assert added.status_code == 201, added.text
    assert anchor["uuid"] not in _customer_activity_uuids(cm, owner)

    resumed = cm.get("/v1/activities", **{"per-page": 4, "start-after": anchor["uuid"]})
    assert resumed.status_code == 200
    later = resumed.json()["entries"]
    # The rebuilt copy of the anchor (same date, new uuid) now sorts after the old position:
    # an old-dated activity showing up behind what the client already read.
    assert (later[0]["customer-uuid"], later[0]["date"]) == (owner, anchor["date"])
    assert later[0]["uuid"] != anchor["uuid"]
    others_then = [e["uuid"] for e in before["entries"] if e["customer-uuid"] != owner]
    others_now = [e["uuid"] for e in later if e["customer-uuid"] != owner]
    assert others_now and others_now == others_then[: len(others_now)]


def test_above_40_requests_a_second_answers_429_without_retry_after(cm: Sandbox) -> None:
    time.sleep(1.1)  # an empty window
    with cm.http() as session:
        answers = [
            session.get(cm.url + "/v1/ping", auth=(API_KEY, ""), timeout=10) for _ in range(60)
        ]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and len(answers) - len(limited) <= 40
    assert limited[0].json() == {
        "code": 429, "message": "Your request rate has exceeded our rate limit.", "param": None
    }  # fmt: skip
    assert all("Retry-After" not in a.headers for a in limited)
    time.sleep(1.1)
    assert cm.get("/v1/ping").status_code == 200


async def _hold_open(cm: Sandbox, count: int) -> list[asyncio.StreamWriter]:
    """Open ``count`` requests whose bodies never finish: each stays in flight."""
    context = ssl.create_default_context(cafile=str(cm.ca_bundle))
    host, port = cm.url.removeprefix("https://").split(":")
    token = base64.b64encode(f"{API_KEY}:".encode()).decode()
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection(host, int(port), ssl=context)
        writer.write(
            f"POST /v1/customers HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
        )
        await writer.drain()
        writers.append(writer)
    return writers


def test_above_20_in_flight_answers_503(cm: Sandbox) -> None:
    time.sleep(1.1)
    holders = cm.loop.call(_hold_open(cm, 20))
    try:
        deadline = time.monotonic() + 5
        while cm.emulator.in_flight < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        answer = cm.get("/v1/ping")
        assert answer.status_code == 503
        assert answer.text == "Too Many Parallel Connections"
        assert answer.headers["Content-Type"].startswith("text/plain")
    finally:

        async def close() -> None:
            for writer in holders:
                writer.close()

        cm.loop.call(close())
    deadline = time.monotonic() + 5
    while cm.emulator.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cm.get("/v1/ping").status_code == 200


def test_faults_are_reproducible_from_the_seed(cm: Sandbox) -> None:
    def run() -> list[tuple[int, str]]:
        assert cm.post("/__sandbox/faults", {"profile": "errors"}).status_code == 200
        results = []
        for n in range(30):
            answer = cm.get("/v1/ping", n=n)  # paced: no 429 may mix in
            results.append((answer.status_code, answer.text))
        return results

    time.sleep(1.1)
    try:
        first, second = run(), run()
    finally:
        cm.post("/__sandbox/faults", {"profile": "none"})
    assert first == second
    failures = [(status, text) for status, text in first if status >= 500]
    assert failures and all(t in ("500 Internal Server Error", "503 Service Unavailable")
                            for _, t in failures)  # fmt: skip


def test_an_injected_throttle_looks_like_the_real_429(cm: Sandbox) -> None:
    assert cm.post("/__sandbox/faults", {"profile": "throttle"}).status_code == 200
    try:
        answers = [cm.get("/v1/customers", per_page=1, n=n) for n in range(16)]
    finally:
        cm.post("/__sandbox/faults", {"profile": "none"})
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled, "the throttle profile injects 429s at a 25% rate"
    for answer in throttled:
        assert answer.json()["message"] == "Your request rate has exceeded our rate limit."
        assert "Retry-After" not in answer.headers and answer.headers["x-request-id"]
