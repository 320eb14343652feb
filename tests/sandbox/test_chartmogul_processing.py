"""ChartMogul's processing delay and the activities cursor, as the emulator models them, over
real sockets (the whole sandbox, as ``cmsync sandbox`` starts it).

Sources pinned here:

- Processing is not instant: Import API data is "reported within a few minutes"
  (help.chartmogul.com, article 360002155580); webhook-driven billing sources are held about
  ten minutes, PayPal runs hours behind. Until then the customer's MRR, status and activities
  do not reflect the import; activities carry their business date, so one processed late lands
  behind entries already read.
- The activities cursor: in the official Ruby client's recorded traffic
  (chartmogul-ruby ``spec/fixtures/vcr_cassettes/ChartMogul_Metrics_Activity/*``) the ``cursor``
  returned with a page names the next, unseen entry, and sending it back returns the entries
  after it. ``start-after=<uuid of the last entry read>`` (the docs, the official Go client)
  resumes right after that entry.
- ``with_processing_status`` on "List Data Sources" (dev.chartmogul.com) reports what is
  pending.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread

DEFAULT_DELAY = 600  # the default given on the command line: ten minutes, as webhook sources
PAYPAL_DELAY = 3 * 3600


@pytest.fixture(scope="module")
def running(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    options = SandboxOptions(
        directory=tmp_path_factory.mktemp("processing"),
        accounts=30,
        seed=3,
        processing_delay=DEFAULT_DELAY,
    )
    sandbox = sandbox_loop.call(start_sandbox(options))
    try:
        yield sandbox
    finally:
        sandbox_loop.call(sandbox.stop())


class Api:
    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        cm = sandbox.info["chartmogul"]
        self.base = cm["base_url"]
        self.admin = cm["admin_url"]
        self.session = requests.Session()
        self.session.verify = sandbox.info["ca_bundle"]
        self.session.trust_env = False
        self.session.auth = (cm["api_key"], "")

    def get(self, path: str, **params: Any) -> Any:
        time.sleep(0.03)  # under the real 40 requests/second
        answer = self.session.get(self.base + "/v1" + path, params=params, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: Any, status: int = 201) -> Any:
        time.sleep(0.03)
        answer = self.session.post(self.base + "/v1" + path, json=body, timeout=10)
        assert answer.status_code == status, answer.text
        return answer.json()

    def advance(self, seconds: float) -> None:
        answer = self.session.post(
            self.admin + "/clock", json={"advance_seconds": seconds}, timeout=10
        )
        assert answer.status_code == 200, answer.text

    def now(self) -> datetime:
        return self.sandbox.ctx.clock.now()

    def new_paying_customer(
        self, source_key: str, name: str, *, hours_ago: float = 1
    ) -> tuple[str, str]:
        """A new customer in ``source_key``'s data source, and the uuid of an import."""
        ds = next(
            d["uuid"] for d in self.sandbox.info["chartmogul"]["data_sources"]
            if d["key"] == source_key
        )  # fmt: skip
        plans = self.get("/plans", data_source_uuid=ds, per_page=200)["plans"]
        plan = next(p for p in plans if p["interval_unit"] == "month")
        customer = self.post("/customers", {"data_source_uuid": ds, "external_id": name,
                                            "name": name})  # fmt: skip
        start = self.now() - timedelta(hours=hours_ago)
        invoice = {
            "external_id": f"{name}-inv1",
            "date": start.isoformat(),
            "currency": "USD",
            "line_items": [
                {"type": "subscription", "subscription_external_id": f"{name}-sub",
                 "plan_uuid": plan["uuid"], "service_period_start": start.isoformat(),
                 "service_period_end": (start + timedelta(days=30)).isoformat(),
                 "amount_in_cents": 12_000, "quantity": 1}
            ],
        }  # fmt: skip
        self.post(f"/import/customers/{customer['uuid']}/invoices", {"invoices": [invoice]})
        return customer["uuid"], ds


@pytest.fixture(scope="module")
def api(running: RunningSandbox) -> Iterator[Api]:
    client = Api(running)
    try:
        yield client
    finally:
        client.session.close()


def _pending(api: Api, ds: str) -> int:
    sources = api.get("/data_sources", with_processing_status="true")["data_sources"]
    return int(next(s for s in sources if s["uuid"] == ds)["processing_status"]["pending"])


