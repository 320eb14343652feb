"""Customer merges and deletes in the ChartMogul emulator, over real sockets and TLS.

Pinned on the recorded traffic of the official Ruby client (chartmogul-ruby, cassettes
under ``spec/fixtures/vcr_cassettes/ChartMogul_Customer/API_Actions/``:
``merges_customers_correctly_with_the_class_method.yml``:
``POST /v1/customers/merges`` with ``{"from": {"customer_uuid": A}, "into": {"customer_uuid":
B}}`` answered ``202 Accepted`` with ``{}``; ``destroys_the_customer_correctly.yml``: ``DELETE
/v1/customers/{uuid}`` answered ``204 No Content``). The merged customer disappears and its
external ids join the survivor's ``external_ids`` (ChartMogul developer docs, "Merge
Customers"; the customer record's ``external_ids``/``data_source_uuids`` lists).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.scenario.generate import generate
from cmsync.sandbox.scenario.seed import seed
from cmsync.sandbox.serve import LoopThread, start_site
from cmsync.sandbox.tls import SandboxTLS
from tests.sandbox.test_chartmogul_emulator import API_KEY, Sandbox, _NoSalesforce

DUPLICATE_CUSTOMER = "The external ID for this customer already exists in our system."


@pytest.fixture(scope="module")
def cm(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("chartmogul-merges-tls"))
    ctx = SandboxContext(faults=FaultInjector("none", seed=7))
    emulator = ChartMogulEmulator(ctx, API_KEY)
    seeded = seed(generate(5, 30, ctx.clock.now()), emulator.store, _NoSalesforce())
    site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
    try:
        yield Sandbox(site.url, tls.ca_bundle, emulator, seeded, sandbox_loop)
    finally:
        sandbox_loop.call(site.stop())


def _send(cm: Sandbox, method: str, path: str, body: Any = None) -> requests.Response:
    time.sleep(0.03)  # under the real 40 requests/second
    with cm.http() as session:
        return session.request(method, cm.url + path, json=body, auth=(API_KEY, ""), timeout=10)


def _paying(cm: Sandbox, count: int) -> list[dict[str, Any]]:
    """``count`` customers of the seeded data source with activities, as the API shows them."""
    registry = cm.emulator.store.registry
    found = [
        c
        for c in registry.customers.values()
        if c.activities and c.data_source.uuid == cm.seeded.data_source_uuid
    ]
    assert len(found) >= count
    return [cm.get(f"/v1/customers/{c.uuid}").json() for c in found[:count]]


def _feed_of(cm: Sandbox, customer: str) -> list[dict[str, Any]]:
    feed = cm.get("/v1/activities", per_page=200).json()["entries"]
    return [e for e in feed if e["customer-uuid"] == customer]


def _invoice_ids(cm: Sandbox, customer: str) -> set[str]:
    answer = cm.get(f"/v1/import/customers/{customer}/invoices", per_page=200).json()
    return {i["external_id"] for i in answer["invoices"]}


def _merge(cm: Sandbox, loser: str, survivor: str) -> requests.Response:
    body = {"from": {"customer_uuid": loser}, "into": {"customer_uuid": survivor}}
    return _send(cm, "POST", "/v1/customers/merges", body)


def test_a_merge_moves_external_ids_and_history_and_the_loser_404s(cm: Sandbox) -> None:
    loser, survivor = _paying(cm, 2)
    loser_feed = _feed_of(cm, loser["uuid"])
    survivor_feed = _feed_of(cm, survivor["uuid"])
    assert loser_feed and survivor_feed
    loser_invoices = _invoice_ids(cm, loser["uuid"])
    survivor_invoices = _invoice_ids(cm, survivor["uuid"])

    answer = _merge(cm, loser["uuid"], survivor["uuid"])
    assert (answer.status_code, answer.json()) == (202, {})  # as recorded

    assert _send(cm, "GET", f"/v1/customers/{loser['uuid']}").status_code == 404
    merged = cm.get(f"/v1/customers/{survivor['uuid']}").json()
    assert merged["external_id"] == survivor["external_id"]
    assert merged["external_ids"] == [survivor["external_id"], loser["external_id"]]
    assert merged["mrr"] == survivor["mrr"] + loser["mrr"]

    # The history joins the survivor's, rebuilt: the loser's movements come back under the
    # survivor with new uuids, and the loser has none left in the feed.
    assert _feed_of(cm, loser["uuid"]) == []
    after = _feed_of(cm, survivor["uuid"])
    assert len(after) == len(loser_feed) + len(survivor_feed)
    assert {e["uuid"] for e in after}.isdisjoint({e["uuid"] for e in loser_feed + survivor_feed})
    moved = {e["subscription-external-id"] for e in loser_feed}
    assert moved <= {e["subscription-external-id"] for e in after}
    assert _invoice_ids(cm, survivor["uuid"]) == loser_invoices | survivor_invoices

    # Listing by the merged customer's external id finds the survivor, and that external id
    # stays taken in its data source.
    listed = cm.get(
        "/v1/customers", external_id=loser["external_id"],
        data_source_uuid=cm.seeded.data_source_uuid,
    ).json()["entries"]  # fmt: skip
    assert [c["uuid"] for c in listed] == [survivor["uuid"]]
    again = cm.post(
        "/v1/customers",
        {"data_source_uuid": cm.seeded.data_source_uuid, "external_id": loser["external_id"]},
    )
    assert again.status_code == 422
    assert again.json() == {"errors": {"external_id": DUPLICATE_CUSTOMER}}


def test_delete_answers_204_then_the_customer_404s(cm: Sandbox) -> None:
    [gone] = _paying(cm, 1)
    answer = _send(cm, "DELETE", f"/v1/customers/{gone['uuid']}")
    assert (answer.status_code, answer.content) == (204, b"")
    missing = _send(cm, "GET", f"/v1/customers/{gone['uuid']}")
    assert missing.status_code == 404
    assert _feed_of(cm, gone["uuid"]) == []
    assert _send(cm, "DELETE", f"/v1/customers/{gone['uuid']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"into": {"customer_uuid": "x"}}, 400, "from"),  # missing: the recorded 400 shape
        ({"from": "cus_x", "into": {"customer_uuid": "x"}}, 400, "from"),
        ({"from": {}, "into": {"customer_uuid": "x"}}, 400, "customer_uuid"),
    ],
    ids=["no-from", "from-not-an-object", "no-customer-uuid"],
)
def test_a_malformed_merge_is_refused(
    cm: Sandbox, body: dict[str, Any], status: int, param: str
) -> None:
    answer = _send(cm, "POST", "/v1/customers/merges", body)
    assert answer.status_code == status
    assert answer.json()["param"] == param


def test_merging_an_unknown_customer_or_one_into_itself_changes_nothing(cm: Sandbox) -> None:
    [one] = _paying(cm, 1)
    unknown = _merge(cm, "cus_00000000-0000-0000-0000-000000000000", one["uuid"])
    assert unknown.status_code == 404
    assert unknown.json() == {
        "code": 404, "message": "Customer not found", "param": "customer_uuid"
    }  # fmt: skip
    itself = _merge(cm, one["uuid"], one["uuid"])
    assert itself.status_code == 400
    assert cm.get(f"/v1/customers/{one['uuid']}").json()["external_ids"] == one["external_ids"]
