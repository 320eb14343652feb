"""The ChartMogul emulator's currencies over real sockets: conversion into the account
currency, exchange-rate drift, and the refusal of codes that are not ISO 4217.

Facts pinned (ChartMogul, recorded traffic of the official clients): the feed's amounts and
the customer's ``mrr`` are in the account currency (``GET /v1/account`` names it) while an
invoice keeps its own ``currency``; a 10,000 cent EUR line showed as 10,908 in a USD account;
a churn of -780 undid a new_biz of +756 (drift moves MRR without a movement). An invoice in a
currency that is not an ISO 4217 code is refused with the import's 422.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.serve import LoopThread, start_site
from cmsync.sandbox.tls import SandboxTLS

API_KEY = "cm-currency-key"


class _Api:
    def __init__(self, url: str, ca_bundle: Path, emulator: ChartMogulEmulator) -> None:
        self.url, self.ca_bundle, self.emulator = url, ca_bundle, emulator

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        time.sleep(0.03)  # under the real 40 requests/second
        with requests.Session() as session:
            session.verify, session.trust_env = str(self.ca_bundle), False
            return session.request(
                method, self.url + path, json=body, params=params, auth=(API_KEY, ""), timeout=10
            )


@pytest.fixture(scope="module")
def api(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Api]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("currency-tls"))
    emulator = ChartMogulEmulator(SandboxContext(faults=FaultInjector("none", seed=3)), API_KEY)
    site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
    try:
        yield _Api(site.url, tls.ca_bundle, emulator)
    finally:
        sandbox_loop.call(site.stop())


def _eur_customer(api: _Api, external_id: str, amount: int = 10_000) -> str:
    """A customer with a monthly EUR subscription whose current period covers now."""
    store = api.emulator.store
    ds = store.create_data_source(f"ds-{external_id}")["uuid"]
    plan = store.create_plan(
        {"data_source_uuid": ds, "name": "Euro", "interval_count": 1, "interval_unit": "month"}
    )["uuid"]
    customer = api.call(
        "POST", "/v1/customers", {"data_source_uuid": ds, "external_id": external_id}
    ).json()["uuid"]
    start = api.emulator.ctx.clock.now() - timedelta(days=5)
    invoice = {
        "external_id": f"{external_id}-inv", "date": start.isoformat(), "currency": "EUR",
        "line_items": [
            {"type": "subscription", "subscription_external_id": f"{external_id}-sub",
             "plan_uuid": plan, "service_period_start": start.isoformat(),
             "service_period_end": (start + timedelta(days=30)).isoformat(),
             "amount_in_cents": amount, "quantity": 1}
        ],
    }  # fmt: skip
    answer = api.call("POST", f"/v1/import/customers/{customer}/invoices", {"invoices": [invoice]})
    assert answer.status_code == 201, answer.text
    assert answer.json()["invoices"][0]["currency"] == "EUR"
    return str(customer)


def test_a_eur_invoice_is_converted_into_the_account_currency(api: _Api) -> None:
    assert api.call("GET", "/v1/account").json()["currency"] == "USD"
    customer = _eur_customer(api, "eur-1")
    shown = api.call("GET", f"/v1/customers/{customer}").json()
    assert (shown["mrr"], shown["arr"], shown["currency"]) == (10_908, 130_896, "USD")
    [activity] = api.call("GET", f"/v1/customers/{customer}/activities").json()["entries"]
    assert (activity["activity-mrr-movement"], activity["activity-mrr"]) == (10_908, 10_908)
    assert activity["currency"] == "USD" and activity["type"] == "new_biz"
    [entry] = [
        e for e in api.call("GET", "/v1/activities").json()["entries"]
        if e["customer-uuid"] == customer
    ]  # fmt: skip
    assert (entry["activity-mrr"], entry["currency"]) == (10_908, "USD")
    [invoice] = api.call("GET", "/v1/invoices", customer_uuid=customer).json()["invoices"]
    assert invoice["currency"] == "EUR" and invoice["line_items"][0]["amount_in_cents"] == 10_000
    [sub] = api.call("GET", f"/v1/customers/{customer}/subscriptions").json()["entries"]
    assert (sub["mrr"], sub["currency"]) == (10_908, "USD")


def test_drift_moves_the_customers_mrr_and_not_the_feed(api: _Api) -> None:
    customer = _eur_customer(api, "eur-drift")
    before = api.call("GET", "/v1/activities").json()["entries"]
    answer = api.call("POST", "/__sandbox/rates", {"rates": {"EUR": 1.17}})
    assert answer.status_code == 200 and len(answer.json()["schedule"]) == 2
    assert api.call("GET", f"/v1/customers/{customer}").json()["mrr"] == 11_700
    assert api.call("GET", "/v1/activities").json()["entries"] == before  # same uuids, amounts
    assert api.call("GET", "/__sandbox/rates").json()["schedule"][-1]["usd_per_unit"]["EUR"] == (
        1_170_000
    )


def test_an_unknown_currency_is_refused_with_422(api: _Api) -> None:
    customer = api.call(
        "POST",
        "/v1/customers",
        {"data_source_uuid": api.emulator.store.create_data_source("ds-bad")["uuid"],
         "external_id": "bad-currency"},
    ).json()["uuid"]  # fmt: skip

    def attempt(currency: object) -> requests.Response:
        invoice = {
            "external_id": f"bad-{currency}", "date": "2025-01-01 00:00:00",
            "currency": currency,
            "line_items": [{"type": "one_time", "amount_in_cents": 100, "quantity": 1}],
        }  # fmt: skip
        return api.call(
            "POST", f"/v1/import/customers/{customer}/invoices", {"invoices": [invoice]}
        )

    for code in ("XYZ", "EURO", "usd1", 840):
        refused = attempt(code)
        assert refused.status_code == 422, code
        assert refused.json()["invoices"][0]["errors"] == {"currency": "is invalid"}
    # a real ISO 4217 code the sandbox has no rate for: refused, and the message says why
    untabled = attempt("MNT")
    assert untabled.status_code == 422
    assert "no exchange rate" in untabled.json()["invoices"][0]["errors"]["currency"]
    assert attempt("gbp").status_code == 201  # codes are taken in either case
    assert (
        api.call("GET", "/v1/invoices", customer_uuid=customer).json()["invoices"][0]["currency"]
        == "GBP"
    )
