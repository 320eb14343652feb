"""The ChartMogul emulator's "Past Due" over real sockets: a failed payment of the current
billing period, not followed by a successful one, makes a paying customer Past Due.

Sources: help.chartmogul.com article 212811009 ("Past Due" means a past-due payment in the
most recent billing period); the Import API's "Import invoices" transactions (type payment,
result successful or failed) and ``POST /v1/import/invoices/{uuid}/transactions``; Free
Customer Handling (help article 15384089786524: free and paused customers stay Active; the
Import API has no pause call, so a paused subscription is a 100% discount, worth 0).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.sandbox.test_chartmogul_classification import Api
from tests.sandbox.test_chartmogul_classification import api as api


def _status(api: Api, customer: str) -> tuple[str, int]:
    body: dict[str, Any] = api.get(f"/v1/customers/{customer}").json()
    return body["status"], body["mrr"]


def _now(api: Api) -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _tx(api: Api, invoice: str, at: datetime, result: str, ext: str) -> None:
    body = {"type": "payment", "date": at.isoformat(), "result": result, "external_id": ext}
    answer = api.post(f"/v1/import/invoices/{invoice}/transactions", body)
    assert answer.status_code == 201, answer.text


def test_a_failed_payment_of_the_current_period_makes_the_customer_past_due(api: Api) -> None:
    customer = api.customer()
    start = _now(api) - timedelta(days=5)
    answer = api.invoice(customer, "pd1", start, "pro", 5_000, "pd-sub")
    assert answer.status_code == 201, answer.text
    invoice = answer.json()["invoices"][0]["uuid"]
    assert _status(api, customer) == ("Active", 5_000)
    _tx(api, invoice, start + timedelta(days=1), "failed", "pd1-fail")
    assert _status(api, customer) == ("Past Due", 5_000)  # MRR kept: not churned
    _tx(api, invoice, start + timedelta(days=3), "successful", "pd1-ok")
    assert _status(api, customer) == ("Active", 5_000)


def test_a_failed_payment_of_an_earlier_period_does_not(api: Api) -> None:
    customer = api.customer()
    old = _now(api) - timedelta(days=40)  # its 30-day period ended ten days ago
    first = api.invoice(customer, "pd2", old, "pro", 5_000, "pd2-sub").json()["invoices"][0]
    api.invoice(customer, "pd3", old + timedelta(days=30), "pro", 5_000, "pd2-sub")
    _tx(api, first["uuid"], old + timedelta(days=1), "failed", "pd2-fail")
    assert _status(api, customer) == ("Active", 5_000)


def test_a_paused_subscription_a_100_percent_discount_stays_active(api: Api) -> None:
    customer = api.customer()
    start = _now(api) - timedelta(days=3)
    api.invoice(customer, "pd4", start, "pro", 0, "pd4-sub", discount_amount_in_cents=5_000)
    assert _status(api, customer) == ("Active", 0)