def test_the_seeded_company_has_a_slow_paypal_source(running: RunningSandbox) -> None:
    directory = Path(running.options.directory)
    scenario = json.loads((directory / "scenario.json").read_text())
    sources = scenario["data_sources"]
    assert sources["paypal"]["processing_delay_seconds"] == PAYPAL_DELAY
    assert sources["import"]["processing_delay_seconds"] == DEFAULT_DELAY
    assert sources["import"]["uuid"] == running.info["chartmogul"]["data_source_uuid"]
    on_paypal = [c for c in scenario["customers"].values() if c["data_source"] == "paypal"]
    assert on_paypal  # some customers bill through it
    described = json.loads((directory / "sandbox.json").read_text())["chartmogul"]
    assert {d["name"]: d["processing_delay_seconds"] for d in described["data_sources"]} == {
        "cmsync sandbox billing": DEFAULT_DELAY,
        "PayPal": PAYPAL_DELAY,
    }


def test_an_import_shows_only_once_its_source_processed_it(api: Api) -> None:
    uuid, ds = api.new_paying_customer("import", "delay-import-1")
    # Accepted and listed at once, but MRR, status and activities wait for processing.
    assert [i["external_id"] for i in api.get("/invoices", customer_uuid=uuid)["invoices"]] == [
        "delay-import-1-inv1"
    ]
    shown = api.get(f"/customers/{uuid}")
    assert (shown["mrr"], shown["status"]) == (0, "New Lead")
    assert api.get(f"/customers/{uuid}/activities")["entries"] == []
    assert _pending(api, ds) == 1
    api.advance(DEFAULT_DELAY - 30)
    assert api.get(f"/customers/{uuid}")["mrr"] == 0
    api.advance(31)
    shown = api.get(f"/customers/{uuid}")
    assert (shown["mrr"], shown["status"]) == (12_000, "Active")
    activities = api.get(f"/customers/{uuid}/activities")["entries"]
    assert [(a["type"], a["activity-mrr"]) for a in activities] == [("new_biz", 12_000)]
    assert _pending(api, ds) == 0


def test_paypal_runs_hours_behind_and_its_movement_lands_behind_what_was_read(api: Api) -> None:
    slow, ds = api.new_paying_customer("paypal", "delay-paypal-1", hours_ago=2)
    fast, _ = api.new_paying_customer("import", "delay-import-2", hours_ago=1)
    api.advance(DEFAULT_DELAY + 60)  # the default source's delay means nothing to PayPal
    assert api.get(f"/customers/{slow}")["mrr"] == 0 and _pending(api, ds) == 1
    [read] = api.get(f"/customers/{fast}/activities")["entries"]
    read_uuid = next(
        a["uuid"] for a in api.get("/activities", per_page=200, order="-date")["entries"]
        if a["customer-uuid"] == fast
    )  # fmt: skip
    api.advance(PAYPAL_DELAY)
    shown = api.get(f"/customers/{slow}")
    assert (shown["mrr"], shown["status"]) == (12_000, "Active")
    [late] = [a for a in api.get("/activities", per_page=200, order="-date")["entries"]
              if a["customer-uuid"] == slow]  # fmt: skip
    # Dated by its business date, an hour before the movement read hours earlier: a client
    # resuming after what it read never meets it.
    assert late["date"] < read["date"]
    after = api.get("/activities", **{"per_page": 200, "start-after": read_uuid})["entries"]
    assert slow not in {a["customer-uuid"] for a in after}


def test_the_cursor_names_the_next_unseen_entry_and_skips_it(api: Api) -> None:
    everything: list[str] = []
    page = api.get("/activities", per_page=200)
    everything.extend(a["uuid"] for a in page["entries"])
    while page["has_more"]:
        page = api.get("/activities", **{"per_page": 200, "start-after": everything[-1]})
        everything.extend(a["uuid"] for a in page["entries"])
    assert len(everything) == len(set(everything)) > 12

    first = api.get("/activities", per_page=5)
    assert [a["uuid"] for a in first["entries"]] == everything[:5] and first["has_more"]
    assert first["cursor"] == everything[5]  # the next, unseen entry, as recorded
    trusting = api.get("/activities", per_page=5, cursor=first["cursor"])
    assert [a["uuid"] for a in trusting["entries"]] == everything[6:11]  # [5] is skipped
    resumed = api.get("/activities", **{"per_page": 5, "start-after": everything[4]})
    assert [a["uuid"] for a in resumed["entries"]] == everything[5:10]  # nothing skipped
