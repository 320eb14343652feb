"""The ChartMogul emulator's movement typing over real sockets: movements regrouped within the
hour, Free Customer Handling, and prorated line items.

Sources: Smart Activity Classification (help article 4416682609426: a customer's movements
within 60 minutes are grouped, two subscriptions bought 30 minutes apart are one new_biz, and
movements can be retyped afterwards); Free Customer Handling (help article 15384089786524:
free and paused customers stay Active); the Import API's "Import invoices" line items
(``proration_type``: differential by default, differential_mrr, full; a prorated line adds to
the existing MRR).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.serve import LoopThread, start_site
from cmsync.sandbox.tls import SandboxTLS

API_KEY = "cm-test-key"


class Api:
    def __init__(self, url: str, session: requests.Session, emulator: ChartMogulEmulator) -> None:
        self.url, self.session, self.emulator = url, session, emulator
        self.ds = self.post("/v1/data_sources", {"name": "billing"}).json()["uuid"]
        self.plans = {
            name: self.post("/v1/plans", {"data_source_uuid": self.ds, "name": name,
                                          "interval_count": 1, "interval_unit": "month",
                                          "external_id": name}).json()["uuid"]
            for name in ("pro", "addon", "free")
        }  # fmt: skip
        self.count = 0

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url + path, params=params, auth=(API_KEY, ""), timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.url + path, json=body, auth=(API_KEY, ""), timeout=10)

    def customer(self) -> str:
        self.count += 1
        body = {"data_source_uuid": self.ds, "external_id": f"c{self.count}", "name": "Acme"}
        return str(self.post("/v1/customers", body).json()["uuid"])

    def invoice(self, customer: str, ext: str, start: datetime, plan: str, cents: int,
                sub: str, **item: Any) -> requests.Response:  # fmt: skip
        line = {"type": "subscription", "subscription_external_id": sub,
                "plan_uuid": self.plans[plan], "service_period_start": start.isoformat(),
                "service_period_end": (start + timedelta(days=30)).isoformat(),
                "amount_in_cents": cents, "external_id": f"{ext}-li", **item}  # fmt: skip
        body = {"external_id": ext, "date": start.isoformat(), "currency": "USD",
                "line_items": [line]}  # fmt: skip
        return self.post(f"/v1/import/customers/{customer}/invoices", {"invoices": [body]})

    def activities(self, customer: str) -> list[tuple[str, int, int]]:
        """Oldest first (the customer's activities list shows the newest first)."""
        entries = self.get(f"/v1/customers/{customer}/activities", per_page=200).json()["entries"]
        return [(e["type"], e["activity-mrr-movement"], e["activity-mrr"]) for e in entries][::-1]


@pytest.fixture(scope="module")
def api(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("cm-classification-tls"))
    emulator = ChartMogulEmulator(SandboxContext(faults=FaultInjector("none", seed=3)), API_KEY)
    site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
    session = requests.Session()
    session.verify, session.trust_env = str(tls.ca_bundle), False
    try:
        yield Api(site.url, session, emulator)
    finally:
        session.close()
        sandbox_loop.call(site.stop())


def _day(days_ago: int) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=days_ago)


def test_the_account_claims_one_hour_reclassification(api: Api) -> None:
    include = "proximate_movement_reclassification,churn_when_zero_mrr"
    body = api.get("/v1/account", include=include).json()
    assert body["proximate_movement_reclassification"] == "one_hour_reclassification"
    assert body["churn_when_zero_mrr"] == "ignore"


def test_two_subscriptions_bought_30_minutes_apart_are_new_business(api: Api) -> None:
    customer, start = api.customer(), _day(3)
    assert api.invoice(customer, "r1", start, "pro", 5_000, "s1").status_code == 201
    assert api.activities(customer) == [("new_biz", 5_000, 5_000)]
    later = start + timedelta(minutes=30)
    assert api.invoice(customer, "r2", later, "addon", 2_000, "s2").status_code == 201
    assert api.activities(customer) == [("new_biz", 5_000, 5_000), ("new_biz", 2_000, 7_000)]
    shown = api.get(f"/v1/customers/{customer}").json()
    assert (shown["status"], shown["mrr"]) == ("Active", 7_000)
    hour_later = start + timedelta(minutes=90)
    assert api.invoice(customer, "r3", hour_later, "addon", 1_000, "s3").status_code == 201
    assert api.activities(customer)[-1] == ("expansion", 1_000, 8_000)


def test_a_churn_is_retyped_when_the_customer_buys_within_the_hour(api: Api) -> None:
    customer, start = api.customer(), _day(20)
    api.invoice(customer, "t1", start, "pro", 5_000, "old")
    gone = _day(2)
    subs = api.get(f"/v1/import/customers/{customer}/subscriptions").json()["subscriptions"]
    cancel = {"cancelled_at": gone.isoformat()}
    url = f"{api.url}/v1/import/subscriptions/{subs[0]['uuid']}"
    answer = api.session.patch(url, json=cancel, auth=(API_KEY, ""), timeout=10)
    assert answer.status_code == 202
    assert [a[0] for a in api.activities(customer)] == ["new_biz", "churn"]
    api.invoice(customer, "t2", gone + timedelta(minutes=20), "addon", 6_000, "new")
    assert api.activities(customer) == [
        ("new_biz", 5_000, 5_000), ("contraction", -5_000, 0), ("expansion", 6_000, 6_000),
    ]  # fmt: skip


def test_a_free_plan_customer_is_active_and_a_free_month_is_no_churn(api: Api) -> None:
    free = api.customer()
    assert api.invoice(free, "f1", _day(5), "free", 0, "f").status_code == 201
    shown = api.get(f"/v1/customers/{free}").json()
    assert (shown["status"], shown["mrr"], api.activities(free)) == ("Active", 0, [])
    discounted = api.customer()
    api.invoice(discounted, "d1", _day(40), "pro", 5_000, "d")
    api.invoice(discounted, "d2", _day(10), "pro", 0, "d", discount_amount_in_cents=5_000)
    assert [a[0] for a in api.activities(discounted)] == ["new_biz", "contraction"]
    shown = api.get(f"/v1/customers/{discounted}").json()
    assert (shown["status"], shown["mrr"]) == ("Active", 0)


def test_a_differential_proration_adds_to_the_mrr(api: Api) -> None:
    customer, start = api.customer(), _day(20)
    api.invoice(customer, "p1", start, "pro", 3_000, "p")
    mid = start + timedelta(days=15)
    seat = api.invoice(customer, "p2", mid, "pro", 1_500, "p", prorated=True)
    assert seat.status_code == 201, seat.text
    assert api.activities(customer)[-1][0] == "expansion"
    assert (
        api.get(f"/v1/customers/{customer}").json()["mrr"] == 3_000 + 1_522
    )  # 1500 over 30 of 30.44 days
    refused = api.invoice(customer, "p3", mid, "pro", 1_500, "p", prorated=True,
                          proration_type="partial")  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["invoices"][0]["errors"] == {
        "line_items.proration_type": "is not included in the list"
    }
